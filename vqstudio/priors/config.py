"""Configuration of the stage-2 priors as frozen, JSON-serialisable dataclasses, and size presets.

A prior's config travels with its weights (in the safetensors metadata and in project.json), so a
saved prior can always be rebuilt without guessing. Shapes that come from the data (latent size,
codebook size, segment length, label names) are filled in by training, not by the user.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

from vqstudio.errors import CheckpointError
from vqstudio.priors.registry import PRIOR_NAMES, PRIORS

__all__ = [
    "DEFAULT_GUIDANCE",
    "DEFAULT_STEPS",
    "LIMITS",
    "MAX_WEIGHTS",
    "SAMPLER_NAMES",
    "AutoregressiveConfig",
    "DiffusionConfig",
    "PriorConfig",
    "SampleOptions",
    "Steps",
    "config_from_dict",
    "config_from_json",
    "preset",
    "to_dict",
]

# DPM-Solver++(2M) steps per diffusion segment. Measured (bench/sampler_steps.py, the 8-minute
# projects of bench/realism.py, 2 cores): ECG a103l PSD distance 8.2 / 6.5 / 6.4 / 6.1 / 6.0 dB at
# 5 / 10 / 20 / 40 / 80 steps with the beats unchanged from 10 on (97 a minute), at 73 / 67 / 41 /
# 27 / 18x real time; 19-channel EEG the same 2.25 dB from 10 to 80. 20 keeps the speed.
DEFAULT_STEPS = 20
# Classifier-free guidance scale of a conditional diffusion prior. Measured (bench/guidance.py, an
# 8-minute project of 3 eegmat subjects, one label each, 2 seeds): the share of generated windows a
# classifier of the real training windows gives their own label was 0.33 / 0.68 / 0.71 / 0.80 /
# 0.81 at guidance 0 / 1 / 2 / 3 / 4 (seed 1: - / 0.59 / 0.67 / 0.71 / 0.75), while the PSD distance
# to held-out real rose by 0.01-0.04 dB from 2 to 3 and 0.1 dB from 3 to 4.
DEFAULT_GUIDANCE = 3.0
# Noise-schedule shift of a new diffusion prior. Measured (bench/prior_ablation.py, ECG a103l,
# 3 min of prior training on 2 cores): shift 4 drew 78 beats/min against 66 unshifted (real:
# 127) and a PSD distance of 6.9 dB against 7.8 dB; shift 8 gave no more.
NEW_DIFFUSION_SHIFT = 4.0
SAMPLER_NAMES = ("dpm++2m", "ddim")  # the keys of `samplers.SAMPLERS`; the first is the default

# Bounds (lowest, highest) of the whole-number settings of a prior. The highest lie far above every
# preset (large: width 384, depth 8, heads 8) and every tokenizer (the same bounds as
# `vqstudio.models.tokenizer.LIMITS`: latent_dim 8,192, 2**20 codes, 256 levels, windows of 2**30
# samples), and low enough that a damaged or hand-edited config is refused, naming the setting,
# before a module is built.
LIMITS: dict[str, tuple[int, int]] = {
    "latent_dim": (1, 8192),
    "seg_len": (2, 2**30),
    "codebook_size": (2, 2**20),
    "n_quantizers": (1, 256),
    "context": (2, 2**30),
    "width": (1, 8192),
    "depth": (1, 256),
    "heads": (1, 1024),
    "n_labels": (0, 100_000),  # label names come from annotations or file names
    "patch": (1, 2**30),
}
MAX_MLP_RATIO = 64.0  # the MLP's width over the model's (presets: 3 or 4)
# Weights and buffers a prior may hold in all (4 GiB of float32): 48 times the large preset
# (a diffusion prior over 128 latent dimensions: 22 M), so only a damaged config meets it.
MAX_WEIGHTS = 2**30


def _check_whole(name: str, value: Any) -> None:
    """`ValueError` naming the setting unless `value` is a whole number within `LIMITS`."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"prior setting {name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"prior setting {name} must be between {low} and {high:,}, got {value:,}")


def _check_real(name: str, value: Any, low: float, high: float) -> None:
    """`ValueError` naming the setting unless `value` is a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"prior setting {name} must be a number from {low:g} to {high:g}, got {value!r}")


def _check_common(config: Any) -> None:
    """The bounds every prior's config shares: its whole numbers, its MLP ratio, its label dropout."""
    for f in dataclasses.fields(config):
        if f.name in LIMITS:
            _check_whole(f.name, getattr(config, f.name))
    _check_real("mlp_ratio", config.mlp_ratio, 0.0, MAX_MLP_RATIO)
    _check_real("label_dropout", config.label_dropout, 0.0, 1.0)
    if config.width % config.heads:
        raise ValueError(f"width {config.width} must be a multiple of heads {config.heads}")


def _check_size(config: Any) -> None:
    """Refuses settings each within its limit that together make a prior too large to build."""
    count = config.weight_count()
    if count > MAX_WEIGHTS:
        raise ValueError(
            f"prior settings describe {count:,} weights, more than the {MAX_WEIGHTS:,} a prior may have "
            "(width, depth, mlp_ratio and the codebook set its size)"
        )


def _linear(inputs: int, outputs: int) -> int:
    """Weights and biases of a linear layer."""
    return inputs * outputs + outputs


def _blocks(config: Any, per_block_extra: int) -> int:
    """Values of `depth` transformer blocks: attention (qkv, proj), MLP, plus `per_block_extra`."""
    w = config.width
    hidden = int(w * config.mlp_ratio)
    block = _linear(w, 3 * w) + _linear(w, w) + _linear(w, hidden) + _linear(hidden, w) + per_block_extra
    return config.depth * block


# A sampling job: yields (done, total) as it goes, returns its result (a torch tensor).
Steps = Generator[tuple[int, int], None, Any]


@dataclass(frozen=True)
class SampleOptions:
    """How a prior samples; each prior reads the options that apply to it."""

    steps: int = DEFAULT_STEPS  # diffusion: sampler steps per segment
    guidance: float = 1.0  # classifier-free guidance scale (1: none)
    sampler: str = SAMPLER_NAMES[0]  # diffusion
    temperature: float = 1.0  # autoregressive
    top_k: int | None = None  # autoregressive


@dataclass(frozen=True)
class DiffusionConfig:
    """A latent diffusion prior: a 1D transformer denoiser (adaLN-Zero) over `(B, latent_dim, L)`.

    `seg_len` is the number of latent steps the denoiser sees at once (one training window's
    latents); longer recordings are made of overlapping segments (see `continuation`).
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
    kind: str = "diffusion"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.prediction not in ("v", "eps"):
            raise ValueError(f"prediction must be 'v' or 'eps', not {self.prediction!r}")
        if self.seg_len % self.patch:
            raise ValueError(f"patch {self.patch} must divide seg_len {self.seg_len}")
        _check_real("prefix_prob", self.prefix_prob, 0.0, 1.0)
        if isinstance(self.shift, bool) or not isinstance(self.shift, numbers.Real):
            raise ValueError(f"shift must be a number, not {self.shift!r}")
        if not (self.shift > 0 and math.isfinite(self.shift)):
            raise ValueError(f"shift must be positive, not {self.shift}")
        _check_size(self)

    def weight_count(self) -> int:
        """The number of values in the denoiser's state dict (`diffusion.DiffusionDenoiser`),
        computed without building it, so a config is measured before it allocates."""
        d, w, p = self.latent_dim, self.width, self.patch
        count = 2 * d  # latent_mean, latent_std
        count += (2 * d + 1) * w * (p + 2) + w  # the strided convolution in
        count += 2 * _linear(w, w)  # the time embedding
        count += (self.n_labels + 1) * w if self.n_labels else 0
        count += _blocks(self, _linear(w, 6 * w))  # each block's adaLN modulation
        return count + _linear(w, 2 * w) + _linear(w, d * p)

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> DiffusionConfig:
        """A denoiser over one window of the tokenizer's latents; tokens of 2 latent steps
        when the window is long enough to halve; today's noise-schedule shift."""
        length = tokenizer_cfg.latent_length
        patch = 2 if length % 2 == 0 and length >= 16 else 1
        return cls(
            latent_dim=tokenizer_cfg.latent_dim,
            seg_len=length,
            n_labels=n_labels,
            patch=patch,
            shift=NEW_DIFFUSION_SHIFT,
            **dims,
        )

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        """(this prior's, the tokenizer's) latent size when they differ, else None."""
        have, want = self.latent_dim, tokenizer_cfg.latent_dim
        return None if have == want else (have, want)


@dataclass(frozen=True)
class AutoregressiveConfig:
    """A causal transformer over code indices `(B, Q, L)`: one token per latent step.

    The Q codebook indices of one step are summed as embeddings on the way in; on the way out,
    level q is predicted from the hidden state plus the embeddings of levels < q of the same
    step, so residual codebooks stay dependent within a step at almost no cost.
    """

    codebook_size: int
    n_quantizers: int
    context: int  # tokens of history attended to (the sliding window when generating longer)
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    n_labels: int = 0
    label_dropout: float = 0.1
    kind: str = "autoregressive"

    def __post_init__(self) -> None:
        _check_common(self)
        _check_size(self)

    def weight_count(self) -> int:
        """The number of values in the model's state dict (`autoregressive.AutoregressivePrior`),
        computed without building it, so a config is measured before it allocates."""
        k, q, w = self.codebook_size, self.n_quantizers, self.width
        count = 2 * q * k * w + w  # code embeddings in and within a step, the start token
        count += (self.n_labels + 1) * w if self.n_labels else 0
        count += _blocks(self, 4 * w)  # each block's two layer norms
        return count + 4 * w + _linear(w, k) + q * w  # final and head norms, head, level embeddings

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> AutoregressiveConfig:
        """A transformer over the tokenizer's codes, attending to one window of latent steps."""
        return cls(
            codebook_size=tokenizer_cfg.codebook_size,
            n_quantizers=tokenizer_cfg.n_quantizers,
            context=tokenizer_cfg.latent_length,
            n_labels=n_labels,
            **dims,
        )

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        """(this prior's, the tokenizer's) codebook shape when they differ, else None."""
        have = (self.codebook_size, self.n_quantizers)
        want = (tokenizer_cfg.codebook_size, tokenizer_cfg.n_quantizers)
        return None if have == want else (have, want)


class PriorConfig(Protocol):
    """What every prior's config has (see `registry`): its kind, its labels, and how it is made
    for, and checked against, a tokenizer."""

    kind: str
    n_labels: int

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> PriorConfig: ...

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None: ...


# Model sizes by name; "tiny" is for tests. Width/depth/heads only: shapes come from the data.
# "small" (the CPU default) is sized so sampling runs at about 100x real time on 2 cores.
_PRESETS: dict[str, dict[str, float]] = {
    "tiny": {"width": 32, "depth": 2, "heads": 2, "mlp_ratio": 4.0},
    "small": {"width": 96, "depth": 4, "heads": 4, "mlp_ratio": 3.0},
    "medium": {"width": 256, "depth": 6, "heads": 8, "mlp_ratio": 4.0},
    "large": {"width": 384, "depth": 8, "heads": 8, "mlp_ratio": 4.0},
}


# Where one kind of prior is better served by other dimensions, by measurement. The diffusion
# prior in a CPU budget: 3 blocks take 1,300 steps in 3 minutes where 4 take 1,000, and drew
# 94 beats/min against 88 (real: 127), PSD distance 5.7 against 6.9 dB (bench/prior_ablation.py,
# ECG a103l); 2 blocks drew more beats still (102) but a worse spectrum (6.9 dB).
_KIND_PRESETS: dict[tuple[str, str], dict[str, float]] = {("diffusion", "small"): {"depth": 3}}


def preset(name: str, kind: str | None = None) -> dict[str, float]:
    """Width, depth, heads and MLP ratio of a named size preset (for a prior `kind`)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown prior preset {name!r}; choose from {', '.join(_PRESETS)}")
    return _PRESETS[name] | _KIND_PRESETS.get((kind or "", name), {})


def config_from_dict(data: dict[str, Any]) -> PriorConfig:
    """Rebuilds a config from its dict (as stored in JSON); unknown keys and settings beyond their
    limits are refused (`CheckpointError`)."""
    if not isinstance(data, dict):
        raise CheckpointError(f"prior config is not a JSON object but {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in PRIORS:
        raise CheckpointError(f"prior config has unknown kind {kind!r}; expected one of {PRIOR_NAMES}")
    cls = PRIORS[kind].config
    names = {f.name for f in dataclasses.fields(cls)}
    extra = set(data) - names
    if extra:
        raise CheckpointError(f"prior config has unknown fields {sorted(extra)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"prior config is invalid: {e}") from e


def config_from_json(text: str) -> PriorConfig:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"prior config is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError("prior config is not a JSON object")
    return config_from_dict(data)


def to_dict(config: PriorConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
