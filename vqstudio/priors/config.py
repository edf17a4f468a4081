"""What every prior shares: how it is asked to sample, the defaults of those options, size
presets, the protocol each prior's config and model follow, and configs rebuilt from JSON.

A prior's config travels with its weights (in the safetensors metadata and in project.json), so a
saved prior can always be rebuilt without guessing: `config_from_dict` finds its class in the
registry by its `kind`. Shapes that come from the data (latent size, codebook size, segment
length, label names) are filled in by training, not by the user. Torch-free: each prior's own
config lives in its module (`diffusion`, `autoregressive`), which imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from vqstudio.errors import CheckpointError
from vqstudio.priors.registry import PRIOR_NAMES, PRIORS

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_GUIDANCE",
    "DEFAULT_STEPS",
    "SAMPLER_NAMES",
    "PriorConfig",
    "PriorModel",
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
SAMPLER_NAMES = ("dpm++2m", "ddim")  # the keys of `samplers.SAMPLERS`; the first is the default

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


class PriorConfig(Protocol):
    """What every prior's config is (see `registry`): a frozen dataclass of JSON values whose
    `kind` is its registry name and whose null label is `n_labels`; made for, and checked
    against, a tokenizer; measured before a module is built from it.

    A class attribute `preset_changes` (size preset name: settings) may adjust the shared size
    presets for this kind of prior (`preset`)."""

    kind: str
    n_labels: int  # 0: unconditional; label index n_labels means "no label"

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> PriorConfig:
        """A new prior's config for the tokenizer's shapes, `n_labels` labels and the size
        preset's `dims` (width, depth, heads, mlp_ratio; a prior may ignore them)."""
        ...

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        """(this prior's, the tokenizer's) shapes when they differ, else None."""
        ...

    def weight_count(self) -> int:
        """The number of values in the model's state dict, computed without building it."""
        ...

    def sampling_floats(self, guided: bool) -> float:
        """Floats of working memory the model holds while sampling one recording (`guided`:
        with classifier-free guidance), on top of the latents; `generation.cost` sizes its
        batches by it."""
        ...


class PriorModel(Protocol):
    """What every prior's model is (an `nn.Module` built from its config alone), as training
    (`training.prior_stage`) and generation (`continuation.iter_sample`) use it."""

    config: PriorConfig
    preview_options: ClassVar[SampleOptions]  # training's sample previews: cheap, not an output
    default_guidance: ClassVar[float]  # when a conditional prior samples without --guidance
    sample_in_bf16: ClassVar[bool]  # generation casts the weights to bf16 on CUDA

    def prepare_training(self, tokenizer: torch.nn.Module, codes: torch.Tensor) -> None:
        """Before a new prior's first step: anything measured once on the training codes
        `(N, Q, L)` (kept with the weights as buffers)."""
        ...

    def training_loss(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        *,
        tokenizer: torch.nn.Module,
        mid_stream: bool = False,
    ) -> torch.Tensor:
        """The loss of a batch of code indices `(B, Q, L)` with label indices `(B,)` (None:
        unconditional); `mid_stream`: the crop starts in the middle of a recording."""
        ...

    def loss_metrics(self, mean_loss: float) -> dict[str, float]:
        """The held-out figures of a mean `training_loss` (names starting 'val_')."""
        ...

    def sample_steps(
        self, length: int, labels: torch.Tensor, generator: torch.Generator, options: SampleOptions
    ) -> Steps:
        """`length` latent steps of whatever the prior samples (latents, codes), one row per
        label (`n_labels` for none); yields (done, total) as it goes."""
        ...

    def to_latents(self, tokenizer: torch.nn.Module, sampled: torch.Tensor) -> torch.Tensor:
        """What `sample_steps` returned as the tokenizer's quantized latents `(B, D, length)`."""
        ...


# Model sizes by name; "tiny" is for tests. Width/depth/heads only: shapes come from the data.
# "small" (the CPU default) is sized so sampling runs at about 100x real time on 2 cores.
_PRESETS: dict[str, dict[str, float]] = {
    "tiny": {"width": 32, "depth": 2, "heads": 2, "mlp_ratio": 4.0},
    "small": {"width": 96, "depth": 4, "heads": 4, "mlp_ratio": 3.0},
    "medium": {"width": 256, "depth": 6, "heads": 8, "mlp_ratio": 4.0},
    "large": {"width": 384, "depth": 8, "heads": 8, "mlp_ratio": 4.0},
}


def preset(name: str, kind: str | None = None) -> dict[str, float]:
    """Width, depth, heads and MLP ratio of a named size preset, with the changes a prior
    `kind` makes to it (its config's `preset_changes`)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown prior preset {name!r}; choose from {', '.join(_PRESETS)}")
    changes = getattr(PRIORS[kind].config, "preset_changes", {}) if kind in PRIORS else {}
    return _PRESETS[name] | changes.get(name, {})


def config_from_dict(data: dict[str, Any]) -> PriorConfig:
    """Rebuilds a config from its dict (as stored in JSON) with the registry's class of its
    `kind`; unknown kinds or keys and settings beyond their limits are refused (`CheckpointError`)."""
    if not isinstance(data, dict):
        raise CheckpointError(f"prior config is not a JSON object but {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in PRIORS:
        raise CheckpointError(f"prior config has unknown kind {kind!r}; expected one of {tuple(PRIOR_NAMES)}")
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
    """`config_from_dict` of a JSON text; text that is not a JSON object is refused (`CheckpointError`)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"prior config is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError("prior config is not a JSON object")
    return config_from_dict(data)


def to_dict(config: PriorConfig) -> dict[str, Any]:
    """The config as a dict of JSON values (what `config_from_dict` reads back)."""
    return dataclasses.asdict(config)  # type: ignore[call-overload]
