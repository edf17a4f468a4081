"""The training loop of both stages, readable top to bottom.

`run_stage` trains a `Stage` (the tokenizer, the prior) until its budget is spent or a stop is
requested: it sets the learning rate, takes a step (halving the batch when the device runs out
of memory), reads the losses every few steps (the only host sync), validates, previews and writes
checkpoints as the pacer says (and the best checkpoint by held-out loss when a validation beats
it), and ends with a validation, a checkpoint and a preview. What a
stage learns, and how, is the stage's; when and what is reported is this loop's.

On the CPU, unless the user fixed the thread count, the loop times its own steps to choose it
(`vqstudio.threads`): every core is often the slowest choice on a machine others share.

In a run of several processes (`vqstudio.distributed`) every rank runs this loop in step: rank 0
decides whatever hangs on a clock (the budget's end, the learning rate of a time budget, when to
read the losses, validate and checkpoint, the thread count) and every rank follows (`agree`,
twice a step); a stop set on any rank stops all; an out-of-memory error on any rank halves the
batch on all. Losses are read as their mean over the ranks. Rank 0 alone validates, previews and
writes (history, checkpoints), then the others go on; every rank ends the stage at one barrier,
after the last checkpoint, so the next stage reads what rank 0 wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from vqstudio import distributed
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
    world = distributed.current()
    main = world.is_main
    if main:
        yield from stage.messages
    # Every rank starts from rank 0's weights and buffers (a k-means codebook, a resumed state).
    distributed.broadcast_module(stage.model)
    step, metrics, batch_size = stage.start_step, dict(stage.metrics), stage.batch_size
    best = _best_before(stage)
    if distributed.agree({"done": budget.done(step, pacer.elapsed())})["done"]:
        if main and step == 0 and stage.starts_trained:  # used as it is (--tokenizer-steps 0): kept as step 0
            metrics = yield from _validate(stage, step, pacer.elapsed())
            _keep_best(stage, step, metrics, best)
            yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
        distributed.barrier()
        return StageResult(step, pacer.elapsed(), metrics)
    sums: dict[str, torch.Tensor] = {}  # losses summed on the device since the last read-out
    n_summed = 0
    losses: dict[str, float] = {}
    readout: dict[str, float] = {}
    last_val_step = -1
    stopped = False
    stage.model.train()

    while True:
        # Rank 0's clock and thread count, and whether any rank was asked to stop.
        head = distributed.agree(
            {
                "done": budget.done(step, pacer.elapsed()),
                "lr": pacer.lr(step),
                "threads": torch.get_num_threads(),
            },
            any_of={"stop": stop.is_set()},
        )
        if head["done"]:
            break
        if head["stop"]:
            stopped = True
            break
        lr = head["lr"]
        if head["threads"] != torch.get_num_threads():  # rank 0's tuner chose for every rank
            torch.set_num_threads(int(head["threads"]))
        set_lr(stage.optimizer, lr)
        t_step = time.perf_counter()
        here = False  # whether this rank itself ran out of memory (not only heard of it)
        try:
            out = stage.step(step, batch_size)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            out, here = None, not isinstance(e, distributed.PeerOutOfMemory)
        if out is None:  # handled here, once the exception (and the activations it holds) is gone
            if here and world.distributed:
                # The others wait in this step's gradient exchange: tell them, all drop the step
                # (this rank's own gradients freed first: the exchange allocates its buffer).
                stage.optimizer.zero_grad(set_to_none=True)
                with contextlib.suppress(distributed.PeerOutOfMemory):
                    distributed.exchange_gradients(
                        (p for g in stage.optimizer.param_groups for p in g["params"]), failed=True
                    )
            batch_size = _halve(stage, batch_size)
            if main:
                per = f" per process (of {world.size})" if world.distributed else ""
                yield LogLine(
                    f"{stage.device.type} out of memory: retrying {stage.name} batches of {batch_size} "
                    f"windows{per}",
                    "warning",
                )
            continue
        step += 1
        if threads is not None and (line := threads.step_done(time.perf_counter() - t_step)):
            yield LogLine(line)  # CPU steps are synchronous: the time taken is the step's
        for k, v in out.items():
            sums[k] = sums[k] + v if k in sums else v.clone()
        n_summed += 1

        due = distributed.agree(
            {
                "log": pacer.log_due(step),
                "validate": pacer.validation_due(step),
                "checkpoint": pacer.checkpoint_due(),
            }
        )
        if due["log"]:
            extra = stage.readout()
            # The one host sync; with several processes, the mean over their shares of the batch.
            values = distributed.mean(torch.stack([*sums.values(), *extra.values()])).tolist()
            losses = {k: v / n_summed for k, v in zip(sums, values[: len(sums)], strict=True)}
            losses["lr"] = lr
            readout = dict(zip(extra, values[len(sums) :], strict=True))
            sums, n_summed = {}, 0
            t = pacer.logged(step)
            if main:
                stage.project.append_history(
                    {"stage": stage.name, "step": step, "time_s": round(t, 3), "losses": losses, **readout}
                )
        if main and (progress := pacer.progress(step, losses, batch_size * world.size)):
            yield dataclasses.replace(progress, **readout)
        if due["validate"]:
            if main:
                metrics = yield from _validate(stage, step, pacer.elapsed())
                best = _keep_best(stage, step, metrics, best)
            last_val_step = step
        if main and pacer.preview_due():
            yield stage.preview(step)
        if due["checkpoint"]:
            if main:
                yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
            pacer.checkpointed()

    if main:
        if last_val_step != step or not metrics:
            metrics = yield from _validate(stage, step, pacer.elapsed())
            best = _keep_best(stage, step, metrics, best)
        yield _checkpoint(stage, step, budget, pacer.elapsed(), batch_size, metrics)
    distributed.barrier()  # the next stage (and a resume) reads what rank 0 has written
    if main and not stopped:  # a stop asks for speed: the checkpoint is written, the preview can wait
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
    world = distributed.current()
    # Several processes on one machine share its cores; rank 0 times for all (`run_stage`).
    cores = available_cores() // world.local_size
    if not world.is_main or stage.device.type != "cpu" or fixed_threads(threads) is not None or cores < 2:
        return None
    return ThreadTuner(cores, torch.set_num_threads, torch.get_num_threads(), label=stage.name)


def resume_loop_state(stage: Stage, state: Mapping[str, Any]) -> None:
    """What the loop resumes besides weights and optimizer (`state`: `load_state`'s answer): the
    batch size, the time trained and the last validation (the stage's progress in project.json)."""
    before = stage.project.stage(stage.name)
    stage.batch_size = int(state["extra"].get("batch_size", stage.batch_size))
    # The batch was per process: a resume on another number of processes keeps the whole batch
    # (the optimizer's step size was tuned to it), shared out anew.
    progress = state["extra"].get("progress") or {}
    processes, size = int(progress.get("processes", 1)), distributed.current().size
    if processes != size:
        stage.batch_size = max(1, stage.batch_size * processes // size)
        stage.messages.append(
            LogLine(
                f"the {stage.name} was trained on {processes} process{'es' if processes > 1 else ''}, "
                f"now on {size}: {stage.batch_size} windows per process"
            )
        )
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
        processes=distributed.current().size,
        **stage.progress_fields(),
    )
    return CheckpointWritten(stage.name, step, stage.weights_path)
