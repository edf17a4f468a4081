"""A stage's checkpoint as one unit, and where a resumed project really stands.

A checkpoint writes three files, in this order:
1. `state.safetensors`: the optimizer, the random generators, the stage's progress (step,
   budget, elapsed time, batch size, config) and a copy of the weights, in one atomic write;
2. the published weights (`tokenizer.safetensors`, `prior.safetensors`) that generate reads;
3. `project.json`, with the same progress for readers.
The state file is the commit point: a kill between any two writes leaves a project that resumes
from the state file's step (and whose weights file is at most one interval older, still whole).
`reconcile` puts project.json and history.jsonl back in line with it before a resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch

from vqstudio.project import Project
from vqstudio.project.checkpoint import check_weight_count, save_state, saved_stages, stored_weight_count
from vqstudio.project.record import StageProgress
from vqstudio.training.budget import Budget

__all__ = ["check_saved_model_fits", "reconcile", "resume_progress", "save_checkpoint"]


def save_checkpoint(
    project: Project,
    stage: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    *,
    write_weights: Callable[[], None],
    budget: Budget,
    elapsed_s: float,
    batch_size: int,
    metrics: Mapping[str, Any],
    generators: Mapping[str, torch.Generator],
    **progress: Any,
) -> None:
    """Writes one checkpoint of `stage` (state, then weights, then project.json; see above)."""
    fields = {
        "step": step,
        "elapsed_s": round(elapsed_s, 3),
        "budget": budget.to_json(),
        "batch_size": batch_size,
        "done": budget.done(step, elapsed_s),
        "metrics": dict(metrics),
        **progress,
    }
    save_state(
        project.state_path,
        stage,
        optimizer,
        step,
        extra={"batch_size": batch_size, "elapsed_s": elapsed_s, "progress": fields},
        generators=generators,
        model=model.state_dict(),
        owner=project.path,
    )
    write_weights()
    _record_progress(project, stage, fields)
    project.save()


def _record_progress(project: Project, stage: str, fields: Mapping[str, Any]) -> None:
    """Puts a checkpoint's progress (as the state file keeps it) into the project's record: the
    stage's progress, and the model's configuration less what the record says elsewhere."""
    budget = fields.get("budget") or {}
    project.set_stage(
        stage,
        StageProgress(
            step=int(fields.get("step", 0)),
            elapsed_s=float(fields.get("elapsed_s", 0.0)),
            budget_steps=budget.get("steps"),
            budget_seconds=budget.get("seconds"),
            batch_size=fields.get("batch_size"),
            done=bool(fields.get("done", False)),
            metrics=dict(fields.get("metrics") or {}),
        ),
    )
    config = fields.get("config")
    if not isinstance(config, dict):
        return
    if stage == "tokenizer":
        project.update(tokenizer_config={k: v for k, v in config.items() if k not in ("channels", "window")})
    else:
        kind = str(fields.get("kind") or config.get("kind") or project.record.settings.prior)
        settings = dataclasses.replace(project.record.settings, prior=kind)
        project.update(prior_config={k: v for k, v in config.items() if k != "kind"}, settings=settings)


def resume_progress(project: Project, stage: str) -> dict[str, Any] | None:
    """The progress `stage` recorded at its last complete checkpoint, or None when it has none."""
    entry = saved_stages(project.state_path).get(stage)
    if entry is None:
        return None
    return dict(entry["extra"].get("progress") or {"step": entry["step"]})


def check_saved_model_fits(project: Project, stage: str, weight_count: int) -> None:
    """Refuses (`CheckpointError`) a config from the state file that describes more weights than
    the state holds for `stage`, before the model is built: building a damaged config (a codebook
    of 2**36 codes) would allocate first. A state of VQ Studio 0.1 holds no weights: nothing to
    compare."""
    prefix = f"{stage}.model."
    if stored_weight_count(project.state_path, prefix):
        check_weight_count(project.state_path, weight_count, prefix)


def reconcile(project: Project, stages: tuple[str, ...] = ("tokenizer", "prior")) -> None:
    """Makes project.json's progress and history.jsonl agree with the last complete checkpoints.

    A stage with no checkpoint loses its progress and history (it starts again); a stage with
    one gets that checkpoint's progress, and history lines past its step are dropped, so a
    resumed run never repeats step numbers.
    """
    for stage in stages:
        progress = resume_progress(project, stage)
        if progress is None:
            project.set_stage(stage, None)
            project.truncate_history(stage, 0)
        else:
            _record_progress(project, stage, progress)
            project.truncate_history(stage, int(progress.get("step", 0)))
    project.save()
