"""Bounds of a prior's settings and the sizes they describe, for the transformer priors.

A prior's config comes back from JSON (project.json, a weights file's metadata), so a damaged or
hand-edited one must be refused, naming the setting, before a module is built from it. Both
built-in priors are stacks of transformer blocks; their weight counts and the working memory
of their sampling are counted here from the config alone, without building anything. Torch-free.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

__all__ = [
    "BLOCK_LIVE",
    "LIMITS",
    "MAX_MLP_RATIO",
    "MAX_WEIGHTS",
    "block_weights",
    "check_real",
    "check_size",
    "check_transformer",
    "check_whole",
    "code_levels",
    "latent_rows",
    "linear_weights",
]

# Bounds (lowest, highest) of the whole-number settings of a prior. The highest lie far above every
# preset (large: width 384, depth 8, heads 8) and every tokenizer (`vqstudio.models.tokenizer.LIMITS`:
# 2**20 codes, windows of 2**30 samples; latent_dim 8,192 and 256 levels per channel, and a
# per-channel tokenizer gives the prior C times as many rows: 64 EEG channels of the codec preset
# are 512 latent rows and 256 levels, 65,536 channels of it 2**19), and low enough that a damaged
# or hand-edited config is refused, naming the setting, before a module is built (the weight
# count bounds the rest).
LIMITS: dict[str, tuple[int, int]] = {
    "latent_dim": (1, 2**19),
    "seg_len": (2, 2**30),
    "codebook_size": (2, 2**20),
    "n_quantizers": (1, 2**19),
    "context": (2, 2**30),
    "width": (1, 8192),
    "depth": (1, 256),
    "heads": (1, 1024),
    "n_labels": (0, 100_000),  # label names come from annotations or file names
    "patch": (1, 2**30),
    "channels": (0, 2**19),  # a per-channel codec's channels (0: a shared tokenizer)
}
MAX_MLP_RATIO = 64.0  # the MLP's width over the model's (presets: 3 or 4)
# Weights and buffers a prior may hold in all (4 GiB of float32): 48 times the large preset
# (a diffusion prior over 128 latent dimensions: 22 M), so only a damaged config meets it.
MAX_WEIGHTS = 2**30
# Activations of one transformer block alive at once while sampling, per token, in units of its
# width: the residual stream, the normalised input, q/k/v, the attention output (the MLP's hidden
# layer is counted apart, by its ratio). `generation.cost` sizes its batches by it.
BLOCK_LIVE = 8


def check_whole(name: str, value: Any) -> None:
    """`ValueError` naming the setting unless `value` is a whole number within `LIMITS`."""
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"prior setting {name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"prior setting {name} must be between {low} and {high:,}, got {value:,}")


def check_real(name: str, value: Any, low: float, high: float) -> None:
    """`ValueError` naming the setting unless `value` is a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ValueError(f"prior setting {name} must be a number from {low:g} to {high:g}, got {value!r}")


def check_transformer(config: Any) -> None:
    """The bounds a transformer prior's config shares: its whole numbers (those named in
    `LIMITS`), its MLP ratio, its label dropout, heads that divide the width."""
    for f in dataclasses.fields(config):
        if f.name in LIMITS:
            check_whole(f.name, getattr(config, f.name))
    check_real("mlp_ratio", config.mlp_ratio, 0.0, MAX_MLP_RATIO)
    check_real("label_dropout", config.label_dropout, 0.0, 1.0)
    if config.width % config.heads:
        raise ValueError(f"width {config.width} must be a multiple of heads {config.heads}")


def check_size(config: Any) -> None:
    """Refuses settings each within its limit that together make a prior too large to build."""
    count = config.weight_count()
    if count > MAX_WEIGHTS:
        raise ValueError(
            f"prior settings describe {count:,} weights, more than the {MAX_WEIGHTS:,} a prior may have "
            "(width, depth, mlp_ratio and the codebook set its size)"
        )


def linear_weights(inputs: int, outputs: int) -> int:
    """Weights and biases of a linear layer."""
    return inputs * outputs + outputs


def block_weights(config: Any, per_block_extra: int) -> int:
    """Values of `depth` transformer blocks: attention (qkv, proj), MLP, plus `per_block_extra`."""
    w = config.width
    hidden = int(w * config.mlp_ratio)
    block = (
        linear_weights(w, 3 * w)
        + linear_weights(w, w)
        + linear_weights(w, hidden)
        + linear_weights(hidden, w)
        + per_block_extra
    )
    return config.depth * block


def latent_rows(tokenizer_cfg: Any) -> int:
    """Rows of a window's latents as a prior sees them: the tokenizer's `prior_latent_dim` (C x
    latent_dim for a per-channel codec), or `latent_dim` for a tokenizer config that states no
    per-channel sizes (a stand-in of a test's)."""
    return int(getattr(tokenizer_cfg, "prior_latent_dim", tokenizer_cfg.latent_dim))


def code_levels(tokenizer_cfg: Any) -> int:
    """Code rows of a window as a prior sees them: the tokenizer's `prior_levels` (C x
    n_quantizers for a per-channel codec), or `n_quantizers` where it states no per-channel sizes."""
    return int(getattr(tokenizer_cfg, "prior_levels", tokenizer_cfg.n_quantizers))
