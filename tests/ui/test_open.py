"""Opening recordings: the file dialog path, drag and drop, recent files, CSV rate, bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QInputDialog

from tests.ui.conftest import make_recording, save_screenshot

io = pytest.importorskip("vqstudio.io")


@pytest.fixture
def edf_path(tmp_path):
    path = tmp_path / "sample.edf"
    io.write_recording(make_recording(channels=5, seconds=30.0, rate=128.0), str(path))
    return str(path)


@pytest.fixture
def warnings(dialogs):
    """The error dialogs shown, as (title, text)."""

    class View(list):
        def __getitem__(self, i):
            return [(t, x) for k, t, x in dialogs if k in ("warning", "box")][i]

        def __len__(self):
            return len([d for d in dialogs if d[0] in ("warning", "box")])

        def __bool__(self):
            return len(self) > 0

    return View()


def test_open_through_the_file_dialog(window, edf_path, monkeypatch):
    seen = {}

    def fake_dialog(parent, caption, folder, filters):
        seen["filters"] = filters
        return edf_path, filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_dialog)
    window.actions["open"].trigger()
    assert seen["filters"] == io.FILE_FILTER
    assert window.signals_stack.currentIndex() == 1
    assert [c.strip() for c in window.viewer.shown_channels] == ["EEG1", "EEG2", "EEG3", "EEG4", "ECG"]
    ticks = window.viewer.plot.getPlotItem().getAxis("left")._tickLevels[0]
    assert [t[1] for t in ticks] == ["EEG1", "EEG2", "EEG3", "EEG4", "ECG"]
    assert window.viewer.traces.boundingRect().width() > 0
    assert window.settings.recent_files()[0].endswith("sample.edf")
    assert window.recent_menu.actions()[0].text() == "sample.edf"
    assert "sample.edf" in window.windowTitle()


def test_bad_file_shows_reason_and_app_lives_on(window, tmp_path, edf_path, warnings, monkeypatch):
    bad = tmp_path / "broken.edf"
    bad.write_bytes(b"0       this is not an EDF header" * 3)
    assert window.load_path(str(bad)) is False
    assert len(warnings) == 1
    title, text = warnings[0]
    assert title == "Cannot open recording" and "broken.edf" in text and "\n" not in text
    assert window.session.recording is None and window.signals_stack.currentIndex() == 0
    # Still usable: a good file opens afterwards.
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (edf_path, ""))
    window.actions["open"].trigger()
    assert window.session.recording is not None and len(window.viewer.shown_channels) == 5


def test_missing_file_is_dropped_from_recent(window, tmp_path, warnings):
    gone = str(tmp_path / "gone.edf")
    window.settings.add_recent_file(gone)
    window.recent.refresh()
    assert window.load_path(gone) is False
    assert gone not in window.settings.recent_files()
    assert warnings


def test_csv_without_time_column_asks_for_the_rate(window, tmp_path, monkeypatch):
    path = tmp_path / "plain.csv"
    x = np.sin(np.arange(2000) / 10.0)
    path.write_text("Fp1,Fp2\n" + "\n".join(f"{a:.4f},{-a:.4f}" for a in x) + "\n")
    asked = []

    def fake_rate(*args, **kwargs):
        asked.append(args[2])
        return 200.0, True

    monkeypatch.setattr(QInputDialog, "getDouble", fake_rate)
    assert window.load_path(str(path)) is True
    assert asked and "plain.csv" in asked[0]
    assert window.session.recording.channels[0].rate == 200.0
    assert window.viewer.recording.duration == pytest.approx(10.0)


def test_drop_a_file(window, edf_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(edf_path)])
    no_button, no_key = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, no_button, no_key)
    window.dropEvent(event)
    assert window.session.current_file.path == edf_path
    assert window.file_box.currentText() == "sample.edf"


def test_open_the_demo(window, qtbot):
    pytest.importorskip("vqstudio.data.simulate")
    assert window.actions["open_demo"].isEnabled()
    window.welcome.demo_button.click()
    qtbot.waitUntil(lambda: window.session.recording is not None, timeout=30000)
    assert "Demo" in window.file_box.currentText()
    assert os.path.isfile(window.session.current_file.path)  # trainable, reopenable, evaluable
    assert "ECG" in window.viewer.shown_channels
    assert window.viewer.recording.annotations
    window.viewer.set_page(30.0)
    path = save_screenshot(window, "viewer")
    assert os.path.getsize(path) > 10_000
