"""A reopened project shows what it holds (issue 21, item 7): its latest generated recordings in
the Generate tab (ready to evaluate and export), and the welcome page and File menu list recent
projects, each opening in one click."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import save_screenshot

pytest.importorskip("vqstudio.training")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A tiny project with two batches in samples/ made as the app makes them (through
    `ui.jobs.generation_job`): an older one of 1 recording, the latest of 2. Returns (project,
    its recording, the latest batch's paths)."""
    from tests.tiny import train_tiny, write_input
    from ui.jobs import generation_job
    from vqstudio.events import run_to_end

    folder = tmp_path_factory.mktemp("reopen")
    source = write_input(folder, "night2", channels=2, seconds=40.0)
    project = train_tiny([source], folder / "night2 project")
    options = {"seconds": 4.0, "device": "cpu", "threads": 1, "seed": 0}
    older = run_to_end(generation_job(project, {**options, "count": 1})(threading.Event()))[1]
    stale = time.time() - 3600
    for path in older:  # an hour older, under another name (two batches in one second share one)
        os.utime(path, (stale, stale))
        os.replace(path, path.replace("gui_", "gui_older_"))
    latest = run_to_end(generation_job(project, {**options, "count": 2})(threading.Event()))[1]
    with open(os.path.join(project, "samples", "notes.txt"), "w", encoding="utf-8") as f:
        f.write("not a recording: left out")
    return project, source, latest


def _open_project_dialog(window, monkeypatch, folder: str) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: folder)
    window.actions["open_project"].trigger()


def test_reopened_project_shows_its_latest_generated_recordings(window, generated, monkeypatch, dialogs):
    project, source, latest = generated
    assert len(latest) == 2 and all(os.path.basename(p).startswith("gui_") for p in latest)
    _open_project_dialog(window, monkeypatch, project)
    assert window.session.project_dir == project
    assert [f.path for f in window.session.files] == [source]
    # The latest batch (2 of them, in order), not the older one nor the text file.
    assert window.session.synthetic_paths == latest
    assert len(window.session.synthetic) == 2
    assert window.actions["evaluate"].isEnabled() and window.actions["export_synthetic"].isEnabled()
    window.actions["tab_generate"].trigger()
    panel = window.generation
    assert window.tabs.currentWidget() is panel
    assert panel.which.count() == 2 and panel.synthetic_viewer.recording is not None
    assert panel.synthetic_viewer.shown_channels == ["C3", "C4"]
    assert panel.real_viewer.recording is not None
    assert "latest generated" in panel.log_pane.toPlainText()
    _, p_syn = panel.psd_synth.getData()
    assert p_syn is not None and len(p_syn) > 5
    assert not [d for d in dialogs if d[0] in ("warning", "critical", "box")], dialogs
    save_screenshot(window, "reopened_project_generate")


def test_another_project_does_not_show_the_last_ones_samples(window, generated, tmp_path, monkeypatch):
    project, _source, _latest = generated
    bare = str(tmp_path / "no samples yet")
    shutil.copytree(project, bare, ignore=shutil.ignore_patterns("samples"))
    assert window.open_project(project) and len(window.session.synthetic) == 2
    assert window.open_project(bare)
    assert window.session.synthetic == [] and window.session.synthetic_paths == []
    assert not window.actions["evaluate"].isEnabled()


def _click_row(qtbot, widget, row: int) -> None:
    rect = widget.visualItemRect(widget.item(row))
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_welcome_page_lists_recent_projects_and_opens_one_in_a_click(qtbot, generated, isolated_settings):
    from ui.mainwindow import MainWindow
    from ui.settings import Settings

    project, source, latest = generated
    before = Settings()
    before.add_recent_file(source)
    before.add_recent_project(project)
    before.sync()
    window = MainWindow()  # a new start: the lists come from the settings
    qtbot.addWidget(window)
    window.resize(1400, 860)
    window.show()
    qtbot.waitExposed(window)
    welcome = window.welcome
    assert welcome.recent_projects.isVisible() and welcome.recent.isVisible()
    assert welcome.recent_projects.paths() == [project]
    assert "night2 project" in welcome.recent_projects.item(0).text()
    assert [a.toolTip() for a in window.recent_projects_menu.actions()] == [project]
    save_screenshot(window, "welcome_recent_projects")

    _click_row(qtbot, welcome.recent_projects, 0)  # one click, not a double click
    assert window.session.project_dir == project
    assert window.session.synthetic_paths == latest
    assert window.signals_stack.currentIndex() == 1  # its recording is open in the viewer
    for job in list(window.jobs.values()):
        job.stop_and_wait()


def test_a_recent_project_that_is_gone_is_dropped(window, tmp_path, dialogs):
    gone = str(tmp_path / "moved away")
    window.recent.add_project(gone)
    assert window.welcome.recent_projects.paths() == [gone]
    window.recent_projects_menu.actions()[0].trigger()
    assert window.session.project_dir is None
    assert dialogs and dialogs[-1][1] == "Cannot open project"
    assert window.settings.recent_projects() == [] and not window.welcome.recent_projects.isVisible()


def test_latest_batch_groups_numbered_files(tmp_path):
    from ui.samples import latest_batch

    samples = tmp_path / "samples"
    samples.mkdir()
    for age, name in (
        (300, "run.edf"),
        (200, "run_1.edf"),
        (200, "run_2.edf"),
        (200, "run_10.edf"),
        (0, "x.txt"),
    ):
        path = samples / name
        path.write_bytes(b"")
        os.utime(path, (time.time() - age, time.time() - age))
    assert [os.path.basename(p) for p in latest_batch(str(tmp_path))] == [
        "run_1.edf",
        "run_2.edf",
        "run_10.edf",
    ]
    os.utime(samples / "run.edf")  # written again just now: the newest batch
    assert [os.path.basename(p) for p in latest_batch(str(tmp_path))] == ["run.edf"]
    assert latest_batch(str(tmp_path / "nothing here")) == []
