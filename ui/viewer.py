"""The multichannel signal viewer: pages through a recording, drawing only the visible span.

Each page reads its span through `Channel.read` (a lazy file reads just that span), reduces every
channel to min/max pairs at the plot's pixel width (peaks survive), and hands the result to one
`TraceItem`. Rows are channels (top to bottom); amplitudes are scaled per unit (uV, mV...), so
EEG and ECG rows both fill their row. Keys: Left/Right a quarter page, PgUp/PgDn a page,
Home/End, +/- amplitude, Up/Down page length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollBar,
    QVBoxLayout,
    QWidget,
)

from ui.viewer_items import AnnotationItem, ClockAxis, GridItem, TraceItem, peak_decimate_rows
from vqstudio.recording import Recording

__all__ = ["PAGE_LENGTHS", "ChannelDialog", "SignalViewer", "robust_scale"]

PAGE_LENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TICK = 0.01  # seconds per scroll-bar step
ROW_CLIP = 3.0  # a trace may spill into its neighbours' rows, not across the whole page

# Trace colours by unit: EEG-like (uV), ECG-like (mV), anything else. Light and dark themes.
_UNIT_COLORS = {
    "light": {"uv": "#1f3f8f", "mv": "#a8201a", "": "#2f5f2f"},
    "dark": {"uv": "#9cc4ff", "mv": "#ff8f80", "": "#a6e3a1"},
}


def unit_kind(unit: str) -> str:
    """The colour group of a unit: 'uv' (EEG, EOG, EMG), 'mv' (ECG) or '' (anything else)."""
    u = unit.strip().lower().replace("µ", "u").replace("μ", "u")
    return u if u in ("uv", "mv") else ""


def robust_scale(samples: np.ndarray) -> float:
    """Amplitude per row: the 1st-99th percentile spread fills 70 % of a row (spikes may spill)."""
    if samples.size < 2:
        return 1.0
    lo, hi = np.percentile(samples, [1.0, 99.0])
    spread = float(hi - lo) / 0.7
    return spread if spread > 0 and math.isfinite(spread) else 1.0


class ChannelDialog(QDialog):
    """Pick which channels the viewer shows."""

    def __init__(self, names: Sequence[str], shown: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Channels")
        self.list = QListWidget()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in shown else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        everything = QPushButton("All")
        everything.clicked.connect(lambda: self._check_all(True))
        nothing = QPushButton("None")
        nothing.clicked.connect(lambda: self._check_all(False))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(everything)
        row.addWidget(nothing)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addWidget(buttons)

    def _check_all(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        for i in range(self.list.count()):
            self.list.item(i).setCheckState(state)

    def selected(self) -> list[str]:
        return [
            self.list.item(i).text()
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]


class SignalViewer(QWidget):
    """Pages through one recording; `set_recording`, then keys, the scroll bar or the methods."""

    page_changed = Signal(float)  # start of the page in seconds

    def __init__(self, parent: QWidget | None = None, controls: bool = True) -> None:
        super().__init__(parent)
        self.recording: Recording | None = None
        self._t0 = 0.0
        self._page_s = 10.0
        self._shown: list[int] = []
        self._scales: dict[str, float] = {}
        self._theme = "light"
        self._bins = 0
        self._ticks: list[tuple[int, str]] = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.time_axis = ClockAxis("bottom")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.time_axis})
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        self.view = item.getViewBox()
        self.view.setMouseEnabled(False, False)
        self.view.disableAutoRange()
        self.view.invertY(True)
        self.view.setDefaultPadding(0.0)
        self.plot.setAntialiasing(False)
        self.traces = TraceItem()
        self.annotations = AnnotationItem()
        self.grid = GridItem()
        self.plot.addItem(self.grid)
        self.plot.addItem(self.annotations)
        self.plot.addItem(self.traces)
        self.view.sigResized.connect(self._on_resized)
        # The plot's view would swallow the wheel (its mouse interaction is off): page with it here.
        self.plot.viewport().installEventFilter(self)
        # The channel-name axis changes only with the rows: paint it from a cached pixmap.
        item.getAxis("left").setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self.scroll = QScrollBar(Qt.Orientation.Horizontal)
        self.scroll.valueChanged.connect(lambda v: self.set_page(v * TICK))
        self.title = QLabel()
        self.position = QLabel()
        self.page_box = QComboBox()
        for s in PAGE_LENGTHS:
            self.page_box.addItem(f"{s:g} s", s)
        self.page_box.setCurrentIndex(PAGE_LENGTHS.index(10.0))
        self.page_box.setToolTip("Page length (Up/Down)")
        self.page_box.currentIndexChanged.connect(lambda i: self.set_page_length(PAGE_LENGTHS[i]))
        self.time_box = QComboBox()
        self.time_box.addItems(["Seconds", "Clock time"])
        self.time_box.setToolTip("Time axis in seconds from the start, or clock time")
        self.time_box.currentIndexChanged.connect(lambda i: self.set_time_mode("clock" if i else "seconds"))
        self.channels_button = QPushButton("Channels...")
        self.channels_button.clicked.connect(self.choose_channels)
        self.unit_box = QComboBox()
        self.unit_box.setToolTip("Which channels +/- scale: every unit, or the channels of one unit")
        smaller = QPushButton("-")
        smaller.setToolTip("Smaller amplitude (-)")
        smaller.clicked.connect(lambda: self.scale_by(1.25))
        larger = QPushButton("+")
        larger.setToolTip("Larger amplitude (+)")
        larger.clicked.connect(lambda: self.scale_by(0.8))
        for b in (smaller, larger):
            b.setFixedWidth(30)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.position)
        bar.addWidget(QLabel("Page"))
        bar.addWidget(self.page_box)
        bar.addWidget(self.time_box)
        bar.addWidget(self.channels_button)
        bar.addWidget(QLabel("Amplitude"))
        bar.addWidget(self.unit_box)
        bar.addWidget(smaller)
        bar.addWidget(larger)
        self.controls = QWidget()
        self.controls.setLayout(bar)
        self.controls.setVisible(controls)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.scroll)
        self.set_theme("light")

    # --- state -------------------------------------------------------------------------------
    @property
    def page_start(self) -> float:
        return self._t0

    @property
    def page_length(self) -> float:
        return self._page_s

    @property
    def shown_channels(self) -> list[str]:
        """Labels of the channels drawn, top to bottom."""
        if self.recording is None:
            return []
        return [self.recording.channels[i].label for i in self._shown]

    @property
    def scales(self) -> dict[str, float]:
        """Physical units per row for each unit in the recording."""
        return dict(self._scales)

    def set_recording(self, recording: Recording | None, title: str = "") -> None:
        """Shows `recording` from its start, every channel, amplitudes scaled per unit."""
        self.recording = recording
        self._t0 = 0.0
        self.title.setText(title)
        if recording is None:
            self._shown = []
            self.traces.set_traces([], [], [])
            self.annotations.set_annotations([], 0, 1)
            return
        self._shown = list(range(len(recording.channels)))
        self._scales = self._initial_scales(recording)
        self.unit_box.clear()
        self.unit_box.addItem("all units", None)
        for unit in self._scales:
            self.unit_box.addItem(unit or "(no unit)", unit)
        self.time_axis.start = recording.start
        self.time_box.setEnabled(recording.start is not None)
        self._update_scroll()
        self.redraw()

    def _initial_scales(self, rec: Recording) -> dict[str, float]:
        # Up to 30 s of each channel (a span read, not the whole file): median spread per unit.
        spreads: dict[str, list[float]] = {}
        for ch in rec.channels:
            n = min(ch.n_samples, int(30 * ch.rate) + 1)
            y = ch.read(0, n)
            spreads.setdefault(ch.unit, []).append(robust_scale(y - np.mean(y) if y.size else y))
        return {u: float(np.median(v)) for u, v in spreads.items()}

    def set_visible_channels(self, labels: Sequence[str]) -> None:
        """Shows only these channels (labels as in the recording), in the recording's order."""
        if self.recording is None:
            return
        wanted = set(labels)
        self._shown = [i for i, c in enumerate(self.recording.channels) if c.label in wanted]
        self.redraw()

    def choose_channels(self) -> None:
        if self.recording is None:
            return
        dialog = ChannelDialog(self.recording.labels, self.shown_channels, self)
        if dialog.exec():
            self.set_visible_channels(dialog.selected())

    def set_page_length(self, seconds: float) -> None:
        self._page_s = float(seconds)
        if self._page_s in PAGE_LENGTHS:
            self.page_box.blockSignals(True)
            self.page_box.setCurrentIndex(PAGE_LENGTHS.index(self._page_s))
            self.page_box.blockSignals(False)
        self._update_scroll()
        self.set_page(self._t0, force=True)

    def set_time_mode(self, mode: str) -> None:
        """'seconds' from the recording start, or 'clock' time (when the start is known)."""
        self.time_axis.clock = mode == "clock"
        self.time_box.blockSignals(True)
        self.time_box.setCurrentIndex(1 if self.time_axis.clock else 0)
        self.time_box.blockSignals(False)
        self.time_axis.picture = None
        self.time_axis.update()

    @property
    def time_mode(self) -> str:
        return "clock" if self.time_axis.clock else "seconds"

    def set_theme(self, theme: str) -> None:
        self._theme = "dark" if theme == "dark" else "light"
        bg = "#1e1f22" if self._theme == "dark" else "#ffffff"
        fg = "#c8c8c8" if self._theme == "dark" else "#303030"
        self.plot.setBackground(bg)
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(fg)
            axis.setTextPen(fg)
        self.annotations.set_color(QColor("#ffb000" if self._theme == "dark" else "#e07000"))
        self.grid.set_color(QColor(255, 255, 255, 40) if self._theme == "dark" else QColor(0, 0, 0, 40))
        self.redraw()

    def scale_by(self, factor: float, unit: str | None = None) -> None:
        """Multiplies the scale of `unit` (default: the unit chosen in the bar, or all units);
        below 1 draws larger traces."""
        if unit is None and self.unit_box.count():
            unit = self.unit_box.currentData()
        self._scales = {u: s * factor if unit is None or u == unit else s for u, s in self._scales.items()}
        self.redraw()

    def set_scale(self, unit: str, per_row: float) -> None:
        """Physical units that fill one row, for channels of `unit`."""
        self._scales[unit] = float(per_row)
        self.redraw()

    # --- paging ------------------------------------------------------------------------------
    def max_start(self) -> float:
        dur = self.recording.duration if self.recording else 0.0
        return max(0.0, dur - self._page_s)

    def set_page(self, start_s: float, force: bool = False) -> None:
        t0 = min(max(0.0, float(start_s)), self.max_start())
        if t0 == self._t0 and not force:
            return
        self._t0 = t0
        self.scroll.blockSignals(True)
        self.scroll.setValue(round(t0 / TICK))
        self.scroll.blockSignals(False)
        self.redraw()
        self.page_changed.emit(t0)

    def next_page(self) -> None:
        self.set_page(self._t0 + self._page_s)

    def previous_page(self) -> None:
        self.set_page(self._t0 - self._page_s)

    def step(self, fraction: float) -> None:
        self.set_page(self._t0 + fraction * self._page_s)

    def _update_scroll(self) -> None:
        self.scroll.blockSignals(True)
        self.scroll.setRange(0, round(self.max_start() / TICK))
        self.scroll.setPageStep(max(1, round(self._page_s / TICK)))
        self.scroll.setSingleStep(max(1, round(self._page_s / 4 / TICK)))
        self.scroll.setValue(round(self._t0 / TICK))
        self.scroll.blockSignals(False)

    def _on_resized(self) -> None:
        if self._pixel_bins() != self._bins:
            self.redraw()

    def _pixel_bins(self) -> int:
        # One min/max pair per two pixel columns: one point per column, every peak kept.
        return max(50, int(self.view.width()) // 2)

    # --- drawing -----------------------------------------------------------------------------
    def redraw(self) -> None:
        """Reads the visible span of the shown channels and draws it."""
        rec = self.recording
        if rec is None:
            return
        t0, t1 = self._t0, self._t0 + self._page_s
        bins = self._pixel_bins()
        self._bins = bins
        colors = _UNIT_COLORS[self._theme]
        # Channels sharing a rate (and so a span) are read, decimated and scaled together.
        groups: dict[tuple[float, int, int], list[int]] = {}
        for row, i in enumerate(self._shown):
            ch = rec.channels[i]
            s0 = max(0, math.floor(t0 * ch.rate))
            s1 = min(ch.n_samples, math.ceil(t1 * ch.rate) + 1)
            groups.setdefault((ch.rate, s0, s1), []).append(row)
        xs: list[np.ndarray] = [np.zeros(0)] * len(self._shown)
        ys: list[np.ndarray] = [np.zeros(0)] * len(self._shown)
        for (rate, s0, s1), rows in groups.items():
            chans = [rec.channels[self._shown[r]] for r in rows]
            block = np.stack([c.read(s0, s1) for c in chans]) if s1 > s0 else np.zeros((len(rows), 0))
            if block.shape[1] == 0:
                continue
            x, block = peak_decimate_rows(s0 / rate, rate, block, bins)
            # Centre each trace on its page mean (files often carry DC offsets); scale by unit.
            inv = np.array([1.0 / (self._scales.get(c.unit, 1.0) or 1.0) for c in chans])[:, None]
            centre = np.array(rows, dtype=np.float64)[:, None]
            y = centre - (block - block.mean(axis=1, keepdims=True)) * inv
            np.clip(y, centre - ROW_CLIP, centre + ROW_CLIP, out=y)
            for k, r in enumerate(rows):
                xs[r] = x
                ys[r] = y[k]
        pens = [QColor(colors[unit_kind(rec.channels[i].unit)]) for i in self._shown]
        self.traces.set_traces(xs, ys, pens)
        n = max(1, len(self._shown))
        self.annotations.set_annotations(
            [
                (a.onset, max(a.end, a.onset), a.text)
                for a in rec.annotations
                if a.onset <= t1 and a.end >= t0
            ],
            -0.5,
            n - 0.5,
        )
        self.grid.set_grid(t0, t1, -0.5, n - 0.5)
        ticks = [(row, rec.channels[i].name) for row, i in enumerate(self._shown)]
        if ticks != self._ticks:  # new ticks repaint the axis: only when the rows change
            self._ticks = ticks
            self.plot.getPlotItem().getAxis("left").setTicks([ticks, []])
        self.view.setRange(xRange=(t0, t1), yRange=(-0.5, n - 0.5), padding=0.0, update=False)
        self.position.setText(self._position_text(t0, t1))

    def _position_text(self, t0: float, t1: float) -> str:
        dur = self.recording.duration if self.recording else 0.0
        return f"{t0:.1f}-{min(t1, dur):.1f} s of {dur:.1f} s"

    # --- input -------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        k = Qt.Key
        if key == k.Key_Right:
            self.step(0.25)
        elif key == k.Key_Left:
            self.step(-0.25)
        elif key == k.Key_PageDown:
            self.next_page()
        elif key == k.Key_PageUp:
            self.previous_page()
        elif key == k.Key_Home:
            self.set_page(0.0)
        elif key == k.Key_End:
            self.set_page(self.max_start())
        elif key in (k.Key_Plus, k.Key_Equal):
            self.scale_by(0.8)
        elif key == k.Key_Minus:
            self.scale_by(1.25)
        elif key in (k.Key_Up, k.Key_Down):
            i = PAGE_LENGTHS.index(self._page_s) if self._page_s in PAGE_LENGTHS else 3
            i = min(len(PAGE_LENGTHS) - 1, i + 1) if key == k.Key_Up else max(0, i - 1)
            self.set_page_length(PAGE_LENGTHS[i])
        else:
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel:
            self.wheelEvent(event)
            return True
        return super().eventFilter(watched, event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.scale_by(0.8 if steps > 0 else 1.25)
        else:
            self.step(-0.25 * steps)
        event.accept()
