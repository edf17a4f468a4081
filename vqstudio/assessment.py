"""Evaluating a project's synthetic recordings: files in, windows out, report and plots.

`assess(project_dir, synthetic_paths, ...)` turns recordings into windows of the project's
channels, rate and window length (the same preparation as training, with the project's stored
normalisation), compares them with the project's held-out split (or other real recordings) via
`vqstudio.evaluation.evaluate_windows_job`, and optionally computes the same metrics for two
references: a held-out half against the other half (the best achievable) and a
phase-randomized surrogate of the training windows (a same-spectrum baseline). The `evaluate`
command and the GUI's report panel both call it. No torch is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vqstudio.errors import FormatError
from vqstudio.events import Job, LogLine, StopRequest

__all__ = ["Assessment", "assess"]

# Nearest-neighbour search and the classifier grow with the window count; these caps keep an
# evaluation to seconds on a laptop while leaving hundreds of windows per set.
MAX_TRAIN_WINDOWS = 2000
MAX_WINDOWS = 1000


@dataclass
class Assessment:
    """The evaluation of one synthetic set, the references beside it, and the files written."""

    report: Any  # vqstudio.evaluation.EvaluationReport
    references: dict[str, Any] = field(default_factory=dict)  # name -> EvaluationReport
    plots: list[str] = field(default_factory=list)
    json_path: str | None = None
    sources: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["sources"] = self.sources
        if self.references:
            d["references"] = {k: r.to_dict() for k, r in self.references.items()}
        d["plots"] = list(self.plots)
        return d


def _subsample(x: np.ndarray, labels: np.ndarray | None, cap: int, rng: np.random.Generator):
    if len(x) <= cap:
        return x, labels
    keep = np.sort(rng.choice(len(x), cap, replace=False))
    return x[keep], (labels[keep] if labels is not None else None)


def _windows_of(paths: Sequence[str], project: Any, rate: float | None, labels: str) -> tuple:
    """Non-overlapping windows `(n, channels, window)` in physical units of recordings, prepared
    like the project's training data, and their label texts (None without labels)."""
    from vqstudio.io import read_recordings
    from vqstudio.prep import PrepConfig, prepare

    stored = project.data
    config = PrepConfig.from_json(project.meta["prep"])
    config = replace(
        config,
        channels=tuple(project.channel_labels),
        resample=project.rate,
        stride_s=stored["window"] / project.rate,
        val_fraction=0.0,
        labels=labels,
    )
    recordings = [rec for p in paths for rec in read_recordings(p, rate=rate)]
    prepared = prepare(recordings, config, stats=stored["normalization"])
    x = prepared.physical(prepared.windows("train"))
    names = prepared.label_names
    y = None
    if labels != "none":
        y = np.array([names[i] if i >= 0 else "" for i in prepared.train.labels], dtype=object)
    return x, y


def _split_labels(prepared: Any, split: str) -> np.ndarray | None:
    s = prepared.train if split == "train" else prepared.val
    if not prepared.label_names or (s.labels < 0).all():
        return None
    return np.array([prepared.label_names[i] if i >= 0 else "" for i in s.labels], dtype=object)


def assess(
    project_dir: str,
    synthetic_paths: Sequence[str],
    *,
    real_paths: Sequence[str] | None = None,
    rate: float | None = None,
    json_path: str | None = None,
    plots_dir: str | None = None,
    references: bool = False,
    seed: int = 0,
    stop: StopRequest | None = None,
) -> Job[Assessment]:
    """Evaluates synthetic recordings against the project's held-out split (or `real_paths`).

    `rate` is the rate of CSV inputs without a time column. Writes the JSON report to
    `json_path` and PNG plots into `plots_dir` when given. With `references`, the same metrics
    are computed for a held-out half against the other half and for a phase-randomized
    surrogate of the training windows. Raises `FormatError`/`ProjectError` for unusable input.
    """
    from vqstudio.atomic import write_json
    from vqstudio.evaluation import evaluate_windows_job, phase_randomized_surrogate, save_plots
    from vqstudio.prep import prepare_from_project
    from vqstudio.project import Project

    if not synthetic_paths:
        raise FormatError("evaluate needs at least one synthetic recording (--synthetic FILE...)")
    project = Project.open(project_dir)
    rng = np.random.default_rng(seed)
    yield LogLine(f"preparing the training and held-out windows of {project.path}")
    prepared = prepare_from_project(project, rate=rate)
    label_mode = prepared.config.labels if prepared.label_names else "none"

    train = prepared.physical(prepared.windows("train"))
    train_y = _split_labels(prepared, "train")
    train, train_y = _subsample(train, train_y, MAX_TRAIN_WINDOWS, rng)
    if real_paths:
        # Other real files carry labels only as annotations: their stems are not training labels.
        real_mode = "annotations" if label_mode == "annotations" else "none"
        real, real_y = _windows_of(real_paths, project, rate, real_mode)
        real_source = [os.path.abspath(p) for p in real_paths]
    else:
        real, real_y = prepared.physical(prepared.windows("val")), _split_labels(prepared, "val")
        real_source = ["held-out split of the project"]
    if len(real) < 2:
        raise FormatError(
            f"only {len(real)} held-out real window(s) to compare with; give more real data with --real"
        )
    # Synthetic files carry their label as an annotation, whatever the project's label mode.
    synthetic, syn_y = _windows_of(
        synthetic_paths, project, rate, "annotations" if label_mode != "none" else "none"
    )
    real, real_y = _subsample(real, real_y, MAX_WINDOWS, rng)
    synthetic, syn_y = _subsample(synthetic, syn_y, MAX_WINDOWS, rng)
    yield LogLine(
        f"comparing {len(synthetic)} synthetic windows with {len(real)} real and {len(train)} training "
        f"windows of {prepared.window / prepared.rate:g} s"
    )

    def job(real_x, real_labels, syn_x, syn_labels):
        return evaluate_windows_job(
            real_x,
            syn_x,
            train,
            prepared.rate,
            prepared.labels,
            units=prepared.units,
            real_labels=real_labels,
            synthetic_labels=syn_labels,
            train_labels=train_y,
            seed=seed,
            stop=stop,
        )

    labelled = real_y is not None and syn_y is not None
    report = yield from job(real, real_y if labelled else None, synthetic, syn_y if labelled else None)
    result = Assessment(
        report,
        sources={"real": real_source, "synthetic": [os.path.abspath(p) for p in synthetic_paths]},
    )
    if references and not (stop is not None and stop.is_set()):
        half = len(real) // 2
        if half >= 2:
            yield LogLine("reference: one held-out half against the other")
            a_y = real_y[:half] if real_y is not None else None
            b_y = real_y[half:] if real_y is not None else None
            result.references["held_out_half"] = yield from job(real[:half], a_y, real[half:], b_y)
        yield LogLine("reference: phase-randomized surrogate of the training windows")
        surrogate = phase_randomized_surrogate(train[: len(synthetic)], rng)
        result.references["surrogate"] = yield from job(real, None, surrogate, None)
    if plots_dir:
        result.plots = save_plots(report, real, synthetic, plots_dir, units=prepared.units)
    if json_path:
        write_json(json_path, result.to_dict())
        result.json_path = json_path
    return result
