"""The priors VQ Studio knows: one table, read by the CLI, the GUI, the settings, config loading,
`build_prior` and generation.

Each entry names a prior's config dataclass and its model class as "module:Class", imported on
first use, so this table (and the `--prior` choices built from it) never loads torch.

Adding a prior: write one module with its config and its `nn.Module` (the model exposes
`training_loss(codes, labels, generator, *, tokenizer, mid_stream)`, `prepare_training`,
`loss_metrics`, `sample_steps` and `to_latents` (which `continuation.iter_sample` runs), and the
attributes `preview_options`, `default_guidance`, `sample_in_bf16`; see
`diffusion.DiffusionDenoiser`), then add one line below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["PRIORS", "PRIOR_NAMES", "PriorKind", "prior_kind"]


@dataclass(frozen=True)
class PriorKind:
    """One prior: its name (`--prior NAME`, `kind` in its config), a title for the GUI, and
    where its config and model classes live."""

    name: str
    title: str
    config_path: str  # "module:Class"
    model_path: str  # "module:Class"

    @property
    def config(self) -> type:
        return _load(self.config_path)

    @property
    def model(self) -> type:
        return _load(self.model_path)


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


PRIORS: dict[str, PriorKind] = {
    k.name: k
    for k in (
        PriorKind(
            "diffusion",
            "latent diffusion",
            "vqstudio.priors.config:DiffusionConfig",
            "vqstudio.priors.diffusion:DiffusionDenoiser",
        ),
        PriorKind(
            "autoregressive",
            "autoregressive",
            "vqstudio.priors.config:AutoregressiveConfig",
            "vqstudio.priors.autoregressive:AutoregressivePrior",
        ),
    )
}
PRIOR_NAMES = tuple(PRIORS)  # the first is the default


def prior_kind(name: str) -> PriorKind:
    """The registry entry of prior `name`; `ValueError` naming the known ones otherwise."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIOR_NAMES)}")
    return PRIORS[name]
