"""The `train` job: prepare the data, train the tokenizer, then the prior; one generator.

The CLI iterates it in the main thread; the GUI in a worker thread. It yields events, honours
the stop request between steps (finishing the step and writing a checkpoint) and returns a
`TrainResult`.

Started as one of several processes (torchrun, `vqstudio train --nproc N`: `WORLD_SIZE` > 1),
every process runs this job on its share of each batch (`vqstudio.distributed`). Rank 0 checks
the folder, holds the lock, makes or reconciles the project and writes it; the others read it
once rank 0 says it is ready, and report nothing (rank 0's events stand for the run).
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
from typing import Any

import numpy as np

from vqstudio import distributed
from vqstudio.data.prep import PreparedData, prepare
from vqstudio.errors import InputFileError, LimitError, ProjectError
from vqstudio.events import Event, LogLine, Progress, StopRequest, run_to_end
from vqstudio.project import Project
from vqstudio.project.lock import LOCK_FILE, ProjectLock
from vqstudio.recording import Recording
from vqstudio.training.budget import Budget
from vqstudio.training.plan import ResumePlan, resume_budgets, resume_plan, stage_budgets
from vqstudio.training.settings import PRIOR_OPTIM, TOKENIZER_OPTIM, OptimConfig, TrainSettings

__all__ = ["TrainResult", "kept_checkpoint", "resume_budgets", "stage_budgets", "stage_optim", "train"]


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
    project_dir: str,
    settings: TrainSettings,
    recordings: Sequence[Recording] | None,
    reconciled: bool = False,
) -> tuple[Project, TrainSettings, PreparedData]:
    """The project, its stored settings (with this run's budget and device), and its data.
    `reconciled`: rank 0 of a distributed run has reconciled it already (the others only read)."""
    from vqstudio.project.windows import prepare_from_project
    from vqstudio.training.stage_state import reconcile, resume_progress

    project = Project.open(project_dir)
    if not reconciled:
        reconcile(project)  # project.json and history.jsonl as of the last complete checkpoints
    stored = TrainSettings.from_record(project.record)
    if settings.dp_epsilon is not None and settings.dp_epsilon != stored.dp_epsilon:
        # A project's privacy is chosen when it is made: its noise was calibrated for its epsilon.
        was = "without" if stored.dp_epsilon is None else f"at epsilon {stored.dp_epsilon:g}"
        raise ProjectError(
            f"{project_dir} was trained {was} differential privacy; a resume keeps it "
            "(make a new project for another epsilon)"
        )
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
        # A chosen stage runs this run's budget only; going on as planned keeps the stored steps.
        prior_steps=settings.prior_steps
        if settings.prior_steps is not None or settings.resume_stage != "auto"
        else stored.prior_steps,
        device=settings.device,
        threads=settings.threads,
        checkpoint_every_s=settings.checkpoint_every_s,
        prior=stored.prior if has_prior else settings.prior,
        resume_stage=settings.resume_stage,
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
            cache=window_cache(project_dir),
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
    if distributed.world_from_env().distributed:
        return (
            yield from _train_distributed(settings, project_dir, stop, resume, optim, recordings, prior_optim)
        )
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
        if not resume and not Project.exists(project_dir):
            _drop_window_cache(project_dir)  # windows streamed for a project never made
        if made and not Project.exists(project_dir):
            _remove_made_folder(project_dir, lock)  # bad input: leave no half-made folder behind
        lock.release()


def _check_models_fit(prepared: PreparedData, settings: TrainSettings, device: object) -> None:
    """Refuses (`LimitError`), before the project is made, data the two models cannot be built
    for: both configs are checked here, not after the tokenizer has trained (a prior over one
    latent step once failed there, leaving a half-built project)."""
    from vqstudio.priors.config import preset
    from vqstudio.priors.registry import prior_kind
    from vqstudio.training.tokenizer_stage import new_tokenizer_config

    try:
        tokenizer = new_tokenizer_config(
            settings, len(prepared.train), prepared.n_channels, prepared.window, str(device)
        )
        if settings.wants_prior:
            prior_size = settings.preset or ("small" if str(device).startswith("cpu") else "medium")
            labels = len(prepared.label_names) if settings.labelled else 0
            prior_kind(settings.prior).config.for_tokenizer(
                tokenizer, labels, preset(prior_size, settings.prior)
            )
    except ValueError as e:
        raise LimitError(
            f"the models cannot be built for windows of {prepared.window} samples x {prepared.n_channels} "
            f"channels ({e}); choose a longer --window or channels of a higher rate"
        ) from e


def _within(budget: Budget | None, elapsed_s: float, deadline: float | None) -> Budget | None:
    """A resumed prior's budget, its time cut to what is left of the command's (`deadline`)."""
    if budget is None or budget.seconds is None or deadline is None:
        return budget
    left = max(1.0, deadline - time.monotonic())
    return dataclasses.replace(budget, seconds=min(budget.seconds, elapsed_s + left))


def _private_cap(budget: Budget | None, project: Project, stage: str) -> Budget | None:
    """A private project's stage budget cut to its planned steps (`private.capped`); as is
    otherwise (torch-free: the private module loads only for a private project)."""
    if not project.record.privacy:
        return budget
    from vqstudio.training.private import capped

    return capped(budget, project.record.privacy, stage)


def _resume_line(project: Project, plan: ResumePlan) -> str:
    """What a resume with a chosen stage continues, and from where."""
    parts = []
    if plan.tokenizer is not None:
        parts.append(f"the tokenizer from step {project.stage('tokenizer').step}")
    if plan.prior:
        step = project.stage("prior").step
        parts.append(f"the prior from step {step}" if step else "a new prior")
    return "resuming " + " then ".join(parts)


def _train_distributed(
    settings: TrainSettings,
    project_dir: str,
    stop: StopRequest | None,
    resume: bool,
    optim: OptimConfig | None,
    recordings: Sequence[Recording] | None,
    prior_optim: OptimConfig | None,
) -> Generator[Event, None, TrainResult]:
    """`train` as one process of several: joins the process group, lets rank 0 check the folder
    and take the lock (its refusal reaches every rank as one line), then trains in step with the
    others. A lost process ends the run with `PeerLost`, saying what the project keeps."""
    from vqstudio.device import resolve_device
    from vqstudio.training.stage_state import reconcile

    if settings.private:
        raise ProjectError(PRIVATE_IN_ONE_PROCESS)
    device = distributed.join(resolve_device(settings.device))
    world = distributed.current()
    lock: ProjectLock | None = None
    made = False

    def setup() -> str | None:
        """What one process checks and takes before it starts (rank 0 alone)."""
        nonlocal lock, made
        if resume:
            Project.check_marker(project_dir)
        else:
            Project.check_new_folder(project_dir)
            made = _make_folder(project_dir)
        lock = ProjectLock(project_dir, "vqstudio train" + (" --resume" if resume else ""))
        note = lock.acquire()
        if resume:
            reconcile(Project.open(project_dir))  # before any rank reads it
        return note

    finished = False
    try:
        note = distributed.main_first(setup)
        if note:
            yield LogLine(note, "warning")
        job = _train_locked(
            settings, project_dir, stop, resume, optim, recordings, prior_optim, device=device
        )
        # Rank 0's events stand for the run.
        result = (yield from job) if world.is_main else run_to_end(job)
        finished = True
        return result
    except distributed.MainRefused:
        raise  # rank 0's own reason stands: nothing was trained
    except distributed.PeerLost as e:
        raise distributed.PeerLost(f"{e}; {kept_checkpoint(project_dir)}") from e
    finally:
        if lock is not None:
            if not resume and not Project.exists(project_dir):
                _drop_window_cache(project_dir)  # windows streamed for a project never made
            if made and not Project.exists(project_dir):
                _remove_made_folder(project_dir, lock)
            lock.release()
        distributed.leave(finished)


# DP-SGD adds its noise once to the sum of a batch's clipped gradients; shares of a batch each
# noised, or a noiseless exchange of noised ones, would spend another privacy than the one planned.
PRIVATE_IN_ONE_PROCESS = (
    "differentially private training (--dp-epsilon) runs in one process; start it without torchrun or --nproc"
)


def kept_checkpoint(project_dir: str) -> str:
    """What a project holds after a run ended early: its last complete checkpoints."""
    from vqstudio.project.checkpoint import saved_stages

    try:
        stages = saved_stages(os.path.join(project_dir, "state.safetensors"))
    except Exception:  # only words for a message; the resume checks the file itself
        stages = {}
    if not stages:
        return f"{project_dir} has no checkpoint yet: start the run again"
    steps = ", ".join(f"{name} step {entry['step']}" for name, entry in stages.items())
    return f"{project_dir} keeps its last checkpoint ({steps}): continue with --resume"


def _make_folder(path: str) -> bool:
    """Makes the new project's folder; True when it did not exist before."""
    if os.path.isdir(path):
        return False
    try:
        os.makedirs(path)
    except OSError as e:
        raise ProjectError(f"cannot make the project folder {path}: {e.strerror or e}") from e
    return True


def window_cache(project_dir: str) -> str:
    """The folder of a project's window cache (`vqstudio.data.stream`: streamed preparations)."""
    from vqstudio.data.stream import CACHE_DIR

    return os.path.join(project_dir, CACHE_DIR)


def _drop_window_cache(project_dir: str) -> None:
    """Removes the window cache of a new project that was never made (bad input found after the
    windows were streamed): the folder is then as the run found it, and a new run may use it."""
    from vqstudio.data.stream import drop_window_cache

    drop_window_cache(window_cache(project_dir))


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
    device: Any = None,
) -> Generator[Event, None, TrainResult]:
    """`train` once the project's lock is held (by rank 0, in a run of several processes, whose
    joined `device` is given)."""
    import torch

    from vqstudio.device import describe_device, resolve_device, set_threads
    from vqstudio.evaluation.places import describe_places, flat_places, held_out_warning
    from vqstudio.training.loop import StageContext, StageResult, train_stage
    from vqstudio.training.prior_stage import train_prior
    from vqstudio.training.tokenizer_stage import TokenizerStage, window_multiple

    stop = stop if stop is not None else threading.Event()
    world = distributed.current()
    t_start = time.monotonic()
    set_threads(settings.threads)
    device = device if device is not None else resolve_device(settings.device)
    yield Progress("prepare", 0, None, 0.0, None, 0.0)

    if resume:
        project, settings, prepared = _open_for_resume(
            project_dir, settings, recordings, reconciled=world.distributed
        )
    else:
        if world.is_main:
            Project.check_new_folder(project_dir)  # again, now that the lock is held
        recs = list(recordings) if recordings is not None else _read_inputs(settings)
        # Window lengths are a multiple of the chosen tokenizer's downsampling.
        prepared = prepare(
            recs,
            dataclasses.replace(
                settings.prep, multiple=window_multiple(settings.preset, settings.per_channel)
            ),
            new=True,
            cache=window_cache(project_dir),  # where streamed windows go (`vqstudio.data.stream`)
        )
        for src in prepared.sources:
            src["csv_rate"] = settings.rate
        _check_models_fit(prepared, settings, device)
        privacy = None
        if settings.private:  # DP-SGD: steps planned, sigma calibrated, statistics released privately
            from vqstudio.training.private import plan_run

            settings, privacy = yield from plan_run(settings, prepared, device)
        record = settings.new_record(prepared, optim or TOKENIZER_OPTIM, prior_optim or PRIOR_OPTIM)
        if privacy is not None:
            from vqstudio.training.private import with_privacy

            record = with_privacy(record, privacy)
        # Every rank prepared the same windows; rank 0 makes the project, the others then open it.
        project = distributed.main_first(lambda: Project.create(project_dir, record))
        project = project if project is not None else Project.open(project_dir)
    if world.distributed and project.record.privacy:  # every rank reads the same record: all refuse
        raise ProjectError(PRIVATE_IN_ONE_PROCESS)
    with_prior = settings.wants_prior
    if resume:
        plan = resume_plan(project, settings, with_prior)
    else:
        tok_budget, prior_minutes, split = stage_budgets(settings, with_prior)
        plan = ResumePlan(tok_budget, with_prior, None, prior_minutes, split)
    tok_budget = _private_cap(plan.tokenizer, project, "tokenizer")
    if settings.minutes is not None and tok_budget is not None and tok_budget.seconds is not None:
        # --minutes is the wall time of the whole command: preparation has spent part of it.
        fraction = plan.split.tokenizer_fraction if plan.split.tokenizer_fraction is not None else 1.0
        spent = (time.monotonic() - t_start) * fraction
        tok_budget = dataclasses.replace(tok_budget, seconds=max(1.0, tok_budget.seconds - spent))
    deadline = t_start + settings.minutes * 60 if settings.minutes is not None else None
    project.update(budget=plan.split, device=str(device))
    if world.is_main:
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
    if world.distributed:
        yield LogLine(
            f"{world.size} processes ({'nccl' if device.type == 'cuda' else 'gloo'}), each on its share "
            "of every batch; rank 0 writes the project"
        )
    if resume and settings.resume_stage != "auto":
        yield LogLine(_resume_line(project, plan))
    yield Progress("prepare", 1, 1, time.monotonic() - t_start, 0.0, 1.0)

    _seed_everything(settings.seed)
    if tok_budget is not None:
        context = StageContext(project, prepared, settings, device)
        stage_class = TokenizerStage
        if settings.private:  # DP-SGD (`--dp-epsilon`): the private stage
            from vqstudio.training.private import PrivateTokenizerStage as stage_class
        tokenizer = stage_class(context, stage_optim(project, "tokenizer"), resume)
        tok = yield from train_stage(tokenizer, tok_budget, stop, settings)
    else:  # the prior alone continues: the tokenizer stays as it is
        progress = project.stage("tokenizer")
        tok = StageResult(progress.step, progress.elapsed_s, dict(progress.metrics))
    prior_step, prior_metrics = project.stage("prior").step, {}
    # Whether any rank was asked to stop since: every rank goes on to the prior, or none does.
    stop_now = distributed.agree({}, any_of={"stop": stop.is_set()})["stop"]
    if not tok.stopped and not stop_now and plan.prior:
        prior_minutes = plan.prior_minutes
        if prior_minutes is not None and deadline is not None:
            # What the tokenizer's final validation and checkpoint left of the command's time.
            prior_minutes = max(1 / 60, (deadline - time.monotonic()) / 60)
        prior_settings = dataclasses.replace(settings, minutes=prior_minutes)
        prior_budget = _within(plan.prior_budget, project.stage("prior").elapsed_s, deadline)
        prior_budget = _private_cap(prior_budget, project, "prior")
        if project.record.privacy:  # a new prior: no more steps than its noise was calibrated for
            planned = int(project.record.privacy["planned_steps"].get("prior", 0))
            asked = prior_settings.prior_steps
            steps = planned if asked is None else min(asked, planned)
            prior_settings = dataclasses.replace(prior_settings, prior_steps=steps)
        optim = stage_optim(project, "prior")
        prior = yield from train_prior(
            project, prepared, prior_settings, stop, device, optim, budget=prior_budget
        )
        prior_step, prior_metrics = prior.step, dict(prior.metrics)
    elif resume and settings.resume_stage == "tokenizer" and project.has_prior:
        yield LogLine(
            "the prior was trained on the codes of the tokenizer as it was; continue it on the new ones "
            "(--stage prior) before generating",
            "warning",
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    return TrainResult(
        project=project.path,
        stopped=tok.stopped or stop_now or stop.is_set(),
        tokenizer_step=tok.step,
        prior_step=prior_step,
        elapsed_s=time.monotonic() - t_start,
        metrics=dict(tok.metrics),
        prior_metrics=prior_metrics,
    )
