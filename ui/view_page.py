"""What one page of the viewer draws, computed without Qt: read, re-reference, filter, decimate.

`read_page` reads only the visible channels' span (plus a filter margin on each side, and the
reference channels when a reference is on), subtracts the reference, filters, cuts the margin
off and reduces each channel to min/max pairs at the plot's pixel width (peaks survive).
Filtering happens before decimation, on the visible channels only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from ui.view_filters import ViewFilters, apply_filters, margin_seconds
from ui.view_reference import Reference, reference_members
from vqstudio.recording import Recording

__all__ = ["RowSpan", "peak_decimate", "peak_decimate_rows", "read_page"]


@dataclass
class RowSpan:
    """One channel of a page: its samples after reference and filters, and the points drawn."""

    index: int  # the channel's index in the recording
    start: float  # time of samples[0] in seconds
    rate: float
    samples: np.ndarray  # physical units, undecimated (the cursor read-out uses these)
    x: np.ndarray  # drawn points: times in seconds
    y: np.ndarray  # drawn points: physical values (peak-decimated samples)

    def value_at(self, t: float) -> float | None:
        """The sample nearest to time `t`, or None outside the page."""
        k = round((t - self.start) * self.rate)
        return float(self.samples[k]) if 0 <= k < self.samples.size else None


def peak_decimate(t0: float, rate: float, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """x (s) and y of `y` reduced to `bins` min/max pairs, so every spike stays visible.

    `t0` is the time of `y[0]`. When `y` already has fewer than two samples per bin it comes
    back unchanged (with its times): decimating would only lose detail.
    """
    x, rows = peak_decimate_rows(t0, rate, y[None, :], bins)
    return x, rows[0]


def peak_decimate_rows(t0: float, rate: float, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """`peak_decimate` of every row of a `(channels, samples)` array at once (one shared x)."""
    n = y.shape[1]
    if bins <= 0 or n <= 2 * bins:
        return t0 + np.arange(n, dtype=np.float64) / rate, y
    per = -(-n // bins)  # samples per bin, rounded up: at most `bins` full bins
    full = n // per
    used = full * per
    if per <= 64:
        # Few samples a bin: element-wise min/max over `per` strided views beats a reduction
        # along a tiny axis by several times.
        lo = y[:, 0:used:per].copy()
        hi = lo.copy()
        for j in range(1, per):
            view = y[:, j:used:per]
            np.minimum(lo, view, out=lo)
            np.maximum(hi, view, out=hi)
    else:
        blocks = y[:, :used].reshape(y.shape[0], full, per)
        lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    pairs = np.empty((y.shape[0], full, 2), dtype=y.dtype)
    pairs[:, :, 0] = lo
    pairs[:, :, 1] = hi
    # Each pair sits at its bin's start and middle: the line still advances left to right.
    xs = np.empty((full, 2), dtype=np.float64)
    xs[:, 0] = np.arange(full) * per
    xs[:, 1] = xs[:, 0] + per / 2
    x = t0 + xs.reshape(-1) / rate
    out = pairs.reshape(y.shape[0], -1)
    if used < n:  # the last, partial bin: its own min and max
        tail = y[:, used:]
        x = np.concatenate([x, t0 + np.array([used, used + (tail.shape[1] - 1) / 2]) / rate])
        out = np.concatenate([out, tail.min(axis=1, keepdims=True), tail.max(axis=1, keepdims=True)], axis=1)
    return x, out


def read_page(
    rec: Recording,
    indices: Sequence[int],
    t0: float,
    t1: float,
    bins: int,
    filters: ViewFilters | None = None,
    reference: Reference | None = None,
    bad: Collection[str] = (),
) -> list[RowSpan]:
    """The page `t0..t1` s of channels `indices`, one `RowSpan` each, in the order given.

    `bad` holds channel names left out of an average reference.
    """
    filters = filters or ViewFilters()
    reference = reference or Reference()
    channels = rec.channels
    margin = margin_seconds(filters)
    reads: dict[tuple[int, int, int], np.ndarray] = {}

    def read(i: int, r0: int, r1: int) -> np.ndarray:
        # A reference channel is often also drawn: read each span once a page.
        key = (i, r0, r1)
        if key not in reads:
            reads[key] = channels[i].read(r0, r1)
        return reads[key]

    # Channels sharing a rate (and so a span) are read, filtered and decimated together.
    groups: dict[tuple[float, int, int, int, int], list[int]] = {}
    for pos, i in enumerate(indices):
        ch = channels[i]
        s0 = max(0, math.floor(t0 * ch.rate))
        s1 = min(ch.n_samples, math.ceil(t1 * ch.rate) + 1)
        m = math.ceil(margin * ch.rate)
        r0, r1 = max(0, s0 - m), min(ch.n_samples, s1 + m)
        groups.setdefault((ch.rate, r0, r1, s0, s1), []).append(pos)

    empty = np.zeros(0)
    out = [RowSpan(i, t0, channels[i].rate, empty, empty, empty) for i in indices]
    for (rate, r0, r1, s0, s1), positions in groups.items():
        if s1 <= s0:
            continue
        block = np.stack([read(indices[p], r0, r1) for p in positions])
        if reference.kind != "none":
            block = _rereference(block, [indices[p] for p in positions], rec, r0, r1, reference, bad, read)
        # A margin cut short by the recording's start or end: the filter pads there itself.
        at_edge = r0 > s0 - math.ceil(margin * rate) or r1 < s1 + math.ceil(margin * rate)
        block = apply_filters(block, rate, filters, at_edge)[:, s0 - r0 : s1 - r0]
        x, drawn = peak_decimate_rows(s0 / rate, rate, block, bins)
        for k, p in enumerate(positions):
            out[p] = RowSpan(indices[p], s0 / rate, rate, block[k], x, drawn[k])
    return out


def _rereference(
    block: np.ndarray,
    rows: list[int],
    rec: Recording,
    r0: int,
    r1: int,
    reference: Reference,
    bad: Collection[str],
    read: Callable[[int, int, int], np.ndarray],
) -> np.ndarray:
    """`block` with each row's reference (the mean of its members' spans) subtracted."""
    block = block.astype(np.float64)
    means: dict[tuple[int, ...], np.ndarray | None] = {}
    for k, i in enumerate(rows):
        members = reference_members(rec.channels, i, reference, bad)
        if not members:
            continue
        if members not in means:
            spans = [read(j, r0, r1) for j in members]
            spans = [s for s in spans if s.shape[0] == block.shape[1]]  # a shorter channel ends early
            means[members] = np.mean(spans, axis=0) if spans else None
        mean = means[members]
        if mean is not None:
            block[k] -= mean
    return block
