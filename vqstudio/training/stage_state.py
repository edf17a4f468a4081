"""What both stage loops write at a checkpoint besides their weights: optimizer and RNG state
in `state.safetensors`, and the stage's progress in `project.json`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from vqstudio.checkpoint import save_state
from vqstudio.project import Project
from vqstudio.training.budget import Budget

__all__ = ["save_stage_state"]


def save_stage_state(
    project: Project,
    stage: str,
    optimizer: torch.optim.Optimizer,
    step: int,
    *,
    budget: Budget,
    elapsed_s: float,
    batch_size: int,
    metrics: Mapping[str, Any],
    generators: Mapping[str, torch.Generator],
    **progress: Any,
) -> None:
    """Saves `stage`'s resumable state and progress (plus the stage's own `progress` fields)."""
    save_state(
        project.state_path,
        stage,
        optimizer,
        step,
        extra={"batch_size": batch_size, "elapsed_s": elapsed_s},
        generators=generators,
    )
    project.set_progress(
        stage,
        step=step,
        elapsed_s=round(elapsed_s, 3),
        budget=budget.to_json(),
        batch_size=batch_size,
        done=budget.done(step, elapsed_s),
        metrics=metrics,
        **progress,
    )
    project.save()
