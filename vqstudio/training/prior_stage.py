"""Stage 2: the prior over the tokenizer's codes as a `Stage` of the training loop.

The training windows are encoded once (tokenizer frozen, eval mode) into code indices that stay
on the device; each step draws a batch of them and asks the prior for its `training_loss`. The
stage knows no kind of prior: it asks the registry for a new one's config and the prior for what
differs (`priors.config.PriorModel`: loss, its figures, preparation, previews). Windows overlap
(the preparation's stride), so the prior sees many crops of the signal; every other step is a
crop that starts mid-stream, which is what continuing a long recording asks of a prior. Optimizer
and random state resume from `state.safetensors` under the stage "prior"; weights go to
`prior.safetensors`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import torch

from vqstudio import distributed
from vqstudio.data.prep import PreparedData
from vqstudio.errors import CheckpointError, ProjectError
from vqstudio.events import Event, LogLine, SamplePreview, StopRequest, run_to_end
from vqstudio.priors.config import config_from_dict, preset, to_dict
from vqstudio.priors.continuation import decode_latents, iter_sample
from vqstudio.priors.registry import prior_kind
from vqstudio.priors.store import build_prior, load_prior, save_prior
from vqstudio.project import Project
from vqstudio.project.checkpoint import load_state
from vqstudio.training.budget import Budget
from vqstudio.training.loop import StageContext, StageResult, resume_loop_state, train_stage
from vqstudio.training.optim import make_optimizer, optimizer_step
from vqstudio.training.settings import PRIOR_OPTIM, OptimConfig, TrainSettings
from vqstudio.training.stage_state import check_saved_model_fits, resume_progress
from vqstudio.training.validation import autocast, eval_mode

__all__ = [
    "DEFAULT_PRIOR_STEPS",
    "STAGE",
    "PriorStage",
    "encode_codes",
    "prior_budget",
    "prior_config",
    "train_prior",
]

STAGE = "prior"
DEFAULT_PRIOR_STEPS = 2000  # when neither --minutes nor --prior-steps bound the stage
CPU_BATCH_SIZE = 32  # windows per batch on a CPU (a GPU gets the optimizer config's)


def prior_config(kind: str, tokenizer: torch.nn.Module, n_labels: int, size: str) -> Any:
    """The config of a new prior of `kind` for a tokenizer (latent size, codebooks, window latents)."""
    return prior_kind(kind).config.for_tokenizer(tokenizer.cfg, n_labels, preset(size, kind))


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


def prior_budget(settings: TrainSettings, setup_s: float) -> Budget:
    """The prior's budget: `settings.prior_steps` (total steps) and/or `settings.minutes` (the
    prior's share, as the train job passes it, less the `setup_s` spent encoding); 2,000 steps
    when neither is given."""
    if settings.prior_steps is None and settings.minutes is None:
        return Budget(steps=DEFAULT_PRIOR_STEPS)
    seconds = None if settings.minutes is None else max(1.0, settings.minutes * 60 - setup_s)
    return Budget(steps=settings.prior_steps, seconds=seconds)


def train_prior(
    project: Project,
    prepared: PreparedData,
    settings: TrainSettings,
    stop: StopRequest,
    device: torch.device,
    optim: OptimConfig = PRIOR_OPTIM,
    size: str | None = None,
    budget: Budget | None = None,
) -> Generator[Event, None, StageResult]:
    """Trains (or continues) the prior of `project` (see `PriorStage`); returns its `StageResult`.
    `budget` (absolute: totals, counting the time before a resume) is a resumed prior's; without
    it the settings' minutes and steps apply (`prior_budget`), the minutes counting the encoding
    of the windows too."""
    t_setup = time.monotonic()
    stage_class = PriorStage
    if settings.private:  # DP-SGD (`--dp-epsilon`): the private stage
        from vqstudio.training.private import PrivatePriorStage as stage_class
    stage = stage_class(StageContext(project, prepared, settings, device), optim, size)
    if budget is None:
        budget = prior_budget(settings, 0.0 if stage.resumed else time.monotonic() - t_setup)
    return (yield from train_stage(stage, budget, stop, settings))


def _weights_step(path: str) -> int | None:
    """The step a weights file was saved at (None when there is no file)."""
    from vqstudio.project.checkpoint import read_metadata

    return int(read_metadata(path).get("step", "0")) if os.path.isfile(path) else None


def _label_tensor(labels: np.ndarray, n_labels: int, device: torch.device) -> torch.Tensor:
    """Label indices with -1 (no label) mapped to the null label `n_labels`."""
    lab = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return torch.where(lab < 0, torch.full_like(lab, n_labels), lab).to(device)


class PriorStage:
    """The prior of the context's project, ready to train on its tokenizer's codes (resumed when the project
    holds a prior checkpoint). `size` overrides the size preset (tests use "tiny")."""

    name = STAGE
    oom_advice = "use --device cpu or a smaller --preset"

    def __init__(self, context: StageContext, optim: OptimConfig, size: str | None = None) -> None:
        project, prepared, settings, device = (
            context.project,
            context.prepared,
            context.settings,
            context.device,
        )
        if not project.has_tokenizer:
            raise ProjectError(f"{project.path} has no trained tokenizer; the prior trains on its codes")
        self.project, self.prepared, self.device, self.optim = project, prepared, device, optim
        self.messages: list[LogLine] = []
        # The codes of the tokenizer generation decodes with by default: its best checkpoint.
        self.tokenizer = project.load_tokenizer(device, weights="best")
        self.tokenizer_step = _weights_step(project.weights_path("tokenizer", "best"))
        self._held_out_loss: float | None = None
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        self.label_names = list(prepared.label_names) if settings.labelled else []
        n_labels = len(self.label_names)
        train_labels = prepared.train.labels
        self.label_counts = np.bincount(train_labels[train_labels >= 0], minlength=n_labels)[:n_labels]

        saved = resume_progress(project, STAGE)
        self.resumed = saved is not None
        self.model, self.start_step = self._build(saved, settings, n_labels, size)
        self.model.train()
        self.weights_path = project.prior_path
        self.starts_trained = False

        # Every training window and up to `val_windows` held-out ones, encoded once; on the device.
        t_enc = time.monotonic()
        self.train_codes = encode_codes(self.tokenizer, prepared, "train")
        # Rank 0's codes on every rank: a near tie between two codes may fall either way on another GPU.
        distributed.broadcast(self.train_codes)
        val_split = "val" if len(prepared.val) else "train"
        self.val_codes = encode_codes(self.tokenizer, prepared, val_split, count=optim.val_windows)
        split = prepared.val if val_split == "val" else prepared.train
        self.train_labels = _label_tensor(train_labels, n_labels, device) if n_labels else None
        self.val_labels = (
            _label_tensor(split.labels[: optim.val_windows], n_labels, device) if n_labels else None
        )
        if saved is None:
            self.prepare_model()
        kind = self.model.config.kind
        self.messages.append(
            LogLine(
                f"prior ({kind}): {sum(p.numel() for p in self.model.parameters()) / 1e6:.2f} M parameters, "
                f"{self.train_codes.shape[0]} training windows of {self.train_codes.shape[2]} latent steps "
                f"encoded in {time.monotonic() - t_enc:.1f} s"
                + (f"; conditional on {n_labels} labels: {', '.join(self.label_names)}" if n_labels else "")
            )
        )

        self.optimizer = make_optimizer(self.model, optim)
        self.data_gen = torch.Generator().manual_seed(settings.seed + 11)
        self.noise_gen = torch.Generator(device=device).manual_seed(settings.seed + 12)
        self.generators = {"prior_data": self.data_gen, "prior_noise": self.noise_gen}
        self.batch_size = settings.batch_size or (
            CPU_BATCH_SIZE if device.type == "cpu" else optim.gpu_batch_size
        )
        self.validation_seed = settings.seed
        self.elapsed_before, self.metrics = 0.0, {}
        if saved is not None:
            self._resume()
        world = distributed.current()
        if world.rank:  # each rank its own diffusion noise; rank 0 keeps the one a checkpoint holds
            self.noise_gen.manual_seed(settings.seed + 12 + 1_000_003 * world.rank + self.start_step)

    def prepare_model(self) -> None:
        """Before a new prior's first step: what it measures once on the training codes (a
        private run measures no training code: `private.PrivatePriorStage`)."""
        self.model.prepare_training(self.tokenizer, self.train_codes)

    def _build(
        self, saved: dict[str, Any] | None, settings: TrainSettings, n_labels: int, size: str | None
    ) -> tuple[torch.nn.Module, int]:
        """A new prior (weights drawn from the seed), or the checkpoint's, and its step."""
        if saved is None:
            size = size or settings.preset or ("small" if self.device.type == "cpu" else "medium")
            with torch.random.fork_rng(devices=[]):  # weights drawn from the seed, not the global state
                torch.manual_seed(settings.seed + 10)
                config = prior_config(settings.prior, self.tokenizer, n_labels, size)
                return build_prior(config).to(self.device), 0
        # The weights come back with the optimizer state (`_resume`: the state file carries them).
        if saved.get("config"):
            try:
                config = config_from_dict(saved["config"])
            except CheckpointError as e:
                raise CheckpointError(
                    f"state.safetensors holds a prior configuration this VQ Studio cannot build: {e}"
                ) from e
            check_saved_model_fits(self.project, STAGE, config.weight_count())
            model = build_prior(config).to(self.device)
            step = 0
        else:  # a state file of VQ Studio 0.1: the weights file holds the weights
            loaded = load_prior(self.project.prior_path, self.device)
            model, step = loaded.model, loaded.step
        if model.config.kind != settings.prior:
            self.messages.append(
                LogLine(f"the project's prior is {model.config.kind}; continuing it (not {settings.prior})")
            )
        return model, step

    def _resume(self) -> None:
        state = load_state(
            self.project.state_path, STAGE, self.optimizer, generators=self.generators, model=self.model
        )
        if state["has_model"]:
            self.start_step = state["step"]
        elif state["step"] != self.start_step:
            raise CheckpointError(
                f"state.safetensors is at prior step {state['step']} but prior.safetensors at "
                f"{self.start_step}; the last checkpoint was interrupted: train the prior again"
            )
        resume_loop_state(self, state)

    # ------------------------------------------------------------------ what the loop calls

    def step(self, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """One step on a random batch of encoded windows; every other one a mid-stream crop."""
        # Rows of the whole batch of every rank, drawn alike on each; this rank takes its share.
        n = batch_size * distributed.current().size
        rows = distributed.shard(torch.randint(self.train_codes.shape[0], (n,), generator=self.data_gen))
        rows = rows.to(self.device)
        labels = None if self.train_labels is None else self.train_labels[rows]
        with autocast(self.device):
            loss = self.model.training_loss(
                self.train_codes[rows],
                labels,
                self.noise_gen,
                tokenizer=self.tokenizer,
                mid_stream=bool(index % 2),
            )
        optimizer_step(self.model, self.optimizer, loss, self.optim.grad_clip)
        return {"loss": loss.detach().float()}

    def readout(self) -> dict[str, torch.Tensor]:
        return {}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Held-out loss with a fixed generator (the same noise every time, so values compare
        over steps), as the prior's figures (`loss_metrics`)."""
        gen = torch.Generator(device=self.val_codes.device).manual_seed(self.validation_seed)
        total, n = 0.0, 0
        with eval_mode(self.model):
            for i in range(0, self.val_codes.shape[0], 128):
                codes = self.val_codes[i : i + 128]
                labels = None if self.val_labels is None else self.val_labels[i : i + 128]
                loss = self.model.training_loss(codes, labels, gen, tokenizer=self.tokenizer)
                total += float(loss) * codes.shape[0]
                n += codes.shape[0]
        self._held_out_loss = total / max(n, 1)
        return self.model.loss_metrics(self._held_out_loss)

    def held_out_loss(self, metrics: Mapping[str, float]) -> float | None:
        """The mean held-out training loss of the last validation (each prior names its figures
        differently: `val_mse`, `val_nll`...)."""
        return self._held_out_loss

    def write_best(self, step: int, loss: float) -> None:
        """`prior.best.safetensors`, with the tokenizer step whose codes it learned."""
        save_prior(
            self.project.prior_best_path,
            self.model,
            step,
            self.label_names,
            self.label_counts.tolist(),
            owner=self.project.path,
            extra={"held_out_loss": float(loss), "tokenizer_step": self.tokenizer_step},
        )

    @torch.no_grad()
    def preview(self, step: int) -> SamplePreview:
        """One window sampled from the prior as it stands (its preview options: few steps)."""
        gen = torch.Generator(device=self.device).manual_seed(step)  # samplers draw on the model's device
        n_labels = self.model.config.n_labels
        label = step % n_labels if n_labels else None
        labels = torch.tensor([label if label is not None else n_labels])
        length = self.tokenizer.cfg.latent_length
        with eval_mode(self.model):
            z = run_to_end(
                iter_sample(self.model, self.tokenizer, length, labels, gen, self.model.preview_options)
            )
        x = decode_latents(self.tokenizer, z, self.prepared.window)[0].cpu().numpy()
        return SamplePreview(
            step=step,
            rate=self.prepared.rate,
            labels=tuple(self.prepared.labels),
            units=tuple(self.prepared.units),
            samples=self.prepared.physical(x),
            label=self.label_names[label] if label is not None else None,
        )

    def write_weights(self, step: int) -> None:
        save_prior(
            self.project.prior_path,
            self.model,
            step,
            self.label_names,
            self.label_counts.tolist(),
            owner=self.project.path,
        )

    def progress_fields(self) -> dict[str, Any]:
        return {
            "kind": self.model.config.kind,
            "config": to_dict(self.model.config),
            "labels": {"names": self.label_names, "train_counts": self.label_counts.tolist()},
        }
