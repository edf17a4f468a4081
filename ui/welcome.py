"""The page shown when no recording is open: the demo recording, Open, and side by side the
recent files and the recent projects, each opened in one click (or Enter)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["RecentList", "WelcomePage"]


class RecentList(QListWidget):
    """Recent paths, newest first; a single click or Enter on one emits `chosen(path)`.

    Not `itemActivated`: that waits for a double click on most desktops, and a double click
    would also open the path twice (the click, then the activation)."""

    chosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setMaximumHeight(160)
        # Long paths lose their middle, not their end (the folder a file is in tells most).
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemClicked.connect(self._choose)

    def set_paths(self, paths: list[str]) -> None:
        """One row per path: its name, then the folder it is in (the whole path as tooltip)."""
        self.clear()
        for path in paths:
            item = QListWidgetItem(os.path.basename(path) + "   —   " + os.path.dirname(path))
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.addItem(item)

    def paths(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def _choose(self, item: QListWidgetItem) -> None:
        self.chosen.emit(item.data(Qt.ItemDataRole.UserRole))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self._choose(self.currentItem())
            return
        super().keyPressEvent(event)


class WelcomePage(QWidget):
    """Big buttons bound to the main window's actions (so their enabled state and tooltips match)."""

    recent_chosen = Signal(str)  # a recent file
    recent_project_chosen = Signal(str)  # a recent project folder

    def __init__(self, open_demo: QAction, open_file: QAction, description: str = "") -> None:
        super().__init__()
        title = QLabel("<h2>VQ Studio</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        intro = QLabel(
            "Open a recording (EDF, EDF+, BDF or CSV) to look at it and train a model that "
            "generates new recordings like it."
        )
        intro.setWordWrap(True)
        intro.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.demo_button = self._button(open_demo)
        self.open_button = self._button(open_file)
        self.demo_note = QLabel(description)
        self.demo_note.setWordWrap(True)
        self.demo_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.demo_note.setEnabled(False)  # drawn in the muted colour
        self.recent_label = QLabel("Recent files")
        self.recent = RecentList()
        self.recent.chosen.connect(self.recent_chosen)
        self.recent_projects_label = QLabel("Recent projects")
        self.recent_projects = RecentList()
        self.recent_projects.chosen.connect(self.recent_project_chosen)
        lists = QHBoxLayout()
        for label, widget in (
            (self.recent_label, self.recent),
            (self.recent_projects_label, self.recent_projects),
        ):
            box = QVBoxLayout()
            box.addWidget(label)
            box.addWidget(widget)
            box.addStretch(1)
            lists.addLayout(box, 1)

        column = QVBoxLayout()
        column.addStretch(2)
        column.addWidget(title)
        column.addWidget(intro)
        column.addSpacing(16)
        column.addWidget(self.demo_button)
        column.addWidget(self.demo_note)
        column.addSpacing(8)
        column.addWidget(self.open_button)
        column.addSpacing(16)
        column.addLayout(lists)
        column.addStretch(3)
        inner = QWidget()
        inner.setLayout(column)
        inner.setMaximumWidth(820)  # two lists side by side
        outer = QVBoxLayout(self)
        outer.addWidget(inner, 0, Qt.AlignmentFlag.AlignHCenter)

    @staticmethod
    def _button(action: QAction) -> QToolButton:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumHeight(40)
        button.setSizePolicy(
            button.sizePolicy().horizontalPolicy().Expanding, button.sizePolicy().verticalPolicy()
        )
        return button

    def set_recent(self, paths: list[str]) -> None:
        """The recent files, newest first (the list is hidden while there are none)."""
        self.recent.set_paths(paths)
        self.recent_label.setVisible(bool(paths))
        self.recent.setVisible(bool(paths))

    def set_recent_projects(self, paths: list[str]) -> None:
        """The recent project folders, newest first (hidden while there are none)."""
        self.recent_projects.set_paths(paths)
        self.recent_projects_label.setVisible(bool(paths))
        self.recent_projects.setVisible(bool(paths))
