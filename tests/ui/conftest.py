"""Fixtures of the desktop-app tests: offscreen Qt, QSettings in a temp dir, small recordings."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from vqstudio.recording import Annotation, Recording


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Every test gets its own QSettings and data folders: no test touches the user's files."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "data"))  # where the demo file is written
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.SystemScope, str(folder / "system"))
    # New projects go in a temp folder, never in the user's Documents/VQ Studio.
    ini = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "VQStudio", "vqstudio")
    ini.setValue("paths/projects", str(folder / "projects"))
    ini.sync()
    return folder


@pytest.fixture(autouse=True)
def dialogs(monkeypatch):
    """Modal message boxes never block a test: each is recorded (kind, title, text) and answered.

    `question` answers No unless a test patches it; tests assert on the list.
    """
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str, str]] = []

    def record(kind, answer):
        def fake(parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return answer

        return fake

    monkeypatch.setattr(QMessageBox, "warning", record("warning", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "critical", record("critical", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "information", record("information", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", record("question", QMessageBox.StandardButton.No))
    monkeypatch.setattr(QMessageBox, "about", record("about", None))
    monkeypatch.setattr(
        QMessageBox, "exec", lambda self: shown.append(("box", self.windowTitle(), self.text())) or 0
    )
    return shown


def make_recording(channels: int = 4, seconds: float = 60.0, rate: float = 128.0, seed: int = 0) -> Recording:
    """EEG-like channels (uV) and an ECG-like channel (mV) with a 10 Hz rhythm and annotations."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    data = []
    for i in range(channels - 1):
        data.append(20 * np.sin(2 * np.pi * (8 + i) * t) + 5 * rng.standard_normal(n))
    data.append(np.sign(np.sin(2 * np.pi * 1.2 * t)) * 0.5 + 0.05 * rng.standard_normal(n))
    labels = [f"EEG{i + 1}" for i in range(channels - 1)] + ["ECG"]
    units = ["uV"] * (channels - 1) + ["mV"]
    ann = [Annotation(2.0, 3.0, "eyes closed"), Annotation(12.0, 0.0, "blink")]
    return Recording.from_array(np.array(data, dtype=np.float32), rate, labels, units, annotations=ann)


SCREENSHOTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "screenshots"
)


def save_screenshot(widget, name: str) -> str:
    """Saves what the user sees of `widget` as screenshots/NAME.png (the folder is git-ignored).

    A main window first detects its devices, as the app does after start-up, so its status bar
    shows the device rather than "detecting"."""
    import time

    from PySide6.QtWidgets import QApplication

    if getattr(widget, "devices", False) is None:
        if "devices" not in widget.jobs:
            widget.start_background()
        deadline = time.monotonic() + 60
        while widget.devices is None and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
    for _ in range(3):
        QApplication.processEvents()
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, f"{name}.png")
    assert widget.grab().save(path), path
    return path


@pytest.fixture
def recording() -> Recording:
    return make_recording()


@pytest.fixture
def make_viewer(qtbot):
    """A shown `SignalViewer` of the given size (the viewer tests' common start)."""
    from ui.viewer import SignalViewer

    def make(width: int, height: int):
        v = SignalViewer()
        qtbot.addWidget(v)
        v.resize(width, height)
        v.show()
        qtbot.waitExposed(v)
        return v

    return make


@pytest.fixture
def window(qtbot):
    """A main window, shown, closed (and its threads joined) at the end."""
    from ui.mainwindow import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1400, 860)
    w.show()
    qtbot.waitExposed(w)
    yield w
    for job in list(w.jobs.values()):
        job.stop_and_wait()
    w.jobs.clear()
