"""The latent diffusion prior, whole: its config, the denoiser (a 1D transformer over latent
sequences conditioned by adaLN-Zero), its loss, and its sampling of any length.

Why a transformer and not a 1D U-Net: a latent sequence is short (one window is 64-256 steps),
so full attention is cheap and sees the whole segment at once, which matters for rhythms
spanning the window; adaLN-Zero (Peebles & Xie, DiT) conditions every block on the timestep
and the label with one small linear layer each and starts every block as the identity, which
trains stably in a few hundred steps.

Input per latent step: the noisy latent x_t, the known latents (zero where unknown) and a 0/1
mask of known steps. Training shows a known prefix half of the time, so the same network
continues a previous segment when generating long recordings: the latent sequence is made of
segments of the denoiser's length, each after the first starting with `overlap` latent steps
copied from the end of the one before, given as known and imposed on every x_0 prediction
(inpainting; `iter_latents`). Latents are normalised per dimension by statistics stored as
buffers, so they travel with the weights.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from vqstudio.events import run_to_end
from vqstudio.priors.config import DEFAULT_GUIDANCE, SampleOptions, Steps
from vqstudio.priors.continuation import default_overlap, sampling_autocast, segment_starts, snap_to_codes
from vqstudio.priors.layers import MLP, sinusoidal
from vqstudio.priors.limits import (
    BLOCK_LIVE,
    block_weights,
    check_real,
    check_size,
    check_transformer,
    latent_rows,
    linear_weights,
)
from vqstudio.priors.noise_schedule import CosineSchedule
from vqstudio.priors.samplers import SAMPLERS

__all__ = ["NEW_DIFFUSION_SHIFT", "DiffusionConfig", "DiffusionDenoiser", "iter_latents", "sample_latents"]


# Noise-schedule shift of a new diffusion prior. Measured (bench/prior_ablation.py, ECG a103l,
# 3 min of prior training on 2 cores): shift 4 drew 78 beats/min against 66 unshifted (real:
# 127) and a PSD distance of 6.9 dB against 7.8 dB; shift 8 gave no more.
NEW_DIFFUSION_SHIFT = 4.0


@dataclass(frozen=True)
class DiffusionConfig:
    """A latent diffusion prior: a 1D transformer denoiser (adaLN-Zero) over `(B, latent_dim, L)`.

    `seg_len` is the number of latent steps the denoiser sees at once (one training window's
    latents); longer recordings are made of overlapping segments (`iter_latents`).
    """

    latent_dim: int
    seg_len: int
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    n_labels: int = 0  # 0: unconditional; otherwise embeddings for n_labels plus one "no label"
    label_dropout: float = 0.15  # classifier-free guidance: how often training hides the label
    prefix_prob: float = 0.5  # how often training shows a known prefix (teaches continuation)
    prediction: str = "v"  # "v" or "eps"
    patch: int = 2  # latent steps per transformer token (DiT patching: half the tokens, ~half the cost)
    # Noise-schedule shift (`noise_schedule.CosineSchedule`); 1 in configs stored before it existed.
    shift: float = 1.0
    # Channels of a per-channel codec whose latents these are (their rows channel-major,
    # `latent_dim / channels` each); 0: one output layer for all rows (a shared tokenizer, and
    # every config stored before this existed). See `_ChannelHead`.
    channels: int = 0
    # Whether sampled latents are moved to their nearest codes before decoding (`to_latents`).
    # Over a residual-VQ codec they are not: its last levels carry texture finer than the prior
    # places, and snapping imprecise latents there added broadband noise (EEG, 1,500 steps:
    # PSD distance 3.56 dB snapped against 2.62 dB as sampled; 30-45 Hz +5.4 against +2.4 dB).
    snap: bool = True
    kind: str = "diffusion"

    # The size presets for a diffusion prior, by measurement. In a CPU budget 3 blocks take 1,300
    # steps in 3 minutes where 4 take 1,000, and drew 94 beats/min against 88 (real: 127), PSD
    # distance 5.7 against 6.9 dB (bench/prior_ablation.py, ECG a103l); 2 blocks drew more beats
    # still (102) but a worse spectrum (6.9 dB).
    preset_changes: ClassVar[dict[str, dict[str, float]]] = {"small": {"depth": 3}}

    def __post_init__(self) -> None:
        check_transformer(self)
        if self.prediction not in ("v", "eps"):
            raise ValueError(f"prediction must be 'v' or 'eps', not {self.prediction!r}")
        if self.seg_len % self.patch:
            raise ValueError(f"patch {self.patch} must divide seg_len {self.seg_len}")
        check_real("prefix_prob", self.prefix_prob, 0.0, 1.0)
        if not isinstance(self.snap, bool):
            raise ValueError(f"snap must be true or false, not {self.snap!r}")
        if isinstance(self.shift, bool) or not isinstance(self.shift, numbers.Real):
            raise ValueError(f"shift must be a number, not {self.shift!r}")
        if not (self.shift > 0 and math.isfinite(self.shift)):
            raise ValueError(f"shift must be positive, not {self.shift}")
        if self.channels and self.latent_dim % self.channels:
            raise ValueError(f"{self.channels} channels do not divide latent_dim {self.latent_dim}")
        check_size(self)

    @property
    def head_width(self) -> int:
        """Hidden units of the per-channel head (`_ChannelHead`): half the width, so the head
        run once per channel and token costs about what one more block costs."""
        return max(1, self.width // 2)

    def weight_count(self) -> int:
        """The number of values in the denoiser's state dict (`DiffusionDenoiser`), computed
        without building it, so a config is measured before it allocates."""
        d, w, p = self.latent_dim, self.width, self.patch
        count = 2 * d  # latent_mean, latent_std
        count += (2 * d + 1) * w * (p + 2) + w  # the strided convolution in
        count += 2 * linear_weights(w, w)  # the time embedding
        count += (self.n_labels + 1) * w if self.n_labels else 0
        count += block_weights(self, linear_weights(w, 6 * w))  # each block's adaLN modulation
        count += linear_weights(w, 2 * w)  # the final modulation
        if not self.channels:
            return count + linear_weights(w, d * p)
        r, hw = d // self.channels, self.head_width
        count += linear_weights(w, hw) + self.channels * hw + linear_weights((2 * r + 1) * (p + 2), hw)
        return count + linear_weights(hw, hw) + linear_weights(hw, r * (p + 2))

    def sampling_floats(self, guided: bool) -> float:
        """Working memory of sampling one segment: one block's activations and attention over
        the segment's tokens, and the solver's tensors (x_t, predictions, history, known part);
        twice with guidance (conditional and unconditional rows)."""
        tokens = math.ceil(self.seg_len / self.patch)
        block = tokens * self.width * (BLOCK_LIVE + self.mlp_ratio) + self.heads * tokens * tokens
        solver = 8 * self.latent_dim * self.seg_len
        return (2 if guided else 1) * (block + solver)

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> DiffusionConfig:
        """A denoiser over one window of the tokenizer's latents (all channels' rows of a
        per-channel codec: `latent_rows`, with a head per channel); tokens of 2 latent steps when
        the window is long enough to halve; today's noise-schedule shift."""
        length = tokenizer_cfg.latent_length
        patch = 2 if length % 2 == 0 and length >= 16 else 1
        per_channel = bool(getattr(tokenizer_cfg, "per_channel", False))
        return cls(
            latent_dim=latent_rows(tokenizer_cfg),
            seg_len=length,
            n_labels=n_labels,
            patch=patch,
            shift=NEW_DIFFUSION_SHIFT,
            channels=int(tokenizer_cfg.channels) if per_channel else 0,
            snap=not per_channel,
            **dims,
        )

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        """(this prior's, the tokenizer's) latent size when they differ, else None."""
        have, want = self.latent_dim, latent_rows(tokenizer_cfg)
        return None if have == want else (have, want)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class _Block(nn.Module):
    """Pre-norm attention + MLP, each modulated (shift, scale, gate) by the conditioning vector."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(width, int(width * mlp_ratio))
        self.ada = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.ada.weight)  # adaLN-Zero: each block starts as the identity
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(F.silu(c)).chunk(6, dim=-1)
        h = _modulate(self.norm1(x), sh1, sc1)
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, w)
        x = x + g1[:, None, :] * self.proj(a)
        return x + g2[:, None, :] * self.mlp(_modulate(self.norm2(x), sh2, sc2))


class _ChannelHead(nn.Module):
    """The output of a denoiser over a per-channel codec's latents: each channel's rows of a
    token from the token's state, the channel's embedding, and the channel's own noisy and known
    latents over the token and one step either side.

    Why: one linear layer from a token of `width` values to all C x rows x patch outputs (320
    for 20 EEG channels) is low rank, so the rows it cannot express keep their noise, and the
    decoded recording came out too loud (band power 166 % of real, issue 20). Here the token's
    state carries what channels share (rhythm, cross-channel structure) and each channel's own
    path carries what is its alone, the same weights for every channel.
    """

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        c, p, hw = config.channels, config.patch, config.head_width
        self.channels, self.rows, self.patch = c, config.latent_dim // c, p
        self.from_token = nn.Linear(config.width, hw)
        self.channel = nn.Parameter(torch.randn(c, hw) * 0.02)
        self.local = nn.Linear((2 * self.rows + 1) * (p + 2), hw)
        self.hidden = nn.Linear(hw, hw)
        self.out = nn.Linear(hw, self.rows * (p + 2))
        nn.init.zeros_(self.out.weight)  # starts at zero, as the shared output layer does
        nn.init.zeros_(self.out.bias)

    def forward(
        self, h: torch.Tensor, x_t: torch.Tensor, known: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """`(B, D, L)` from token states `h` `(B, L/p, width)` and the latents the denoiser was given."""
        b, n, _ = h.shape
        c, r, p = self.channels, self.rows, self.patch
        length = x_t.shape[-1]
        own = torch.cat(
            [
                x_t.reshape(b, c, r, length),
                (known * mask).reshape(b, c, r, length),
                mask.reshape(b, 1, 1, length).expand(b, c, 1, length),
            ],
            dim=2,
        )
        # Each token's steps and one more on each side, as the input convolution sees them: a
        # head blind past its own token denoised each token apart, and tokens met with a step
        # (1.7x the signal's jump at other joins on a smooth toy recording, tests).
        own = F.pad(own, (1, 1)).unfold(-1, p + 2, p)  # (B, C, 2r+1, n, p+2)
        own = own.permute(0, 3, 1, 2, 4).reshape(b, n, c, (2 * r + 1) * (p + 2))
        z = F.silu(self.from_token(h)[:, :, None, :] + self.channel + self.local(own.to(h.dtype)))
        out = self.out(F.silu(self.hidden(z)))  # (B, n, C, r*(p+2))
        # Overlap-add, the transpose of the unfold above: each token writes its steps and one
        # either side, so neighbouring tokens share their border steps.
        out = out.view(b, n, c * r, p + 2).permute(0, 2, 3, 1).reshape(b, c * r * (p + 2), n)
        out = F.fold(out, (1, length + 2), (1, p + 2), stride=(1, p))  # (B, C*r, 1, L+2)
        return out[:, :, 0, 1:-1]


class DiffusionDenoiser(nn.Module):
    """Predicts v (or eps) for noisy normalised latents `(B, D, L)` at times `t` `(B,)`."""

    preview_options = SampleOptions(steps=10, guidance=1.5)  # a preview, not an output: few steps
    default_guidance = DEFAULT_GUIDANCE  # when a conditional prior samples without --guidance
    sample_in_bf16 = False  # autocast serves: each segment is a few large batched calls

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        d, w = config.latent_dim, config.width
        self.register_buffer("latent_mean", torch.zeros(d))
        self.register_buffer("latent_std", torch.ones(d))
        # A strided convolution in: one token per `patch` latent steps, and each token starts
        # out knowing its neighbours, which attention alone learns slowly in a short run.
        p = config.patch
        self.inp = nn.Conv1d(2 * d + 1, w, p + 2, stride=p, padding=1)
        self.time = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.label = nn.Embedding(config.n_labels + 1, w) if config.n_labels else None
        self.blocks = nn.ModuleList(_Block(w, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(w, 2 * w)
        nn.init.zeros_(self.final_ada.weight)
        nn.init.zeros_(self.final_ada.bias)
        if config.channels:
            self.head = _ChannelHead(config)
        else:
            self.out = nn.Linear(w, d * p)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    @property
    def null_label(self) -> int:
        """The label index meaning "no label" (unconditional)."""
        return self.config.n_labels

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean[None, :, None]) / self.latent_std[None, :, None]

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std[None, :, None] + self.latent_mean[None, :, None]

    @property
    def schedule(self) -> CosineSchedule:
        """The noise schedule the denoiser is trained and sampled with (not a model: no weights)."""
        return CosineSchedule(prediction=self.config.prediction, shift=self.config.shift)

    @torch.no_grad()
    def set_latent_stats(self, latents: torch.Tensor | Iterable[torch.Tensor]) -> None:
        """Per-dimension mean and std of training latents `(N, D, L)` (one tensor, or batches of
        them: all latents at once can be large), kept with the weights as buffers."""
        batches = [latents] if isinstance(latents, torch.Tensor) else latents
        sums = torch.zeros(2, self.config.latent_dim, dtype=torch.float64, device=self.latent_mean.device)
        count = 0
        for z in batches:  # float64 sums: millions of values, one pass
            z = z.double()
            sums += torch.stack([z.sum(dim=(0, 2)), (z**2).sum(dim=(0, 2))])
            count += z.shape[0] * z.shape[2]
        mean = sums[0] / count
        std = (sums[1] / count - mean**2).clamp_min(0).sqrt()
        self.latent_mean.copy_(mean.float())
        self.latent_std.copy_(std.float().clamp_min(1e-4))

    def prepare_training(self, tokenizer: nn.Module, codes: torch.Tensor, batch: int = 256) -> None:
        """Before a new prior's first step: the latent statistics of the training codes."""
        self.set_latent_stats(
            tokenizer.codes_to_latents(codes[i : i + batch]) for i in range(0, len(codes), batch)
        )

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Model output `(B, D, L)`; `labels` `(B,)` (null_label for none), `mask` `(B, 1, L)`."""
        b, d, n = x_t.shape
        p = self.config.patch
        if n % p:
            raise ValueError(f"latent length {n} is not a multiple of the patch size {p}")
        if known is None or mask is None:
            known = torch.zeros_like(x_t)
            mask = x_t.new_zeros(b, 1, n)
        h = self.inp(torch.cat([x_t, known * mask, mask], dim=1)).transpose(1, 2)
        h = h + sinusoidal(torch.arange(n // p, device=x_t.device), h.shape[-1]).to(h.dtype)[None]
        c = self.time(sinusoidal(t * 1000.0, h.shape[-1]).to(h.dtype))
        if self.label is not None:
            if labels is None:
                labels = torch.full((b,), self.null_label, device=x_t.device, dtype=torch.long)
            c = c + self.label(labels)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_ada(F.silu(c)).chunk(2, dim=-1)
        h = _modulate(self.norm(h), shift, scale)
        if self.config.channels:
            return self.head(h, x_t, known, mask)
        out = self.out(h)  # (B, n/p, p*D)
        return out.view(b, n // p, p, d).permute(0, 3, 1, 2).reshape(b, d, n)

    def training_loss(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        *,
        tokenizer: nn.Module,
        mid_stream: bool = False,
    ) -> torch.Tensor:
        """The loss of a batch of code indices `(B, Q, L)` (every prior has this signature).

        The codes become normalised latents through the frozen tokenizer's codebook. `mid_stream`
        changes nothing here: any segment may be shown a known prefix (`prefix_prob`).
        """
        with torch.no_grad():
            x0 = self.normalize(tokenizer.codes_to_latents(codes).float())
        return self.denoising_loss(x0, labels, generator)

    def loss_metrics(self, mean_loss: float) -> dict[str, float]:
        """The held-out figures of a mean `training_loss`."""
        return {"val_mse": mean_loss}

    def sample_steps(
        self, length: int, labels: torch.Tensor, gen: torch.Generator, opts: SampleOptions
    ) -> Steps:
        """Latents `(B, D, length)`, one row per label; yields (segments done, segments)."""
        return iter_latents(self, length, labels, opts.steps, opts.guidance, gen, opts.sampler)

    def to_latents(self, tokenizer: nn.Module, sampled: torch.Tensor) -> torch.Tensor:
        """Sampled latents moved to their nearest codes (what the decoder was trained on), or as
        sampled where the config says not to snap (`DiffusionConfig.snap`)."""
        return snap_to_codes(tokenizer, sampled) if self.config.snap else sampled

    def denoising_loss(
        self, x0: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator
    ) -> torch.Tensor:
        """Mean squared error of the prediction on normalised latents `x0` `(B, D, L)`.

        With probability `prefix_prob` a random prefix is shown as known and left out of the
        loss (continuation); labels are hidden with probability `label_dropout` (guidance).
        """
        b, _, n = x0.shape
        dev = x0.device
        schedule = self.schedule
        t = schedule.sample_times(b, generator, dev)
        noise = torch.randn(x0.shape, generator=generator, device=dev)
        x_t = schedule.add_noise(x0, noise, t)
        lengths = torch.randint(1, max(2, n // 2 + 1), (b,), generator=generator, device=dev)
        show = torch.rand(b, generator=generator, device=dev) < self.config.prefix_prob
        lengths = torch.where(show, lengths, torch.zeros_like(lengths))
        mask = (torch.arange(n, device=dev)[None, :] < lengths[:, None]).to(x0.dtype)[:, None, :]
        if labels is not None and self.label is not None:
            drop = torch.rand(b, generator=generator, device=dev) < self.config.label_dropout
            labels = torch.where(drop, torch.full_like(labels, self.null_label), labels)
        out = self(x_t, t, labels, x0, mask)
        err = (out.float() - schedule.target(x0, noise, t)) ** 2
        weight = 1.0 - mask
        return (err * weight).sum() / (weight.sum() * x0.shape[1]).clamp_min(1.0)


def iter_latents(
    model: DiffusionDenoiser,
    length: int,
    labels: torch.Tensor | None,
    steps: int,
    guidance: float,
    generator: torch.Generator,
    sampler: str = "dpm++2m",
    overlap: int | None = None,
) -> Steps:
    """Latents `(B, D, length)` (denormalised, not yet snapped), one row per entry of `labels`,
    made of overlapping segments (`continuation.segment_starts`).

    `labels` holds label indices, `model.null_label` for unconditional rows; `guidance` > 1
    pushes conditional rows away from the unconditional prediction (classifier-free guidance).
    A generator: yields (segments done, segments) after each segment, returns the latents.
    """
    if labels is None:
        raise ValueError("labels must be given (null labels for unconditional sampling)")
    cfg = model.config
    device = model.latent_mean.device
    b, d, seg = labels.shape[0], cfg.latent_dim, cfg.seg_len
    overlap = default_overlap(seg) if overlap is None else overlap
    if not 0 < overlap < seg:
        raise ValueError(f"overlap {overlap} must lie between 1 and {seg - 1}")
    schedule = model.schedule
    run = SAMPLERS[sampler]
    labels = labels.to(device)
    guided = model.label is not None and guidance != 1.0 and bool((labels != model.null_label).any())
    nulls = torch.full_like(labels, model.null_label)

    starts = segment_starts(length, seg, overlap)
    n_segments = len(starts)
    out = torch.empty(b, d, max(length, starts[-1] + seg), device=device)
    known = torch.zeros(b, d, seg, device=device)
    mask = torch.zeros(1, 1, seg, device=device)
    for i, start in enumerate(starts):
        if i:
            known[:, :, :overlap] = out[:, :, start : start + overlap]
            mask[:, :, :overlap] = 1.0
        k_in, m_in = (known, mask.expand(b, 1, seg)) if i else (None, None)

        def denoise(x_t: torch.Tensor, t: torch.Tensor, k=k_in, m=m_in) -> torch.Tensor:
            with sampling_autocast(device):
                if not guided:
                    return model(x_t, t, labels, k, m).float()
                both = model(
                    torch.cat([x_t, x_t]),
                    torch.cat([t, t]),
                    torch.cat([labels, nulls]),
                    None if k is None else torch.cat([k, k]),
                    None if m is None else torch.cat([m, m]),
                )
            cond, uncond = both.float().chunk(2)
            return uncond + guidance * (cond - uncond)

        with torch.no_grad():
            x0 = run(denoise, schedule, (b, d, seg), steps, generator, device, k_in, m_in)
        out[:, :, start : start + seg] = x0
        yield i + 1, n_segments
    return model.denormalize(out[:, :, :length])


def sample_latents(*args: Any, **kwargs: Any) -> torch.Tensor:
    """`iter_latents` run to the end."""
    return run_to_end(iter_latents(*args, **kwargs))
