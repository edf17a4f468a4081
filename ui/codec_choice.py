"""The Train tab's tokenizer choice: one network over the channels together, or the per-channel
codec, started from the one shipped with VQ Studio (pretrained on public recordings) or from
random weights. The pretrained entry is offered only where the installation holds the codec."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtWidgets import QComboBox

from vqstudio import codec

__all__ = ["CODEC_SETTINGS", "codec_box", "codec_choice"]

# Each entry's TrainSettings fields.
CODEC_SETTINGS: dict[str, dict[str, Any]] = {
    "shared": {"per_channel": False, "from_scratch": False},
    "pretrained": {"per_channel": True, "from_scratch": False},
    "per-channel": {"per_channel": True, "from_scratch": True},
}


def codec_box() -> QComboBox:
    """The choice, on "shared" (the engine's default)."""
    box = QComboBox()
    box.addItem("one network over all channels", "shared")
    if os.path.isfile(codec.SHIPPED_CODEC):
        box.addItem("per-channel codec, pretrained (fine-tuned here)", "pretrained")
    box.addItem("per-channel codec from scratch", "per-channel")
    box.setToolTip(
        "One network over all channels learns this montage alone. The per-channel codec encodes "
        "each channel with the same network, so its weights fit any montage: the pretrained one "
        "learned from public EEG and ECG recordings and is fine-tuned on yours."
    )
    return box


def codec_choice(per_channel: bool, from_scratch: bool) -> str:
    """The entry of a project's stored settings."""
    if not per_channel:
        return "shared"
    return "per-channel" if from_scratch else "pretrained"
