"""What the viewer remembers between runs: per file (bad channels, reference, hidden channels,
display filters) and for every file (channels per page, page length, trace options, amplitude
scales)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import make_recording
from ui.settings import MAX_FILE_VIEWS, Settings
from ui.view_filters import ViewFilters
from ui.view_reference import Reference
from ui.view_scale import step_scale

io = pytest.importorskip("vqstudio.io")


@pytest.fixture
def edf_path(tmp_path) -> str:
    path = tmp_path / "memory.edf"
    io.write_recording(make_recording(channels=5, seconds=30.0, rate=128.0), str(path))
    return str(path)


@pytest.fixture
def new_window(qtbot):
    """Makes further main windows (a later run of the app), shown, closed at the end."""
    from ui.mainwindow import MainWindow

    def make() -> MainWindow:
        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


def test_bad_channels_reference_and_hidden_channels_come_back_with_the_file(window, new_window, edf_path):
    assert window.load_path(edf_path)
    viewer = window.viewer
    viewer.toggle_bad("EEG2")  # the channel menu's "Mark EEG2 bad"
    viewer.set_reference(Reference("channel", "EEG1"))  # "Use EEG1 as reference"
    viewer.set_visible_channels([n for n in viewer.shown_channels if n != "EEG4"])  # "Hide EEG4"
    window.close()

    again = new_window()
    assert again.viewer.recording is None
    assert again.load_path(edf_path)
    assert again.session.current_file.bad_channels == {"EEG2"}
    assert again.viewer.bad_channels == {"EEG2"}
    assert "EEG2" not in again.training.checked_channels()  # training leaves it out again
    assert again.viewer.reference == Reference("channel", "EEG1")
    assert again.viewer.display.reference() == Reference("channel", "EEG1")
    assert again.viewer.shown_channels == ["EEG1", "EEG2", "EEG3", "ECG"]


def test_each_open_file_keeps_its_reference_when_switching(window, tmp_path, edf_path):
    other = str(tmp_path / "other.edf")
    io.write_recording(make_recording(channels=3, seconds=20.0, rate=128.0, seed=1), other)
    window.load_path(edf_path)
    window.viewer.set_reference(Reference("average"))
    window.load_path(other)
    assert window.viewer.reference == Reference()  # the other file: as recorded
    window.session.select(0)
    assert window.viewer.reference == Reference("average")
    # Back to the defaults: nothing is kept for the file.
    window.viewer.set_reference(Reference())
    window.close_recording()
    assert Settings().file_view([f"path:{edf_path}"]) is None


def test_rows_page_length_and_scales_come_back_in_a_new_window(window, new_window, edf_path):
    viewer = window.viewer
    viewer.set_channels_per_page(4)
    viewer.set_page_length(20.0)
    window.load_path(edf_path)
    auto = viewer.scales
    viewer.scale_by(0.5, "uV")  # larger EEG traces; the ECG keeps its automatic scale
    viewer.display.clip_action.trigger()
    window.close()

    again = new_window()
    v = again.viewer
    assert v.rows_setting == 4 and v.display.rows_box.currentData() == 4
    assert v.page_length == 20.0 and v.page_box.currentData() == 20.0
    assert v.trace_options.clip_to_row and v.display.clip_action.isChecked()
    again.open_recording(make_recording(channels=6, seconds=30.0), "another recording")
    assert v.channels_per_page == 4
    assert v.scales["uV"] == pytest.approx(step_scale(auto["uV"], 0.5))
    assert v.scales["mV"] == pytest.approx(auto["mV"])


def test_filters_stay_with_their_file(window, new_window, tmp_path, edf_path):
    """A 1 Hz high-pass chosen for an EEG file does not reach a CSV's respiration channel."""
    csv = tmp_path / "resp.csv"
    csv.write_text("time_s,Resp\n" + "\n".join(f"{i / 10:.1f},{i % 40}" for i in range(600)))
    window.load_path(edf_path)
    window.viewer.set_filters(ViewFilters(1.0, 40.0, 50.0))
    assert window.load_path(str(csv))
    assert window.viewer.filters == ViewFilters()  # a new file: unfiltered
    assert window.viewer.display.filters() == ViewFilters()
    window.viewer.set_filters(ViewFilters(None, 0.5, None))
    window.session.select(0)
    assert window.viewer.filters == ViewFilters(1.0, 40.0, 50.0)
    window.session.select(1)
    assert window.viewer.filters == ViewFilters(None, 0.5, None)
    window.close()

    again = new_window()
    assert again.viewer.filters == ViewFilters()
    assert again.load_path(str(csv)) and again.viewer.filters == ViewFilters(None, 0.5, None)
    assert again.load_path(edf_path) and again.viewer.filters == ViewFilters(1.0, 40.0, 50.0)


def test_recordings_that_are_no_file_keep_their_filters_for_the_run(window):
    first, second = make_recording(seed=1), make_recording(seed=2)
    window.open_recording(first, "first")
    window.viewer.set_filters(ViewFilters(0.5, None, None))
    window.open_recording(second, "second")
    assert window.viewer.filters == ViewFilters()
    window.session.select(0)
    assert window.viewer.filters == ViewFilters(0.5, None, None)


def test_filters_switched_off_stay_off_with_their_corners(window, new_window, edf_path):
    window.load_path(edf_path)
    window.viewer.set_filters(ViewFilters(1.0, None, 60.0))
    window.viewer.toggle_filters()
    window.close()
    again = new_window()
    assert again.load_path(edf_path)
    v = again.viewer
    assert v.chosen_filters == (ViewFilters(1.0, None, 60.0), False)
    assert v.filters == ViewFilters()


def test_stale_entries_are_ignored(window, edf_path):
    settings = Settings()
    settings.set_file_view(
        [f"path:{edf_path}"],
        {
            "bad": ["EEG3", "Gone"],
            "reference": ["channel", "Gone"],
            "hidden": ["Gone", "ECG"],
            "filters": [-1, "x", None],
        },
    )
    settings.set_display_prefs({"rows": 7, "scales": {"uv": "big"}, "remove_dc": "x"})
    settings.sync()
    assert window.load_path(edf_path)
    v = window.viewer
    assert window.session.current_file.bad_channels == {"EEG3"}
    assert v.reference == Reference()  # the reference channel is gone: as recorded
    assert v.shown_channels == ["EEG1", "EEG2", "EEG3", "EEG4"]
    assert v.filters == ViewFilters() and v.trace_options.remove_dc


def test_unreadable_settings_and_unknown_reference_kinds_open_as_new(window, edf_path):
    settings = Settings()
    settings._q.setValue("view/files", "{not json")
    settings._q.setValue("view/display", "[1, 2")
    settings.sync()
    assert window.load_path(edf_path)
    assert window.viewer.reference == Reference() and window.viewer.bad_channels == set()
    settings.set_file_view([f"path:{edf_path}"], {"bad": "EEG1", "reference": ["sideways", ""]})
    window.close_recording()  # stores the defaults: the entry above is forgotten
    assert settings.file_view([f"path:{edf_path}"]) is None
    settings.set_file_view([f"path:{edf_path}"], {"bad": "EEG1", "reference": ["sideways", ""]})
    assert window.load_path(edf_path)
    assert window.viewer.reference == Reference() and window.viewer.bad_channels == set()


def test_at_most_max_file_views_files_are_kept_oldest_dropped_first():
    settings = Settings()
    for i in range(MAX_FILE_VIEWS + 5):
        settings.set_file_view([f"path:/f{i}"], {"bad": [str(i)]})
    assert settings.file_view(["path:/f0"]) is None and settings.file_view(["path:/f4"]) is None
    assert settings.file_view(["path:/f5"]) == {"bad": ["5"]}
    settings.set_file_view(["path:/f5"], {"bad": ["again"]})  # used again: newest now
    settings.set_file_view(["path:/new"], {"bad": []})
    assert settings.file_view(["path:/f5"]) == {"bad": ["again"]}
    assert settings.file_view(["path:/f6"]) is None
    assert settings.file_view(["sha256:abc", "path:/f7"]) == {"bad": ["7"]}  # first key that has one
