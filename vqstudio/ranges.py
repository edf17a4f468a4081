"""The range and default of a setting, stated once: the engine checks its settings against it,
the command line parses its options with it (`vqstudio.cli.argtypes.in_range`), and the app sets
its spin boxes from it. Each range lives beside the settings it bounds (`PrepConfig`,
`TrainSettings`, `GenerateSettings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Range"]


@dataclass(frozen=True)
class Range:
    """Values from `low` to `high` (`low` itself excluded when `open_low`: "more than 0"), and
    the `default` taken when a setting is not given (None: the engine chooses)."""

    low: float
    high: float
    default: float | None = None
    open_low: bool = False

    def contains(self, value: float) -> bool:
        if not (isinstance(value, int | float) and math.isfinite(value)):
            return False
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        """'more than 0 and at most 60', 'from 1 to 100,000'."""
        if self.open_low:
            return f"more than {_shown(self.low)} and at most {_shown(self.high)}"
        return f"from {_shown(self.low)} to {_shown(self.high)}"

    def check(self, value: float, name: str) -> None:
        """Raises `ValueError` ("NAME must be ..., got VALUE") unless `value` lies in the range."""
        if not self.contains(value):
            raise ValueError(f"{name} must be {self.describe()}, got {_shown(value)}")

    @property
    def spin_low(self) -> float:
        """The lowest value a spin box may show (the open end nudged inside)."""
        return self.low + (1e-3 if self.open_low else 0.0)


def _shown(value: float) -> str:
    """A bound as people write it: 100,000 rather than 1e+05."""
    if isinstance(value, int | float) and math.isfinite(value) and value == int(value) and abs(value) >= 1e4:
        return f"{int(value):,}"
    return f"{value:g}"
