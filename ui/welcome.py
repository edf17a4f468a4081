"""The page shown when no recording is open: the demo recording, Open, and recent files."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QListWidget, QToolButton, QVBoxLayout, QWidget

__all__ = ["WelcomePage"]


class WelcomePage(QWidget):
    """Big buttons bound to the main window's actions (so their enabled state and tooltips match)."""

    recent_chosen = Signal(str)

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
        self.recent = QListWidget()
        self.recent.setMaximumHeight(160)
        self.recent.itemActivated.connect(
            lambda item: self.recent_chosen.emit(item.data(Qt.ItemDataRole.UserRole))
        )

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
        column.addWidget(self.recent_label)
        column.addWidget(self.recent)
        column.addStretch(3)
        inner = QWidget()
        inner.setLayout(column)
        inner.setMaximumWidth(560)
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
        self.recent.clear()
        for path in paths:
            self.recent.addItem(os.path.basename(path) + "   —   " + os.path.dirname(path))
            self.recent.item(self.recent.count() - 1).setData(Qt.ItemDataRole.UserRole, path)
        self.recent_label.setVisible(bool(paths))
        self.recent.setVisible(bool(paths))
