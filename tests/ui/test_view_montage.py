"""Bipolar montages in the viewer: the double banana and the user's pairs, as a reference choice."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.conftest import save_screenshot
from tests.ui.eeg_1020 import ELECTRODES, make_1020
from ui.view_montage import DOUBLE_BANANA, bipolar_channels, find_channel, format_pairs, parse_pairs
from ui.view_reference import Reference
from ui.viewer_controls import DOUBLE_BANANA_REFERENCE

io = pytest.importorskip("vqstudio.io")

BANANA_ROWS = [f"{a}-{b}" for a, b in DOUBLE_BANANA]


def test_pairs_are_read_in_the_ways_people_write_them():
    text = "Fp1-F7\nF7 T7\n  T7, P7  # left temporal\n\nEEG Fpz-Cz - EEG Pz-Oz\nC3;C4\n"
    assert parse_pairs(text) == [
        ("Fp1", "F7"),
        ("F7", "T7"),
        ("T7", "P7"),
        ("EEG Fpz-Cz", "EEG Pz-Oz"),
        ("C3", "C4"),
    ]
    assert parse_pairs(format_pairs(parse_pairs(text))) == parse_pairs(text)
    with pytest.raises(ValueError, match="line 2"):
        parse_pairs("Fp1-F7\nFp1-F7-T7\n")


def test_channels_are_found_by_name_or_electrode():
    rec = make_1020(seconds=2.0)
    assert rec.channels[find_channel(rec.channels, "T7")].label == "EEG T3-REF"  # old name
    assert rec.channels[find_channel(rec.channels, "fp1")].label == "EEG Fp1-REF"
    assert find_channel(rec.channels, "ECG") == len(ELECTRODES)
    assert find_channel(rec.channels, "Oz") is None


def test_a_montage_row_is_the_difference_of_its_pair_and_missing_pairs_are_named():
    rec = make_1020(seconds=4.0, electrodes=tuple(e for e in ELECTRODES if e != "Fz"))
    montage = bipolar_channels(rec, [*DOUBLE_BANANA, ("C3", "ECG")])
    assert [c.name for c in montage.channels] == [r for r in BANANA_ROWS if r != "Fz-Cz"]
    assert montage.missing == [
        "Fz-Cz: no Fz",
        "C3-ECG: EEG C3-REF (200 Hz, uV) and ECG (200 Hz, mV) do not subtract",
    ]
    row = montage.channels[0]
    a, b = rec.channel("EEG Fp1-REF"), rec.channel("EEG F7-REF")
    np.testing.assert_allclose(row.read(100, 300), a.samples[100:300] - b.samples[100:300], atol=1e-4)
    assert row.unit == "uV" and row.rate == a.rate and not row.loaded


@pytest.fixture
def viewer(make_viewer):
    return make_viewer(1200, 800)


def test_double_banana_is_a_reference_choice(viewer):
    rec = make_1020(seconds=30.0)
    viewer.set_recording(rec)
    box = viewer.display.reference_box
    box.setCurrentIndex(box.findData("bipolar:banana"))
    assert viewer.reference == DOUBLE_BANANA_REFERENCE
    assert viewer.page_channels == BANANA_ROWS and viewer.channels_per_page == 18
    span = viewer.page_rows[0]  # Fp1-F7, as drawn
    fp1, f7 = rec.channel("EEG Fp1-REF").samples, rec.channel("EEG F7-REF").samples
    np.testing.assert_allclose(span.samples, (fp1 - f7)[: span.samples.size], atol=1e-3)
    assert viewer.display.note.text() == ""  # every pair was made
    # A bad channel greys every row it is in; hiding a channel hides its rows.
    viewer.toggle_bad("EEG F7-REF")
    assert viewer.channel_axis.greyed == {"Fp1-F7", "F7-T7"}
    viewer.set_visible_channels([n for n in viewer.shown_channels if n != "EEG Fp1-REF"])
    assert "Fp1-F7" not in viewer.page_channels and "Fp1-F3" not in viewer.page_channels
    assert len(viewer.page_channels) == 16
    menu = viewer.channel_menu(0)  # a row's menu marks either of its channels
    assert [a.text() for a in menu.actions() if a.text()] == [
        "Mark EEG F7-REF good",
        "Mark EEG T3-REF bad",
        "Signals as recorded",
    ]
    viewer.set_reference(Reference())
    assert viewer.page_channels[:2] == ["EEG Fp2-REF", "EEG F7-REF"]


def test_a_montage_the_recording_cannot_make_is_refused_and_said(viewer):
    viewer.set_recording(make_1020(seconds=5.0, electrodes=("Fz", "Cz", "Pz")))
    viewer.set_reference(DOUBLE_BANANA_REFERENCE)
    assert viewer.reference == Reference(kind="bipolar", pairs=DOUBLE_BANANA, name="double banana")
    assert viewer.page_channels == ["Fz-Cz", "Cz-Pz"]
    assert viewer.display.note.text() == "16 pair(s) left out"
    assert viewer.display.note.toolTip().startswith("16 pair(s) left out: Fp1-F7: no Fp1 or F7;")
    viewer.set_recording(make_1020(seconds=5.0, electrodes=("C3", "C4")))
    viewer.set_reference(DOUBLE_BANANA_REFERENCE)
    assert viewer.reference == Reference()  # refused: nothing to show
    assert "No pair of double banana" in viewer.display.note.text()
    assert viewer.display.reference_box.currentData() == "none"


def test_the_users_pairs_through_the_dialog(viewer, monkeypatch):
    from ui.montage_dialog import MontageDialog

    viewer.set_recording(make_1020(seconds=10.0))

    def accept(dialog):
        dialog.first.setCurrentText("EEG C3-REF")
        dialog.second.setCurrentText("EEG C4-REF")
        dialog.add_pair()
        dialog.text.appendPlainText("Cz - Oz\nO1-O2")
        assert "2 row(s)" in dialog.status.text() and "Cz-Oz: no Oz" in dialog.status.text()
        return 1

    monkeypatch.setattr(MontageDialog, "exec", accept)
    box = viewer.display.reference_box
    box.setCurrentIndex(box.findData("bipolar:custom"))
    assert viewer.reference.pairs == (("EEG C3-REF", "EEG C4-REF"), ("Cz", "Oz"), ("O1", "O2"))
    assert viewer.page_channels == ["C3-C4", "O1-O2"]
    assert viewer.display.note.text() == "1 pair(s) left out"
    assert "Cz-Oz: no Oz" in viewer.display.note.toolTip()
    monkeypatch.setattr(MontageDialog, "exec", lambda dialog: 0)  # cancelled: nothing changes
    box.setCurrentIndex(box.findData("none"))
    box.setCurrentIndex(box.findData("bipolar:custom"))
    assert viewer.reference == Reference() and box.currentData() == "none"


def test_a_montage_comes_back_with_its_file(window, qtbot, tmp_path):
    from ui.mainwindow import MainWindow

    path = str(tmp_path / "eeg.edf")
    io.write_recording(make_1020(seconds=20.0), path)
    assert window.load_path(path)
    window.viewer.set_reference(DOUBLE_BANANA_REFERENCE)
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.load_path(path)
    assert again.viewer.reference == DOUBLE_BANANA_REFERENCE
    assert again.viewer.page_channels == BANANA_ROWS


def test_screenshot_of_the_double_banana(window):
    window.open_recording(make_1020(seconds=60.0), "10-20 EEG (simulated)")
    window.viewer.set_reference(DOUBLE_BANANA_REFERENCE)
    window.viewer.set_page(8.0)
    save_screenshot(window, "viewer_bipolar_montage")
