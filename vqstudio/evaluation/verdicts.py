"""Verdicts the data supports: the CNN's figure for synthetic is read as a verdict only once the
CNN has judged its own references right, as the memorization check is calibrated on held-out data.

On 29 windows a class, the CNN once scored synthetic 53 % [41-66] ("indistinguishable") while a
logistic regression on features told the sets apart every time, and it scored the phase-randomized
surrogate 45 %: with that little data it had learned nothing, and its 53 % said nothing either. So
before its figure for synthetic counts, the CNN must
- score one held-out half against the other near chance (its 95 % interval reaches 50 %): real
  against real is indistinguishable, and a CNN that tells the halves apart is judging something
  else (the recording changing over time);
- tell the phase-randomized surrogate from real (its interval above 50 %): the surrogate has the
  real spectrum and nothing else, so a CNN that cannot tell it apart has not learned waveforms.
Otherwise the synthetic cell reads "not enough data to judge" (or "not calibrated" when the
references were not computed), and its figure moves to the note.

One reading needs less: a figure whose interval lies above 50 % says the CNN did tell synthetic
from real, which a CNN that learned too little cannot fake. It stands once the held-out halves
are at chance (so it is not the recording changing over time), surrogate or not.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CNN_KEY", "NOT_CALIBRATED", "NOT_ENOUGH", "judge_cnn"]

CNN_KEY = "cnn_accuracy"
NOT_ENOUGH = "not enough data to judge"
NOT_CALIBRATED = "not calibrated"


def _interval(report: Any) -> tuple[float, float, float] | None:
    """(accuracy, low, high) of a report's CNN, in %; None when it was not computed."""
    m = report.metrics.get(CNN_KEY) if report is not None else None
    if m is None or m.value is None:
        return None
    lo, hi = m.details.get("accuracy_ci95") or (0.0, 1.0)
    return float(m.value), 100 * float(lo), 100 * float(hi)


def _shown(figure: tuple[float, float, float]) -> str:
    return f"{figure[0]:.0f} % [{figure[1]:.0f}-{figure[2]:.0f}]"


def _why_not(references: dict[str, Any], notes: dict[str, str], windows: int, told_apart: bool) -> str | None:
    """Why the CNN's figure for synthetic is no verdict (None when it is one); `told_apart`: its
    interval lies above chance."""
    halves = _interval(references.get("held_out_half"))
    if halves is None:
        why = notes.get("held_out_half") or "the held-out halves were not compared"
        return f"the CNN could not be checked on one held-out half against the other ({why})"
    if halves[1] > 50.0:
        return (
            f"the CNN tells one held-out half from the other ({_shown(halves)}): the real recording "
            "changes over time more than the CNN can separate from synthetic"
        )
    if told_apart:
        return None
    surrogate = _interval(references.get("surrogate"))
    if surrogate is None:
        why = notes.get("surrogate") or "the surrogate was not compared"
        return f"the CNN could not be checked on the phase-randomized surrogate ({why})"
    if surrogate[1] <= 50.0:
        return (
            f"the CNN does not tell the phase-randomized surrogate from real ({_shown(surrogate)}), so "
            f"with {windows} windows per set it has not learned enough to judge"
        )
    return None


def judge_cnn(report: Any, references: dict[str, Any], notes: dict[str, str], asked: bool) -> None:
    """Marks the synthetic report's CNN figure as a verdict or not (`details["judged"]`, and
    `details["not_judged"]` saying why), from the references' own CNN figures. `asked`: whether
    the references were asked for."""
    m = report.metrics.get(CNN_KEY)
    if m is None or m.value is None:
        return
    windows = int(m.details.get("windows_per_class", 0))
    if not asked:
        m.details.update(
            judged=False,
            verdict=NOT_CALIBRATED,
            not_judged="the references were not computed, so nothing shows the CNN can judge these data",
        )
        return
    why = _why_not(references, notes, windows, told_apart=_interval(report)[1] > 50.0)  # type: ignore[index]
    m.details["judged"] = why is None
    if why is not None:
        m.details.update(verdict=NOT_ENOUGH, not_judged=why)
