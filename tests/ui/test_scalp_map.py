"""The scalp map: band power of the EEG at standard 10-20 positions, channels matched by label,
those without a position left out and named."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sleep_edf import write_psg
from tests.ui.conftest import save_screenshot
from tests.ui.eeg_1020 import ELECTRODES, make_1020
from ui.view_positions import HEAD_RADIUS, POSITIONS, electrode_name
from ui.view_topomap import band_power, interpolate, place_channels
from ui.viewer_controls import DOUBLE_BANANA_REFERENCE

io = pytest.importorskip("vqstudio.io")


def test_labels_name_electrodes_the_ways_files_write_them():
    assert electrode_name("EEG Fp1-REF") == "Fp1" and electrode_name("Fc5.") == "FC5"
    assert electrode_name("EEG T3") == "T7" and electrode_name("C3-A2") == "C3"
    assert electrode_name("EEG Fpz-Cz") is None and electrode_name("ECG ECG") is None
    fz, cz, oz, t7 = (POSITIONS[n] for n in ("Fz", "Cz", "Oz", "T7"))
    assert cz == (0.0, 0.0) and fz[1] > 0 > oz[1] and t7[0] < 0  # nose up, left on the left
    assert np.hypot(*t7) == pytest.approx(0.8) and np.hypot(*POSITIONS["Fp1"]) == pytest.approx(0.8)


def test_channels_without_a_position_are_left_out_and_named():
    rec = make_1020(seconds=2.0)
    placed = place_channels(rec.channels, bad={"EEG Cz-REF"})
    assert len(placed.indices) == 18 and "Cz" not in placed.sites and "T7" in placed.sites
    assert placed.left_out == [("EEG Cz-REF", "bad"), ("ECG", "no 10-20 position")]
    assert placed.describe_left_out() == "left out: EEG Cz-REF (bad), ECG (no 10-20 position)"


def test_alpha_is_strongest_at_the_back_and_the_map_fills_the_head():
    rec = make_1020(seconds=20.0)
    placed = place_channels(rec.channels)
    powers = {
        site: band_power(rec.channels[i].samples, rec.channels[i].rate, (8.0, 13.0))
        for i, site in zip(placed.indices, placed.sites, strict=True)
    }
    assert min(powers["O1"], powers["O2"]) > 4 * max(powers["Fp1"], powers["Fp2"])
    db = 10 * np.log10(np.array([powers[s] for s in placed.sites]))
    image = interpolate(placed.xy, db, size=51)
    axis = np.linspace(-HEAD_RADIUS, HEAD_RADIUS, 51)
    gx, gy = np.meshgrid(axis, axis)
    assert np.isnan(image[np.hypot(gx, gy) > HEAD_RADIUS]).all()
    inside = image[np.hypot(gx, gy) <= HEAD_RADIUS]
    assert np.isfinite(inside).all() and inside.min() >= db.min() - 1e-9 and inside.max() <= db.max() + 1e-9
    assert image[5, 25] > image[45, 25]  # row 5 is at the back (y < 0), row 45 at the front


@pytest.fixture
def viewer(qtbot):
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


def test_the_dock_maps_the_band_chosen_over_the_page(viewer, qtbot):
    viewer.set_recording(make_1020(seconds=60.0))
    viewer.toggle_scalp_map()
    dock = viewer.docks.dock("scalp_map")
    qtbot.waitUntil(lambda: dock.image is not None, timeout=3000)
    assert dock.band == "alpha" and len(dock.placement.sites) == len(ELECTRODES)
    assert dock.caption.text().startswith("Alpha power (8-13 Hz), 0.0-10.0 s, 19 electrodes, as recorded")
    assert dock.left_out.text() == "Left out: ECG (no 10-20 position)"
    alpha = dict(zip(dock.placement.sites, dock.powers, strict=True))
    dock.set_band("delta")
    delta = dict(zip(dock.placement.sites, dock.powers, strict=True))
    assert dock.caption.text().startswith("Delta power (1-4 Hz)")
    assert alpha["O1"] / delta["O1"] > alpha["Fp1"] / delta["Fp1"]
    viewer.set_reference(DOUBLE_BANANA_REFERENCE)  # rows without positions: the map stays referential
    qtbot.waitUntil(lambda: "a montage has no positions" in dock.caption.text(), timeout=3000)


def test_a_psg_without_10_20_channels_says_why_there_is_no_map(viewer, qtbot, tmp_path):
    path = str(tmp_path / "psg.edf")
    write_psg(path, seconds=60.0)
    viewer.set_recording(io.read_recording(path))
    dock = viewer.docks.show("scalp_map")
    dock.refresh()
    assert dock.image is None
    assert dock.caption.text().startswith("A scalp map needs 3 EEG channels at 10-20 positions")
    assert "EEG Fpz-Cz (no 10-20 position)" in dock.left_out.text()


def test_screenshot_of_the_scalp_map(window, qtbot):
    window.open_recording(make_1020(seconds=60.0), "10-20 EEG (simulated)")
    window.viewer.set_page(10.0)
    window.viewer.toggle_scalp_map()
    dock = window.viewer.docks.dock("scalp_map")
    window.annotation_dock.hide()
    qtbot.waitUntil(lambda: dock.image is not None, timeout=3000)
    save_screenshot(window, "viewer_scalp_map")
