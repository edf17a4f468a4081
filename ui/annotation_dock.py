"""The annotation list: a dock with one row per annotation (onset, duration, text).

Activating a row (double-click, or Enter) shows that event in the viewer; a new recording in the
viewer refills it. `with_annotation_dock` puts the dock beside the viewer's page, so the list
belongs to the Signals tab rather than to every tab of the window.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHeaderView,
    QMainWindow,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ui.viewer import SignalViewer

__all__ = ["AnnotationDock", "with_annotation_dock"]


class _Table(QTableWidget):
    """A table that asks for room for its three columns (a dock starts at its content's size
    hint) while it may still shrink to a narrow window."""

    def sizeHint(self) -> QSize:
        return QSize(300, 400)


class AnnotationDock(QDockWidget):
    """Lists the viewer's annotations; activating one jumps the viewer there."""

    def __init__(self, viewer: SignalViewer, parent: QWidget | None = None) -> None:
        super().__init__("Annotations", parent)
        self.setObjectName("annotations_dock")  # saveState/restoreState find it by name
        self.viewer = viewer
        self.table = _Table(0, 3)
        self.table.setHorizontalHeaderLabels(["Onset (s)", "Duration (s)", "Text"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self._on_activated)
        self.setWidget(self.table)
        viewer.recording_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Fills the table from the viewer's recording (empty when none)."""
        rec = self.viewer.recording
        annotations = rec.annotations if rec is not None else []
        self.table.setRowCount(len(annotations))
        for row, a in enumerate(annotations):
            onset = QTableWidgetItem(f"{a.onset:.3f}")
            onset.setData(Qt.ItemDataRole.UserRole, a.onset)
            onset.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            duration = QTableWidgetItem(f"{a.duration:.3f}" if a.duration > 0 else "-")
            duration.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            text = QTableWidgetItem(a.text)
            text.setToolTip(a.text)
            for col, item in enumerate((onset, duration, text)):
                self.table.setItem(row, col, item)
        self.setWindowTitle(f"Annotations ({len(annotations)})" if rec is not None else "Annotations")

    def activate_row(self, row: int) -> None:
        """Shows annotation `row` in the viewer (what a double-click or Enter does)."""
        item = self.table.item(row, 0)
        if item is not None:
            self.table.selectRow(row)
            self.viewer.jump_to(float(item.data(Qt.ItemDataRole.UserRole)))

    def _on_activated(self, index: QModelIndex) -> None:
        self.activate_row(index.row())


def with_annotation_dock(page: QWidget, viewer: SignalViewer) -> tuple[QMainWindow, AnnotationDock]:
    """`page` as the centre of a plain widget with a dock area, the annotation list docked right."""
    holder = QMainWindow()
    holder.setWindowFlags(Qt.WindowType.Widget)  # a widget inside a tab, not a window
    holder.setCentralWidget(page)
    dock = AnnotationDock(viewer, holder)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
    )
    holder.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return holder, dock
