"""Amplitude scales of the viewer: how many physical units one row (a division) holds. No Qt."""

from __future__ import annotations

import math

import numpy as np

from vqstudio.recording import Recording

__all__ = ["initial_scales", "nice_scale", "robust_scale", "step_scale"]


def robust_scale(samples: np.ndarray) -> float:
    """Amplitude per row: the 1st-99th percentile spread fills 70 % of a row (spikes may spill)."""
    if samples.size < 2:
        return 1.0
    lo, hi = np.percentile(samples, [1.0, 99.0])
    spread = float(hi - lo) / 0.7
    return spread if spread > 0 and math.isfinite(spread) else 1.0


def nice_scale(value: float) -> float:
    """`value` rounded up to 1, 2 or 5 times a power of ten (a scale bar reads '50 uV', not '43.7')."""
    if not (value > 0 and math.isfinite(value)):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= value * (1 - 1e-9))


def step_scale(value: float, factor: float) -> float:
    """The scale one amplitude step from `value`: the next 1-2-5 value below it when `factor` is
    below 1 (larger traces), above it when `factor` is above 1.

    500 uV steps to 200, 100, 50... and back up through 1000, 2000; a value between steps (an
    old setting, 256) lands on the next step in the direction asked (200 or 500).
    """
    if not (value > 0 and math.isfinite(value)) or factor == 1:
        return value
    power = 10.0 ** math.floor(math.log10(value))
    # Rounded so repeated steps never drift off the ladder (0.2 * 1000 is 200.00000000000003).
    steps = [float(f"{m * power:.12g}") for m in (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)]
    eps = 1e-9
    if factor < 1:
        return max(s for s in steps if s < value * (1 - eps))
    return min(s for s in steps if s > value * (1 + eps))


def initial_scales(rec: Recording) -> dict[str, float]:
    """Units per row for each unit of `rec`: the median spread of its channels, rounded up to a
    value a scale bar can show plainly. Reads up to 30 s of each channel (a span, not the file)."""
    spreads: dict[str, list[float]] = {}
    for ch in rec.channels:
        n = min(ch.n_samples, int(30 * ch.rate) + 1)
        y = ch.read(0, n)
        spreads.setdefault(ch.unit, []).append(robust_scale(y - np.mean(y) if y.size else y))
    return {u: nice_scale(float(np.median(v))) for u, v in spreads.items()}
