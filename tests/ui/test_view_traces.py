"""DC-offset removal and clipping of traces, no start-up transient from a high-pass at the
recording's start (an OpenBCI-like drift), and a cursor read-out that follows the file."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt

from tests.ui.conftest import make_recording
from ui.view_filters import ViewFilters
from ui.view_page import read_page
from ui.view_traces import SPILL_ROWS, TraceOptions, place_row
from vqstudio.recording import Recording

RATE = 250.0


def openbci_like(seconds: float = 60.0, channels: int = 3) -> Recording:
    """OpenBCI-like EEG: offsets of tens of thousands of uV settling and drifting, a 10 Hz rhythm."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    rows = [
        -80_000 + 20_000 * k + 30_000 * np.exp(-t / 20) + 300 * t
        + 20 * np.sin(2 * np.pi * 10 * t) + 5 * rng.standard_normal(t.size)
        for k in range(channels)
    ]  # fmt: skip
    return Recording.from_array(np.array(rows, dtype=np.float32), RATE, ["Fp1", "Fp2", "Cz"], "uV")


def drawn(viewer, row: int) -> np.ndarray:
    poly = viewer.traces._polys[row]
    return np.array([poly.at(k).y() for k in range(viewer.traces._sizes[row])])


def test_place_row_centres_and_clips():
    values = np.array([1000.0, 1010.0, 990.0, 1000.0, 1200.0, 800.0])  # mean 1000 uV
    y = place_row(values, 2, 20.0, TraceOptions())
    np.testing.assert_allclose(y, [2.0, 1.5, 2.5, 2.0, 2 - SPILL_ROWS, 2 + SPILL_ROWS])  # up is -y
    clipped = place_row(values, 2, 20.0, TraceOptions(clip_to_row=True))
    np.testing.assert_allclose(clipped, [2.0, 1.5, 2.5, 2.0, 1.5, 2.5])
    raw = place_row(values, 2, 20.0, TraceOptions(remove_dc=False))
    assert np.all(raw == 2 - SPILL_ROWS)  # 1000 uV above zero at 20 uV a row: clipped high


def test_a_highpass_shows_no_startup_transient_on_a_drifting_recording():
    rec = openbci_like()
    for corner in (0.5, 1.0):
        rows = read_page(rec, [0], 0.0, 10.0, 500, ViewFilters(highpass=corner))
        y = rows[0].samples
        first, later = np.abs(y[: int(RATE)]).max(), np.abs(y[int(2 * RATE) :]).max()
        # Was 131 uV against 33 (0.5 Hz) and 66 against 33 (1 Hz) with a 15-sample padding.
        assert first < 1.3 * later, (corner, first, later)


def test_traces_stay_in_their_rows_when_clipped_and_dc_is_switchable(make_viewer, qtbot):
    viewer = make_viewer(1000, 500)
    viewer.set_recording(openbci_like())
    viewer.set_scale("uV", 50.0)
    assert viewer.trace_options == TraceOptions()
    wandering = [np.ptp(drawn(viewer, r)) for r in range(3)]
    assert max(wandering) > 1.0  # 3000 uV of drift a page crosses rows
    viewer.display.clip_action.trigger()  # Traces > Clip traces to their rows
    assert viewer.trace_options.clip_to_row
    for row in range(3):
        y = drawn(viewer, row)
        assert y.min() >= row - 0.5 - 1e-9 and y.max() <= row + 0.5 + 1e-9
    qtbot.keyClick(viewer, Qt.Key.Key_D)  # DC removal off: -80 000 uV sits far off its row
    assert not viewer.trace_options.remove_dc and not viewer.display.dc_action.isChecked()
    assert np.all(drawn(viewer, 0) == 0.5)  # clamped at its row's lower edge (negative values)
    qtbot.keyClick(viewer, Qt.Key.Key_D)
    assert viewer.trace_options.remove_dc


def test_cursor_readout_follows_a_new_file_under_a_still_mouse(make_viewer):
    viewer = make_viewer(1000, 500)
    viewer.set_recording(make_recording(channels=3, seconds=30.0, rate=100.0))
    scene = viewer.view.mapViewToScene(QPointF(2.0, 0.0))
    viewer._on_mouse_moved(scene)
    assert "EEG1:" in viewer.display.readout.text()
    other = make_recording(channels=3, seconds=30.0, rate=100.0, seed=2)
    other.channels[0].label = "Fz"
    viewer.set_recording(other)  # the mouse has not moved
    assert "Fz:" in viewer.display.readout.text() and "EEG1" not in viewer.display.readout.text()
    viewer.set_page(10.0)
    assert viewer.display.readout.text().startswith("12.000 s")
