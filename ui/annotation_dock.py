"""The annotation list: a dock with one row per annotation (onset, duration, text), and its edits.

A click on a row (or moving to it with the arrow keys) shows that event in the viewer, as in
EDFbrowser; a double-click or Edit... changes it, Delete (the button or the key) removes it,
Add... marks a new one at the page shown, From file... adds the annotations of a Sleep-EDF
hypnogram or any EDF+ file of annotations (dropping the file on the list does too), and Save
copy... writes the recording with its annotations as a new EDF+ file (the title says "edited"
until then: edits live in memory). Every edit
goes through the viewer's `AnnotationEditor`, which changes the open recording itself. A new
recording in the viewer refills the list. `with_annotation_dock` puts the dock beside the
viewer's page, so the list belongs to the Signals tab rather than to every tab of the window.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.viewer import SignalViewer
from vqstudio.recording import Annotation

__all__ = ["AnnotationDock", "with_annotation_dock"]


class _Table(QTableWidget):
    """A table that asks for room for its three columns (a dock starts at its content's size
    hint) while it may still shrink to a narrow window; Delete removes the selected row."""

    def __init__(self, dock: AnnotationDock) -> None:
        super().__init__(0, 3)
        self.dock = dock

    def sizeHint(self) -> QSize:
        return QSize(300, 400)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.dock.delete_selected()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.dock.activate_row(self.currentRow())
        else:
            super().keyPressEvent(event)


class AnnotationDock(QDockWidget):
    """Lists the viewer's annotations; a click jumps the viewer there; edits go through the
    viewer's annotation editor."""

    def __init__(self, viewer: SignalViewer, parent: QWidget | None = None) -> None:
        super().__init__("Annotations", parent)
        self.setObjectName("annotations_dock")  # saveState/restoreState find it by name
        self.viewer = viewer
        self.editor = viewer.annotation_editor
        self._annotations: list[Annotation] = []  # as listed, row by row
        self._filling = False  # refilling the table moves its current cell: no jump then
        self.table = _Table(self)
        self.table.setHorizontalHeaderLabels(["Onset (s)", "Duration (s)", "Text"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.clicked.connect(self._on_clicked)
        self.table.currentCellChanged.connect(self._on_current_changed)
        self.table.doubleClicked.connect(lambda index: self.edit_row(index.row()))
        self.table.setToolTip("Click: show the event; double-click: edit it; Delete: remove it")
        self.buttons = {}
        add_tip = "Add an annotation at the page shown (or drag across the traces)"
        import_tip = "Add the annotations of an EDF+ file (a hypnogram)"
        save_tip = "Write the recording with these annotations as a new EDF+ file"
        edit_current = lambda: self.edit_row(self.table.currentRow())  # noqa: E731
        rows = (  # edits above, files below: the dock stays narrow
            (
                ("add", "Add...", add_tip, self.add_here),
                ("edit", "Edit...", "Change the selected annotation (or double-click it)", edit_current),
                ("delete", "Delete", "Remove the selected annotation (Delete)", self.delete_selected),
            ),
            (
                ("import", "From file...", import_tip, self.editor.choose_file),
                ("save", "Save copy...", save_tip, self.editor.save_copy),
            ),
        )
        bars = []
        for row in rows:
            bar = QHBoxLayout()
            bar.setContentsMargins(0, 0, 0, 0)
            for name, text, tip, slot in row:
                button = QPushButton(text)
                button.setToolTip(tip)
                button.clicked.connect(lambda _=False, slot=slot: slot())
                bar.addWidget(button)
                self.buttons[name] = button
            bar.addStretch(1)
            bars.append(bar)
        self.status = QLabel()
        self.status.setWordWrap(True)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(2, 2, 2, 2)
        for bar in bars:
            column.addLayout(bar)
        column.addWidget(self.table, 1)
        column.addWidget(self.status)
        self.setWidget(holder)
        self.editor.watch_drops(self.table.viewport())
        self.editor.changed.connect(self.refresh)
        self.editor.message.connect(self.status.setText)
        viewer.recording_changed.connect(self._on_recording_changed)
        self.refresh()

    def _on_recording_changed(self) -> None:
        self.status.setText("")
        self.refresh()

    def refresh(self) -> None:
        """Fills the table from the viewer's recording (empty when none), keeping the row shown."""
        rec = self.viewer.recording
        current = self.selected()
        annotations = list(rec.annotations) if rec is not None else []
        self._annotations = annotations
        self._filling = True
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
        if current in annotations:
            self.table.selectRow(annotations.index(current))
        else:
            self.table.clearSelection()
        self._filling = False
        for button in self.buttons.values():
            button.setEnabled(rec is not None)
        edited = ", edited" if self.editor.is_edited else ""
        self.setWindowTitle(f"Annotations ({len(annotations)}{edited})" if rec is not None else "Annotations")
        self.buttons["save"].setEnabled(rec is not None and rec.channels != [])

    def selected(self) -> Annotation | None:
        """The annotation of the selected row, or None."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        row = rows[0].row() if rows else -1
        return self._annotations[row] if 0 <= row < len(self._annotations) else None

    def activate_row(self, row: int) -> None:
        """Shows annotation `row` in the viewer (what a click does)."""
        if 0 <= row < len(self._annotations):
            self.table.selectRow(row)
            self.viewer.jump_to(self._annotations[row].onset)

    def _on_clicked(self, index: QModelIndex) -> None:
        self.activate_row(index.row())

    def _on_current_changed(self, row: int, *_: int) -> None:
        if not self._filling and row >= 0:  # arrow keys move through the events
            self.viewer.jump_to(self._annotations[row].onset)

    def edit_row(self, row: int) -> None:
        """The edit dialog for annotation `row`."""
        if 0 <= row < len(self._annotations):
            self.editor.ask_edit(self._annotations[row])

    def delete_selected(self) -> None:
        """Removes the selected annotation; the next row is selected."""
        chosen, row = self.selected(), self.table.currentRow()
        if chosen is not None:
            self.editor.remove(chosen)
            if self._annotations:
                self.table.selectRow(min(row, len(self._annotations) - 1))

    def add_here(self) -> None:
        """Asks a new annotation at the start of the page shown."""
        self.editor.ask_add(round(self.viewer.page_start, 3))


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
