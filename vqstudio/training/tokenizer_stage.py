"""Stage 1: train the VQ-VAE tokenizer. A generator that yields events and returns a summary.

One loop, readable top to bottom: draw a batch on the device, forward (bf16 autocast on CUDA),
backward, clip, AdamW step with the warmup + cosine schedule, EMA codebook update. Losses stay
on the device and are read (one host sync) only every `log_every` steps. Validation every
`val_every` steps; previews and progress a few times a second at most; a checkpoint every few
minutes and when stopped or done. A stop request is honoured between steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from vqstudio.checkpoint import load_state, load_weights, save_weights
from vqstudio.device import is_out_of_memory
from vqstudio.errors import CheckpointError, DeviceError
from vqstudio.events import (
    CheckpointWritten,
    Event,
    LogLine,
    ReconstructionPreview,
    StopRequest,
    Validation,
)
from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig, choose_preset, preset_config
from vqstudio.prep import PreparedData
from vqstudio.project import Project
from vqstudio.training.batches import WindowBatches
from vqstudio.training.budget import Budget
from vqstudio.training.pacing import StagePacer
from vqstudio.training.schedule import lr_at
from vqstudio.training.settings import OptimConfig, TrainSettings
from vqstudio.training.stage_state import resume_progress, save_checkpoint
from vqstudio.training.validation import autocast, validate, validation_index

__all__ = ["STAGE", "build_tokenizer", "default_batch_size", "train_tokenizer"]

STAGE = "tokenizer"


def default_batch_size(device: torch.device, channels: int = 1, window: int = 0) -> int:
    """Windows per batch: 256 on a GPU; on a CPU 16, or 8 for large windows (more than 8192
    channel-samples), since a CPU budget of minutes buys few steps and steps matter more.

    A GPU step has a fixed cost of about 21 ms of kernel launches (measured on an H200), so a
    batch of 64 leaves it mostly idle: 3,350 windows/s there, against about 10,000 at 256."""
    if device.type != "cpu":
        return 256
    return 16 if channels * window <= 8192 else 8


def build_tokenizer(
    project: Project, prepared: PreparedData, settings: TrainSettings, device: torch.device, resume: bool
) -> Tokenizer:
    """The tokenizer to train: of the last checkpoint's config when resuming, else a fresh preset.

    A resumed model's weights are put back by `load_state` (the state file carries them)."""
    saved = resume_progress(project, STAGE) if resume else None
    if saved is not None and saved.get("config"):
        return Tokenizer(TokenizerConfig(**saved["config"])).to(device)
    preset = settings.preset or choose_preset(len(prepared.train), device.type)
    cfg = preset_config(preset, channels=prepared.n_channels, window=prepared.window)
    return Tokenizer(cfg).to(device)


def train_tokenizer(
    project: Project,
    prepared: PreparedData,
    settings: TrainSettings,
    budget: Budget,
    stop: StopRequest,
    device: torch.device,
    resume: bool = False,
    optim: OptimConfig | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    """Trains (or continues) the tokenizer of `project`; returns `{step, elapsed_s, metrics, stopped}`."""
    optim = optim or OptimConfig()
    model = build_tokenizer(project, prepared, settings, device, resume)
    step = 0
    cfg: TokenizerConfig = model.cfg
    # On the device, so drawing a batch never waits for the GPU (a host tensor copied in would).
    data_gen = torch.Generator(device=device).manual_seed(settings.seed + 1)
    batches = WindowBatches(prepared.train, prepared.window, device, data_gen)
    opt = torch.optim.AdamW(
        model.parameters(), lr=optim.lr, betas=(optim.beta1, optim.beta2), weight_decay=optim.weight_decay
    )
    batch_size = settings.batch_size or default_batch_size(device, cfg.channels, cfg.window)
    before = project.progress(STAGE)
    elapsed_before = float(before.get("elapsed_s", 0.0)) if resume else 0.0
    metrics: dict[str, float] = dict(before.get("metrics", {})) if resume else {}

    if resume and resume_progress(project, STAGE) is not None:
        state = load_state(project.state_path, STAGE, opt, generators={"data": data_gen}, model=model)
        step = state["step"]
        if not state["has_model"]:  # a state file of VQ Studio 0.1 holds no weights: the weights file
            step = _load_published_weights(project, model, step)
        batch_size = int(state["extra"].get("batch_size", batch_size))
        yield LogLine(f"resuming the tokenizer at step {step}")
    else:
        yield LogLine(
            f"tokenizer: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
            f"{cfg.channels} channels x {cfg.window} samples, x{cfg.downsample} downsampling, "
            f"{cfg.n_quantizers} x {cfg.codebook_size} codes; {len(batches)} training windows"
        )
        # k-means needs a few thousand encodings, not a full (possibly huge) batch.
        _init_codebook(model, batches, min(batch_size, 64), optim.kmeans_batches, device)
    if budget.done(step, elapsed_before):
        return {"step": step, "elapsed_s": elapsed_before, "metrics": metrics, "stopped": False}

    val_split, val_index = validation_index(prepared, optim.val_windows)
    val_x = prepared.windows(val_split, val_index)
    if val_split == "train":
        yield LogLine("no held-out windows (recordings too short): validating on training windows", "warning")
    record = project.append_history
    stopped = False

    def checkpoint() -> Event:
        project.meta["device"] = str(device)
        save_checkpoint(
            project,
            STAGE,
            model,
            opt,
            step,
            write_weights=lambda: save_weights(
                project.tokenizer_path,
                model.state_dict(),
                STAGE,
                dataclasses.asdict(cfg),
                step,
                owner=project.path,
            ),
            budget=budget,
            elapsed_s=elapsed(),
            batch_size=batch_size,
            metrics=metrics,
            generators={"data": data_gen},
            config=dataclasses.asdict(cfg),
        )
        return CheckpointWritten(STAGE, step, project.tokenizer_path)

    t0 = time.monotonic()

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t0

    pacer = StagePacer(
        STAGE,
        budget,
        step,
        elapsed,
        log_every=optim.log_every,
        log_every_s=optim.log_every_s,
        progress_every_s=optim.progress_every_s,
        checkpoint_every_s=settings.checkpoint_every_s,
    )
    last_preview = last_val = time.monotonic()
    acc: dict[str, torch.Tensor] = {}
    acc_n = 0
    losses: dict[str, float] = {}
    codes_seen = torch.zeros(cfg.codebook_size, dtype=torch.bool, device=device)  # since the last read-out
    codebook_used: float | None = None
    preview_i = 0
    last_val_step = -1
    model.train()

    while not budget.done(step, elapsed()):
        if stop.is_set():
            stopped = True
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(
                step,
                budget.progress(step, elapsed()),
                optim.lr,
                optim.warmup_steps,
                optim.min_lr_ratio,
                optim.warmup_fraction,
            )
        try:
            out, codes = _step(model, opt, batches.batch(batch_size), optim.grad_clip, device)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            out = None  # handled below, once the exception (and the activations it holds) is gone
        if out is None:
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if batch_size <= 1:
                raise DeviceError(
                    f"{device.type} ran out of memory even with one window per batch; "
                    "use a shorter --window, fewer --channels, a smaller --preset or --device cpu"
                )
            batch_size //= 2
            yield LogLine(
                f"{device.type} out of memory: retrying with batches of {batch_size} windows", "warning"
            )
            continue
        step += 1
        codes_seen[codes[:, 0].flatten()] = True  # on the device: no host sync
        for k, v in out.items():
            acc[k] = acc[k] + v if k in acc else v.clone()
        acc_n += 1

        if pacer.log_due(step):
            # the one host sync of a log step (the codebook usage rides along)
            values = torch.stack([*acc.values(), codes_seen.float().mean()]).tolist()
            codebook_used = values.pop()
            codes_seen.zero_()
            losses = {k: v / acc_n for k, v in zip(acc, values, strict=True)}
            losses["lr"] = opt.param_groups[0]["lr"]
            acc, acc_n = {}, 0
            t = pacer.logged(step)
            record(
                {
                    "stage": STAGE,
                    "step": step,
                    "time_s": round(t, 3),
                    "losses": losses,
                    "codebook_used": codebook_used,
                }
            )
        if progress := pacer.progress(step, losses, batch_size):
            yield dataclasses.replace(progress, codebook_used=codebook_used)
        now = time.monotonic()
        if step % settings.val_every == 0 or now - last_val >= optim.val_every_s:
            last_val = now
            metrics = validate(model, prepared, val_x, cfg.codebook_size)
            last_val_step = step
            record({"stage": STAGE, "step": step, "time_s": round(elapsed(), 3), "metrics": metrics})
            yield Validation(STAGE, step, dict(metrics))
        if now - last_preview >= optim.preview_every_s:
            last_preview = now
            yield _preview(model, prepared, val_x[preview_i % len(val_x)], step)
            preview_i += 1
        if pacer.checkpoint_due():
            yield checkpoint()
            pacer.checkpointed()

    if last_val_step != step or not metrics:
        metrics = validate(model, prepared, val_x, cfg.codebook_size)
        record({"stage": STAGE, "step": step, "time_s": round(elapsed(), 3), "metrics": metrics})
        yield Validation(STAGE, step, dict(metrics))
    yield _preview(model, prepared, val_x[preview_i % len(val_x)], step)
    yield checkpoint()
    return {"step": step, "elapsed_s": elapsed(), "metrics": metrics, "stopped": stopped}


def _load_published_weights(project: Project, model: Tokenizer, state_step: int) -> int:
    """Loads `tokenizer.safetensors` into `model` (projects whose state file has no weights)."""
    tensors, info = load_weights(project.tokenizer_path, kind="tokenizer")
    if int(info["step"]) != state_step:
        raise CheckpointError(
            f"state.safetensors is at step {state_step} but tokenizer.safetensors at {info['step']}; "
            "this project's last checkpoint was interrupted: train a new project"
        )
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"tokenizer.safetensors does not match its configuration: {e}") from e
    return state_step


def _step(
    model: Tokenizer, opt: torch.optim.Optimizer, x: torch.Tensor, clip: float, device: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimizer step; returns the loss components and the code indices (B, Q, L) as
    device tensors (no host sync)."""
    with autocast(device):
        out = model(x)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    model.update_codebook(out)
    return {k: v.detach().float() for k, v in out.losses.items()}, out.indices.detach()


@torch.no_grad()
def _init_codebook(
    model: Tokenizer, batches: WindowBatches, batch_size: int, n_batches: int, device: torch.device
) -> None:
    """k-means initialisation of the codebook from the encodings of the first batches."""
    z = []
    for _ in range(max(1, n_batches)):
        with autocast(device):
            z.append(model.encode(batches.batch(batch_size)).float())
    model.init_codebook(torch.cat(z))


@torch.no_grad()
def _preview(model: Tokenizer, prepared: PreparedData, x: np.ndarray, step: int) -> ReconstructionPreview:
    """A held-out window beside its reconstruction, both in physical units."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with autocast(device):
            rec = model(torch.from_numpy(x[None]).to(device)).reconstruction.float()
    finally:
        model.train(was_training)
    return ReconstructionPreview(
        step=step,
        rate=prepared.rate,
        labels=tuple(prepared.labels),
        units=tuple(prepared.units),
        real=prepared.physical(x),
        reconstruction=prepared.physical(rec[0].cpu().numpy()),
    )
