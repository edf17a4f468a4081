"""Building, saving and loading a prior: `prior.safetensors` carries its config and label table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from vqstudio.errors import CheckpointError, ProjectError
from vqstudio.priors.config import PriorConfig, config_from_dict, to_dict
from vqstudio.priors.registry import prior_kind
from vqstudio.project.checkpoint import load_weights, save_weights

__all__ = ["KIND", "LoadedPrior", "build_prior", "check_prior_fits", "load_prior", "save_prior"]

KIND = "prior"


@dataclass
class LoadedPrior:
    """A trained prior ready to sample: the module (eval mode) and what training knew."""

    model: torch.nn.Module
    config: PriorConfig
    step: int
    label_names: list[str] = field(default_factory=list)
    label_counts: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def conditional(self) -> bool:
        return self.config.n_labels > 0


def build_prior(config: PriorConfig) -> torch.nn.Module:
    """A fresh prior module for `config` (the registry's model class of `config.kind`)."""
    return prior_kind(config.kind).model(config)


def check_prior_fits(config: PriorConfig, tokenizer_cfg: Any, name: str) -> None:
    """Refuses (`CheckpointError`) a prior whose shapes are not those of the project's tokenizer
    (a file copied from another project), before sampling meets the mismatch."""
    mismatch = config.mismatch(tokenizer_cfg)
    if mismatch is not None:
        have, want = mismatch
        raise CheckpointError(
            f"{name} was trained on another tokenizer's codes ({have}, this project's tokenizer has "
            f"{want}); it belongs to another project"
        )


def save_prior(
    path: str,
    model: torch.nn.Module,
    step: int,
    label_names: list[str],
    label_counts: list[int],
    *,
    owner: str | None = None,
) -> None:
    """Writes the prior's weights with its config, step and label table (atomic; `owner`: the
    project folder it belongs to)."""
    config: PriorConfig = model.config  # type: ignore[assignment]
    extra = {"label_names": list(label_names), "label_counts": [int(c) for c in label_counts]}
    save_weights(path, model.state_dict(), KIND, to_dict(config), step, extra, owner=owner)


def load_prior(path: str, device: torch.device | str = "cpu") -> LoadedPrior:
    """The prior saved at `path`, checked, in eval mode on `device`; never unpickles."""
    if not os.path.isfile(path):
        raise ProjectError(
            f"{os.path.dirname(path) or '.'} has no trained prior ({os.path.basename(path)} is missing); "
            "train one with: vqstudio train FILE... --project DIR --resume --prior-steps N"
        )
    tensors, info = load_weights(path, kind=KIND)
    config = config_from_dict(info["config"])
    model = build_prior(config)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"{os.path.basename(path)} does not match its configuration: {e}") from e
    extra: dict[str, Any] = info.get("extra", {})
    names = [str(n) for n in extra.get("label_names", [])]
    counts = [int(c) for c in extra.get("label_counts", [])]
    if config.n_labels and (len(names) != config.n_labels or len(counts) != config.n_labels):
        raise CheckpointError(
            f"{os.path.basename(path)} is conditional on {config.n_labels} labels "
            f"but stores {len(names)} label names"
        )
    return LoadedPrior(model.to(device).eval(), config, int(info["step"]), names, counts)
