"""The viewer inside the main window: annotation list, bad channels in the session and in the
Train tab's default, one title per file in the Recording list, the View menu's actions."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from tests.ui.conftest import make_recording
from ui.viewer import BAD_COLOR
from vqstudio.recording import Annotation


def test_annotation_list_jumps_to_the_event(window, qtbot):
    rec = make_recording(channels=3, seconds=300.0, rate=100.0)
    rec.annotations = [Annotation(12.0, 0.0, "blink"), Annotation(200.0, 5.0, "seizure")]
    window.open_recording(rec, "events")
    dock = window.annotation_dock
    assert not dock.isHidden() and dock.table.rowCount() == 2
    assert [dock.table.item(r, 2).text() for r in range(2)] == ["blink", "seizure"]
    assert dock.table.item(1, 1).text() == "5.000" and dock.table.item(0, 1).text() == "-"
    dock.activate_row(1)
    viewer = window.viewer
    assert viewer.page_start == pytest.approx(199.0)  # the event a tenth of a page in
    assert viewer.page_start <= 200.0 < viewer.page_start + viewer.page_length
    assert [t for _, _, t in viewer.annotations._items] == ["seizure"]
    window.actions["annotations"].trigger()
    assert dock.isHidden()
    window.actions["annotations"].trigger()
    assert not dock.isHidden()
    window.close_recording()
    assert dock.table.rowCount() == 0


def test_bad_channels_are_kept_in_the_session_and_left_out_of_training(window):
    window.open_recording(make_recording(channels=4, seconds=60.0, rate=100.0), "rec")
    assert window.training.checked_channels() == ["EEG1", "EEG2", "EEG3", "ECG"]
    window.viewer.toggle_bad("EEG2")  # what the channel menu's "Mark EEG2 bad" does
    assert window.session.current_file.bad_channels == {"EEG2"}
    assert window.training.checked_channels() == ["EEG1", "EEG3", "ECG"]
    assert window.viewer.traces._pens[1].color() == QColor(BAD_COLOR)
    assert window.viewer.page_start == 0.0
    window.viewer.set_page(20.0)
    window.viewer.toggle_bad("EEG2")  # good again; the page stays where it was
    assert window.session.current_file.bad_channels == set()
    assert window.viewer.page_start == 20.0
    assert "EEG2" in window.training.checked_channels()
    # Each file keeps its own bad set.
    window.session.set_bad_channels({"ECG"})
    window.open_recording(make_recording(channels=3, seconds=30.0, rate=100.0), "other")
    assert window.viewer.bad_channels == set()
    window.session.select(0)
    assert window.viewer.bad_channels == {"ECG"}
    assert window.viewer.channel_axis.greyed == {"ECG"}


def test_files_of_the_same_name_show_their_folder(window):
    window.session.add_recording(make_recording(seconds=20.0), path="/data/subject1/S001R01.edf")
    window.session.add_recording(make_recording(seconds=20.0), path="/data/subject2/S001R01.edf")
    window.session.add_recording(make_recording(seconds=20.0), path="/data/subject2/S001R02.edf")
    items = [window.file_box.itemText(i) for i in range(window.file_box.count())]
    assert items == ["S001R01.edf — subject1/", "S001R01.edf — subject2/", "S001R02.edf"]


def test_view_actions_are_in_the_view_menu_and_act_on_the_viewer(window):
    names = ["channels_up", "channels_down", "more_channels", "fewer_channels", "display_filters",
             "average_reference", "annotations"]  # fmt: skip
    view_menu = next(m for m in window.menuBar().actions() if m.text() == "&View").menu()
    assert all(window.actions[n] in view_menu.actions() for n in names)
    assert all(not window.actions[n].isEnabled() for n in names)  # no recording yet
    window.open_recording(make_recording(channels=30, seconds=60.0, rate=100.0), "many")
    assert all(window.actions[n].isEnabled() and not window.actions[n].shortcut().isEmpty() for n in names)
    viewer = window.viewer
    window.actions["channels_down"].trigger()
    assert viewer.first_row == 10  # 30 channels, 20 a page: the last page starts at 10
    window.actions["fewer_channels"].trigger()
    assert viewer.channels_per_page == 16
    window.actions["average_reference"].trigger()
    assert viewer.reference.kind == "average"
    window.actions["display_filters"].trigger()
    assert not viewer._filters_on


def test_a_window_with_a_recording_open_fits_a_small_screen(window, qtbot):
    """The viewer's control bars wrap onto more rows instead of holding the window wide: with a
    recording and its annotation list open, the window narrows to 760 px and every control
    stays inside it."""
    window.open_recording(make_recording(channels=20), "twenty channels")
    qtbot.waitUntil(lambda: window.viewer is not None and window.viewer.isVisible())
    assert window.minimumSizeHint().width() <= 760
    one_row = window.viewer.display.height()
    window.resize(760, 560)
    qtbot.waitUntil(lambda: window.width() == 760)
    qtbot.wait(50)
    assert window.viewer.display.height() > one_row  # the bar wrapped
    for bar in (window.viewer.page_bar, window.viewer.display):
        for child in bar.findChildren(QWidget):
            if child.isVisibleTo(bar) and child.parentWidget() is bar:
                right = child.mapTo(window, child.rect().topRight()).x()
                assert right <= window.width(), f"{type(child).__name__} is cut off at {right} px"
