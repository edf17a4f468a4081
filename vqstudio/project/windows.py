"""A project's windows again: its source recordings re-read, checked against their sha256, and
prepared as the project prepared them (its channels, rate, filters and normalisation), so that
resuming, evaluating and benches see the very split training saw.

It lives above `vqstudio.data`: preparation knows recordings, not project folders.
"""

from __future__ import annotations

import os
from typing import Any

from vqstudio.data.prep import PreparedData, prepare
from vqstudio.data.stream import CACHE_DIR
from vqstudio.errors import ProjectError
from vqstudio.io import read_recording
from vqstudio.project.folder import Project

__all__ = ["prepare_from_project"]


def prepare_from_project(project: Any, rate: float | None = None) -> PreparedData:
    """Re-reads a project's source files, checks their sha256, and rebuilds the same split.

    `project` is a `vqstudio.project.Project` (or its folder). Uses the stored normalisation.
    A project trained on streamed windows (`prep.stream`), or data too large for memory now,
    gets its windows from its window cache (`cache/` in the project folder, `vqstudio.data.stream`),
    reused when it still matches the sources and settings, written again otherwise.
    """
    if isinstance(project, str | os.PathLike):
        project = Project.open(os.fspath(project))
    data = project.record.data
    recordings = []
    for src in data.sources:
        if not src.path:
            raise ProjectError(
                f"{project.path} was trained on recordings held in memory (no source files); "
                "give the recordings again"
            )
        if not os.path.isfile(src.path):
            raise ProjectError(f"the project's source file {src.path} is missing; put it back or retrain")
        rec = read_recording(src.path, rate=src.csv_rate if src.csv_rate is not None else rate)
        if src.sha256 and rec.sha256 != src.sha256:
            raise ProjectError(
                f"the project's source file {src.path} has changed since training (sha256 differs)"
            )
        recordings.append(rec)
    prepared = prepare(
        recordings,
        project.prep_config,
        stats=project.normalization,
        rate=data.rate,
        cache=os.path.join(project.path, CACHE_DIR),
    )
    stored = (data.split.train_windows, data.split.held_out_windows)
    if any(stored) and (len(prepared.train), len(prepared.val)) != stored:
        raise ProjectError(
            f"the source files of {project.path} no longer give the stored split "
            f"({len(prepared.train)}/{len(prepared.val)} windows, stored {stored[0]}/{stored[1]})"
        )
    prepared.label_names = list(data.labels.names) or prepared.label_names
    return prepared
