"""Projects as the app sees them, without Qt: where new ones go, which recordings an open one was
trained on (found by sha256, asked for when moved), and what its Train tab shows (settings, past
runs, history). Everything is read through `vqstudio.project.Project`; nothing here parses
`project.json` or `history.jsonl` itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vqstudio.errors import VQStudioError
from vqstudio.events import Progress, Validation
from vqstudio.project import Project
from vqstudio.project.record import ProjectRecord
from vqstudio.recording import Recording

__all__ = [
    "ProjectSource",
    "SourceCheck",
    "check_source",
    "find_sources",
    "history_events",
    "new_project_folder",
    "past_runs",
    "project_sources",
]


# Settings shown in the past-runs table, in this order.
def _brief_settings(record: ProjectRecord) -> list[tuple[str, Any]]:
    """The settings a past run is known by, as the command line names them."""
    budget = record.budget
    return [
        ("preset", record.settings.preset),
        ("prior", record.settings.prior),
        ("window_s", record.prep.window_s),
        ("minutes", budget.minutes if budget is not None else None),
        ("labels", record.prep.labels),
        ("device", record.device),
        ("resample", record.prep.resample),
        # Differential privacy: the epsilon spent of the target (absent when trained without).
        ("dp_epsilon", _epsilon_text(record.privacy)),
    ]


def _epsilon_text(privacy: Any) -> str | None:
    """'2.3 of 8 per window' for a private project, None otherwise."""
    if not privacy:
        return None
    spent, unit = privacy.get("epsilon", 0), privacy.get("unit", "window")
    return f"{spent:.2g} of {privacy['target_epsilon']:g} per {unit}"


def new_project_folder(root: str, name: str) -> str:
    """A folder in `root` named after the recording `name` (its stem), with ' 2', ' 3'... added
    when the name is taken; nothing is created."""
    stem = os.path.splitext(os.path.basename(name))[0].strip() or "project"
    stem = re.sub(r'[\\/:*?"<>|]+', "_", stem)  # characters no file system accepts in a name
    candidate, n = os.path.join(root, stem), 1
    while os.path.exists(candidate):
        n += 1
        candidate = os.path.join(root, f"{stem} {n}")
    return candidate


@dataclass(frozen=True)
class ProjectSource:
    """A recording a project was trained on, as its project stores it."""

    path: str | None
    sha256: str | None
    csv_rate: float | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path) if self.path else "a recording held in memory"


def project_sources(project: Project) -> list[ProjectSource]:
    """The project's source recordings in their stored order (the split depends on it)."""
    return [ProjectSource(s.path, s.sha256, s.csv_rate) for s in project.record.data.sources]


@dataclass(frozen=True)
class SourceCheck:
    """A recording read from a path, and whether it is the one the project was trained on."""

    recording: Recording | None
    problem: str | None  # why it is not the project's (missing, changed, unreadable), or None


def check_source(source: ProjectSource, path: str | None = None) -> SourceCheck:
    """Reads `path` (default: the stored path) and compares its sha256 with the stored one."""
    from vqstudio.io import read_recording

    path = path or source.path
    if not path or not os.path.isfile(path):
        return SourceCheck(None, f"{source.name} is not at {path or 'its stored place'} any more")
    try:
        recording = read_recording(path, rate=source.csv_rate)
    except VQStudioError as error:
        return SourceCheck(None, str(error))
    if source.sha256 and recording.sha256 != source.sha256:
        return SourceCheck(
            None, f"{os.path.basename(path)} is not the file the project was trained on (its content differs)"
        )
    return SourceCheck(recording, None)


def find_sources(
    sources: Sequence[ProjectSource],
    open_recordings: Sequence[Recording],
    ask: Callable[[ProjectSource, str], str | None],
) -> list[tuple[Recording, str]] | None:
    """The project's recordings with their paths: open ones (same sha256) first, then the stored
    paths, then where `ask(source, problem)` says (a file dialog); None when the user gives up."""
    by_sha = {r.sha256: r for r in open_recordings if r.sha256}
    # A project trained on recordings held in memory (no file, no sha256) can only resume on
    # recordings still open in memory: taken in order, one for each such source.
    in_memory = [r for r in open_recordings if r.sha256 is None]
    found: list[tuple[Recording, str]] = []
    for source in sources:
        if not source.path and not source.sha256 and in_memory:
            found.append((in_memory.pop(0), ""))
            continue
        if source.sha256 in by_sha:
            rec = by_sha[source.sha256]
            found.append((rec, rec.source.path if rec.source else source.path or ""))
            continue
        check, path = check_source(source), source.path
        while check.recording is None:
            path = ask(source, check.problem or "")
            if not path:
                return None
            check = check_source(source, path)
        found.append((check.recording, path or ""))
    return found


def past_runs(project: Project) -> list[dict[str, Any]]:
    """One row per stage trained in a project: settings, steps, time and last metrics."""
    brief = ", ".join(f"{k}={v}" for k, v in _brief_settings(project.record) if v is not None)
    rows: list[dict[str, Any]] = []
    for stage in ("tokenizer", "prior"):
        if stage not in project.record.progress:
            continue
        prog = project.stage(stage)
        metrics = prog.metrics
        shown = ", ".join(f"{k} {v:.3g}" for k, v in list(metrics.items())[:4] if isinstance(v, int | float))
        rows.append(
            {
                "stage": stage,
                "step": prog.step,
                "elapsed_s": prog.elapsed_s,
                "done": prog.done,
                "settings": brief,
                "metrics": shown or "none yet (no validation ran)",
            }
        )
    return rows


def history_events(project: Project) -> tuple[list[Progress], list[Validation]]:
    """The project's `history.jsonl` as the events a live run yields: loss points (with the
    training batches' codebook usage where logged) and validations, so one drawing code serves
    both the live and the reopened views."""
    points: list[Progress] = []
    validations: list[Validation] = []
    for rec in project.history():
        stage, step = str(rec.get("stage", "")), int(rec.get("step", 0))
        if isinstance(rec.get("losses"), dict):
            losses = {k: float(v) for k, v in rec["losses"].items() if isinstance(v, int | float)}
            used = rec.get("codebook_used")
            used = float(used) if isinstance(used, int | float) else None
            points.append(
                Progress(
                    stage, step, None, float(rec.get("time_s", 0.0)), None, 0.0, losses, codebook_used=used
                )
            )
        if isinstance(rec.get("metrics"), dict):
            validations.append(Validation(stage, step, rec["metrics"]))
    return points, validations
