"""The Channels dialog: which channels the viewer shows, and which are bad.

Channels are listed by name (the label without padding, `Fc5` not `Fc5.`), the spelling the
viewer, the Train tab and `--channels` use, with their unit and rate.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vqstudio.recording import Channel

__all__ = ["ChannelDialog"]

SHOW, UNIT, RATE, BAD = range(4)


def _check(on: bool) -> Qt.CheckState:
    return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked


class ChannelDialog(QDialog):
    """Pick the channels shown (first column) and mark bad ones (last column)."""

    def __init__(
        self,
        channels: Sequence[Channel],
        shown: Collection[str],
        bad: Collection[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Channels")
        self.table = QTableWidget(len(channels), 4)
        self.table.setHorizontalHeaderLabels(["Channel", "Unit", "Rate", "Bad"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, ch in enumerate(channels):
            name = QTableWidgetItem(ch.name)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(_check(ch.name in shown))
            name.setToolTip(f"Label in the file: '{ch.label}'" if ch.label != ch.name else "")
            bad_item = QTableWidgetItem()
            bad_item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            bad_item.setCheckState(_check(ch.name in bad))
            bad_item.setToolTip("Bad channels are greyed in the viewer and left out of training by default")
            self.table.setItem(row, SHOW, name)
            self.table.setItem(row, UNIT, QTableWidgetItem(ch.unit or "-"))
            self.table.setItem(row, RATE, QTableWidgetItem(f"{ch.rate:g} Hz"))
            self.table.setItem(row, BAD, bad_item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(SHOW, QHeaderView.ResizeMode.Stretch)
        for col in (UNIT, RATE, BAD):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        everything = QPushButton("All")
        everything.clicked.connect(lambda: self._check_all(True))
        nothing = QPushButton("None")
        nothing.clicked.connect(lambda: self._check_all(False))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row_layout = QHBoxLayout()
        row_layout.addWidget(everything)
        row_layout.addWidget(nothing)
        row_layout.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(row_layout)
        layout.addWidget(buttons)
        self.resize(380, 520)

    def _check_all(self, on: bool) -> None:
        for row in range(self.table.rowCount()):
            self.table.item(row, SHOW).setCheckState(_check(on))

    def names(self) -> list[str]:
        """Every channel's name, in the recording's order."""
        return [self.table.item(row, SHOW).text() for row in range(self.table.rowCount())]

    def _checked(self, column: int) -> list[str]:
        return [
            self.table.item(row, SHOW).text()
            for row in range(self.table.rowCount())
            if self.table.item(row, column).checkState() == Qt.CheckState.Checked
        ]

    def selected(self) -> list[str]:
        """Names of the channels to show."""
        return self._checked(SHOW)

    def bad(self) -> list[str]:
        """Names of the channels marked bad."""
        return self._checked(BAD)

    def set_bad(self, name: str, on: bool) -> None:
        """Ticks or clears `name`'s Bad box (what a click does)."""
        row = self.names().index(name)
        self.table.item(row, BAD).setCheckState(_check(on))
