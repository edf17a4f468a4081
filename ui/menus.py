"""The window's actions, in one table, and its menus.

Every action is created in `create_actions` and kept in `MainWindow.actions` (a test can loop
over them); whether one is enabled comes from the session's table (`Session.blocked`, and
`VIEWER_ACTIONS` while no recording is open). Slots are looked up on the window when an action
fires, so the table can be built before the window's parts exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from ui import export_dialog, file_opening, project_opening

if TYPE_CHECKING:
    from ui.mainwindow import MainWindow

__all__ = ["DISPLAY_ACTIONS", "TABS", "VIEWER_ACTIONS", "add_viewer_keys", "build_menus", "create_actions"]

TABS = ("Signals", "Train", "Generate", "Report")
# Display actions of the viewer (the View menu's second group).
DISPLAY_ACTIONS = (
    "channels_up", "channels_down", "more_channels", "fewer_channels", "display_filters",
    "average_reference", "annotations", "spectrum", "scalp_map",
)  # fmt: skip
# Actions on the viewer: enabled while a recording is open.
VIEWER_ACTIONS = (
    "next_page",
    "previous_page",
    "larger",
    "smaller",
    "channels",
    "clock_time",
    "add_annotations",
    *DISPLAY_ACTIONS,
)
# Keys that act on the viewer only (a spin box elsewhere keeps its own PgUp/PgDn, +, -).
VIEWER_KEYS = ("next_page", "previous_page", "larger", "smaller", "channels_up", "channels_down")

Row = tuple[str, str, str | None, Callable[[], Any]]  # name, text, shortcut, slot


def _file_rows(w: MainWindow) -> list[Row]:
    return [
        ("open", "&Open recording...", "Ctrl+O", lambda: file_opening.choose_and_open(w)),
        ("open_demo", "Open the &demo recording", "Ctrl+Shift+D", w.open_demo),
        ("close", "&Close recording", "Ctrl+W", w.close_recording),
        ("open_project", "Open &project...", "Ctrl+Shift+O", lambda: project_opening.choose_and_open(w)),
        ("projects_folder", "Projects &folder...", None, lambda: project_opening.choose_projects_folder(w)),
        ("export_synthetic", "&Export synthetic...", "Ctrl+E", lambda: export_dialog.export_synthetic(w)),
        ("quit", "&Quit", "Ctrl+Q", w.close),
    ]


def _on_viewer(w: MainWindow, method: str, *args: Any) -> Callable[[], Any]:
    """A slot calling the viewer's `method(*args)` (looked up when the action fires)."""
    return lambda: getattr(w.viewer, method)(*args)


def _view_rows(w: MainWindow) -> list[Row]:
    return [
        ("next_page", "&Next page", "PgDown", _on_viewer(w, "next_page")),
        ("previous_page", "&Previous page", "PgUp", _on_viewer(w, "previous_page")),
        ("larger", "&Larger amplitude", "+", _on_viewer(w, "scale_by", 0.8)),
        ("smaller", "&Smaller amplitude", "-", _on_viewer(w, "scale_by", 1.25)),
        ("channels", "C&hannels...", "Ctrl+L", _on_viewer(w, "choose_channels")),
        ("clock_time", "Cloc&k time axis", "Ctrl+T", w.toggle_clock),
        ("channels_up", "Channels &up a page", "Shift+Up", _on_viewer(w, "scroll_row_pages", -1)),
        ("channels_down", "Channels do&wn a page", "Shift+Down", _on_viewer(w, "scroll_row_pages", 1)),
        (
            "more_channels",
            "&More channels per page",
            "Ctrl+Shift+Down",
            _on_viewer(w, "step_channels_per_page", 1),
        ),
        (
            "fewer_channels",
            "&Fewer channels per page",
            "Ctrl+Shift+Up",
            _on_viewer(w, "step_channels_per_page", -1),
        ),
        ("display_filters", "Display &filters on/off", "Ctrl+F", _on_viewer(w, "toggle_filters")),
        (
            "average_reference",
            "&Average reference on/off",
            "Ctrl+Shift+M",
            _on_viewer(w, "toggle_average_reference"),
        ),
        (
            "annotations",
            "A&nnotation list",
            "Ctrl+Shift+A",
            lambda: w.annotation_dock.setHidden(not w.annotation_dock.isHidden()),
        ),
        ("spectrum", "S&pectrum", "Ctrl+Shift+P", _on_viewer(w, "toggle_spectrum")),
        ("scalp_map", "Scalp &map", "Ctrl+Shift+T", _on_viewer(w, "toggle_scalp_map")),
        ("add_annotations", "Add &annotations from file...", None, _on_viewer(w, "choose_annotation_file")),
    ]


def _run_rows(w: MainWindow) -> list[Row]:
    rows: list[Row] = [
        ("train", "&Train", "Ctrl+R", lambda: w.start_training(resume=False)),
        ("resume", "&Resume training", "Ctrl+Shift+R", lambda: w.start_training(resume=True)),
        ("stop", "&Stop", "Ctrl+.", w.stop_jobs),
        ("generate", "&Generate", "Ctrl+G", w.start_generation),
        ("evaluate", "E&valuate", "Ctrl+Shift+E", w.start_evaluation),
        ("about", "&About VQ Studio", None, w.about),
    ]
    for i, tab in enumerate(TABS):
        rows.append((f"tab_{tab.lower()}", f"&{tab}", f"Ctrl+{i + 1}", lambda i=i: w.tabs.setCurrentIndex(i)))
    return rows


def create_actions(w: MainWindow) -> dict[str, QAction]:
    """Every action of the window, by name (its object name too)."""
    actions: dict[str, QAction] = {}
    for name, text, shortcut, slot in _file_rows(w) + _view_rows(w) + _run_rows(w):
        action = QAction(text, w)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False, slot=slot: slot())
        actions[name] = action
    actions["clock_time"].setCheckable(True)
    group = QActionGroup(w)
    for choice in ("system", "light", "dark"):
        action = QAction(f"{choice.capitalize()} theme", w, checkable=True)
        action.setObjectName(f"theme_{choice}")
        action.triggered.connect(lambda _=False, c=choice: w.set_theme(c))
        group.addAction(action)
        actions[f"theme_{choice}"] = action
    return actions


def build_menus(w: MainWindow) -> tuple[QMenu, QMenu]:
    """The menu bar; returns the (empty) Recent files and Recent projects menus."""
    a = w.actions
    bar = w.menuBar()
    file = bar.addMenu("&File")
    file.addActions([a["open"], a["open_demo"]])
    recent_files = file.addMenu("Recent &files")
    file.addActions([a["close"], a["add_annotations"]])
    file.addSeparator()
    file.addAction(a["open_project"])
    recent_projects = file.addMenu("Recent pro&jects")
    file.addActions([a["export_synthetic"], a["projects_folder"]])
    file.addSeparator()
    file.addAction(a["quit"])
    view = bar.addMenu("&View")
    view.addActions([a["next_page"], a["previous_page"], a["larger"], a["smaller"], a["channels"]])
    view.addAction(a["clock_time"])
    view.addSeparator()
    view.addActions([a[n] for n in DISPLAY_ACTIONS])
    view.addSeparator()
    view.addActions([a[f"tab_{t.lower()}"] for t in TABS])
    view.addSeparator()
    view.addActions([a["theme_system"], a["theme_light"], a["theme_dark"]])
    run = bar.addMenu("&Run")
    run.addActions([a["train"], a["resume"], a["stop"], a["generate"], a["evaluate"]])
    bar.addMenu("&Help").addAction(a["about"])
    return recent_files, recent_projects


def add_viewer_keys(actions: dict[str, QAction], viewer: QWidget) -> None:
    """Paging and amplitude keys act on the viewer only (`VIEWER_KEYS`), once it is built."""
    for name in VIEWER_KEYS:
        actions[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        viewer.addAction(actions[name])
