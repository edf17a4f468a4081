"""Training from the window: live progress, loss plot and preview; Stop keeps a checkpoint;
closing during training stops it and leaves no thread running."""

from __future__ import annotations

import json
import os

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.ui.conftest import make_recording, save_screenshot
from ui.mainwindow import gui_threads

pytest.importorskip("vqstudio.training")

TINY = {"preset": "small", "batch_size": 8, "val_every": 5, "prior_steps": 0}


def _setup(window, tmp_path, steps: int):
    window.open_recording(make_recording(channels=3, seconds=40.0, rate=64.0), "tiny")
    panel = window.training
    panel.extra_settings = {**TINY, "tokenizer_steps": steps}
    panel.window_s.setValue(1.0)
    panel.minutes.setValue(2.0)
    panel.folder.setText(str(tmp_path / "project"))
    panel.device.setCurrentIndex(max(0, panel.device.findData("cpu")))
    return panel


def test_train_shows_progress_then_stop_keeps_checkpoint(window, qtbot, tmp_path):
    panel = _setup(window, tmp_path, steps=100_000)
    assert window.actions["train"].isEnabled() and not window.actions["stop"].isEnabled()
    window.actions["train"].trigger()
    job = window.jobs["train"]
    assert window.actions["stop"].isEnabled() and not window.actions["train"].isEnabled()
    # Live: progress, a loss curve with points, the preview of a real window and its reconstruction.
    qtbot.waitUntil(lambda: panel.preview.step >= 0 and bool(panel.loss_curve_names), timeout=120_000)
    assert panel.progress.value() >= 0 and "tokenizer" in panel.progress.format()
    key = panel.loss_curve_names[0]
    assert key.startswith("tokenizer") and panel.curve_points(key) >= 1
    assert (
        panel.preview.real_curve.getData()[0] is not None and len(panel.preview.recon_curve.getData()[1]) > 10
    )
    qtbot.waitUntil(lambda: len(panel._usage) >= 1, timeout=60_000)
    assert len(panel.usage_curve.getData()[0]) == len(panel._usage)
    # Curves, not dots: a few loss read-outs (every 2 s on a CPU) and the batches' codebook usage.
    qtbot.waitUntil(lambda: panel.curve_points(key) >= 4 and len(panel._batch_usage) >= 2, timeout=60_000)
    save_screenshot(window, "training")
    assert "detecting" not in window.device_label.text()
    window.actions["stop"].trigger()
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    result = done.args[0]
    assert result.stopped and result.tokenizer_step < 100_000
    project = tmp_path / "project"
    assert (project / "tokenizer.safetensors").is_file()
    assert (project / "state.safetensors").is_file() and (project / "project.json").is_file()
    assert "train" not in window.jobs and window.session.job is None
    assert window.session.project_dir == str(project)
    assert "stopped" in panel.progress.format()
    assert window.actions["resume"].isEnabled()
    assert panel.runs.rowCount() >= 1 and panel.runs.item(0, 0).text().startswith("tokenizer")
    # The GUI's job uses the cores the machine has free (every core on a small idle one).
    meta = json.loads((project / "project.json").read_text())
    assert 1 <= meta["settings"]["threads"] <= gui_threads()
    assert meta["prep"]["window_s"] == 1.0  # stored once, with the preparation

    # Resume continues from the checkpoint (same project folder, more steps).
    panel.extra_settings["tokenizer_steps"] = result.tokenizer_step + 6
    window.actions["resume"].trigger()
    job = window.jobs["train"]
    with qtbot.waitSignal(job.finished, timeout=120_000) as again:
        pass
    assert again.args[0].tokenizer_step == result.tokenizer_step + 6
    assert not again.args[0].stopped
    assert "done" in panel.progress.format()

    # Reopening the project redraws its history from history.jsonl.
    panel._clear_plots()
    assert not panel.loss_curve_names
    window.open_project(str(project))
    assert any(k.startswith("tokenizer") for k in panel.loss_curve_names)
    assert len(panel._usage) >= 1


def test_devices_detected_in_the_background(window, qtbot):
    window.start_background()
    qtbot.waitUntil(lambda: window.devices is not None, timeout=60_000)
    values = [window.training.device.itemData(i) for i in range(window.training.device.count())]
    assert values[0] == "auto" and "cpu" in values
    assert "Device:" in window.device_label.text() and "detecting" not in window.device_label.text()


def test_closing_during_training_stops_and_joins(window, qtbot, tmp_path, monkeypatch):
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2])
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    panel = _setup(window, tmp_path, steps=100_000)
    window.actions["train"].trigger()
    job = window.jobs["train"]
    qtbot.waitUntil(lambda: panel.progress.format().startswith("tokenizer"), timeout=120_000)
    window.close()
    assert asked and "running" in asked[0]
    assert not job.running and not job._thread.isRunning()
    assert not window.jobs
    assert os.path.isfile(tmp_path / "project" / "tokenizer.safetensors")


def test_closing_can_be_cancelled(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    panel = _setup(window, tmp_path, steps=100_000)
    window.actions["train"].trigger()
    qtbot.waitUntil(lambda: panel.progress.format() != "starting...", timeout=120_000)
    window.close()
    assert window.isVisible() and window.jobs["train"].running
    window.actions["stop"].trigger()
    qtbot.waitUntil(lambda: "train" not in window.jobs, timeout=120_000)
