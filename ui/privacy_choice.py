"""The Train tab's differential-privacy choice: off, or the epsilon to train to (DP-SGD, the
engine's `TrainSettings.dp_epsilon`, as `vqstudio train --dp-epsilon E`), and what a project
trained with it spent."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDoubleSpinBox

from vqstudio.project.privacy import describe_privacy
from vqstudio.training.privacy_settings import DP_EPSILON

__all__ = ["privacy_box", "privacy_settings", "privacy_text", "show_privacy"]

OFF = 0.0  # the box's lowest value, shown as "off"


def privacy_box() -> QDoubleSpinBox:
    """An epsilon box on "off" (the engine's default): 0.1 to 100, "off" below."""
    box = QDoubleSpinBox()
    box.setRange(OFF, DP_EPSILON.high)
    box.setDecimals(1)
    box.setSingleStep(1.0)
    box.setSpecialValueText("off")
    box.setPrefix("epsilon ")
    box.setValue(OFF)
    box.setToolTip(
        "Train both models with differential privacy (DP-SGD): what they reveal about any one "
        "training window is bounded by this epsilon (smaller: more private, noisier models; 1 to 10 "
        "is usual). Off: no formal guarantee, the Report's membership figures measure the risk. "
        "See the README's Differential privacy for what it covers."
    )
    return box


def privacy_settings(box: QDoubleSpinBox) -> dict[str, Any]:
    """The `TrainSettings` fields of the box: no epsilon when off, else at least 0.1."""
    value = float(box.value())
    return {"dp_epsilon": None if value <= OFF else max(value, DP_EPSILON.low)}


def show_privacy(box: QDoubleSpinBox, privacy: dict[str, Any] | None) -> None:
    """The box shows a stored project's target epsilon (off when trained without)."""
    box.setValue(float(privacy["target_epsilon"]) if privacy else OFF)


def privacy_text(privacy: dict[str, Any] | None) -> str:
    """What a project's privacy is, in the words of `vqstudio info`."""
    return describe_privacy(privacy)
