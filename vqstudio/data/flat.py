"""Flat, constant and saturated stretches: where a recording carries no signal.

A lead that came off, an amplifier pinned at its rail, a file padded with a constant: such a
stretch is not EEG/ECG, and a window holding one would make real data look unlike itself (or
hide a generator's faults). This module finds them with plain numpy, so evaluation and the
preparation of training data can share one rule. Values are compared in float64 and relative to
their own magnitude, so a channel constant at -187500 is found though float32 cannot resolve
steps much below 0.01 there.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLAT_SECONDS", "SATURATED_SECONDS", "flat_mask", "flat_windows"]

FLAT_SECONDS = 0.5  # a run of (nearly) equal samples this long is flat
SATURATED_SECONDS = 0.05  # a run pinned at the channel's extreme this long is clipping
MIN_RUN_SAMPLES = 4  # at very low rates, never call fewer samples a run
# Steps below this many float32 ulps of the values' magnitude are rounding, not signal.
_ULPS = 8.0
_REL_SPREAD = 1e-6  # ... and steps below this fraction of the channel's spread are no signal either


def _runs(hit: np.ndarray, min_len: int) -> np.ndarray:
    """Boolean mask (same shape as the 1-D `hit`) of the runs of True at least `min_len` long.
    Vectorised: quantised data holds millions of short runs of equal samples."""
    if min_len <= 1:
        return hit.copy()
    edges = np.diff(np.r_[0, hit.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = stops - starts >= min_len
    marks = np.zeros(hit.size + 1, dtype=np.int64)
    np.add.at(marks, starts[long], 1)
    np.add.at(marks, stops[long], -1)
    return np.cumsum(marks[:-1]) > 0


def _channel_mask(x: np.ndarray, flat_len: int, sat_len: int) -> np.ndarray:
    """Flat or saturated samples of one channel (1-D float64)."""
    if x.size < 2:
        return np.zeros(x.size, dtype=bool)
    magnitude = float(np.max(np.abs(x)))
    spread = float(np.max(x) - np.min(x))
    tol = max(_ULPS * np.finfo(np.float32).eps * magnitude, _REL_SPREAD * spread, 1e-300)
    # A sample is "still" when it equals its predecessor within tol; a run of k still steps
    # covers k + 1 samples.
    still = np.abs(np.diff(x)) <= tol
    flat_steps = _runs(still, max(flat_len - 1, 1))
    mask = np.zeros(x.size, dtype=bool)
    mask[:-1] |= flat_steps
    mask[1:] |= flat_steps
    if spread > tol:
        # Saturation: a shorter run pinned at the channel's own maximum or minimum.
        for extreme in (np.max(x), np.min(x)):
            mask |= _runs(np.abs(x - extreme) <= tol, sat_len)
    return mask


def flat_mask(
    x: np.ndarray,
    rate: float,
    *,
    flat_seconds: float = FLAT_SECONDS,
    saturated_seconds: float = SATURATED_SECONDS,
) -> np.ndarray:
    """Samples inside a flat or saturated stretch, per channel: a bool array shaped like `x`.

    `x` is `(..., samples)` at `rate` Hz (any leading axes; each last-axis row is a channel).
    A sample is flagged when it lies in
    - a flat run: at least max(flat_seconds * rate, 4) consecutive samples whose successive
      differences |x[t+1] - x[t]| are all <= tol, or
    - a saturated run: at least max(saturated_seconds * rate, 4) consecutive samples with
      |x[t] - max(x)| <= tol (or the same at min(x)), i.e. pinned at the row's extreme,
    with tol = max(8 * eps_float32 * max|x|, 1e-6 * (max(x) - min(x))): rounding of the stored
    values, relative to their magnitude, and a millionth of the row's range. Computed in float64.
    """
    a = np.asarray(x, dtype=np.float64)
    flat_len = max(MIN_RUN_SAMPLES, round(flat_seconds * rate))
    sat_len = max(MIN_RUN_SAMPLES, round(saturated_seconds * rate))
    rows = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a[None]
    out = np.stack([_channel_mask(r, flat_len, sat_len) for r in rows])
    return out.reshape(a.shape)


def flat_windows(windows: np.ndarray, rate: float, **kwargs: float) -> np.ndarray:
    """`(windows, channels, samples)` -> `(windows,)` bool: True where any channel of the window
    holds a flat or saturated stretch (`flat_mask`, judged within the window alone)."""
    w = np.asarray(windows)
    if w.ndim != 3:
        raise ValueError(f"windows must be (windows, channels, samples); got shape {w.shape}")
    if len(w) == 0:
        return np.zeros(0, dtype=bool)
    return np.array([flat_mask(one, rate, **kwargs).any() for one in w], dtype=bool)
