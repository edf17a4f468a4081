"""The training loop of both stages, readable top to bottom.

`run_stage` trains a `Stage` (the tokenizer, the prior) until its budget is spent or a stop is
requested: it sets the learning rate, takes a step (halving the batch when the device runs out
of memory), reads the losses every few steps (the only host sync), validates, previews and writes
checkpoints as the pacer says (and the best checkpoint by held-out loss when a validation beats
it), and ends with a validation, a checkpoint and a preview. What a
stage learns, and how, is the stage's; when and what is reported is this loop's.

On the CPU, unless the user fixed the thread count, the loop times its own steps to choose it
(`vqstudio.threads`): every core is often the slowest choice on a machine others share.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from vqstudio.data.prep import PreparedData
from vqstudio.device import is_out_of_memory
from vqstudio.errors import DeviceError
from vqstudio.events import CheckpointWritten, Event, LogLine, StopRequest, Validation
from vqstudio.project import Project
from vqstudio.threads import ThreadTuner, available_cores, fixed_threads
from vqstudio.training.budget import Budget
from vqstudio.training.optim import set_lr
from vqstudio.training.pacing import StagePacer
from vqstudio.training.settings import OptimConfig, TrainSettings
from vqstudio.training.stage_state import save_checkpoint

__all__ = [
    "Stage",
    "StageContext",
    "StageResult",
    "cpu_thread_tuner",
    "resume_loop_state",
    "run_stage",
    "train_stage",
]


@dataclass(frozen=True)
class StageContext:
    """What a stage trains in: the project, its prepared data, the run's settings, the device."""

    project: Project
    prepared: PreparedData
    settings: TrainSettings
    device: torch.device


@dataclass(frozen=True)
class StageResult:
    """How a stage ended: its step, its training time (resumes included), its last validation."""

    step: int
    elapsed_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    stopped: bool = False


class Stage(Protocol):
    """What `run_stage` needs of a stage. Made ready to step (resumed when it had a checkpoint)."""

    name: str  # "tokenizer", "prior": the stage's name in events, history and state
    project: Project
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    optim: OptimConfig
    generators: dict[str, torch.Generator]  # random state the checkpoint keeps
    start_step: int
    elapsed_before: float  # seconds trained before a resume
    metrics: dict[str, float]  # the last validation (of the checkpoint resumed from)
    batch_size: int
    messages: list[LogLine]  # what setting up found worth saying
    oom_advice: str  # what to do when even one window per batch does not fit
    weights_path: str
    starts_trained: bool  # its model comes trained (a shipped codec): usable with no step of its own

    def step(self, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """Optimizer step number `index` (0-based) on a batch; its losses, on the device."""

    def readout(self) -> dict[str, torch.Tensor]:
        """Figures gathered since the last read-out (on the device), read with the losses."""

    def validate(self) -> dict[str, float]: ...

    def preview(self, step: int) -> Event: ...

    def write_weights(self, step: int) -> None: ...

    def held_out_loss(self, metrics: Mapping[str, float]) -> float | None:
        """The held-out loss of a validation's figures (what the best checkpoint is chosen by)."""

    def write_best(self, step: int, loss: float) -> None:
        """Writes the weights as the stage's best checkpoint (of held-out loss `loss`)."""

    def progress_fields(self) -> dict[str, Any]:
        """What the checkpoint's progress records besides the loop's (the model's config...)."""


def run_stage(
    stage: Stage,
    budget: Budget,
    pacer: StagePacer,
    stop: StopRequest,
    threads: ThreadTuner | None = None,
) -> Generator[Event, None, StageResult]:
    """Trains `stage` within `budget`; yields events, returns a `StageResult` (see the module).

    `threads`, when given, is told each step's duration and sets the next step's thread count.
    """
    yield from stage.messages
    step, metrics, batch_size = stage.start_step, dict(stage.metrics), stage.batch_size
    best = _best_before(stage)
    if budget.done(step, pacer.elapsed()):
        if step == 0 and stage.starts_trained:  # used as it is (--tokenizer-steps 0): kept as step 0
            metrics = yield from _validate(stage, step, pacer.elapsed())
            _keep_best(stage, step, metrics, best)
            yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
        return StageResult(step, pacer.elapsed(), metrics)
    sums: dict[str, torch.Tensor] = {}  # losses summed on the device since the last read-out
    n_summed = 0
    losses: dict[str, float] = {}
    readout: dict[str, float] = {}
    last_val_step = -1
    stopped = False
    stage.model.train()

    while not budget.done(step, pacer.elapsed()):
        if stop.is_set():
            stopped = True
            break
        lr = pacer.lr(step)
        set_lr(stage.optimizer, lr)
        t_step = time.perf_counter()
        try:
            out = stage.step(step, batch_size)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            out = None  # handled below, once the exception (and the activations it holds) is gone
        if out is None:
            batch_size = _halve(stage, batch_size)
            yield LogLine(
                f"{stage.device.type} out of memory: retrying {stage.name} batches of {batch_size} windows",
                "warning",
            )
            continue
        step += 1
        if threads is not None and (line := threads.step_done(time.perf_counter() - t_step)):
            yield LogLine(line)  # CPU steps are synchronous: the time taken is the step's
        for k, v in out.items():
            sums[k] = sums[k] + v if k in sums else v.clone()
        n_summed += 1

        if pacer.log_due(step):
            extra = stage.readout()
            values = torch.stack([*sums.values(), *extra.values()]).tolist()  # the one host sync
            losses = {k: v / n_summed for k, v in zip(sums, values[: len(sums)], strict=True)}
            losses["lr"] = lr
            readout = dict(zip(extra, values[len(sums) :], strict=True))
            sums, n_summed = {}, 0
            t = pacer.logged(step)
            stage.project.append_history(
                {"stage": stage.name, "step": step, "time_s": round(t, 3), "losses": losses, **readout}
            )
        if progress := pacer.progress(step, losses, batch_size):
            yield dataclasses.replace(progress, **readout)
        if pacer.validation_due(step):
            metrics = yield from _validate(stage, step, pacer.elapsed())
            best = _keep_best(stage, step, metrics, best)
            last_val_step = step
        if pacer.preview_due():
            yield stage.preview(step)
        if pacer.checkpoint_due():
            yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
            pacer.checkpointed()

    if last_val_step != step or not metrics:
        metrics = yield from _validate(stage, step, pacer.elapsed())
        best = _keep_best(stage, step, metrics, best)
    yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
    if not stopped:  # a stop asks for speed: the checkpoint is written, the preview can wait
        yield stage.preview(step)
    return StageResult(step, pacer.elapsed(), metrics, stopped)


def train_stage(
    stage: Stage, budget: Budget, stop: StopRequest, settings: TrainSettings
) -> Generator[Event, None, StageResult]:
    """`run_stage` with the clocks of `settings` (validation and checkpoint intervals)."""
    pacer = StagePacer(
        stage.name,
        budget,
        stage.start_step,
        stage.elapsed_before,
        stage.optim,
        val_every=settings.val_every,
        checkpoint_every_s=settings.checkpoint_every_s,
    )
    return (yield from run_stage(stage, budget, pacer, stop, cpu_thread_tuner(stage, settings.threads)))


def cpu_thread_tuner(stage: Stage, threads: int | None) -> ThreadTuner | None:
    """A tuner choosing the stage's CPU threads by timing, or None where nothing is to choose: on
    a GPU (its CPU threads only launch kernels), with a count the user fixed (`threads`, or
    OMP_NUM_THREADS), or on one core. It starts from the count the job set."""
    cores = available_cores()
    if stage.device.type != "cpu" or fixed_threads(threads) is not None or cores < 2:
        return None
    return ThreadTuner(cores, torch.set_num_threads, torch.get_num_threads(), label=stage.name)


def resume_loop_state(stage: Stage, state: Mapping[str, Any]) -> None:
    """What the loop resumes besides weights and optimizer (`state`: `load_state`'s answer): the
    batch size, the time trained and the last validation (the stage's progress in project.json)."""
    before = stage.project.stage(stage.name)
    stage.batch_size = int(state["extra"].get("batch_size", stage.batch_size))
    stage.elapsed_before = before.elapsed_s
    stage.metrics = dict(before.metrics)
    stage.messages.append(LogLine(f"resuming the {stage.name} at step {stage.start_step}"))


def _halve(stage: Stage, batch_size: int) -> int:
    """The next batch size after an out-of-memory error; `DeviceError` when one window failed."""
    stage.optimizer.zero_grad(set_to_none=True)
    if stage.device.type == "cuda":
        torch.cuda.empty_cache()
    if batch_size <= 1:
        raise DeviceError(
            f"{stage.device.type} ran out of memory training the {stage.name} even with one window per "
            f"batch; {stage.oom_advice}"
        )
    return batch_size // 2


def _best_before(stage: Stage) -> float:
    """The held-out loss a resumed stage's best checkpoint reached (inf for a new stage: any
    best file there is of an earlier run that started again)."""
    if stage.start_step == 0:
        return math.inf
    loss = stage.project.best_held_out_loss(stage.name)
    return math.inf if loss is None else loss


def _keep_best(stage: Stage, step: int, metrics: Mapping[str, float], best: float) -> float:
    """Writes the stage's best checkpoint when this validation's held-out loss beats `best`;
    returns the best loss so far. The latest weights are written with every checkpoint; the
    best only when they improve, so an overfitting stage keeps its best beside its latest."""
    loss = stage.held_out_loss(metrics)
    if loss is None or not math.isfinite(loss) or loss >= best:
        return best
    stage.write_best(step, loss)
    return loss


def _validate(stage: Stage, step: int, elapsed_s: float) -> Generator[Event, None, dict[str, float]]:
    metrics = stage.validate()
    stage.project.append_history(
        {"stage": stage.name, "step": step, "time_s": round(elapsed_s, 3), "metrics": metrics}
    )
    yield Validation(stage.name, step, dict(metrics))
    return metrics


def _checkpoint(
    stage: Stage, step: int, budget: Budget, elapsed_s: float, batch_size: int, metrics: Mapping[str, Any]
) -> CheckpointWritten:
    save_checkpoint(
        stage.project,
        stage.name,
        stage.model,
        stage.optimizer,
        step,
        write_weights=lambda: stage.write_weights(step),
        budget=budget,
        elapsed_s=elapsed_s,
        batch_size=batch_size,
        metrics=metrics,
        generators=stage.generators,
        **stage.progress_fields(),
    )
    return CheckpointWritten(stage.name, step, stage.weights_path)
