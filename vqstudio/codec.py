"""The codec that ships with VQ Studio: a per-channel tokenizer pretrained on public recordings.

`vqstudio/weights/codec.safetensors` holds its weights (no critic: it only trains), its
configuration, and in its metadata the corpus it learned from (the manifest's sha256, the files,
their licences and attribution), how it was trained and its held-out figures
(`vqstudio.training.pretrain`). `vqstudio train --codec per-channel` starts from it and
fine-tunes it on the user's recordings; `--from-scratch` starts from random weights instead.
The file is read with safetensors (no pickle); the installer carries it, so it works offline.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig

__all__ = ["CODEC_KIND", "SHIPPED_CODEC", "Codec", "load_codec", "save_codec", "shipped_codec"]

CODEC_KIND = "codec"
SHIPPED_CODEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "codec.safetensors")


@dataclass(frozen=True)
class Codec:
    """A pretrained codec: its weights, its configuration (for one channel) and what it carries."""

    path: str
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    info: dict[str, Any]  # settings, figures, provenance (the corpus), version

    @property
    def preset(self) -> str:
        """The tokenizer preset it was built from ("codec", "codec-large")."""
        return str(self.info.get("settings", {}).get("preset", "codec"))

    @property
    def version(self) -> str:
        return str(self.info.get("provenance", {}).get("version", "unknown"))

    def config_for(self, channels: int, window: int) -> TokenizerConfig:
        """Its configuration for a project of `channels` channels and `window`-sample windows:
        the weights do not depend on either."""
        from vqstudio.models.tokenizer import TokenizerConfig

        return TokenizerConfig(**{**self.config, "channels": channels, "window": window})

    def load_into(self, model: Tokenizer) -> None:
        """Puts the weights into `model` (built from `config_for`); its critic, which the file
        does not hold, keeps its fresh weights."""
        from vqstudio.errors import CheckpointError

        missing, unexpected = model.load_state_dict(self.tensors, strict=False)
        if unexpected or any(not k.startswith("critic.") for k in missing):
            lacking = [k for k in missing if not k.startswith("critic.")][:3]
            raise CheckpointError(
                f"{os.path.basename(self.path)} does not fit the codec it describes "
                f"(missing {lacking}, unexpected {unexpected[:3]})"
            )


def save_codec(path: str, model: Tokenizer, info: dict[str, Any]) -> None:
    """Writes `model`'s published weights (no critic) with its configuration and `info`."""
    from vqstudio.project.checkpoint import save_weights

    config = dataclasses.asdict(model.cfg)
    step = int(info.get("figures", {}).get("steps", 0))
    save_weights(path, model.published_state(), CODEC_KIND, config, step, info)


def load_codec(path: str) -> Codec:
    """The codec in `path`, checked (format, kind, finite values, a per-channel configuration);
    `CheckpointError` otherwise."""
    from vqstudio.errors import CheckpointError
    from vqstudio.models.tokenizer import TokenizerConfig
    from vqstudio.project.checkpoint import load_weights

    tensors, meta = load_weights(path, kind=CODEC_KIND)
    config = meta["config"]
    try:
        cfg = TokenizerConfig(**config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"{os.path.basename(path)} holds a codec configuration this VQ Studio cannot build: {e}"
        ) from e
    if not cfg.per_channel:
        raise CheckpointError(f"{os.path.basename(path)} is not a per-channel codec")
    return Codec(path, tensors, config, meta["extra"])


def shipped_codec() -> Codec | None:
    """The codec shipped with the app, or None when this installation has none."""
    return load_codec(SHIPPED_CODEC) if os.path.isfile(SHIPPED_CODEC) else None
