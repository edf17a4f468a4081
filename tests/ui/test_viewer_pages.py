"""The viewer widget: channels per page and scrolling, display filters and reference on the drawn
data, scale bars, cursor read-out, stacked annotation labels, bad channels, label spelling."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from ui.channel_dialog import ChannelDialog
from ui.view_filters import ViewFilters
from ui.view_reference import Reference
from ui.viewer import BAD_COLOR, SignalViewer, nice_scale
from vqstudio.recording import Annotation, Recording

RATE = 200.0


def eeg(channels: int, seconds: float = 60.0, labels: list[str] | None = None, **kw) -> Recording:
    """`channels` EEG-like channels (uV) of a 10 Hz rhythm and noise; `kw` adds annotations."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    data = 20 * np.sin(2 * np.pi * 10 * t) + 5 * rng.standard_normal((channels, t.size))
    labels = labels or [f"E{i + 1:02d}" for i in range(channels)]
    return Recording.from_array(data.astype(np.float32), RATE, labels, "uV", **kw)


@pytest.fixture
def viewer(make_viewer):
    return make_viewer(1200, 700)


def drawn_ptp(viewer: SignalViewer, row: int) -> float:
    poly = viewer.traces._polys[row]
    ys = np.array([poly.at(k).y() for k in range(viewer.traces._sizes[row])])
    return float(np.ptp(ys))


def test_channels_per_page_and_scrolling_by_keys_wheel_and_bar(viewer, qtbot):
    viewer.set_recording(eeg(64))
    assert viewer.channels_per_page == 20 and viewer.first_row == 0
    assert viewer.page_channels == [f"E{i:02d}" for i in range(1, 21)]
    assert viewer.traces._count == 20  # only the page's channels are read and drawn
    assert viewer.view.viewRange()[1] == pytest.approx([-0.5, 19.5])
    assert viewer.vscroll.isVisible() and viewer.vscroll.maximum() == 44
    qtbot.keyClick(viewer, Qt.Key.Key_Down)
    assert viewer.first_row == 1 and viewer.page_channels[0] == "E02"
    qtbot.keyClick(viewer, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.first_row == 21 and viewer.vscroll.value() == 21
    qtbot.keyClick(viewer, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.first_row == 41
    qtbot.keyClick(viewer, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.first_row == 44 and viewer.page_channels[-1] == "E64"  # clamps at the last page
    qtbot.keyClick(viewer, Qt.Key.Key_Up)
    assert viewer.first_row == 43
    viewer.vscroll.setValue(10)
    assert viewer.first_row == 10

    pos = QPointF(300, 200)
    wheel = QWheelEvent(
        pos,
        viewer.plot.viewport().mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, -120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ShiftModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewer.plot.viewport(), wheel)
    assert viewer.first_row == 13 and viewer.page_start == 0.0  # Shift+wheel: channels, not time

    viewer.set_channels_per_page(0)
    assert viewer.channels_per_page == 64 and viewer.first_row == 0 and not viewer.vscroll.isVisible()
    viewer.step_channels_per_page(-1)
    assert viewer.channels_per_page == 32 and viewer.display.rows_box.currentData() == 32
    viewer.display.rows_box.setCurrentIndex(viewer.display.rows_box.findData(8))
    assert viewer.channels_per_page == 8 and viewer.traces._count == 8
    assert "channels 1-8 of 64" in viewer.position.text()


def test_notch_removes_a_50_hz_sine_from_the_drawn_trace(viewer):
    t = np.arange(int(30 * RATE)) / RATE
    mains = (40 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    alpha = (40 * np.sin(2 * np.pi * 10 * t)).astype(np.float32)
    viewer.set_recording(Recording.from_array(np.array([mains, alpha]), RATE, ["Mains", "Alpha"], "uV"))
    viewer.set_page(10.0)
    before = drawn_ptp(viewer, 0), drawn_ptp(viewer, 1)
    viewer.display.notch_box.setCurrentIndex(viewer.display.notch_box.findData(50.0))
    assert viewer.filters == ViewFilters(notch=50.0)
    assert drawn_ptp(viewer, 0) < 0.05 * before[0]  # the 50 Hz sine is gone
    assert drawn_ptp(viewer, 1) == pytest.approx(before[1], rel=0.05)  # 10 Hz stays
    viewer.toggle_filters()  # off: the sine is back, the choice kept
    assert viewer.filters == ViewFilters() and drawn_ptp(viewer, 0) == pytest.approx(before[0], rel=1e-3)
    viewer.toggle_filters()
    assert viewer.filters == ViewFilters(notch=50.0)


def test_highpass_removes_a_dc_offset_from_the_values(viewer):
    t = np.arange(int(30 * RATE)) / RATE
    data = np.array([500.0 + 20 * np.sin(2 * np.pi * 10 * t)], dtype=np.float32)
    viewer.set_recording(Recording.from_array(data, RATE, ["Offset"], "uV"))
    viewer.set_page(10.0)
    assert viewer.page_rows[0].samples.mean() == pytest.approx(500.0, abs=1.0)
    viewer.set_filters(ViewFilters(highpass=0.5))
    assert viewer.display.highpass_box.currentData() == 0.5
    assert abs(viewer.page_rows[0].samples.mean()) < 1.0
    assert "Offset:" in viewer.readout_text(15.0, 0.0)


def test_reference_changes_the_values_drawn(viewer):
    n = int(20 * RATE)
    data = np.array([np.full(n, 10.0), np.full(n, 20.0), np.full(n, 60.0)], dtype=np.float32)
    viewer.set_recording(Recording.from_array(data, RATE, ["Fp1", "Fp2", "Cz"], "uV"))
    viewer.display.reference_box.setCurrentIndex(viewer.display.reference_box.findData("average"))
    assert viewer.reference == Reference("average")
    assert [r.samples[0] for r in viewer.page_rows] == pytest.approx([-20.0, -10.0, 30.0])
    viewer.channel_menu(2).actions()[1].trigger()  # "Use Cz as reference"
    assert viewer.reference == Reference("channel", "Cz")
    assert viewer.display.reference_box.currentData() == "channel:Cz"
    assert [r.samples[0] for r in viewer.page_rows] == pytest.approx([-50.0, -40.0, 60.0])
    viewer.toggle_average_reference()
    viewer.toggle_average_reference()
    assert viewer.reference == Reference()
    assert [r.samples[0] for r in viewer.page_rows] == pytest.approx([10.0, 20.0, 60.0])


def test_scale_bar_shows_the_value_of_a_division_per_unit(viewer):
    rng = np.random.default_rng(1)
    data = np.array(
        [30 * rng.standard_normal(4000), 30 * rng.standard_normal(4000), rng.standard_normal(4000)]
    )
    rec = Recording.from_array(data.astype(np.float32), RATE, ["C3", "C4", "ECG"], ["uV", "uV", "mV"])
    viewer.set_recording(rec)
    uv, mv = viewer.scales["uV"], viewer.scales["mV"]
    assert nice_scale(uv) == uv and nice_scale(mv) == mv  # a plain 1-2-5 value
    assert viewer.scale_bars.bars == [(0.0, f"{uv:g} uV"), (2.0, f"{mv:g} mV")]
    viewer.set_scale("uV", 50.0)
    assert viewer.scale_bars.bars[0] == (0.0, "50 uV")
    assert nice_scale(43.7) == 50.0 and nice_scale(0.9) == 1.0 and nice_scale(120) == 200.0
    viewer.grab()


def test_cursor_readout_gives_time_channel_and_value(viewer):
    t = np.arange(int(20 * RATE)) / RATE
    data = np.array([t, -2 * t], dtype=np.float32)
    viewer.set_recording(Recording.from_array(data, RATE, ["Ramp", "Down"], ["uV", "mV"]))
    assert viewer.readout_text(5.0, 0.1) == "5.000 s   Ramp: 5 uV"
    assert viewer.readout_text(2.5, 0.9) == "2.500 s   Down: -5 mV"
    assert viewer.readout_text(2.5, 5.0) == ""
    viewer.grab()
    scene_pos = viewer.view.mapViewToScene(QPointF(5.0, 1.0))
    viewer._on_mouse_moved(scene_pos)
    assert viewer.display.readout.text().startswith("5.0") and "Down: -10" in viewer.display.readout.text()


def test_overlapping_labels_stack_and_a_region_label_shows_on_every_page(viewer):
    ann = [
        Annotation(2.0, 30.0, "sleep stage N2"),
        Annotation(2.0, 0.0, "arousal"),
        Annotation(2.2, 0.0, "spindle"),
        Annotation(8.0, 0.0, "far apart"),
    ]
    viewer.set_recording(eeg(4, annotations=ann))
    viewer.grab()
    lanes = {text: lane for text, _, lane in viewer.annotations.layout}
    assert len(set(lanes[t] for t in ("sleep stage N2", "arousal", "spindle"))) == 3  # stacked
    assert lanes["far apart"] == 0
    viewer.next_page()  # 10-20 s: the region began on the page before
    viewer.grab()
    ((text, x, lane),) = viewer.annotations.layout
    assert text == "‹ sleep stage N2" and lane == 0
    left = viewer.view.mapViewToScene(QPointF(10.0, 0.0)).x()
    assert x == pytest.approx(left + 3, abs=2)  # drawn at the page's left edge
    viewer.next_page()  # 20-30 s: still inside the region
    viewer.grab()
    assert [t for t, _, _ in viewer.annotations.layout] == ["‹ sleep stage N2"]


def test_bad_channels_are_greyed_and_reported(viewer, qtbot):
    viewer.set_recording(eeg(3))
    with qtbot.waitSignal(viewer.bad_channels_changed) as blocker:
        viewer.channel_menu(1).actions()[0].trigger()  # "Mark E02 bad"
    assert blocker.args == [{"E02"}] and viewer.bad_channels == {"E02"}
    assert viewer.traces._pens[1].color() == QColor(BAD_COLOR)
    assert viewer.traces._pens[0].color() != QColor(BAD_COLOR)
    assert viewer.channel_axis.greyed == {"E02"}
    assert viewer.channel_menu(1).actions()[0].text() == "Mark E02 good"
    viewer.grab()
    viewer.channel_menu(0).actions()[3].trigger()  # "Hide E01"
    assert viewer.shown_channels == ["E02", "E03"]


def test_one_label_spelling_in_viewer_and_channel_dialog(viewer, qtbot):
    rec = eeg(3, labels=["Fc5.", "C5..", " Cz "])
    viewer.set_recording(rec)
    assert viewer.shown_channels == ["Fc5", "C5", "Cz"]
    assert [name for _, name in viewer._ticks] == ["Fc5", "C5", "Cz"]
    dialog = ChannelDialog(rec.channels, viewer.shown_channels, {"C5"})
    qtbot.addWidget(dialog)
    assert dialog.names() == ["Fc5", "C5", "Cz"] and dialog.selected() == ["Fc5", "C5", "Cz"]
    assert dialog.bad() == ["C5"]
    dialog.set_bad("Cz", True)
    assert dialog.bad() == ["C5", "Cz"]
    viewer.set_visible_channels(["Fc5", "Cz"])  # names match the padded labels
    assert viewer.shown_channels == ["Fc5", "Cz"]
