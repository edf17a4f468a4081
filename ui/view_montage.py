"""Bipolar montages for the view: the double banana and user-defined pairs. No Qt here.

A bipolar montage shows, for each pair (A, B), the difference A - B as one row. The rows are
channels of their own (`bipolar_channels`): each reads the span of A and of B it is asked for
and subtracts, so a page still reads only what it shows and the filters, paging and scaling of
the viewer work on them unchanged. A pair is made only of channels of the same rate and kind of
unit (an EEG minus an ECG lead means nothing); pairs whose channels the recording lacks are left
out, and said so.

Channels are found by name as the file spells it (without padding, case aside), else by the
electrode their label names ('EEG Fp1', 'Fp1-REF', the old T3 for T7: `electrode_name`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ui.view_positions import electrode_name
from ui.view_reference import unit_kind
from vqstudio.recording import Channel, Recording

__all__ = ["DOUBLE_BANANA", "Montage", "bipolar_channels", "find_channel", "format_pairs", "parse_pairs"]

Pair = tuple[str, str]

# The standard longitudinal bipolar ("double banana") montage of the 10-20 system: left and
# right temporal chains, left and right parasagittal chains, then the midline.
DOUBLE_BANANA: tuple[Pair, ...] = (
    ("Fp1", "F7"), ("F7", "T7"), ("T7", "P7"), ("P7", "O1"),
    ("Fp2", "F8"), ("F8", "T8"), ("T8", "P8"), ("P8", "O2"),
    ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
    ("Fz", "Cz"), ("Cz", "Pz"),
)  # fmt: skip


@dataclass(frozen=True)
class Montage:
    """The rows a bipolar montage makes of a recording, and the pairs it could not make."""

    channels: list[Channel]  # one per pair made, in the order of the pairs
    members: list[tuple[int, int]]  # the recording's indices of each row's A and B
    missing: list[str]  # 'Fz-Cz: no Fz', one per pair left out

    def describe_missing(self) -> str:
        """A line for the user: which pairs were left out and why (empty when none)."""
        if not self.missing:
            return ""
        shown = "; ".join(self.missing[:6]) + ("; ..." if len(self.missing) > 6 else "")
        return f"{len(self.missing)} pair(s) left out: {shown}"


def find_channel(channels: Sequence[Channel], name: str) -> int | None:
    """The index of the channel `name` names: by its name as in the file, then by electrode."""
    wanted = name.strip().rstrip(".").strip().lower()
    for i, ch in enumerate(channels):
        if ch.name.lower() == wanted:
            return i
    site = electrode_name(name)
    if site is None:
        return None
    return next((i for i, ch in enumerate(channels) if electrode_name(ch.label) == site), None)


class _Difference:
    """A `SampleSource` reading A - B from two channels, span by span."""

    def __init__(self, a: Channel, b: Channel) -> None:
        self.a, self.b = a, b

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        return np.subtract(self.a.read(start, stop), self.b.read(start, stop), dtype=np.float32)


def _row_name(channel: Channel, asked: str) -> str:
    # The electrode's short name when the label names one (EEG Fp1 -> Fp1), else the label.
    return electrode_name(channel.label) or electrode_name(asked) or channel.name


def bipolar_channels(rec: Recording, pairs: Sequence[Pair]) -> Montage:
    """The rows of the montage `pairs` on `rec` (see the module's docstring)."""
    channels, members, missing = [], [], []
    for a_name, b_name in pairs:
        found = [find_channel(rec.channels, n) for n in (a_name, b_name)]
        absent = [n for n, i in zip((a_name, b_name), found, strict=True) if i is None]
        label = f"{a_name}-{b_name}"
        if absent:
            missing.append(f"{label}: no {' or '.join(absent)}")
            continue
        ia, ib = found
        assert ia is not None and ib is not None
        a, b = rec.channels[ia], rec.channels[ib]
        if ia == ib:
            missing.append(f"{label}: the same channel twice")
            continue
        if a.rate != b.rate or unit_kind(a.unit) != unit_kind(b.unit):
            missing.append(
                f"{label}: {a.name} ({a.rate:g} Hz, {a.unit or 'no unit'}) and {b.name} "
                f"({b.rate:g} Hz, {b.unit or 'no unit'}) do not subtract"
            )
            continue
        channels.append(
            Channel.on_disk(
                _Difference(a, b),
                0,
                label=f"{_row_name(a, a_name)}-{_row_name(b, b_name)}",
                unit=a.unit,
                rate=a.rate,
                n_samples=min(a.n_samples, b.n_samples),
            )
        )
        members.append((ia, ib))
    return Montage(channels, members, missing)


_SEPARATORS = re.compile(r"\s+-\s+|[,;\t]")


def parse_pairs(text: str) -> list[Pair]:
    """Pairs from text, one a line: 'Fp1-F7', 'Fp1 F7', 'Fp1, F7' or, for names holding a
    hyphen, 'EEG Fpz-Cz - EEG Pz-Oz' (a spaced hyphen). Blank lines and '#' comments are skipped.

    Raises `ValueError` naming the first line that is not a pair.
    """
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = _SEPARATORS.split(line)
        if len(parts) != 2:
            parts = line.split("-") if line.count("-") == 1 else line.split()
        parts = [p.strip() for p in parts]
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"line {number} ({line!r}) is not a pair such as 'Fp1-F7'")
        pairs.append((parts[0], parts[1]))
    return pairs


def format_pairs(pairs: Sequence[Pair]) -> str:
    """The text `parse_pairs` reads back: one 'A-B' a line (' - ' when a name holds a hyphen)."""
    return "\n".join(f"{a} - {b}" if "-" in a + b else f"{a}-{b}" for a, b in pairs)
