"""Adding, editing and deleting the annotations of the recording shown, as EDFbrowser users do.

`AnnotationEditor` is the one place annotations change: the annotation list, the traces and a
dropped file all go through it. Edits change the open recording itself (`Recording.add_annotations`
and its kin), so training with labels from annotations and a recording written out carry them;
each edit redraws the viewer and emits `changed`. Edits live in memory until `save_copy` writes
the recording with them as a new EDF+/BDF+ file (EDFbrowser's "save as"), which MNE and
EDFbrowser read back.

On the traces: drag across the page with the left button to mark a span (a dialog asks its
text), or right-click for "Add annotation at 12.3 s...", "Edit 'blink'..." and "Delete
'blink'". A Sleep-EDF hypnogram (any EDF+ file of annotations) dropped on the viewer, the list
or the window adds its annotations, lined up by the files' start times (`ui.view_annotations`).
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from ui.view_annotations import annotations_at, place_annotations
from vqstudio.errors import VQStudioError
from vqstudio.recording import Annotation, Recording

if TYPE_CHECKING:
    from ui.viewer import SignalViewer

__all__ = ["AnnotationEditor"]

SAVE_FILTER = "EDF+ (*.edf);;BDF+ (*.bdf)"
DRAG_PIXELS = 5  # a drag shorter than this is a click, not a span
CLICK_PIXELS = 4  # an instant annotation is "under" the mouse within this many pixels


def _local_paths(event: QDragEnterEvent | QDropEvent) -> list[str]:
    data = event.mimeData()
    return [u.toLocalFile() for u in data.urls() if u.isLocalFile()] if data.hasUrls() else []


class AnnotationEditor(QObject):
    """Edits the annotations of `viewer`'s recording; see the module's docstring."""

    changed = Signal()  # the annotations of the recording shown changed
    message = Signal(str)  # what an import did, in a line for the user

    def __init__(self, viewer: SignalViewer) -> None:
        super().__init__(viewer)
        self.viewer = viewer
        self._drag_from: tuple[float, float] | None = None  # (time s, x pixel) where it began
        self._region: pg.LinearRegionItem | None = None
        self._dragged: tuple[list[str], list[str]] = ([], [])  # paths dragged, those of annotations
        self.last_message = ""
        # Recordings (by id) whose annotations changed since opened or last saved: the list says
        # so, since edits live in memory until a copy is written.
        self._edited: dict[int, weakref.ref[Recording]] = {}
        viewer.plot.viewport().installEventFilter(self)

    @property
    def recording(self) -> Recording | None:
        return self.viewer.recording

    def texts(self) -> list[str]:
        """The texts the recording uses, most used first (the dialog offers them)."""
        rec = self.recording
        if rec is None:
            return []
        counts: dict[str, int] = {}
        for a in rec.annotations:
            counts[a.text] = counts.get(a.text, 0) + 1
        return sorted(counts, key=lambda t: -counts[t])

    # --- edits ---------------------------------------------------------------------------------
    def _done(self) -> None:
        rec = self.recording
        if rec is not None:
            self._edited = {k: r for k, r in self._edited.items() if r() is not None}
            self._edited[id(rec)] = weakref.ref(rec)
        self.viewer.redraw()
        self.changed.emit()

    @property
    def is_edited(self) -> bool:
        """Whether the recording shown has annotation edits not yet saved in a copy."""
        rec = self.recording
        kept = self._edited.get(id(rec)) if rec is not None else None
        return kept is not None and kept() is rec

    def add(self, annotation: Annotation) -> bool:
        """Adds `annotation` (False when the recording already has it, or none is shown)."""
        if self.recording is None or not self.recording.add_annotations([annotation]):
            return False
        self._done()
        return True

    def replace(self, old: Annotation, new: Annotation) -> None:
        if self.recording is not None and old != new:
            self.recording.replace_annotation(old, new)
            self._done()

    def remove(self, annotation: Annotation) -> None:
        if self.recording is not None and self.recording.remove_annotation(annotation):
            self._done()

    # --- dialogs -------------------------------------------------------------------------------
    def _dialog(self, annotation: Annotation, title: str) -> Annotation | None:
        from ui.annotation_dialog import AnnotationDialog

        assert self.recording is not None
        dialog = AnnotationDialog(annotation, self.recording.duration, self.texts(), title, self.viewer)
        return dialog.annotation() if dialog.exec() else None

    def ask_add(self, onset: float, duration: float = 0.0) -> Annotation | None:
        """Asks the text of a new annotation at `onset` (with the last text used offered)."""
        if self.recording is None:
            return None
        texts = self.texts()
        new = self._dialog(Annotation(onset, duration, texts[0] if texts else ""), "Add annotation")
        if new is not None:
            self.add(new)
        return new

    def ask_edit(self, annotation: Annotation) -> Annotation | None:
        """Asks for the new onset, duration and text of `annotation`."""
        if self.recording is None:
            return None
        new = self._dialog(annotation, "Edit annotation")
        if new is not None:
            self.replace(annotation, new)
        return new

    # --- from another file ---------------------------------------------------------------------
    def choose_file(self) -> bool:
        """Asks for an EDF+ file of annotations (a hypnogram) and adds what it holds."""
        from vqstudio.io import ANNOTATION_FILE_FILTER

        if self.recording is None:
            return False
        source = self.recording.source
        folder = os.path.dirname(source.path) if source and source.path else ""
        path, _ = QFileDialog.getOpenFileName(
            self.viewer, "Add annotations from file", folder, ANNOTATION_FILE_FILTER
        )
        return self.import_file(path) if path else False

    def import_file(self, path: str) -> bool:
        """Adds the annotations of the EDF+/BDF+ file `path` to the recording shown, lined up by
        start time; says what it did (`message`). A file that cannot be read shows its reason."""
        from ui.errors import show_exception
        from vqstudio.io import read_annotations

        rec = self.recording
        if rec is None:
            return False
        try:
            found = read_annotations(path)
        except VQStudioError as error:
            show_exception(self.viewer, "Cannot add annotations", error)
            return False
        placed = place_annotations(found.annotations, found.start, rec)
        added = rec.add_annotations(placed.annotations)
        name = os.path.basename(path)
        parts = [f"Added {added} annotation(s) from {name}"]
        if added < len(placed.annotations):
            parts.append(f"{len(placed.annotations) - added} already there")
        if placed.outside:
            parts.append(f"{placed.outside} lie outside the recording")
        if placed.note:
            parts.append(placed.note)
        self.last_message = "; ".join(parts)
        self.message.emit(self.last_message)
        if added:
            self._done()
        return True

    def unsaved(self) -> list[Recording]:
        """The open recordings whose annotation edits no copy holds yet."""
        return [r for r in (ref() for ref in self._edited.values()) if r is not None]

    def save_copy(self, path: str | None = None, recording: Recording | None = None) -> bool:
        """Writes `recording` (by default the one shown), with its annotations, as a new EDF+/BDF+
        file (asked for when `path` is None); never over the file it was read from (the writer
        refuses)."""
        from ui.errors import show_exception
        from vqstudio.io import write_recording

        rec = recording or self.recording
        if rec is None:
            return False
        if path is None:
            stem = os.path.splitext(rec.source.path)[0] if rec.source and rec.source.path else "recording"
            path, _ = QFileDialog.getSaveFileName(
                self.viewer, "Save a copy with the annotations", stem + "_annotated.edf", SAVE_FILTER
            )
            if not path:
                return False
            if os.path.splitext(path)[1].lower() not in (".edf", ".bdf"):
                path += ".edf"
        try:
            report = write_recording(rec, path)
        except (VQStudioError, OSError) as error:
            show_exception(self.viewer, "Cannot save the copy", error)
            return False
        self._edited.pop(id(rec), None)
        notes = "; ".join(str(n) for n in report.notes)
        said = f"Saved {os.path.basename(path)} with {len(rec.annotations)} annotation(s)"
        self.last_message = said + (f" ({notes})" if notes else "")
        self.message.emit(self.last_message)
        self.changed.emit()
        return True

    def annotation_files(self, paths: list[str]) -> list[str]:
        """Those of `paths` that are EDF+ files of annotations only, when a recording is shown."""
        from vqstudio.io import annotations_only

        return [p for p in paths if annotations_only(p)] if self.recording is not None else []

    def watch_drops(self, widget: QWidget) -> None:
        """Takes drops of annotation files on `widget` (the rest go on as before)."""
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def _drag_event(self, event: QEvent) -> bool:
        """Accepts and, on a drop, imports annotation files; True when it took the event."""
        assert isinstance(event, (QDragEnterEvent, QDropEvent))
        paths = _local_paths(event)
        if not paths:
            return False
        if paths != self._dragged[0]:  # a drag moves often: read each file's header once
            self._dragged = (paths, self.annotation_files(paths))
        wanted = self._dragged[1]
        if not wanted or len(wanted) != len(paths):
            return False  # recordings (or a mix): the window opens them
        event.acceptProposedAction()
        if event.type() == QEvent.Type.Drop:
            for path in wanted:
                self.import_file(path)
        return True

    # --- on the traces -------------------------------------------------------------------------
    def _time_at(self, pos: QPointF) -> float:
        view = self.viewer.view
        return float(view.mapSceneToView(self.viewer.plot.mapToScene(pos.toPoint())).x())

    def _seconds_per_pixel(self) -> float:
        return self.viewer.page_length / max(1.0, float(self.viewer.view.width()))

    def extend_menu(self, menu: QMenu, t: float) -> None:
        """Adds the annotation entries for time `t` to a right-click menu."""
        rec = self.recording
        if rec is None or not 0 <= t <= rec.duration:
            return
        if not menu.isEmpty():
            menu.addSeparator()
        menu.addAction(f"Add annotation at {t:.2f} s...").triggered.connect(lambda: self.ask_add(round(t, 2)))
        for a in annotations_at(rec, t, CLICK_PIXELS * self._seconds_per_pixel()):
            short = a.text if len(a.text) <= 24 else a.text[:23] + "…"
            menu.addAction(f"Edit '{short}'...").triggered.connect(lambda _=False, a=a: self.ask_edit(a))
            menu.addAction(f"Delete '{short}'").triggered.connect(lambda _=False, a=a: self.remove(a))

    def _show_region(self, t0: float, t1: float) -> None:
        if self._region is None:
            color = QColor(self.viewer.annotations._color)
            color.setAlpha(60)
            self._region = pg.LinearRegionItem((t0, t1), movable=False, brush=color)
            self._region.setZValue(5)
            self.viewer.plot.addItem(self._region)
        self._region.setRegion((t0, t1))

    def _end_drag(self) -> tuple[float, float] | None:
        region, self._region, self._drag_from = self._region, None, None
        if region is None:
            return None
        self.viewer.plot.removeItem(region)
        a, b = region.getRegion()
        return float(min(a, b)), float(max(a, b))

    def _mouse_event(self, event: QMouseEvent) -> None:
        """Left-drag across the traces: mark a span, then ask its text."""
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            if self.recording is not None and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                self._drag_from = (self._time_at(event.position()), event.position().x())
        elif kind == QEvent.Type.MouseMove and self._drag_from is not None:
            if abs(event.position().x() - self._drag_from[1]) >= DRAG_PIXELS or self._region is not None:
                self._show_region(self._drag_from[0], self._time_at(event.position()))
        elif kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            span = self._end_drag()
            rec = self.recording
            if span is not None and rec is not None:
                t0, t1 = max(0.0, span[0]), min(rec.duration, span[1])
                if t1 > t0:
                    self.ask_add(round(t0, 3), round(t1 - t0, 3))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return self._drag_event(event)
        if isinstance(event, QMouseEvent) and watched is self.viewer.plot.viewport():
            self._mouse_event(event)
        return False
