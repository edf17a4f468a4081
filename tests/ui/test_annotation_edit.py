"""Annotations as EDFbrowser users handle them: a hypnogram added from its own file (a menu, or
dropped), spans marked on the traces, edits and deletions in the list or on the traces, a click in
the list jumps; the edits stay on the open recording, so a written copy and training labels carry
them."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.sleep_edf import PSG_START, STAGES, write_hypnogram, write_psg
from tests.ui.conftest import make_recording, save_screenshot
from ui.annotation_dialog import AnnotationDialog
from ui.annotation_dock import with_annotation_dock
from ui.view_annotations import place_annotations
from vqstudio.recording import Annotation

io = pytest.importorskip("vqstudio.io")


@pytest.fixture
def sleep_files(tmp_path):
    psg, hypnogram = str(tmp_path / "night1-PSG.edf"), str(tmp_path / "night1-Hypnogram.edf")
    write_psg(psg)
    write_hypnogram(hypnogram)
    return psg, hypnogram


@pytest.fixture
def viewer_and_dock(qtbot):
    """A viewer with the annotation list docked beside it, shown."""
    from ui.viewer import SignalViewer

    viewer = SignalViewer()
    holder, dock = with_annotation_dock(viewer, viewer)
    qtbot.addWidget(holder)
    holder.resize(1400, 600)
    holder.show()
    qtbot.waitExposed(holder)
    yield viewer, dock
    holder.close()  # held until here: the holder owns the viewer and the dock


def answer_dialog(monkeypatch, text: str | None, change=None) -> list[AnnotationDialog]:
    """AnnotationDialog.exec answers OK with `text` (None: Cancel); the dialogs are recorded."""
    seen: list[AnnotationDialog] = []

    def exec_(dialog):
        seen.append(dialog)
        if text is None:
            return 0
        dialog.text.setCurrentText(text)
        if change:
            change(dialog)
        return 1

    monkeypatch.setattr(AnnotationDialog, "exec", exec_)
    return seen


def test_annotations_of_another_file_line_up_by_start_time():
    rec = make_recording(seconds=60.0)
    rec.start = dt.datetime(2024, 1, 1, 22, 0, 0)
    notes = [Annotation(0.0, 30.0, "W"), Annotation(90.0, 30.0, "N1")]
    later = place_annotations(notes, dt.datetime(2024, 1, 1, 22, 0, 30), rec)
    assert [a.onset for a in later.annotations] == [30.0, 120.0] and later.shift == 30.0
    assert later.outside == 1 and "shifted by +30 s" in later.note
    # Starts that would put every annotation outside (an unknown date, 1985): taken as they are.
    odd = place_annotations(notes, dt.datetime(1985, 1, 1), rec)
    assert odd.shift == 0.0 and [a.onset for a in odd.annotations] == [0.0, 90.0]
    assert "taken from the recording's start" in odd.note
    same = place_annotations(notes, None, rec)
    assert same.shift == 0.0 and same.note == ""


def test_a_hypnogram_is_added_to_its_psg(viewer_and_dock, sleep_files):
    viewer, dock = viewer_and_dock
    psg, hypnogram = sleep_files
    viewer.set_recording(io.read_recording(psg))
    assert viewer.annotation_editor.import_file(hypnogram)
    rec = viewer.recording
    assert [(a.onset, a.duration, a.text) for a in rec.annotations] == list(STAGES)
    assert dock.table.rowCount() == 7 and dock.windowTitle() == "Annotations (7, edited)"
    assert dock.status.text() == "Added 7 annotation(s) from night1-Hypnogram.edf"
    assert [t for _, _, t in viewer.annotations._items] == ["Sleep stage W"]  # drawn on the page
    assert viewer.annotation_editor.import_file(hypnogram)  # again: nothing doubled
    assert len(rec.annotations) == 7 and "7 already there" in dock.status.text()


def test_a_file_that_holds_no_annotations_says_so(viewer_and_dock, sleep_files, dialogs):
    viewer, _ = viewer_and_dock
    psg, _ = sleep_files
    viewer.set_recording(io.read_recording(psg))
    assert not viewer.annotation_editor.import_file(psg + ".missing")
    assert dialogs and dialogs[-1][1] == "Cannot add annotations"


def drop(widget, paths: list[str]) -> bool:
    """Drags `paths` onto `widget` and drops them (Qt delivers a drop only after its drag
    entered); whether the drop was taken."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    enter = QDragEnterEvent(
        QPoint(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter.setAccepted(False)
    QApplication.sendEvent(widget, enter)
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    event.setAccepted(False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_dropping_a_hypnogram_on_the_traces_or_the_list_adds_it(viewer_and_dock, sleep_files):
    viewer, dock = viewer_and_dock
    psg, hypnogram = sleep_files
    viewer.set_recording(io.read_recording(psg))
    assert not drop(viewer.plot.viewport(), [psg])  # a recording is the window's to open
    assert viewer.recording.annotations == []
    assert drop(viewer.plot.viewport(), [hypnogram])
    assert len(viewer.recording.annotations) == 7
    viewer.recording.annotations.clear()
    drop(dock.table.viewport(), [hypnogram])
    assert len(viewer.recording.annotations) == 7


def mouse(viewer, kind: QEvent.Type, t: float, button=Qt.MouseButton.LeftButton) -> None:
    scene = viewer.view.mapViewToScene(QPointF(t, 0.0))
    pos = QPointF(viewer.plot.mapFromScene(scene))
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(
        kind, pos, viewer.plot.viewport().mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewer.plot.viewport(), event)


def test_dragging_across_the_traces_marks_a_span(viewer_and_dock, monkeypatch):
    viewer, dock = viewer_and_dock
    viewer.set_recording(make_recording(channels=3, seconds=60.0, rate=100.0))
    seen = answer_dialog(monkeypatch, "artefact")
    mouse(viewer, QEvent.Type.MouseButtonPress, 3.0)
    mouse(viewer, QEvent.Type.MouseMove, 5.0)
    mouse(viewer, QEvent.Type.MouseMove, 6.5)
    mouse(viewer, QEvent.Type.MouseButtonRelease, 6.5)
    assert len(seen) == 1 and seen[0].windowTitle() == "Add annotation"
    added = [a for a in viewer.recording.annotations if a.text == "artefact"]
    assert len(added) == 1
    assert added[0].onset == pytest.approx(3.0, abs=0.05) and added[0].duration == pytest.approx(
        3.5, abs=0.05
    )
    assert "artefact" in [dock.table.item(r, 2).text() for r in range(dock.table.rowCount())]
    # A click without a drag marks nothing.
    mouse(viewer, QEvent.Type.MouseButtonPress, 8.0)
    mouse(viewer, QEvent.Type.MouseButtonRelease, 8.0)
    assert len(seen) == 1


def test_right_click_adds_edits_and_deletes_at_that_time(viewer_and_dock, monkeypatch):
    viewer, _ = viewer_and_dock
    viewer.set_recording(make_recording(channels=3, seconds=60.0, rate=100.0))  # 'eyes closed' 2-5 s
    scene = viewer.view.mapViewToScene(QPointF(3.0, 1.0))
    menu = viewer.context_menu(viewer.plot.mapFromScene(scene))
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[0] == "Mark EEG2 bad"  # the channel's entries come first
    assert texts[-3:] == ["Add annotation at 3.00 s...", "Edit 'eyes closed'...", "Delete 'eyes closed'"]
    answer_dialog(monkeypatch, "eyes closed, relaxed", lambda d: d.duration.setValue(4.0))
    next(a for a in menu.actions() if a.text().startswith("Edit")).trigger()
    assert Annotation(2.0, 4.0, "eyes closed, relaxed") in viewer.recording.annotations
    menu = viewer.context_menu(viewer.plot.mapFromScene(scene))
    next(a for a in menu.actions() if a.text().startswith("Delete")).trigger()
    assert [a.text for a in viewer.recording.annotations] == ["blink"]
    answer_dialog(monkeypatch, "spike")
    next(a for a in menu.actions() if a.text().startswith("Add")).trigger()
    assert Annotation(3.0, 0.0, "spike") in viewer.recording.annotations


def test_a_single_click_in_the_list_jumps_and_keys_edit(viewer_and_dock, qtbot, monkeypatch):
    viewer, dock = viewer_and_dock
    rec = make_recording(channels=3, seconds=300.0, rate=100.0)
    rec.annotations = [Annotation(12.0, 0.0, "blink"), Annotation(200.0, 5.0, "seizure")]
    viewer.set_recording(rec)
    dock.show()
    qtbot.waitExposed(dock)
    rect = dock.table.visualRect(dock.table.model().index(1, 2))
    qtbot.mouseClick(dock.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert viewer.page_start == pytest.approx(199.0)  # one click: the event, a tenth of a page in
    qtbot.keyClick(dock.table, Qt.Key.Key_Up)  # arrow keys walk through the events
    assert viewer.page_start == pytest.approx(11.0)
    answer_dialog(monkeypatch, "blink (left eye)")
    dock.edit_row(0)
    assert (
        dock.table.item(0, 2).text() == "blink (left eye)" and rec.annotations[0].text == "blink (left eye)"
    )
    dock.table.selectRow(1)
    qtbot.keyClick(dock.table, Qt.Key.Key_Delete)
    assert [a.text for a in rec.annotations] == ["blink (left eye)"] and dock.table.rowCount() == 1
    viewer.set_page(40.0)
    answer_dialog(monkeypatch, None)  # Cancel adds nothing
    dock.buttons["add"].click()
    assert len(rec.annotations) == 1
    seen = answer_dialog(monkeypatch, "note")
    dock.buttons["add"].click()
    assert seen[0].onset.value() == 40.0 and Annotation(40.0, 0.0, "note") in rec.annotations


def test_edits_reach_a_written_copy_and_training_labels(viewer_and_dock, sleep_files, tmp_path):
    from vqstudio.data.prep import PrepConfig, prepare

    viewer, _ = viewer_and_dock
    psg, hypnogram = sleep_files
    viewer.set_recording(io.read_recording(psg))
    viewer.annotation_editor.import_file(hypnogram)
    viewer.annotation_editor.add(Annotation(150.0, 2.0, "arousal"))
    out = str(tmp_path / "psg_scored.edf")
    io.write_recording(viewer.recording, out)
    assert [a.text for a in io.read_recording(out).annotations].count("Sleep stage 2") == 1
    assert "arousal" in [a.text for a in io.read_recording(out).annotations]
    config = PrepConfig(channels=("EEG Fpz-Cz", "EEG Pz-Oz"), window_s=10.0, labels="annotations")
    prepared = prepare([viewer.recording], config)
    assert {"Sleep stage W", "Sleep stage 2", "Sleep stage 3"} <= set(prepared.label_names)
    assert viewer.recording.start == PSG_START


def test_the_file_menu_adds_a_hypnogram_and_drops_on_the_window_do_too(window, sleep_files, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    psg, hypnogram = sleep_files
    action = window.actions["add_annotations"]
    assert not action.isEnabled()  # nothing to add them to yet
    assert window.load_path(psg)
    assert action.isEnabled() and action in window.menuBar().actions()[0].menu().actions()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (hypnogram, ""))
    action.trigger()
    assert len(window.viewer.recording.annotations) == 7
    window.viewer.recording.annotations.clear()
    assert drop(window, [hypnogram])  # dropped on the window, not on the traces
    assert len(window.session.recording.annotations) == 7
    assert window.session.recording is window.viewer.recording  # training takes this recording


def test_file_open_of_a_hypnogram_adds_it_to_the_recording_shown(window, sleep_files, dialogs):
    """File > Open (or a recent file) of annotations only: with its PSG shown they are added to
    it; with nothing open the reason says what to do, and nothing is opened."""
    psg, hypnogram = sleep_files
    assert not window.load_path(hypnogram)
    assert "annotations only" in dialogs[-1][2] and window.session.recording is None
    assert window.load_path(psg)
    assert window.load_path(hypnogram)
    assert len(window.viewer.recording.annotations) == 7
    assert len(window.session.files) == 1  # added to the PSG, not opened beside it


def test_screenshot_of_a_hypnogram_on_its_psg(window, sleep_files):
    psg, hypnogram = sleep_files
    assert window.load_path(psg)
    window.viewer.annotation_editor.import_file(hypnogram)
    window.viewer.set_page_length(30.0)  # a scoring epoch
    window.annotation_dock.activate_row(3)  # Sleep stage 3 at 180 s, stage 2 before it
    save_screenshot(window, "viewer_hypnogram_on_psg")


def test_a_copy_with_the_annotations_is_saved_never_over_the_file(
    viewer_and_dock, sleep_files, tmp_path, monkeypatch, dialogs
):
    from PySide6.QtWidgets import QFileDialog

    viewer, dock = viewer_and_dock
    psg, hypnogram = sleep_files
    viewer.set_recording(io.read_recording(psg))
    viewer.annotation_editor.import_file(hypnogram)
    assert dock.windowTitle() == "Annotations (7, edited)"  # edits live in memory until saved
    out = str(tmp_path / "scored")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (out, ""))
    dock.buttons["save"].click()
    written = io.read_recording(out + ".edf")
    assert [(a.onset, a.duration, a.text) for a in written.annotations] == list(STAGES)
    assert dock.windowTitle() == "Annotations (7)"
    assert dock.status.text().startswith("Saved scored.edf with 7 annotation(s)")
    assert not viewer.annotation_editor.save_copy(psg)  # the file it was read from: refused
    assert dialogs[-1][1] == "Cannot save the copy"


def test_quitting_with_unsaved_annotation_edits_asks_first(window, sleep_files, monkeypatch, tmp_path):
    """Edits live in memory until a copy holds them: closing asks, Cancel stays, Save writes a
    copy (never over the file) and quits, Discard quits."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    psg, _ = sleep_files
    assert window.load_path(psg)
    window.viewer.annotation_editor.add(Annotation(5.0, 1.0, "arousal"))
    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save])
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: next(answers))
    copy = str(tmp_path / "scored.edf")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (copy, ""))
    assert not window.close()  # Cancel: still open, edits kept
    assert window.isVisible() and window.viewer.annotation_editor.unsaved()
    assert window.close()  # Save: the copy is written, then the window closes
    from vqstudio.io import read_recording

    assert any(a.text == "arousal" for a in read_recording(copy).annotations)
