"""Stage 1: the VQ-VAE tokenizer as a `Stage` of the training loop (`loop.run_stage`).

A step draws a batch on the device, runs forward (bf16 autocast on CUDA), backward, clipping,
the AdamW step and the EMA codebook update (`tokenizer_step`, which the benches time). A new
tokenizer's codebook is seeded by k-means on the first encodings; a resumed one comes back with
its optimizer and data order from `state.safetensors`. Validation reconstructs a fixed set of
held-out windows; a preview shows one of them beside its reconstruction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from vqstudio import distributed
from vqstudio.codec import Codec, shipped_codec
from vqstudio.data.prep import PreparedData
from vqstudio.errors import CheckpointError
from vqstudio.events import LogLine, ReconstructionPreview
from vqstudio.models.critic import critic_loss, feature_matching, generator_loss
from vqstudio.models.tokenizer import (
    PRESETS,
    SIZE_PRESETS,
    Tokenizer,
    TokenizerConfig,
    choose_preset,
    preset_config,
    tokenizer_preset,
)
from vqstudio.project import Project
from vqstudio.project.checkpoint import load_state, load_weights, save_weights
from vqstudio.training.batches import WindowBatches
from vqstudio.training.loop import StageContext, resume_loop_state
from vqstudio.training.optim import make_optimizer, optimizer_step
from vqstudio.training.settings import OptimConfig, TrainSettings
from vqstudio.training.stage_state import check_saved_model_fits, resume_progress
from vqstudio.training.validation import autocast, eval_mode, validate, validation_index

__all__ = [
    "STAGE",
    "TokenizerStage",
    "build_tokenizer",
    "default_batch_size",
    "new_tokenizer_config",
    "tokenizer_step",
    "window_multiple",
]

STAGE = "tokenizer"


def window_multiple(preset: str | None, per_channel: bool = False) -> int:
    """What a window's length in samples must be a multiple of: the downsampling of the chosen
    tokenizer size (of every size when it is chosen later, from the data), shared or per channel."""
    sizes = [preset] if preset is not None else list(SIZE_PRESETS)
    names = [tokenizer_preset(size, per_channel) for size in sizes]
    return math.lcm(*(math.prod(PRESETS[n]["strides"]) for n in names))


def new_tokenizer_config(
    settings: TrainSettings, n_windows: int, channels: int, window: int, device: str
) -> TokenizerConfig:
    """The config of a new tokenizer for the run's settings: the size preset asked for (or chosen
    from `n_windows` training windows and the `device` type), shared or per channel (`codec`)."""
    size = settings.preset or choose_preset(n_windows, device)
    return preset_config(tokenizer_preset(size, settings.per_channel), channels=channels, window=window)


def default_batch_size(device: torch.device, channels: int = 1, window: int = 0, gpu: int = 256) -> int:
    """Windows per batch: `gpu` (256) on a GPU; on a CPU 16, or 8 for large windows (more than
    8192 channel-samples), since a CPU budget of minutes buys few steps and steps matter more.

    A GPU step has a fixed cost of about 21 ms of kernel launches (measured on an H200), so a
    batch of 64 leaves it mostly idle: 3,350 windows/s there, against about 10,000 at 256."""
    if device.type != "cpu":
        return gpu
    return 16 if channels * window <= 8192 else 8


def starting_codec(settings: TrainSettings) -> Codec | None:
    """The shipped codec a new per-channel tokenizer starts from: None for a shared tokenizer,
    `--from-scratch`, a size other than the shipped codec's, or an installation without one."""
    if not settings.per_channel or settings.from_scratch:
        return None
    codec = shipped_codec()
    if codec is None:
        return None
    # An explicit size other than the shipped codec's trains that size from scratch.
    wanted = None if settings.preset is None else tokenizer_preset(settings.preset, per_channel=True)
    return codec if wanted in (None, codec.preset) else None


def build_tokenizer(
    saved: dict[str, Any] | None,
    prepared: PreparedData,
    settings: TrainSettings,
    device: torch.device,
    project: Project | None = None,
    codec: Codec | None = None,
) -> Tokenizer:
    """The tokenizer to train: of the last checkpoint's config (`saved`: its `resume_progress`)
    when resuming, else the shipped `codec`'s weights when given, else a fresh preset.

    A resumed model's weights are put back by `load_state` (the state file carries them); its
    config is checked first, against its limits and, given the `project`, against the weights
    its state file holds (`CheckpointError`)."""
    if saved is not None and saved.get("config"):
        try:
            cfg = TokenizerConfig(**saved["config"])
        except (TypeError, ValueError) as e:
            raise CheckpointError(
                f"state.safetensors holds a tokenizer configuration this VQ Studio cannot build: {e}"
            ) from e
        if project is not None:
            check_saved_model_fits(project, STAGE, cfg.weight_count(with_critic=cfg.has_critic))
        return Tokenizer(cfg).to(device)
    if codec is not None:
        model = Tokenizer(codec.config_for(prepared.n_channels, prepared.window))
        codec.load_into(model)
        return model.to(device)
    cfg = new_tokenizer_config(
        settings, len(prepared.train), prepared.n_channels, prepared.window, device.type
    )
    return Tokenizer(cfg).to(device)


def tokenizer_step(
    model: Tokenizer,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    clip: float,
    device: torch.device,
    step: int = 0,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Optimizer step number `step` (0-based) on windows `x`; returns the loss components and the
    code indices (B, Q, L) as device tensors (no host sync).

    With a critic, from step `critic_start` on, the critic first takes its own step on `x` and
    the reconstruction, then the tokenizer's loss gains the adversarial and feature-matching terms
    against the updated critic."""
    with autocast(device):
        out = model(x)
    losses, loss = dict(out.losses), out.loss
    if model.critic is not None:
        if step >= model.cfg.critic_start:
            adversarial = _critic_turn(model, opt, x, out.reconstruction, clip, device)
            cfg = model.cfg
            loss = (
                loss
                + cfg.critic_weight * adversarial["adversarial"]
                + cfg.feature_weight * adversarial["features"]
            )
        else:
            adversarial = {k: loss.new_zeros(()) for k in ("critic", "adversarial", "features")}
        losses.update(adversarial)
    optimizer_step(model, opt, loss, clip)
    _update_codebook(model, out)
    return {k: v.detach().float() for k, v in losses.items()}, out.indices.detach()


def _update_codebook(model: Tokenizer, out: Any) -> None:
    """The EMA codebook update. In several processes it learns from every rank's encodings (put
    together in rank order: the statistics of the whole batch, as one process would see them),
    and rank 0's codebook then goes to every rank, so a restart's random draw, or a GPU's
    unordered sums, never let the ranks' codebooks drift apart."""
    with distributed.after_exchange():
        if distributed.current().distributed:
            indices, encodings = distributed.gather(out.indices, 0), distributed.gather(out.encodings, 1)
            out = dataclasses.replace(out, indices=indices, encodings=encodings)
        model.update_codebook(out)
        distributed.broadcast_module(model.quantizer, buffers_only=True)


def _critic_turn(
    model: Tokenizer,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    clip: float,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """The critic's step (hinge loss on real `x` and the detached reconstruction `x_hat`), then
    the decoder's adversarial and feature-matching losses against the updated critic (with
    gradients for the tokenizer only). One optimizer holds both: parameters without a gradient
    are left alone by AdamW, so each step moves only its own side."""
    critic = model.critic
    # A per-channel codec's critic judges one channel at a time, as its losses do.
    x, x_hat = model.fold_channels(x), model.fold_channels(x_hat)
    with autocast(device):
        real = critic(x)
        judged = critic_loss(real, critic(x_hat.detach()))
    optimizer_step(critic, opt, judged, clip)
    critic.requires_grad_(False)  # the decoder's losses need no gradient of the critic's weights
    try:
        with autocast(device):
            fake = critic(x_hat)
            adversarial, features = generator_loss(fake), feature_matching(real, fake)
    finally:
        critic.requires_grad_(True)
    return {"critic": judged.detach(), "adversarial": adversarial, "features": features}


def _codec_line(codec: Codec) -> str:
    """The log line of a run that starts from the shipped codec: what it is and learned from."""
    provenance = codec.info.get("provenance", {})
    figures = codec.info.get("figures", {})
    datasets = ", ".join(sorted(provenance.get("datasets", {}))) or "a public corpus"
    files = len(provenance.get("files", []))
    return (
        f"tokenizer: starting from the shipped codec {codec.version} (pretrained for "
        f"{figures.get('minutes', '?')} min on a corpus of {files} public recordings: {datasets}); "
        "fine-tuning it on these recordings (--from-scratch: random weights)"
    )


class TokenizerStage:
    """The tokenizer of the context's project, ready to train (resumed from its checkpoint when
    `resume`)."""

    name = STAGE
    oom_advice = "use a shorter --window, fewer --channels, a smaller --preset or --device cpu"

    def __init__(self, context: StageContext, optim: OptimConfig, resume: bool = False) -> None:
        project, prepared, settings, device = (
            context.project,
            context.prepared,
            context.settings,
            context.device,
        )
        self.project, self.prepared, self.device, self.optim = project, prepared, device, optim
        saved = resume_progress(project, STAGE) if resume else None
        codec = starting_codec(settings) if saved is None else None
        self.model = build_tokenizer(saved, prepared, settings, device, project, codec)
        self.cfg: TokenizerConfig = self.model.cfg
        # On the device, so drawing a batch never waits for the GPU (a host tensor copied in would).
        data_gen = torch.Generator(device=device).manual_seed(settings.seed + 1)
        self.generators = {"data": data_gen}
        self.batches = WindowBatches(prepared.train, prepared.window, device, data_gen)
        self.optimizer = make_optimizer(self.model, optim)
        self.batch_size = settings.batch_size or default_batch_size(
            device, self.cfg.channels, self.cfg.window, optim.gpu_batch_size
        )
        self.weights_path = project.tokenizer_path
        self.starts_trained = codec is not None
        self.messages: list[LogLine] = []
        self.start_step, self.elapsed_before, self.metrics = 0, 0.0, {}
        if saved is not None:
            self._resume()
        else:
            self.messages.append(LogLine(self._describe()))
            if codec is not None:  # its codebooks come trained: k-means would throw them away
                self.messages.append(LogLine(_codec_line(codec)))
            else:
                # k-means needs a few thousand encodings, not a full (possibly huge) batch.
                # Of the whole batch of every process: every rank draws and clusters the same.
                self._init_codebook(min(self.batch_size * distributed.current().size, 64))
        val_split, val_index = validation_index(prepared, optim.val_windows)
        self.val_x = prepared.windows(val_split, val_index)
        if val_split == "train":
            self.messages.append(
                LogLine(
                    "no held-out windows (recordings too short): validating on training windows", "warning"
                )
            )
        # Which codes of the first level the batches chose since the last read-out (on the device).
        self.codes_seen = torch.zeros(self.cfg.codebook_size, dtype=torch.bool, device=device)
        self._preview_i = 0

    def _describe(self) -> str:
        """The first log line: the model's size and shape (the critic counted apart: it only trains)."""
        cfg, critic = self.cfg, self.model.critic
        critic_n = sum(p.numel() for p in critic.parameters()) if critic is not None else 0
        total = sum(p.numel() for p in self.model.parameters()) - critic_n
        critic_text = f" (+ {critic_n / 1e6:.2f} M in its critic)" if critic is not None else ""
        per = " (one network for every channel)" if cfg.per_channel else ""
        return (
            f"tokenizer: {total / 1e6:.2f} M parameters{critic_text}, {cfg.channels} channels{per} x "
            f"{cfg.window} samples, x{cfg.downsample} downsampling, {cfg.n_quantizers} x "
            f"{cfg.codebook_size} codes; {len(self.batches)} training windows"
        )

    def _resume(self) -> None:
        state = load_state(
            self.project.state_path, STAGE, self.optimizer, generators=self.generators, model=self.model
        )
        self.start_step = state["step"]
        if not state["has_model"]:  # a state file of VQ Studio 0.1 holds no weights: the weights file
            self._load_published_weights(self.start_step)
        resume_loop_state(self, state)

    def _load_published_weights(self, state_step: int) -> None:
        """Loads `tokenizer.safetensors` into the model (projects whose state file has no weights)."""
        tensors, info = load_weights(self.project.tokenizer_path, kind="tokenizer")
        if int(info["step"]) != state_step:
            raise CheckpointError(
                f"state.safetensors is at step {state_step} but tokenizer.safetensors at {info['step']}; "
                "this project's last checkpoint was interrupted: train a new project"
            )
        try:
            self.model.load_state_dict(tensors)
        except RuntimeError as e:
            raise CheckpointError(f"tokenizer.safetensors does not match its configuration: {e}") from e

    @torch.no_grad()
    def _init_codebook(self, batch_size: int) -> None:
        """k-means initialisation of the codebook from the encodings of the first batches."""
        z = []
        for _ in range(self.optim.kmeans_batches):
            with autocast(self.device):
                z.append(self.model.encode(self.batches.draw(batch_size)).float())
        self.model.init_codebook(torch.cat(z))

    # ------------------------------------------------------------------ what the loop calls

    def step(self, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """One step on a random batch; the loss components, on the device."""
        losses, codes = tokenizer_step(
            self.model,
            self.optimizer,
            self.batches.batch(batch_size),
            self.optim.grad_clip,
            self.device,
            index,
        )
        # The first level of every channel (rows c*Q of a per-channel codec's (B, C*Q, L) codes).
        self.codes_seen[codes[:, :: self.cfg.n_quantizers].flatten()] = True  # on the device: no host sync
        return losses

    def readout(self) -> dict[str, torch.Tensor]:
        """The fraction of first-level codes the batches used since the last read-out."""
        used = distributed.union(self.codes_seen).float().mean()  # the codes any rank's batches chose
        self.codes_seen.zero_()
        return {"codebook_used": used}

    def validate(self) -> dict[str, float]:
        return validate(self.model, self.prepared, self.val_x, self.cfg.codebook_size)

    @torch.no_grad()
    def preview(self, step: int) -> ReconstructionPreview:
        """A held-out window (the next one each time) beside its reconstruction, in physical units."""
        x: np.ndarray = self.val_x[self._preview_i % len(self.val_x)]
        self._preview_i += 1
        with eval_mode(self.model), autocast(self.device):
            rec = self.model(torch.from_numpy(x[None]).to(self.device)).reconstruction.float()
        return ReconstructionPreview(
            step=step,
            rate=self.prepared.rate,
            labels=tuple(self.prepared.labels),
            units=tuple(self.prepared.units),
            real=self.prepared.physical(x),
            reconstruction=self.prepared.physical(rec[0].cpu().numpy()),
        )

    def write_weights(self, step: int) -> None:
        save_weights(
            self.project.tokenizer_path,
            self.model.published_state(),
            STAGE,
            dataclasses.asdict(self.cfg),
            step,
            owner=self.project.path,
        )

    def held_out_loss(self, metrics: Mapping[str, float]) -> float | None:
        return metrics.get("val_loss")

    def write_best(self, step: int, loss: float) -> None:
        """`tokenizer.best.safetensors`: what generation and the prior use by default."""
        save_weights(
            self.project.tokenizer_best_path,
            self.model.published_state(),
            STAGE,
            dataclasses.asdict(self.cfg),
            step,
            {"held_out_loss": float(loss)},
            owner=self.project.path,
        )

    def progress_fields(self) -> dict[str, Any]:
        return {"config": dataclasses.asdict(self.cfg)}
