"""The `train` job: prepare the data, train the tokenizer, then the prior; one generator.

The CLI iterates it in the main thread; the GUI in a worker thread. It yields events, honours
the stop request between steps (finishing the step and writing a checkpoint) and returns a
`TrainResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vqstudio.data.prep import PreparedData, prepare
from vqstudio.errors import InputFileError, ProjectError
from vqstudio.events import Event, LogLine, Progress, StopRequest
from vqstudio.project import Project
from vqstudio.project.lock import LOCK_FILE, ProjectLock
from vqstudio.project.record import BudgetSplit
from vqstudio.recording import Recording
from vqstudio.training.budget import Budget
from vqstudio.training.settings import (
    DEFAULT_MINUTES,
    PRIOR_OPTIM,
    PRIOR_SHARE,
    TOKENIZER_OPTIM,
    OptimConfig,
    TrainSettings,
)

__all__ = ["TrainResult", "stage_budgets", "stage_optim", "train"]


@dataclass(frozen=True)
class TrainResult:
    """How a training run ended."""

    project: str
    stopped: bool
    tokenizer_step: int
    prior_step: int
    elapsed_s: float
    metrics: dict[str, float] = field(default_factory=dict)  # the tokenizer's last validation
    prior_metrics: dict[str, float] = field(default_factory=dict)


def stage_optim(project: Project, stage: str) -> OptimConfig:
    """The optimizer config `stage` trains with, as the project stored it when it was made
    (fields it no longer has are dropped; fields it did not have yet take today's defaults)."""
    default = TOKENIZER_OPTIM if stage == "tokenizer" else PRIOR_OPTIM
    return OptimConfig.from_json(dict(project.record.optim.get(stage, {})), default)


def stage_budgets(settings: TrainSettings, with_prior: bool) -> tuple[Budget, float | None, BudgetSplit]:
    """The tokenizer's budget, the prior's minutes (None: steps only) and the split, as stored.

    Steps given: each stage runs its steps. Minutes given (or neither: the default minutes):
    the tokenizer gets (1 - PRIOR_SHARE) of the time when a prior follows, else all of it.
    """
    steps_given = settings.tokenizer_steps is not None
    minutes = settings.minutes if settings.minutes is not None else (None if steps_given else DEFAULT_MINUTES)
    if minutes is None:
        split = BudgetSplit("steps", None, settings.tokenizer_steps, settings.prior_steps)
        return Budget(steps=settings.tokenizer_steps), None, split
    share = PRIOR_SHARE if with_prior else 0.0
    tok_s = minutes * 60 * (1 - share)
    # In minutes, the tokenizer's steps (when given) cap its share.
    split = BudgetSplit("minutes", minutes, settings.tokenizer_steps, None, 1 - share, share)
    return Budget(steps=settings.tokenizer_steps, seconds=tok_s), minutes * share, split


def resume_budgets(
    project: Project, settings: TrainSettings, with_prior: bool
) -> tuple[Budget, float | None, BudgetSplit]:
    """Budgets when resuming. No budget given: the stored ones (the run continues to its end).
    `--minutes M`: M more minutes (the tokenizer's share goes to the prior when the tokenizer had
    finished and a prior follows). `--tokenizer-steps N`: the tokenizer runs up to step N in all.
    """
    progress = project.stage("tokenizer")
    split = project.record.budget or BudgetSplit()
    if settings.minutes is None and settings.tokenizer_steps is None:
        if progress.budget_steps is not None or progress.budget_seconds is not None:
            budget = Budget(steps=progress.budget_steps, seconds=progress.budget_seconds)
        else:
            budget = stage_budgets(settings, with_prior)[0]
        prior_minutes = None
        if settings.prior_steps is None and split.mode == "minutes":
            minutes = split.minutes if split.minutes is not None else DEFAULT_MINUTES
            prior_minutes = minutes * (
                split.prior_fraction if split.prior_fraction is not None else PRIOR_SHARE
            )
        return budget, prior_minutes, split
    if settings.minutes is None:
        split = dataclasses.replace(
            split, mode="steps", tokenizer_steps=settings.tokenizer_steps, prior_steps=settings.prior_steps
        )
        return Budget(steps=settings.tokenizer_steps), None, split
    extra_s = settings.minutes * 60
    if progress.done and with_prior:
        budget = Budget(steps=progress.step)  # finished: all the new time goes to the prior
        split = dataclasses.replace(
            split,
            mode="minutes",
            resumed_minutes=settings.minutes,
            tokenizer_fraction=0.0,
            prior_fraction=1.0,
        )
        return budget, settings.minutes, split
    share = PRIOR_SHARE if with_prior else 0.0
    budget = Budget(steps=settings.tokenizer_steps, seconds=progress.elapsed_s + extra_s * (1 - share))
    split = dataclasses.replace(
        split,
        mode="minutes",
        resumed_minutes=settings.minutes,
        tokenizer_fraction=1 - share,
        prior_fraction=share,
    )
    return budget, settings.minutes * share, split


def _read_inputs(settings: TrainSettings) -> list:
    from vqstudio.io import read_recording

    if not settings.inputs:
        raise InputFileError("no input recordings given; name one or more EDF/BDF/CSV files")
    return [read_recording(p, rate=settings.rate) for p in settings.inputs]


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - code we call may use the global generator
    torch.manual_seed(seed)


def _open_for_resume(
    project_dir: str, settings: TrainSettings, recordings: Sequence[Recording] | None
) -> tuple[Project, TrainSettings, PreparedData]:
    """The project, its stored settings (with this run's budget and device), and its data."""
    from vqstudio.project.windows import prepare_from_project
    from vqstudio.training.stage_state import reconcile, resume_progress

    project = Project.open(project_dir)
    reconcile(project)  # project.json and history.jsonl as of the last complete checkpoints
    stored = TrainSettings.from_record(project.record)
    has_prior = resume_progress(project, "prior") is not None
    if (
        resume_progress(project, "tokenizer") is None
        and settings.minutes is None
        and settings.tokenizer_steps is None
    ):
        # Killed before its first checkpoint: the run starts again with the budget it was given
        # (the prior's steps too, as `merged` takes them below).
        settings = dataclasses.replace(
            settings, minutes=stored.minutes, tokenizer_steps=stored.tokenizer_steps
        )
    # The data and model settings are the stored ones; budget, device and threads are this run's.
    merged = dataclasses.replace(
        stored,
        minutes=settings.minutes,
        tokenizer_steps=settings.tokenizer_steps,
        prior_steps=settings.prior_steps if settings.prior_steps is not None else stored.prior_steps,
        device=settings.device,
        threads=settings.threads,
        checkpoint_every_s=settings.checkpoint_every_s,
        prior=stored.prior if has_prior else settings.prior,
    )
    if recordings is not None or settings.inputs:
        if recordings is None:
            recordings = _read_inputs(dataclasses.replace(settings, rate=settings.rate or stored.rate))
        stored_sha = [s.sha256 for s in project.record.data.sources]
        given_sha = [r.sha256 for r in recordings]
        if sorted(map(str, stored_sha)) != sorted(map(str, given_sha)):
            raise ProjectError(
                f"the files given are not the ones {project_dir} was trained on; "
                "give the same files with --resume (or none, to re-read the stored paths)"
            )
        if None not in given_sha:  # files: put them in the stored order (the split depends on it)
            order = {sha: i for i, sha in enumerate(given_sha)}
            recordings = [recordings[order[sha]] for sha in stored_sha]
        prepared = prepare(
            recordings,
            project.prep_config,
            stats=project.normalization,
            rate=project.rate,  # the stored (working) rate: never chosen again
        )
        prepared.label_names = list(project.record.data.labels.names) or prepared.label_names
    else:
        prepared = prepare_from_project(project, rate=stored.rate)
    return project, merged, prepared


def train(
    settings: TrainSettings,
    project_dir: str,
    stop: StopRequest | None = None,
    resume: bool = False,
    optim: OptimConfig | None = None,
    recordings: Sequence[Recording] | None = None,
    prior_optim: OptimConfig | None = None,
) -> Generator[Event, None, TrainResult]:
    """Prepares the data and trains the tokenizer, then (if asked and available) the prior.

    Refuses an existing project without `resume`, a folder holding other files, and a project
    another run holds (`ProjectError`), and bad input with a typed error, before anything is
    written. Holds the project's lock (`vqstudio.project.lock`) until it returns. Yields events;
    returns a `TrainResult`. `optim` and `prior_optim` override the stages' optimizer settings
    of a new project (a resumed one keeps its stored ones). `recordings` (already open, e.g. in
    the GUI) are used instead of reading `settings.inputs`.
    """
    _refuse_several_processes()
    if resume:
        Project.check_marker(project_dir)  # a missing or foreign folder: say so, lock nothing
        made = False
    else:
        Project.check_new_folder(project_dir)
        made = _make_folder(project_dir)
    lock = ProjectLock(project_dir, "vqstudio train" + (" --resume" if resume else ""))
    try:
        note = lock.acquire()
        if note:
            yield LogLine(note, "warning")
        return (yield from _train_locked(settings, project_dir, stop, resume, optim, recordings, prior_optim))
    finally:
        if made and not Project.exists(project_dir):
            _remove_made_folder(project_dir, lock)  # bad input: leave no half-made folder behind
        lock.release()


def _refuse_several_processes() -> None:
    """`ProjectError` when started as one of several processes (torchrun): each would train its
    own copy into the same folder."""
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1:
        raise ProjectError(
            f"vqstudio train runs in one process, but it was started as one of {world} (torchrun "
            "--nproc-per-node); each would train its own copy into the same folder: start it once, "
            "without torchrun"
        )


def _make_folder(path: str) -> bool:
    """Makes the new project's folder; True when it did not exist before."""
    if os.path.isdir(path):
        return False
    try:
        os.makedirs(path)
    except OSError as e:
        raise ProjectError(f"cannot make the project folder {path}: {e.strerror or e}") from e
    return True


def _remove_made_folder(path: str, lock: ProjectLock) -> None:
    """Removes a folder this run made and left without a project (only its lock file inside)."""
    with contextlib.suppress(OSError):
        if set(os.listdir(path)) <= {LOCK_FILE}:
            os.remove(lock.path)
            os.rmdir(path)


def _train_locked(
    settings: TrainSettings,
    project_dir: str,
    stop: StopRequest | None,
    resume: bool,
    optim: OptimConfig | None,
    recordings: Sequence[Recording] | None,
    prior_optim: OptimConfig | None,
) -> Generator[Event, None, TrainResult]:
    """`train` once the project's lock is held."""
    import torch

    from vqstudio.device import describe_device, resolve_device, set_threads
    from vqstudio.evaluation.places import describe_places, flat_places, held_out_warning
    from vqstudio.training.loop import StageContext, train_stage
    from vqstudio.training.prior_stage import train_prior
    from vqstudio.training.tokenizer_stage import TokenizerStage, window_multiple

    stop = stop if stop is not None else threading.Event()
    t_start = time.monotonic()
    set_threads(settings.threads)
    device = resolve_device(settings.device)
    yield Progress("prepare", 0, None, 0.0, None, 0.0)

    if resume:
        project, settings, prepared = _open_for_resume(project_dir, settings, recordings)
    else:
        Project.check_new_folder(project_dir)  # again, now that the lock is held
        recs = list(recordings) if recordings is not None else _read_inputs(settings)
        # Window lengths are a multiple of the chosen tokenizer's downsampling.
        prepared = prepare(
            recs, dataclasses.replace(settings.prep, multiple=window_multiple(settings.preset)), new=True
        )
        for src in prepared.sources:
            src["csv_rate"] = settings.rate
        record = settings.new_record(prepared, optim or TOKENIZER_OPTIM, prior_optim or PRIOR_OPTIM)
        project = Project.create(project_dir, record)
    with_prior = settings.wants_prior
    if resume:
        tok_budget, prior_minutes, split = resume_budgets(project, settings, with_prior)
    else:
        tok_budget, prior_minutes, split = stage_budgets(settings, with_prior)
    if settings.minutes is not None and tok_budget.seconds is not None:
        # --minutes is the wall time of the whole command: preparation has spent part of it.
        fraction = split.tokenizer_fraction if split.tokenizer_fraction is not None else 1.0
        spent = (time.monotonic() - t_start) * fraction
        tok_budget = dataclasses.replace(tok_budget, seconds=max(1.0, tok_budget.seconds - spent))
    deadline = t_start + settings.minutes * 60 if settings.minutes is not None else None
    project.update(budget=split, device=str(device))
    project.save()
    yield LogLine(
        f"{len(prepared.train)} training and {len(prepared.val)} held-out windows of "
        f"{prepared.window} samples ({prepared.window / prepared.rate:g} s) x {prepared.n_channels} channels "
        f"at {prepared.rate:g} Hz; device {describe_device(device)}"
    )
    flat = prepared.excluded_flat
    if flat["train"] or flat["val"]:
        where = describe_places(flat_places(prepared, "train") + flat_places(prepared, "val"))
        yield LogLine(
            f"left out {flat['train']} training and {flat['val']} held-out windows that hold a flat "
            f"(constant) or saturated stretch ({where})"
        )
    if not resume and (warning := held_out_warning(prepared)):
        yield LogLine(warning, "warning")
    yield Progress("prepare", 1, 1, time.monotonic() - t_start, 0.0, 1.0)

    _seed_everything(settings.seed)
    context = StageContext(project, prepared, settings, device)
    tokenizer = TokenizerStage(context, stage_optim(project, "tokenizer"), resume)
    tok = yield from train_stage(tokenizer, tok_budget, stop, settings)
    prior_step, prior_metrics = project.stage("prior").step, {}
    if not tok.stopped and not stop.is_set() and with_prior:
        if prior_minutes is not None and deadline is not None:
            # What the tokenizer's final validation and checkpoint left of the command's time.
            prior_minutes = max(1 / 60, (deadline - time.monotonic()) / 60)
        prior_settings = dataclasses.replace(settings, minutes=prior_minutes)
        prior = yield from train_prior(
            project, prepared, prior_settings, stop, device, stage_optim(project, "prior")
        )
        prior_step, prior_metrics = prior.step, dict(prior.metrics)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return TrainResult(
        project=project.path,
        stopped=tok.stopped or stop.is_set(),
        tokenizer_step=tok.step,
        prior_step=prior_step,
        elapsed_s=time.monotonic() - t_start,
        metrics=dict(tok.metrics),
        prior_metrics=prior_metrics,
    )
