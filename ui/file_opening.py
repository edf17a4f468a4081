"""Opening recordings in the window: File > Open, a recent file, a dropped file, the command
line's files, and the demo recording (simulated once into a file in a worker thread).

A file that does not read shows its reason and changes nothing; one that is gone leaves the
recent files. The engine's readers are imported when a file is opened, not when the window starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtWidgets import QFileDialog, QInputDialog

from ui.errors import show_exception
from ui.jobs import demo_job
from ui.worker import Job
from vqstudio.errors import RateNeededError, VQStudioError

if TYPE_CHECKING:
    from ui.mainwindow import MainWindow

__all__ = ["choose_and_open", "load_path", "open_demo", "open_dropped"]

DEMO_TITLE = "Demo recording (simulated)"


def choose_and_open(window: MainWindow) -> None:
    """File > Open: a file dialog for the formats the engine reads."""
    from vqstudio.io import FILE_FILTER

    path, _ = QFileDialog.getOpenFileName(window, "Open recording", window.settings.last_dir(), FILE_FILTER)
    if path:
        load_path(window, path)


def load_path(window: MainWindow, path: str, rate: float | None = None) -> bool:
    """Opens the recording in `path` (asking the sample rate of a CSV without a time column).
    A file of annotations only (a Sleep-EDF hypnogram) is added to the recording shown."""
    from vqstudio.io import annotations_only, read_recording

    if _shown_recording(window) is not None and annotations_only(path):
        return window.viewer.annotation_editor.import_file(path)
    try:
        recording = read_recording(path, rate=rate)
    except RateNeededError as error:  # a CSV without a time column: ask, then read again
        if rate is not None:
            show_exception(window, "Cannot open recording", error)
            return False
        prompt = f"{os.path.basename(path)} has no time column.\nIts sample rate in Hz:"
        rate, ok = QInputDialog.getDouble(window, "Sample rate", prompt, 256.0, 0.001, 1e6, 3)
        return load_path(window, path, rate) if ok else False
    except VQStudioError as error:
        show_exception(window, "Cannot open recording", error)
        if not os.path.exists(path):
            window.recent.forget_file(path)
        return False
    window.session.add_recording(recording, path=path)
    window.recent.add_file(path)
    window.settings.set_last_dir(os.path.dirname(os.path.abspath(path)))
    window.set_status(f"Opened {os.path.basename(path)}")
    return True


def _shown_recording(window: MainWindow) -> object | None:
    """The recording in the viewer, without building the viewer when none was ever shown."""
    return window.viewer.annotation_editor.recording if window.signals.viewer_built else None


def open_dropped(window: MainWindow, urls: Iterable[QUrl]) -> None:
    """Opens what was dropped on the window: folders as projects, files as recordings."""
    for url in urls:
        if url.isLocalFile():
            path = url.toLocalFile()
            if os.path.isdir(path):
                window.open_project(path)
            else:
                load_path(window, path)


def open_demo(window: MainWindow) -> None:
    """Simulates the demo recording into the app's data folder (a worker job), then opens it."""
    if "demo" in window.jobs:
        return
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    job = Job("demo", demo_job(folder), window)
    job.finished.connect(lambda result: window.session.add_recording(result[0], DEMO_TITLE, result[1]))
    job.finished.connect(lambda _: window.set_status("Opened the demo recording (simulated)"))
    job.failed.connect(lambda error, _tb: show_exception(window, "Cannot make the demo recording", error))
    window.start_job(job, track_in_session=False)
    window.set_status("Simulating the demo recording...")
