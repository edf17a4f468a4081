"""The learning-rate schedule: linear warmup, then cosine decay to a floor. A pure function."""

from __future__ import annotations

import math

__all__ = ["lr_at"]


def lr_at(step: int, progress: float, base_lr: float, warmup_steps: int, min_ratio: float = 0.05) -> float:
    """Learning rate for optimizer step `step` (0-based) at `progress` in [0, 1] of the budget.

    lr = base * min(1, (step + 1) / warmup) * (r + (1 - r) * (1 + cos(pi * p)) / 2),
    with r = `min_ratio` and p = `progress` clipped to [0, 1]. Progress is steps done over
    the step budget, or time spent over the time budget, so one formula serves both.
    """
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    p = min(1.0, max(0.0, progress))
    return base_lr * warm * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p)))
