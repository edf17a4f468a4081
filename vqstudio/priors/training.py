"""Stage 2: train the prior on the tokenizer's codes of the training windows. A generator job.

The training windows are encoded once (tokenizer frozen, eval mode) into code indices that stay
on the device; the diffusion prior turns a batch of indices back into quantized latents with the
codebook (a lookup), normalised per dimension by statistics stored with its weights. Windows
overlap (the preparation's stride), so the prior sees many crops of the signal; the diffusion
prior is shown a known prefix half of the time and the autoregressive prior trains half of the
time on crops that start mid-stream, which is what continuing a long recording asks of them.

Same behaviour as stage 1: progress a few times a second, a stop request honoured between steps
with a checkpoint, `--resume` continuing exactly (optimizer and generators in
`state.safetensors` under the stage "prior"), weights in `prior.safetensors`, history lines.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from vqstudio.checkpoint import load_state
from vqstudio.device import is_out_of_memory
from vqstudio.errors import CheckpointError, DeviceError, ProjectError
from vqstudio.events import (
    CheckpointWritten,
    Event,
    LogLine,
    SamplePreview,
    StopRequest,
    Validation,
)
from vqstudio.prep import PreparedData
from vqstudio.priors.config import (
    AutoregressiveConfig,
    DiffusionConfig,
    PriorConfig,
    PriorTrainConfig,
    config_from_dict,
    preset,
    to_dict,
)
from vqstudio.priors.continuation import decode_latents, sample_latents, snap_to_codes
from vqstudio.priors.schedule import CosineSchedule
from vqstudio.priors.store import build_prior, load_prior, save_prior
from vqstudio.project import Project
from vqstudio.training.budget import Budget
from vqstudio.training.pacing import StagePacer
from vqstudio.training.schedule import lr_at
from vqstudio.training.settings import TrainSettings
from vqstudio.training.stage_state import resume_progress, save_checkpoint
from vqstudio.training.validation import autocast

__all__ = ["DEFAULT_PRIOR_STEPS", "STAGE", "encode_codes", "prior_config", "train_prior"]

STAGE = "prior"
DEFAULT_PRIOR_STEPS = 2000  # when neither --minutes nor --prior-steps bound the stage


def prior_config(kind: str, tokenizer: torch.nn.Module, n_labels: int, size: str) -> PriorConfig:
    """The prior's config for a tokenizer (latent size, codebooks, window latents) and labels."""
    cfg = tokenizer.cfg
    dims = preset(size)
    if kind == "diffusion":
        patch = 2 if cfg.latent_length % 2 == 0 and cfg.latent_length >= 16 else 1
        return DiffusionConfig(
            latent_dim=cfg.latent_dim, seg_len=cfg.latent_length, n_labels=n_labels, patch=patch, **dims
        )
    if kind == "autoregressive":
        return AutoregressiveConfig(
            codebook_size=cfg.codebook_size,
            n_quantizers=cfg.n_quantizers,
            context=cfg.latent_length,
            n_labels=n_labels,
            **dims,
        )
    raise ValueError(f"unknown prior {kind!r}")


@torch.no_grad()
def encode_codes(
    tokenizer: torch.nn.Module, prepared: PreparedData, split: str, count: int | None = None, batch: int = 256
) -> torch.Tensor:
    """Code indices `(N, Q, L)` of the first `count` (all) windows of `split`, on the tokenizer's
    device; windows are gathered a batch at a time, never all at once."""
    device = next(tokenizer.parameters()).device
    n = len(prepared.val if split == "val" else prepared.train)
    n = n if count is None else min(n, count)
    out = []
    for i in range(0, n, batch):
        x = torch.from_numpy(prepared.windows(split, np.arange(i, min(n, i + batch)))).to(device)
        with autocast(device):
            z = tokenizer.encode(x)
        out.append(tokenizer.quantize(z.float())[1])
    return torch.cat(out)


def _label_tensor(labels: np.ndarray, n_labels: int, device: torch.device) -> torch.Tensor:
    """Label indices with -1 (no label) mapped to the null label `n_labels`."""
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return torch.where(lab < 0, torch.full_like(lab, n_labels), lab).to(device)


def _prior_loss(
    model: torch.nn.Module,
    tokenizer: torch.nn.Module,
    codes: torch.Tensor,
    labels: torch.Tensor | None,
    schedule: CosineSchedule,
    generator: torch.Generator,
    mid_stream: bool,
) -> torch.Tensor:
    if isinstance(model.config, DiffusionConfig):
        with torch.no_grad():
            x0 = model.normalize(tokenizer.codes_to_latents(codes).float())
        return model.training_loss(x0, labels, schedule, generator)
    return model.training_loss(codes, labels, generator, bos=not mid_stream)


@torch.no_grad()
def _validate(
    model: torch.nn.Module,
    tokenizer: torch.nn.Module,
    codes: torch.Tensor,
    labels: torch.Tensor | None,
    schedule: CosineSchedule,
    seed: int,
) -> dict[str, float]:
    """Held-out loss with a fixed generator (same noise every time, so values compare over steps)."""
    was = model.training
    model.eval()
    gen = torch.Generator(device=codes.device).manual_seed(seed)
    total, n = 0.0, 0
    for i in range(0, codes.shape[0], 128):
        c = codes[i : i + 128]
        lab = None if labels is None else labels[i : i + 128]
        loss = _prior_loss(model, tokenizer, c, lab, schedule, gen, mid_stream=False)
        total += float(loss) * c.shape[0]
        n += c.shape[0]
    model.train(was)
    name = "val_mse" if isinstance(model.config, DiffusionConfig) else "val_nll"
    out = {name: total / max(n, 1)}
    if name == "val_nll":  # bits per code: comparable with log2(codebook size) for a uniform guess
        out["val_bits_per_code"] = out[name] / math.log(2)
    return out


@torch.no_grad()
def _preview(
    model: torch.nn.Module,
    tokenizer: torch.nn.Module,
    prepared: PreparedData,
    label_names: list[str],
    step: int,
) -> SamplePreview:
    """One window sampled from the prior as it stands (few steps: a preview, not an output)."""
    from vqstudio.priors.continuation import sample_codes

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(step)  # samplers draw on the model's device
    n_labels = model.config.n_labels
    label = step % n_labels if n_labels else None
    labels = torch.tensor([label if label is not None else n_labels])
    length = tokenizer.cfg.latent_length
    if isinstance(model.config, DiffusionConfig):
        z = snap_to_codes(tokenizer, sample_latents(model, length, labels, 10, 1.5, gen))
    else:
        z = tokenizer.codes_to_latents(sample_codes(model, length, labels, 1.0, None, gen))
    x = decode_latents(tokenizer, z, prepared.window)[0].cpu().numpy()
    model.train(was)
    return SamplePreview(
        step=step,
        rate=prepared.rate,
        labels=tuple(prepared.labels),
        units=tuple(prepared.units),
        samples=prepared.physical(x),
        label=label_names[label] if label is not None else None,
    )


def train_prior(
    project: Project,
    prepared: PreparedData,
    settings: TrainSettings,
    stop: StopRequest,
    device: torch.device,
    size: str | None = None,
    optim: PriorTrainConfig | None = None,
) -> Generator[Event, None, dict[str, Any]]:
    """Trains (or continues) the prior of `project`; returns `{step, elapsed_s, metrics, stopped}`.

    The kind comes from `settings.prior`; the budget from `settings.prior_steps` (total steps)
    and/or `settings.minutes` (the prior's share, as the train job passes it). Resumes when the
    project already holds `prior.safetensors`. `size` overrides the preset (tests use "tiny").
    """
    optim = optim or PriorTrainConfig()
    t_setup = time.monotonic()  # a time budget counts the encoding below too
    if not project.has_tokenizer:
        raise ProjectError(f"{project.path} has no trained tokenizer; the prior trains on its codes")
    tokenizer = project.load_tokenizer(device)
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    labelled = settings.labels in ("annotations", "files") and len(prepared.label_names) > 0
    label_names = list(prepared.label_names) if labelled else []
    n_labels = len(label_names)
    counts = np.bincount(prepared.train.labels[prepared.train.labels >= 0], minlength=n_labels)[:n_labels]

    saved = resume_progress(project, STAGE)
    resume = saved is not None
    if resume:
        # The weights come back with the optimizer state below (the state file carries them).
        if saved.get("config"):
            model, step = build_prior(config_from_dict(saved["config"])).to(device), 0
        else:  # a state file of VQ Studio 0.1: the weights file holds the weights
            loaded = load_prior(project.prior_path, device)
            model, step = loaded.model, loaded.step
        if model.config.kind != settings.prior:
            yield LogLine(f"the project's prior is {model.config.kind}; continuing it (not {settings.prior})")
    else:
        size = size or settings.preset or ("small" if device.type == "cpu" else "medium")
        with torch.random.fork_rng(devices=[]):  # weights drawn from the seed, not the global state
            torch.manual_seed(settings.seed + 10)
            model = build_prior(prior_config(settings.prior, tokenizer, n_labels, size)).to(device)
        step = 0
    config = model.config
    model.train()

    # Encode every training and held-out window once; the codes stay on the device.
    t_enc = time.monotonic()
    train_codes = encode_codes(tokenizer, prepared, "train")
    val_split = "val" if len(prepared.val) else "train"
    val_codes = encode_codes(tokenizer, prepared, val_split, count=512)
    split = prepared.val if val_split == "val" else prepared.train
    train_labels = _label_tensor(prepared.train.labels, n_labels, device) if n_labels else None
    val_labels = _label_tensor(split.labels[:512], n_labels, device) if n_labels else None
    if isinstance(config, DiffusionConfig) and not resume:
        with torch.no_grad():  # in batches: all latents at once can be large
            sums = torch.zeros(2, config.latent_dim, dtype=torch.float64, device=device)
            for i in range(0, train_codes.shape[0], 256):
                z = tokenizer.codes_to_latents(train_codes[i : i + 256]).double()
                sums += torch.stack([z.sum(dim=(0, 2)), (z**2).sum(dim=(0, 2))])
            count = train_codes.shape[0] * train_codes.shape[2]
            mean = sums[0] / count
            std = (sums[1] / count - mean**2).clamp_min(0).sqrt()
            model.latent_mean.copy_(mean.float())
            model.latent_std.copy_(std.float().clamp_min(1e-4))
    yield LogLine(
        f"prior ({config.kind}): {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{train_codes.shape[0]} training windows of {train_codes.shape[2]} latent steps "
        f"encoded in {time.monotonic() - t_enc:.1f} s"
        + (f"; conditional on {n_labels} labels: {', '.join(label_names)}" if n_labels else "")
    )

    if settings.prior_steps is None and settings.minutes is None:
        budget = Budget(steps=DEFAULT_PRIOR_STEPS)
    else:
        setup_s = 0.0 if resume else time.monotonic() - t_setup
        budget = Budget(
            steps=settings.prior_steps,
            seconds=None if settings.minutes is None else max(1.0, settings.minutes * 60 - setup_s),
        )
    opt = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    data_gen = torch.Generator().manual_seed(settings.seed + 11)
    noise_gen = torch.Generator(device=device).manual_seed(settings.seed + 12)
    generators = {"prior_data": data_gen, "prior_noise": noise_gen}
    batch_size = settings.batch_size or (32 if device.type == "cpu" else optim.batch_size * 4)
    before = project.progress(STAGE)
    elapsed_before = float(before.get("elapsed_s", 0.0)) if resume else 0.0
    metrics: dict[str, float] = dict(before.get("metrics", {})) if resume else {}
    if resume:
        state = load_state(project.state_path, STAGE, opt, generators=generators, model=model)
        if state["has_model"]:
            step = state["step"]
        elif state["step"] != step:
            raise CheckpointError(
                f"state.safetensors is at prior step {state['step']} but prior.safetensors at {step}; "
                "the last checkpoint was interrupted: train the prior again"
            )
        batch_size = int(state["extra"].get("batch_size", batch_size))
        yield LogLine(f"resuming the prior at step {step}")
    schedule = CosineSchedule(prediction=getattr(config, "prediction", "v"))
    warmup = (
        optim.warmup_steps if budget.steps is None else min(optim.warmup_steps, max(1, budget.steps // 10))
    )
    t0 = time.monotonic()

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - t0

    def checkpoint() -> Event:
        save_checkpoint(
            project,
            STAGE,
            model,
            opt,
            step,
            write_weights=lambda: save_prior(
                project.prior_path, model, step, label_names, counts.tolist(), owner=project.path
            ),
            budget=budget,
            elapsed_s=elapsed(),
            batch_size=batch_size,
            metrics=metrics,
            generators=generators,
            kind=config.kind,
            config=to_dict(config),
            optim=dataclasses.asdict(optim),
            labels={"names": label_names, "train_counts": counts.tolist()},
        )
        return CheckpointWritten(STAGE, step, project.prior_path)

    stopped = False
    losses: dict[str, float] = {}
    acc: list[torch.Tensor] = []
    pacer = StagePacer(
        STAGE,
        budget,
        step,
        elapsed,
        log_every=optim.log_every,
        log_every_s=2.0,
        progress_every_s=0.25,
        checkpoint_every_s=settings.checkpoint_every_s,
    )
    last_preview = time.monotonic()
    n = train_codes.shape[0]
    while not budget.done(step, elapsed()):
        if stop.is_set():
            stopped = True
            break
        lr = lr_at(step, budget.progress(step, elapsed()), optim.lr, warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        index = torch.randint(n, (batch_size,), generator=data_gen).to(device)
        mid_stream = bool(step % 2)
        try:
            with autocast(device):
                loss = _prior_loss(
                    model,
                    tokenizer,
                    train_codes[index],
                    None if train_labels is None else train_labels[index],
                    schedule,
                    noise_gen,
                    mid_stream,
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
            opt.step()
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if batch_size <= 1:
                raise DeviceError(
                    f"{device.type} ran out of memory training the prior with one window per batch; "
                    "use --device cpu or a smaller --preset"
                ) from e
            batch_size //= 2
            yield LogLine(
                f"{device.type} out of memory: prior batches of {batch_size} windows now", "warning"
            )
            continue
        step += 1
        acc.append(loss.detach().float())
        if pacer.log_due(step):
            losses = {"loss": float(torch.stack(acc).mean()), "lr": lr}  # the one host sync
            acc = []
            t = pacer.logged(step)
            project.append_history({"stage": STAGE, "step": step, "time_s": round(t, 3), "losses": losses})
        if progress := pacer.progress(step, losses, batch_size):
            yield progress
        if step % settings.val_every == 0:
            metrics = _validate(model, tokenizer, val_codes, val_labels, schedule, settings.seed)
            project.append_history(
                {"stage": STAGE, "step": step, "time_s": round(elapsed(), 3), "metrics": metrics}
            )
            yield Validation(STAGE, step, dict(metrics))
        if time.monotonic() - last_preview >= 15.0:
            yield _preview(model, tokenizer, prepared, label_names, step)
            last_preview = time.monotonic()
        if pacer.checkpoint_due():
            yield checkpoint()
            pacer.checkpointed()

    if step % settings.val_every != 0 or not metrics:
        metrics = _validate(model, tokenizer, val_codes, val_labels, schedule, settings.seed)
        project.append_history(
            {"stage": STAGE, "step": step, "time_s": round(elapsed(), 3), "metrics": metrics}
        )
        yield Validation(STAGE, step, dict(metrics))
    yield checkpoint()
    if not stopped:
        yield _preview(model, tokenizer, prepared, label_names, step)
    return {"step": step, "elapsed_s": elapsed(), "metrics": metrics, "stopped": stopped}
