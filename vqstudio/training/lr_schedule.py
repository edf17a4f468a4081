"""The learning-rate schedule: linear warmup, then cosine decay to a floor. A pure function."""

from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(
    step: int,
    progress: float,
    base_lr: float,
    warmup_steps: int,
    min_ratio: float = 0.05,
    warmup_fraction: float = 0.0,
) -> float:
    """Learning rate for optimizer step `step` (0-based) at `progress` in [0, 1] of the budget.

    lr = base * w * (r + (1 - r) * (1 + cos(pi * p)) / 2), with r = `min_ratio`, p = `progress`
    clipped to [0, 1], and the warmup factor w = min(1, max((step + 1) / warmup_steps,
    p / warmup_fraction)) (the second term only when `warmup_fraction` > 0). Progress is steps
    done over the step budget, or time spent over the time budget, so one formula serves both;
    the warmup ends after `warmup_steps` or `warmup_fraction` of the budget, whichever comes
    first, so slow steps under a time budget do not spend the whole budget warming up.
    """
    p = min(1.0, max(0.0, progress))
    warm = (step + 1) / max(1, warmup_steps)
    if warmup_fraction > 0:
        warm = max(warm, p / warmup_fraction)
    return base_lr * min(1.0, warm) * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p)))
