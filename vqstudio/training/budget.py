"""A stage's budget: a number of steps, a wall-clock time, or both (whichever ends first)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    """`steps` is the total step count of the stage (absolute, so a resume continues towards it);
    `seconds` the total training time of the stage, counting time spent before a resume."""

    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.steps is None and self.seconds is None:
            raise ValueError("a budget needs a number of steps or a time")

    def fraction(self, step: int, elapsed_s: float) -> float:
        """How much of the budget is spent, 0..1 (the larger of steps and time)."""
        parts = []
        if self.steps is not None:
            parts.append(step / self.steps if self.steps > 0 else 1.0)
        if self.seconds is not None:
            parts.append(elapsed_s / self.seconds if self.seconds > 0 else 1.0)
        return min(1.0, max(parts))

    def done(self, step: int, elapsed_s: float) -> bool:
        return self.fraction(step, elapsed_s) >= 1.0

    def progress(self, step: int, elapsed_s: float) -> float:
        """The schedule's progress: steps when a step budget exists (reproducible), else time."""
        if self.steps is not None:
            return step / self.steps if self.steps > 0 else 1.0
        return self.fraction(step, elapsed_s)

    def eta_s(self, step: int, elapsed_s: float, steps_per_s: float) -> float | None:
        """Seconds left, from the step rate measured so far (None before any rate is known)."""
        left = []
        if self.seconds is not None:
            left.append(max(0.0, self.seconds - elapsed_s))
        if self.steps is not None and steps_per_s > 0:
            left.append(max(0.0, (self.steps - step) / steps_per_s))
        return min(left) if left else None

    def to_json(self) -> dict:
        return {"steps": self.steps, "seconds": self.seconds}
