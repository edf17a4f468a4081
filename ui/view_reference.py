"""Re-referencing for the view: average reference, one channel as the reference, or a bipolar
montage (rows of differences A - B, made in `ui.view_montage`).

A reference is subtracted only within a group of comparable channels: the same kind of unit
(uV with uV, mV with mV) and the same sample rate, so an ECG lead is never referenced to the
EEG average and no channel needs resampling. Bad channels never enter an average. No Qt here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from vqstudio.recording import Channel

__all__ = ["Reference", "reference_members", "unit_kind"]


def unit_kind(unit: str) -> str:
    """A unit spelled one way: 'uv' for uV/µV (EEG, EOG, EMG), 'mv' (ECG), others lower-cased."""
    return unit.strip().lower().replace("µ", "u").replace("μ", "u")


KINDS = ("none", "average", "channel", "bipolar")


@dataclass(frozen=True)
class Reference:
    """'none' (as recorded), 'average' (of the good channels of each group), 'channel', or
    'bipolar' (a montage: one row A - B per pair)."""

    kind: str = "none"
    channel: str = ""  # the reference channel's name (label without padding), for 'channel'
    pairs: tuple[tuple[str, str], ...] = ()  # for 'bipolar': (A, B) per row
    name: str = ""  # for 'bipolar': the montage's name ('double banana', 'custom')

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"reference must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "channel" and not self.channel:
            raise ValueError("a channel reference needs the channel's name")
        if self.kind == "bipolar" and not self.pairs:
            raise ValueError("a bipolar montage needs at least one pair of channels")

    def describe(self) -> str:
        """A short text: 'as recorded', 'average reference', 'reference Cz', 'double banana'."""
        if self.kind == "bipolar":
            return self.name or f"bipolar montage of {len(self.pairs)} pairs"
        return {"none": "as recorded", "average": "average reference"}.get(
            self.kind, f"reference {self.channel}"
        )


def _group(ch: Channel) -> tuple[str, float]:
    return unit_kind(ch.unit), ch.rate


def reference_members(
    channels: Sequence[Channel], index: int, reference: Reference, bad: Collection[str] = ()
) -> tuple[int, ...]:
    """Indices of the channels whose mean is subtracted from channel `index` (empty: none).

    Average: the good channels of the same group, when the group has two or more of them (the
    average of one channel is that channel). Channel: the named channel when it is in the same
    group; the reference channel itself stays as recorded rather than becoming a flat line.
    """
    if reference.kind in ("none", "bipolar"):  # a montage's rows are differences already
        return ()
    group = _group(channels[index])
    if reference.kind == "average":
        members = tuple(i for i, c in enumerate(channels) if _group(c) == group and c.name not in bad)
        return members if len(members) >= 2 else ()
    for i, c in enumerate(channels):
        if c.name == reference.channel:
            return (i,) if i != index and _group(c) == group else ()
    return ()
