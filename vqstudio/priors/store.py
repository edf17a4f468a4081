"""Building, saving and loading a prior: `prior.safetensors` carries its config and label table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from vqstudio.errors import CheckpointError, ProjectError
from vqstudio.priors.config import PriorConfig, config_from_dict, to_dict
from vqstudio.priors.registry import prior_kind
from vqstudio.project.checkpoint import check_weight_count, load_weights, save_weights

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
    extra: dict[str, Any] | None = None,
) -> None:
    """Writes the prior's weights with its config, step and label table (atomic; `owner`: the
    project folder it belongs to; `extra`: more metadata, such as a best checkpoint's loss)."""
    config: PriorConfig = model.config  # type: ignore[assignment]
    extra = {
        **(extra or {}),
        "label_names": list(label_names),
        "label_counts": [int(c) for c in label_counts],
    }
    save_weights(path, model.state_dict(), KIND, to_dict(config), step, extra, owner=owner)


def load_prior(path: str, device: torch.device | str = "cpu") -> LoadedPrior:
    """The prior saved at `path`, checked, in eval mode on `device`; never unpickles.

    Its config is checked against its limits and against the weights the file holds before the
    module is built; its weights must be finite and its label table well formed (`CheckpointError`)."""
    if not os.path.isfile(path):
        raise ProjectError(
            f"{os.path.dirname(path) or '.'} has no trained prior ({os.path.basename(path)} is missing); "
            "train one with: vqstudio train FILE... --project DIR --resume --prior-steps N"
        )
    name = os.path.basename(path)
    tensors, info = load_weights(path, kind=KIND)
    try:
        config = config_from_dict(info["config"])
    except CheckpointError as e:
        raise CheckpointError(f"{name} has a configuration this VQ Studio cannot build: {e}") from e
    check_weight_count(path, config.weight_count())
    model = build_prior(config)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"{name} does not match its configuration: {e}") from e
    names, counts = _label_table(name, info["extra"], config.n_labels)
    return LoadedPrior(model.to(device).eval(), config, int(info["step"]), names, counts)


# Windows a label may count: exact in the float64 weights generation draws labels with.
MAX_LABEL_COUNT = 2**53


def _label_table(name: str, extra: dict[str, Any], n_labels: int) -> tuple[list[str], list[int]]:
    """The label names and training counts stored with a prior, checked (`CheckpointError`)."""
    names = extra.get("label_names", [])
    counts = extra.get("label_counts", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{name} is damaged: its 'label_names' must be a list of names")
    if not isinstance(counts, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_LABEL_COUNT for c in counts
    ):
        raise CheckpointError(
            f"{name} is damaged: its 'label_counts' must be a list of whole numbers of windows (0 or more)"
        )
    if n_labels and (len(names) != n_labels or len(counts) != n_labels):
        raise CheckpointError(
            f"{name} is conditional on {n_labels} labels but stores {len(names)} label names "
            f"and {len(counts)} counts"
        )
    return names, counts
