"""The evaluation report: one `MetricResult` per metric, JSON and table views of them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DIRECTIONS", "EvaluationReport", "MetricResult", "verdict_text"]

REPORT_VERSION = 2


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


@dataclass
class MetricResult:
    """One metric: its headline value, unit, which direction is better, and its definition.

    `better` is "lower" or "higher" for scores, "chance" for a classifier accuracy (50 % is
    best: the classifier cannot tell), or "check" for the memorization test (whose verdict is
    `EvaluationReport.memorization_verdict`). `value` is None when the metric could not
    be computed (e.g. no labels, one channel); `details` then says why.
    """

    key: str
    title: str
    value: float | None
    unit: str
    better: str
    definition: str
    per_channel: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _plain(
            {
                "title": self.title,
                "value": self.value,
                "unit": self.unit,
                "better": self.better,
                "definition": self.definition,
                "per_channel": self.per_channel,
                "details": self.details,
            }
        )


@dataclass
class EvaluationReport:
    """What `evaluate_windows` found: every metric, the window counts, and curves for plots."""

    rate: float
    channel_names: list[str]
    samples_per_window: int
    n_real: int
    n_synthetic: int
    n_train: int
    seed: int
    metrics: dict[str, MetricResult]
    # Windows left out of each set for holding a flat or saturated stretch (`flat.py`).
    excluded_flat: dict[str, int] = field(default_factory=dict)
    # Curves kept for the plots; not part of the JSON.
    freqs: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    psd_real: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    psd_synthetic: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    nn_synthetic: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    nn_real: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def memorization_flag(self) -> bool:
        """True when the synthetic windows copy the training data (the verdict is "yes")."""
        return self.memorization_verdict == "yes"

    @property
    def memorization_verdict(self) -> str | None:
        """ "yes", "no", "not enough held-out data" (see the `memorization` metric's definition),
        or None when the check did not run."""
        m = self.metrics.get("memorization")
        return None if m is None else str(m.details.get("verdict", "yes" if m.details.get("flag") else "no"))

    def value(self, key: str) -> float | None:
        """The headline value of one metric (None when absent or not computed)."""
        m = self.metrics.get(key)
        return None if m is None else m.value

    def to_dict(self) -> dict[str, Any]:
        """A nested, JSON-serialisable view: windows, channels, then one entry per metric."""
        return _plain(
            {
                "report_version": REPORT_VERSION,
                "rate_hz": self.rate,
                "channels": list(self.channel_names),
                "samples_per_window": self.samples_per_window,
                "window_seconds": self.samples_per_window / self.rate,
                "windows": {"real": self.n_real, "synthetic": self.n_synthetic, "train": self.n_train},
                "seed": self.seed,
                "excluded_flat": dict(self.excluded_flat),
                "memorization_flag": self.memorization_flag,
                "memorization_verdict": self.memorization_verdict,
                "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            }
        )

    def summary_rows(self) -> list[tuple[str, float | str | None, str]]:
        """(metric, value, unit) rows for a table, in the report's order; extra rows for the
        train-on-real reference and the memorization verdict."""
        rows: list[tuple[str, float | str | None, str]] = []
        for m in self.metrics.values():
            direction = DIRECTIONS.get(m.better, "")
            unit = f"{m.unit}, {direction}" if m.unit and direction else (m.unit or direction)
            rows.append((m.title, m.value, unit))
            if m.key == "tstr" and m.details.get("trtr_accuracy") is not None:
                rows.append(("Train-on-real/test-on-real accuracy", m.details["trtr_accuracy"], unit))
            if m.key == "memorization":
                rows.append(("Memorization flag", verdict_text(self.memorization_verdict), ""))
        return rows


DIRECTIONS = {
    "lower": "lower is better",
    "higher": "higher is better",
    "chance": "50 % = indistinguishable (best), 100 % = always told apart",
    "check": "about 1 = as novel as fresh data, near 0 = copies",
}


def verdict_text(verdict: str | None) -> str:
    """The memorization verdict as a table shows it."""
    return {"yes": "YES", "no": "no", None: "n/a"}.get(verdict, str(verdict))
