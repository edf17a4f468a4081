"""The window itself: every action, shortcuts, theme, layout remembered, projects, errors."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from ui.mainwindow import MainWindow
from ui.session import ACTION_NEEDS


def test_every_action_is_in_one_table_with_a_state(window, recording):
    names = set(window.actions)
    assert set(ACTION_NEEDS) <= names
    window.open_recording(recording, "r")
    for name, action in window.actions.items():
        assert action.objectName() == name
        if not action.isEnabled():
            assert action.toolTip(), f"{name} is disabled without saying why"
    shortcuts = [a.shortcut().toString() for a in window.actions.values() if not a.shortcut().isEmpty()]
    assert len(shortcuts) == len(set(shortcuts)), "two actions share a shortcut"
    for name in ("open", "train", "stop", "generate", "export_synthetic", "next_page", "quit"):
        assert not window.actions[name].shortcut().isEmpty(), name


def test_tab_shortcuts_and_paging_actions(window, recording, qtbot):
    window.open_recording(recording, "r")
    window.actions["tab_train"].trigger()
    assert window.tabs.currentWidget() is window.training
    window.actions["tab_signals"].trigger()
    window.actions["next_page"].trigger()
    assert window.viewer.page_start == 10.0
    window.actions["previous_page"].trigger()
    assert window.viewer.page_start == 0.0


def test_theme_follows_choice_and_is_remembered(window):
    window.actions["theme_dark"].trigger()
    from ui.theme import is_dark

    assert is_dark()
    assert window.viewer.plot.backgroundBrush().color().name() == "#1e1f22"
    assert window.settings.theme() == "dark"
    window.actions["theme_light"].trigger()
    assert not is_dark() and window.viewer.plot.backgroundBrush().color().name() == "#ffffff"
    window.actions["theme_system"].trigger()
    assert window.settings.theme() == "system"


def test_geometry_is_remembered(qtbot, isolated_settings):
    first = MainWindow()
    qtbot.addWidget(first)
    first.resize(760, 590)
    first.show()
    size = (first.width(), first.height())
    first.close()
    ini = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "VQStudio", "vqstudio")
    assert ini.value("window/geometry") is not None
    assert str(isolated_settings) in ini.fileName()
    second = MainWindow()
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == size != (1280, 820)


def test_a_foreign_folder_is_refused_as_project(window, tmp_path, dialogs, monkeypatch):
    pytest.importorskip("vqstudio.project")
    (tmp_path / "notes.txt").write_text("hello")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    window.actions["open_project"].trigger()
    assert window.session.project_dir is None
    assert dialogs and dialogs[0][1] == "Cannot open project"


def test_uncaught_errors_go_to_the_dialog(window, dialogs):
    from ui.errors import install_excepthook

    saved = sys.excepthook
    try:
        install_excepthook()
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = saved
    assert dialogs and dialogs[-1][0] == "box" and "RuntimeError: boom" in dialogs[-1][2]
    assert window.isVisible()
