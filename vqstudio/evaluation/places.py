"""Where an evaluation window comes from (its file and time), so messages say where a flat stretch
is, and how many held-out windows an evaluation will have: the train job warns when they are too
few to evaluate (issue 21: "52 training and 1 held-out windows" went by without a word, and the
evaluation then failed without saying where its left-out window was).

A split's data (`PreparedData.train` / `.val`) joins the contiguous stretches of every source file
that hold at least one window; `prepare` lists each stretch's time range per source (`train_s`,
`held_out_s`). `stretches` puts the two together; `place` maps a window start back to its file
and time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "HOP",
    "MIN_REAL_WINDOWS",
    "HeldOut",
    "Stretch",
    "describe_places",
    "flat_places",
    "held_out_warning",
    "held_out_windows",
    "overlapping_starts",
    "source_names",
    "stretches",
]

HOP = 0.5  # real and synthetic windows start every half window
MIN_REAL_WINDOWS = 2  # the fewest real windows an evaluation compares with (`compare._check`)
MAX_PLACES = 3  # places named in one message; the rest are counted


@dataclass(frozen=True)
class Stretch:
    """A contiguous stretch of a split's data: samples `offset:stop`, from file `name`, whose
    first sample is at `t0` s of that recording."""

    offset: int
    stop: int
    name: str
    t0: float


def source_names(prepared: Any) -> list[str]:
    """The file name of each of `prepared`'s sources ("recording N" for one held in memory)."""
    return [
        os.path.basename(src["path"]) if src.get("path") else f"recording {i + 1}"
        for i, src in enumerate(prepared.sources)
    ]


def stretches(prepared: Any, split: Any, key: str) -> list[Stretch] | None:
    """The stretches of `split.data` from the time ranges `prepare` lists per source under `key`
    ("train_s" / "held_out_s"); those shorter than a window are not in the data. None when they do
    not add up to the data (then windows cannot be placed)."""
    out, offset = [], 0
    for name, src in zip(source_names(prepared), prepared.sources, strict=True):
        for a, b in src.get(key, []):
            n = round((b - a) * prepared.rate)
            if n >= prepared.window:
                out.append(Stretch(offset, offset + n, name, float(a)))
                offset += n
    return out if offset == split.data.shape[1] else None


def overlapping_starts(parts: Sequence[Stretch], window: int, hop: int) -> np.ndarray:
    """Window starts every `hop` samples inside each stretch (none straddles two)."""
    starts = [np.arange(p.offset, p.stop - window + 1, hop, dtype=np.int64) for p in parts]
    return np.concatenate(starts) if starts else np.zeros(0, np.int64)


def place(parts: Sequence[Stretch], start: int, window: int, rate: float) -> tuple[str, float, float] | None:
    """(file, start s, end s) of the window starting at sample `start` of the split's data."""
    for p in parts:
        if p.offset <= start < p.stop:
            t = p.t0 + (start - p.offset) / rate
            return p.name, t, t + window / rate
    return None


def flat_places(prepared: Any, split: str) -> list[tuple[str, float, float]]:
    """Where the windows `prepare` left out of `split` for a flat or saturated stretch are."""
    names, seconds = source_names(prepared), prepared.window / prepared.rate
    return [(names[i], t, t + seconds) for i, t in prepared.flat_places.get(split, [])]


def describe_places(places: Sequence[tuple[str, float, float] | None]) -> str:
    """'short.edf 56-62 s' for each file's merged time ranges, at most `MAX_PLACES` of them
    ("and 4 more"); empty when none is known."""
    merged: list[list[Any]] = []
    for item in sorted(p for p in places if p is not None):
        name, a, b = item
        if merged and merged[-1][0] == name and a <= merged[-1][2] + 1e-9:
            merged[-1][2] = max(merged[-1][2], b)
        else:
            merged.append([name, a, b])
    shown = [f"{name} {_seconds(a)}-{_seconds(b)} s" for name, a, b in merged[:MAX_PLACES]]
    more = len(merged) - MAX_PLACES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _seconds(t: float) -> str:
    return f"{t:.0f}" if abs(t - round(t)) < 0.05 or t >= 100 else f"{t:.1f}"


@dataclass(frozen=True)
class HeldOut:
    """The held-out real windows an evaluation of the project will compare with."""

    usable: int  # windows free of flat or saturated stretches
    flat: int  # windows left out for holding one
    flat_where: str  # `describe_places` of those
    seconds: float  # the held-out part, in seconds of recording
    window_s: float


# Beyond this many candidate windows the count is plenty, whatever few are flat: they are not
# cut and checked (a long recording's held-out part would cost memory for nothing).
_CHECKED = 64


def held_out_windows(prepared: Any) -> HeldOut:
    """How many held-out windows `vqstudio.evaluation.assessment.assess` will compare with (every
    half window inside each held-out stretch, less those holding a flat or saturated stretch)."""
    from vqstudio.data.flat import flat_windows

    window, rate = prepared.window, prepared.rate
    seconds = sum(b - a for src in prepared.sources for a, b in src.get("held_out_s", []))
    parts = stretches(prepared, prepared.val, "held_out_s")
    left_out = flat_places(prepared, "val")
    if parts is None:  # cannot re-cut: the split's own windows, as assess then uses
        return HeldOut(len(prepared.val), len(left_out), describe_places(left_out), seconds, window / rate)
    starts = overlapping_starts(parts, window, max(1, round(window * HOP)))
    if len(starts) > _CHECKED:
        return HeldOut(len(starts), 0, "", seconds, window / rate)
    idx = starts[:, None] + np.arange(window)[None, :]
    x = prepared.physical(np.ascontiguousarray(prepared.val.data[:, idx].transpose(1, 0, 2)))
    bad = flat_windows(x, rate) if len(x) else np.zeros(0, bool)
    where = [place(parts, int(s), window, rate) for s in starts[bad]]
    return HeldOut(int((~bad).sum()), int(bad.sum()), describe_places(where), seconds, window / rate)


def held_out_warning(prepared: Any) -> str | None:
    """What the train job says when the held-out part is too small to evaluate (None when it is
    large enough): the figures, and what to do."""
    from vqstudio.data.prep import WINDOW_S
    from vqstudio.evaluation.memorization import MIN_HELD_OUT

    held = held_out_windows(prepared)
    if held.usable >= MIN_HELD_OUT:
        return None
    plural = "" if held.usable == 1 else "s"
    holds = "holds" if held.flat == 1 else "hold"
    flat = f"; {held.flat} more {holds} a flat or saturated stretch: {held.flat_where}" if held.flat else ""
    need = (
        f"evaluation needs at least {MIN_REAL_WINDOWS} to run"
        if held.usable < MIN_REAL_WINDOWS
        else "evaluation can run, but its memorization check and the CNN's verdict will say 'not enough data'"
    )
    # Windows every half window: n windows need (n + 1) / 2 windows of time.
    fits = held.seconds / ((MIN_HELD_OUT + 1) * HOP)
    shorter = f", a window of at most {fits:.2g} s (--window)" if fits >= WINDOW_S.low else ""
    return (
        f"only {held.usable} held-out window{plural} of {held.window_s:g} s to evaluate with (the last "
        f"{held.seconds:.3g} s of the recordings{flat}): {need}, and {MIN_HELD_OUT} for the memorization "
        f"check; give longer recordings{shorter}, or evaluate against other real recordings (--real)"
    )
