"""Evaluation: how close synthetic windows are to real ones, and whether they copy the training data.

Public API:
- `evaluate_windows(real, synthetic, train, rate, channel_names, ...) -> EvaluationReport`
  (and `evaluate_windows_job`, the same as a generator of `Progress` events);
- `EvaluationReport.to_dict()` / `.summary_rows()` / `.memorization_flag`;
- `save_plots(report, real, synthetic, folder) -> list[str]` (PNG files, matplotlib Agg);
- `phase_randomized_surrogate(windows, rng)`: the same-spectrum baseline;
- membership inference (`membership.py`: the attacks and `membership_inference`; `privacy.py`:
  on a project's split, as `assessment.assess` runs it; `roc.py`: AUC, interval, TPR at 1 % FPR;
  `membership_table.py`: the rows and words the CLI and the Report tab show).
Every metric is defined in the docstring of its function in `vqstudio.evaluation.metrics`.
No torch is imported here.
"""

from vqstudio.evaluation.compare import evaluate_windows, evaluate_windows_job
from vqstudio.evaluation.plots import save_plots
from vqstudio.evaluation.report import EvaluationReport, MetricResult
from vqstudio.evaluation.surrogate import phase_randomized_surrogate

__all__ = [
    "EvaluationReport",
    "MetricResult",
    "evaluate_windows",
    "evaluate_windows_job",
    "phase_randomized_surrogate",
    "save_plots",
]
