"""The signal viewer: peak-preserving decimation, paging, scaling, channels, annotations, lazy reads."""

from __future__ import annotations

import datetime as dt
import gc
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import make_recording
from ui.view_scale import step_scale
from ui.viewer import PAGE_LENGTHS
from ui.viewer_items import peak_decimate
from vqstudio.recording import Channel, Recording


def test_peak_decimate_keeps_a_one_sample_spike():
    y = np.zeros(100_000, dtype=np.float32)
    y[54_321] = 7.0
    y[77_777] = -5.0
    x, d = peak_decimate(10.0, 1000.0, y, 800)
    assert d.size <= 2 * 800 + 2
    assert d.max() == 7.0 and d.min() == -5.0
    assert np.all(np.diff(x) >= 0) and x[0] == 10.0 and x[-1] <= 10.0 + 100.0
    # Where the spike is drawn is within one bin of where it was.
    assert abs(x[np.argmax(d)] - (10.0 + 54.321)) < 100.0 / 800 + 1e-9


def test_peak_decimate_leaves_short_spans_alone():
    y = np.arange(50, dtype=np.float32)
    x, d = peak_decimate(0.0, 10.0, y, 100)
    assert np.array_equal(d, y) and np.allclose(x, np.arange(50) / 10.0)


@pytest.fixture
def viewer(make_viewer):
    return make_viewer(1000, 600)


def test_paging_keys_and_scaling(viewer, qtbot):
    rec = make_recording(channels=4, seconds=100.0, rate=100.0)
    viewer.set_recording(rec)
    assert viewer.page_start == 0 and viewer.page_length == 10.0
    qtbot.keyClick(viewer, Qt.Key.Key_PageDown)
    assert viewer.page_start == 10.0
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.page_start == 12.5
    qtbot.keyClick(viewer, Qt.Key.Key_PageUp)
    assert viewer.page_start == 2.5
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    assert viewer.page_start == 90.0
    assert viewer.scroll.value() == 9000
    qtbot.keyClick(viewer, Qt.Key.Key_PageDown)  # clamps at the end
    assert viewer.page_start == 90.0
    qtbot.keyClick(viewer, Qt.Key.Key_Home)
    assert viewer.page_start == 0.0
    before = viewer.scales
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    after = viewer.scales
    assert set(before) == {"uV", "mV"}
    assert all(after[u] == pytest.approx(step_scale(before[u], 0.8)) for u in before)
    qtbot.keyClick(viewer, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)  # longer pages
    assert viewer.page_length == PAGE_LENGTHS[PAGE_LENGTHS.index(10.0) + 1]
    assert viewer.page_box.currentData() == viewer.page_length
    x_range = viewer.view.viewRange()[0]
    assert x_range[0] == pytest.approx(0.0) and x_range[1] == pytest.approx(viewer.page_length)


def test_mouse_wheel_pages_and_ctrl_wheel_scales(viewer, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    viewer.set_recording(make_recording(channels=3, seconds=100.0, rate=50.0))

    def wheel(dy: int, mods=Qt.KeyboardModifier.NoModifier) -> None:
        pos = QPointF(200, 100)
        event = QWheelEvent(
            pos,
            viewer.plot.viewport().mapToGlobal(pos),
            QPoint(0, 0),
            QPoint(0, dy),
            Qt.MouseButton.NoButton,
            mods,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewer.plot.viewport(), event)

    wheel(-120)  # scrolling down moves forward in time
    assert viewer.page_start == 2.5
    before = viewer.scales["uV"]
    wheel(120, Qt.KeyboardModifier.ControlModifier)
    assert viewer.scales["uV"] == pytest.approx(step_scale(before, 0.8)) and viewer.page_start == 2.5


def test_units_get_their_own_scale(viewer):
    rec = make_recording(channels=3, seconds=20.0, rate=100.0)
    viewer.set_recording(rec)
    # EEG (about 50 uV) and ECG (about 1 mV) both fill their rows: scales differ by their sizes.
    assert viewer.scales["uV"] > 10 * viewer.scales["mV"]
    before = viewer.scales
    viewer.unit_box.setCurrentIndex(viewer.unit_box.findData("mV"))
    viewer.scale_by(0.5)
    assert viewer.scales == {"uV": before["uV"], "mV": step_scale(before["mV"], 0.5)}
    ys = [viewer.traces._polys[i] for i in range(3)]
    for row, poly in enumerate(ys):
        pts = np.array([[poly.at(k).x(), poly.at(k).y()] for k in range(0, poly.size(), 7)])
        assert abs(np.median(pts[:, 1]) - row) < 0.3  # each trace sits on its row
        assert np.ptp(pts[:, 1]) > 0.3  # and is visible, not flat


def test_channel_selection_and_annotations(viewer):
    rec = make_recording(channels=4, seconds=60.0, rate=100.0)
    viewer.set_recording(rec)
    viewer.set_visible_channels(["EEG2", "ECG"])
    assert viewer.shown_channels == ["EEG2", "ECG"]
    assert viewer.traces._count == 2
    assert viewer.view.viewRange()[1] == pytest.approx([-0.5, 1.5])
    assert [t for _, _, t in viewer.annotations._items] == ["eyes closed"]
    viewer.set_page(10.0)
    assert [t for _, _, t in viewer.annotations._items] == ["blink"]
    viewer.set_page(30.0)
    assert viewer.annotations._items == []


def test_clock_time_axis(viewer):
    rec = make_recording(channels=2, seconds=30.0, rate=50.0)
    rec.start = dt.datetime(2024, 5, 1, 22, 59, 55)
    viewer.set_recording(rec)
    viewer.set_time_mode("clock")
    assert viewer.time_axis.tickStrings([0.0, 10.0], 1.0, 5.0) == ["22:59:55", "23:00:05"]
    viewer.set_time_mode("seconds")
    assert viewer.time_axis.tickStrings([0.0, 10.0], 1.0, 5.0) == ["0", "10"]


class CountingSource:
    """A lazy file stand-in that records every span read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.spans: list[tuple[int, int]] = []

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        self.spans.append((start, stop))
        return self.data[index, start:stop].copy()


def test_reads_only_the_visible_span(viewer):
    rate, seconds = 200.0, 3600.0
    source = CountingSource(
        np.random.default_rng(0).standard_normal((3, int(rate * seconds)), dtype=np.float32)
    )
    channels = [
        Channel.on_disk(source, i, label=f"C{i}", unit="uV", rate=rate, n_samples=source.data.shape[1])
        for i in range(3)
    ]
    rec = Recording(channels=channels)
    viewer.set_recording(rec)
    source.spans.clear()
    viewer.set_page(1800.0)
    assert source.spans, "the page was not read"
    assert all(stop - start <= 10 * rate + 2 for start, stop in source.spans)
    assert all(start >= 1800 * rate - 1 for start, _ in source.spans)
    assert not any(c.loaded for c in rec.channels)


def test_soak_paging_keeps_refcounts(qtbot):
    """Hundreds of page flips through the whole window; catches Qt bindings that leak or drop refs."""
    from ui.mainwindow import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    window.open_recording(make_recording(channels=16, seconds=600.0, rate=256.0), "soak")
    viewer = window.viewer
    gc.collect()
    none_before = sys.getrefcount(None)
    for k in range(300):
        if k % 50 == 49:
            viewer.set_page(0.0)
        else:
            viewer.next_page() if k % 3 else viewer.step(0.25)
        if k % 10 == 0:
            viewer.scale_by(1.1 if k % 20 else 1 / 1.1)
        viewer.repaint()
        qtbot.wait(0) if k % 25 == 0 else None
    gc.collect()
    none_after = sys.getrefcount(None)
    assert window.isVisible() and viewer.recording is not None
    # A binding that drops a reference to None per call would lose tens of thousands here.
    assert none_after >= none_before - 500, (none_before, none_after)
    window.close()


@pytest.mark.parametrize("bins", [40_000, 700, 90])  # few samples a bin, a mid count, over 64 a bin
def test_decimating_rows_matches_one_row_at_a_time(bins):
    from ui.viewer_items import peak_decimate_rows

    rng = np.random.default_rng(3)
    y = rng.standard_normal((5, 12_345)).astype(np.float32)
    y[2, 7_000] = 50.0
    x, rows = peak_decimate_rows(1.0, 256.0, y, bins)
    assert rows.shape[0] == 5 and rows.shape[1] == x.size
    assert rows[2].max() == 50.0
    np.testing.assert_array_equal(rows.max(axis=1), y.max(axis=1))
    np.testing.assert_array_equal(rows.min(axis=1), y.min(axis=1))
    for k in range(5):
        xk, one = peak_decimate(1.0, 256.0, y[k], bins)
        np.testing.assert_array_equal(one, rows[k])
        np.testing.assert_array_equal(xk, x)
