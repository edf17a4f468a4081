"""The spectrum dock: Welch PSD of the page's channels on a log axis, following the viewer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.conftest import save_screenshot
from tests.ui.eeg_1020 import make_1020
from ui.spectrum_view import page_spectra
from ui.view_filters import ViewFilters
from ui.viewer_controls import DOUBLE_BANANA_REFERENCE


@pytest.fixture
def viewer(qtbot):
    """A viewer in a dock area (as in the Signals tab), shown."""
    from PySide6.QtWidgets import QMainWindow

    from ui.viewer import SignalViewer

    holder = QMainWindow()
    viewer = SignalViewer()
    holder.setCentralWidget(viewer)
    qtbot.addWidget(holder)
    holder.resize(1400, 800)
    holder.show()
    qtbot.waitExposed(holder)
    yield viewer
    holder.close()


def test_page_spectra_are_welch_psds_of_the_rows_drawn(viewer):
    viewer.set_recording(make_1020(seconds=30.0))
    spectra = page_spectra(viewer)
    assert [s.name for s in spectra] == viewer.page_channels and len(spectra) == 20
    o1 = next(s for s in spectra if s.name == "EEG O1-REF")
    assert 9.0 <= o1.freqs[np.argmax(o1.psd)] <= 11.0  # the alpha peak at the back
    assert o1.freqs[0] > 0 and o1.freqs[-1] == pytest.approx(100.0)  # no 0 Hz, up to Nyquist
    ecg = spectra[-1]
    assert ecg.unit == "mV" and ecg.name == "ECG"
    viewer.set_filters(ViewFilters(lowpass=15.0))  # the spectrum of what is drawn
    filtered = next(s for s in page_spectra(viewer) if s.name == "EEG O1-REF")
    high = o1.freqs > 30
    assert filtered.psd[high].mean() < 0.05 * o1.psd[high].mean()


def test_the_dock_follows_the_page_and_splits_units(viewer, qtbot):
    viewer.set_recording(make_1020(seconds=60.0))
    viewer.toggle_spectrum()
    dock = viewer.docks.dock("spectrum")
    assert dock.isVisible()
    qtbot.waitUntil(lambda: bool(dock.spectra), timeout=3000)
    assert set(dock.plots) == {"uv", "mv"}  # EEG and ECG on axes of their own
    assert dock.plots["uv"].getAxis("left").logMode and "uV²/Hz" in dock.plots["uv"].getAxis("left").labelText
    assert dock.caption.text().startswith("Welch PSD of 20 channel(s), 0.0-10.0 s, no filter, as recorded")
    viewer.toggle_bad("EEG Fz-REF")
    viewer.set_page(20.0)
    qtbot.waitUntil(lambda: "20.0-30.0 s" in dock.caption.text(), timeout=3000)
    assert [s.bad for s in dock.spectra if s.name == "EEG Fz-REF"] == [True]
    viewer.set_reference(DOUBLE_BANANA_REFERENCE)
    qtbot.waitUntil(lambda: "double banana" in dock.caption.text(), timeout=3000)
    assert [s.name for s in dock.spectra][:2] == ["Fp1-F7", "F7-T7"] and list(dock.plots) == ["uv"]
    viewer.toggle_spectrum()
    assert not dock.isVisible()


def test_screenshot_of_the_spectrum(window, qtbot):
    window.open_recording(make_1020(seconds=60.0), "10-20 EEG (simulated)")
    window.viewer.set_filters(ViewFilters(0.5, None, 50.0))
    window.viewer.toggle_spectrum()
    dock = window.viewer.docks.dock("spectrum")
    window.annotation_dock.hide()
    qtbot.waitUntil(lambda: bool(dock.spectra), timeout=3000)
    save_screenshot(window, "viewer_spectrum")


def test_the_view_menu_shows_the_spectrum_and_the_scalp_map(window):
    view_menu = window.menuBar().actions()[1].menu()
    for name in ("spectrum", "scalp_map"):
        assert window.actions[name] in view_menu.actions() and not window.actions[name].isEnabled()
    window.open_recording(make_1020(seconds=20.0), "10-20 EEG (simulated)")
    window.actions["spectrum"].trigger()
    window.actions["scalp_map"].trigger()
    docks = window.viewer.docks
    assert docks.dock("spectrum").isVisible() and docks.dock("scalp_map").isVisible()
    window.actions["spectrum"].trigger()
    assert not docks.dock("spectrum").isVisible()
