"""Projects in the window: opening one opens its recordings and shows it alone in the Train tab,
Resume works in one click with nothing else open, new projects go in one visible folder, a
folder that holds a project offers Resume, and a training that cannot start changes nothing."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace

import pytest
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import make_recording, save_screenshot

pytest.importorskip("vqstudio.training")

TINY = {"preset": "small", "batch_size": 8, "val_every": 2, "prior_steps": 0}


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    """A recording file and a project trained on it for 4 steps (copied by each test)."""
    from vqstudio.events import run_to_end
    from vqstudio.io import write_recording
    from vqstudio.training import TrainSettings, train

    folder = tmp_path_factory.mktemp("tiny")
    path = str(folder / "night1.edf")
    write_recording(make_recording(channels=3, seconds=40.0, rate=64.0), path)
    settings = TrainSettings(inputs=(path,), window_s=1.0, tokenizer_steps=4, device="cpu", **TINY)
    run_to_end(train(settings, str(folder / "night1 project")))
    return folder


@pytest.fixture
def project(tiny_project, tmp_path):
    """A fresh copy: (project folder, recording path)."""
    shutil.copy(tiny_project / "night1.edf", tmp_path / "night1.edf")
    shutil.copytree(tiny_project / "night1 project", tmp_path / "night1 project")
    from vqstudio.project import Project

    p = Project.open(str(tmp_path / "night1 project"))
    # The copy's own recording (same content, same sha256).
    sources = tuple(replace(s, path=str(tmp_path / "night1.edf")) for s in p.record.data.sources)
    p.update(data=replace(p.record.data, sources=sources))
    p.save()
    return str(tmp_path / "night1 project"), str(tmp_path / "night1.edf")


def _open_project(window, monkeypatch, folder: str) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: folder)
    window.actions["open_project"].trigger()


def test_open_project_then_resume_in_one_click(window, qtbot, project, monkeypatch):
    folder, recording = project
    assert not window.session.files and not window.actions["resume"].isEnabled()
    _open_project(window, monkeypatch, folder)
    # Its recording is open, and the Train tab shows that project alone: settings, runs, curves.
    assert [f.path for f in window.session.files] == [recording]
    panel = window.training
    assert window.session.project_dir == folder
    assert "night1 project" in panel.project_label.text() and "night1.edf" in panel.project_label.text()
    assert panel.folder.text() == folder and panel.window_s.value() == 1.0
    assert panel.checked_channels() == ["EEG1", "EEG2", "ECG"]
    assert panel.runs.rowCount() == 1 and panel.runs.item(0, 1).text() == "4"
    assert any(k.startswith("tokenizer") for k in panel.loss_curve_names) and len(panel._usage) >= 1
    window.actions["tab_train"].trigger()
    save_screenshot(window, "reopened_project")

    # One click: Resume, with nothing else open.
    assert window.actions["resume"].isEnabled()
    panel.extra_settings = {"tokenizer_steps": 8}
    window.actions["resume"].trigger()
    job = window.jobs["train"]
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    assert done.args[0].tokenizer_step == 8 and not done.args[0].stopped
    # The preview shows the project's channels, and the user picks which.
    qtbot.waitUntil(lambda: panel.preview.step >= 0, timeout=10_000)
    assert [a.text() for a in panel.preview.group.actions()] == ["EEG1", "EEG2", "ECG"]
    assert "ECG" in panel.preview.shown_channels  # one channel of each unit shows by default
    panel.preview.set_channels(["ECG"])
    assert "(ECG)" in panel.preview.plot.titleLabel.text
    assert len(panel.preview.real_curve.getData()[0]) == 65  # one channel: 64 samples and a gap


def test_resume_ignores_other_open_recordings(window, qtbot, project, monkeypatch):
    folder, _recording = project
    window.open_recording(make_recording(channels=5, seed=3), "unrelated")
    _open_project(window, monkeypatch, folder)
    window.session.select(0)  # the unrelated one is the current recording
    window.training.extra_settings = {"tokenizer_steps": 6}
    window.actions["resume"].trigger()
    with qtbot.waitSignal(window.jobs["train"].finished, timeout=120_000) as done:
        pass
    assert done.args[0].tokenizer_step == 6


def test_a_moved_recording_is_asked_for(window, project, monkeypatch, tmp_path):
    folder, recording = project
    moved = str(tmp_path / "elsewhere.edf")
    os.replace(recording, moved)
    asked = []

    def where(parent, title, *args, **kwargs):
        asked.append(title)
        return moved, ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", where)
    _open_project(window, monkeypatch, folder)
    assert asked and "night1.edf" in asked[0]
    assert [f.path for f in window.session.files] == [moved]


def test_new_projects_go_in_the_projects_folder(window, monkeypatch, tmp_path):
    from ui.settings import default_projects_folder

    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert default_projects_folder() == os.path.join(documents, "VQ Studio")
    window.settings.set_projects_folder("")  # not chosen: the default (tests point it elsewhere)
    assert window.settings.projects_folder() == default_projects_folder()
    root = tmp_path / "projects"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(root))
    window.actions["projects_folder"].trigger()
    assert window.settings.projects_folder() == str(root)
    path = tmp_path / "night1.edf"
    from vqstudio.io import write_recording

    write_recording(make_recording(channels=3, seconds=20.0), str(path))
    (root / "night1").mkdir(parents=True)  # taken: the next name is free
    assert window.load_path(str(path))
    assert window.training.folder.text() == str(root / "night1 2")
    window.close_recording()  # the suggestion follows the recordings, it does not stay behind
    assert window.training.folder.text() == ""


def test_a_folder_holding_a_project_offers_resume(window, qtbot, project, dialogs, monkeypatch):
    folder, recording = project
    assert window.load_path(recording)
    window.training.use_folder(folder)
    window.actions["train"].trigger()  # the dialog (answered Cancel here) offers Resume
    assert "train" not in window.jobs
    title, text = dialogs[-1][1], dialogs[-1][2]
    assert title == "Folder already holds a project" and "Resume" in text and "--" not in text
    import ui.project_opening

    monkeypatch.setattr(ui.project_opening, "ask_action", lambda *a, **k: "Resume")
    window.training.extra_settings = {"tokenizer_steps": 5}
    window.actions["train"].trigger()
    with qtbot.waitSignal(window.jobs["train"].finished, timeout=120_000) as done:
        pass
    assert done.args[0].tokenizer_step == 5 and window.session.project_dir == folder


def test_a_failed_start_leaves_the_view_as_it_was(window, qtbot, project, dialogs, monkeypatch, tmp_path):
    folder, _recording = project
    _open_project(window, monkeypatch, folder)
    panel = window.training
    curves = {k: panel.curve_points(k) for k in panel.loss_curve_names}
    usage, progress = list(panel._usage), panel.progress.format()
    assert curves
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    panel.use_folder(str(blocker))  # the engine refuses it once the data is prepared
    window.actions["train"].trigger()
    with qtbot.waitSignal(window.jobs["train"].failed, timeout=120_000):
        pass
    assert {k: panel.curve_points(k) for k in panel.loss_curve_names} == curves
    assert panel._usage == usage and panel.progress.format() == progress
    _kind, title, text = dialogs[-1]
    assert title == "Training could not start" and "--" not in text
    assert window.status.text() == "Training could not start"
    assert window.session.project_dir == folder


def test_no_status_reason_stays_after_the_job(window, qtbot, project, monkeypatch):
    folder, _ = project
    _open_project(window, monkeypatch, folder)
    window.training.extra_settings = {"tokenizer_steps": 5}
    window.actions["resume"].trigger()
    reason = window.actions["train"].statusTip()
    assert reason.startswith("Wait for the running job")
    window.statusBar().showMessage(reason)  # what hovering the disabled button shows
    with qtbot.waitSignal(window.jobs["train"].finished, timeout=120_000):
        pass
    assert window.statusBar().currentMessage() == ""


def test_quit_is_immediate_while_devices_are_detected(qtbot, monkeypatch):
    import ui.mainwindow
    from ui.mainwindow import MainWindow
    from ui.worker import join_detached

    def slow(stop):  # loading torch under load takes seconds
        time.sleep(2.0)
        yield from ()
        return [("auto", "auto (cpu)")]

    monkeypatch.setattr(ui.mainwindow, "devices_job", slow)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.start_background()
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 0.5 and not w.isVisible() and not w.jobs
    join_detached()


def test_threads_fit_the_idle_cores(monkeypatch):
    from ui.jobs import free_cores, gui_threads, job_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # it would win over the core counts
    assert gui_threads(2) == 2 and gui_threads(4) == 4 and gui_threads(16) == 15
    assert job_threads(2, 2.0) == 2 and job_threads(2, 0.9) == 1 and job_threads(2, 0.1) == 1
    assert job_threads(4, None) == 4 and job_threads(None, 1.0) is None
    free = free_cores(0.05)
    assert free is None or 0 <= free <= (os.cpu_count() or 1) + 0.01
