"""The Train tab's "all N GPUs" choice: on a machine with several CUDA GPUs, train with one
process per GPU (`vqstudio train --nproc N`, each process on its share of every batch) instead
of one GPU in the app's own process. Offered only where there is more than one GPU; off by
default (one GPU, as before).

The GPUs are counted from the device list the app already has (`ui.jobs.devices_job`, which
loads torch in a worker thread): this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QCheckBox

__all__ = ["GPU_DEVICE", "gpu_box", "gpu_count", "show_gpu_choice"]

GPU_DEVICE = "cuda"  # what `--device` the processes of an "all N GPUs" run get


def gpu_count(devices: Sequence[tuple[str, str]]) -> int:
    """The CUDA GPUs in a device list of (value, text) pairs (`devices_job`: one entry per GPU,
    `cuda`, `cuda:1`...; that list counts them with `torch.cuda.device_count()`)."""
    return sum(1 for value, _ in devices if value == "cuda" or value.startswith("cuda:"))


def gpu_box() -> QCheckBox:
    """The choice, hidden and off until `show_gpu_choice` finds several GPUs."""
    box = QCheckBox("all GPUs")
    box.setVisible(False)
    box.setToolTip(
        "Train with one process per GPU: each takes its share of every batch and the gradients are "
        "averaged, so the model trains on a larger batch per step (the same project folder as one "
        "GPU). Progress and the live plots come from the first process."
    )
    return box


def show_gpu_choice(box: QCheckBox, count: int) -> None:
    """Offers "all `count` GPUs" where `count` > 1; elsewhere hides the choice and turns it off."""
    box.setText(f"all {count} GPUs")
    box.setVisible(count > 1)
    if count <= 1:
        box.setChecked(False)
