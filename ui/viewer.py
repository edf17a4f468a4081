"""The multichannel signal viewer: pages through a recording, drawing only the visible span.

Each page reads the span of the channels on screen through `Channel.read` (a lazy file reads
just that span), re-references and filters it for the view (`ui.view_page`), reduces every
channel to min/max pairs at the plot's pixel width (peaks survive), and hands the result to one
`TraceItem`. Rows are channels (top to bottom), a page of them at a time; amplitudes are scaled
per unit (uV, mV...), so EEG and ECG rows both fill their row, and a scale bar gives the value
of one row (a division) per unit. Bad channels are drawn grey. The reference box also offers
bipolar montages (`ui.view_montage`): the rows are then differences of channel pairs.

Keys and wheel as EDFbrowser binds them (`ui.viewer_input`). Right-click a channel: bad,
reference, hide, and annotations at that time; left-drag: mark a span as an annotation
(`ui.annotation_edit`). The spectrum and scalp-map docks follow the page (`ui.viewer_docks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QMenu,
    QScrollBar,
    QVBoxLayout,
    QWidget,
)

from ui.annotation_edit import AnnotationEditor
from ui.channel_dialog import ChannelDialog
from ui.view_filters import ViewFilters
from ui.view_montage import Montage, bipolar_channels
from ui.view_page import RowSpan, read_page
from ui.view_reference import Reference, unit_kind
from ui.view_scale import initial_scales, nice_scale, robust_scale, step_scale
from ui.view_traces import TraceOptions, place_row
from ui.viewer_controls import ROWS_CHOICES, DisplayBar, PageBar, channel_menu, montage_row_menu
from ui.viewer_docks import ViewerDocks
from ui.viewer_input import handle_key, handle_wheel
from ui.viewer_items import AnnotationItem, ChannelAxis, ClockAxis, GridItem, ScaleBarItem, TraceItem
from vqstudio.recording import Recording

__all__ = ["DEFAULT_ROWS", "PAGE_LENGTHS", "ChannelDialog", "SignalViewer", "nice_scale", "robust_scale"]

PAGE_LENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TICK = 0.01  # seconds per scroll-bar step
DEFAULT_ROWS = 20  # channels per page at first (MNE's browser shows 20 too)
BAD_COLOR = "#a0a0a0"

# Trace colours by unit: EEG-like (uV), ECG-like (mV), anything else. Light and dark themes.
_UNIT_COLORS = {
    "light": {"uv": "#1f3f8f", "mv": "#a8201a", "": "#2f5f2f"},
    "dark": {"uv": "#9cc4ff", "mv": "#ff8f80", "": "#a6e3a1"},
}


class SignalViewer(QWidget):
    """Pages through one recording; `set_recording`, then keys, the scroll bars or the methods."""

    page_changed = Signal(float)  # start of the page in seconds
    recording_changed = Signal()  # a different recording (or none) is shown
    bad_channels_changed = Signal(object)  # the set of bad channel names, after a user's change
    redrawn = Signal()  # a page was drawn (another page, rows, filters, reference...)

    def __init__(self, parent: QWidget | None = None, controls: bool = True) -> None:
        super().__init__(parent)
        self.recording: Recording | None = None
        self._t0 = 0.0
        self._page_s = 10.0
        self._shown: list[int] = []  # the recording's channels shown (the Channels dialog)
        self._montage: Montage | None = None  # the rows of a bipolar montage, when one is chosen
        self._drawn: Recording | None = None  # what the rows are channels of: recording or montage
        self._rows_list: list[int] = []  # channels of `_drawn` in rows, top to bottom (all pages)
        self._greyed: set[str] = set()  # rows on the page drawn grey (bad channels in them)
        self._first = 0  # first shown channel on the page (vertical scroll position)
        self._rows = DEFAULT_ROWS if controls else 0  # channels per page; 0: all
        self._scales: dict[str, float] = {}
        self._filters = ViewFilters()
        self._filters_on = True
        self._reference = Reference()
        self._trace_options = TraceOptions()
        self._bad: set[str] = set()
        self._page: list[RowSpan] = []
        self._theme = "light"
        self._bins = 0
        self._ticks: list[tuple[int, str]] = []
        self._mouse: QPointF | None = None  # the last mouse position over the plot (scene)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.time_axis = ClockAxis("bottom")
        self.channel_axis = ChannelAxis("left")
        self.plot = pg.PlotWidget(axisItems={"bottom": self.time_axis, "left": self.channel_axis})
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
        self.scale_bars = ScaleBarItem()
        # Annotations over the traces: a label stays readable on a busy page (a light tint only).
        for graphic in (self.grid, self.traces, self.annotations, self.scale_bars):
            self.plot.addItem(graphic)
        self.view.sigResized.connect(self._on_resized)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # The plot's view would swallow the wheel (its mouse interaction is off) and the
        # right-click: handle both here.
        self.plot.viewport().installEventFilter(self)
        self.docks = ViewerDocks(self)  # the spectrum and the scalp map, made when first shown
        self.annotation_editor = AnnotationEditor(self)  # adds, edits, deletes; takes dropped files
        for target in (self, self.plot.viewport()):
            self.annotation_editor.watch_drops(target)
        # The channel-name axis changes only with the rows: paint it from a cached pixmap.
        self.channel_axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self.scroll = QScrollBar(Qt.Orientation.Horizontal)
        self.scroll.valueChanged.connect(lambda v: self.set_page(v * TICK))
        self.vscroll = QScrollBar(Qt.Orientation.Vertical)
        self.vscroll.setToolTip("Channels (Up/Down, Shift+Up/Down, Shift+wheel)")
        self.vscroll.valueChanged.connect(self.set_first_row)
        self.page_bar = PageBar(PAGE_LENGTHS, PAGE_LENGTHS.index(self._page_s))
        self.page_bar.page_length_chosen.connect(self.set_page_length)
        self.page_bar.time_mode_chosen.connect(self.set_time_mode)
        self.page_bar.channels_clicked.connect(self.choose_channels)
        self.page_bar.scale_chosen.connect(self.scale_by)
        bar = self.page_bar
        self.title, self.position, self.page_box = bar.title, bar.position, bar.page_box
        self.time_box, self.unit_box, self.channels_button = bar.time_box, bar.unit_box, bar.channels_button
        self.display = DisplayBar()
        self.display.show_rows(self._rows)
        self.display.rows_changed.connect(self.set_channels_per_page)
        self.display.filters_changed.connect(self.set_filters)
        self.display.reference_changed.connect(self.set_reference)
        self.display.montage_requested.connect(self.choose_montage)
        self.display.options_changed.connect(self.set_trace_options)

        self.controls = QWidget()
        column = QVBoxLayout(self.controls)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.page_bar)
        column.addWidget(self.display)
        self.controls.setVisible(controls)
        middle = QHBoxLayout()
        middle.setContentsMargins(0, 0, 0, 0)
        middle.setSpacing(0)
        middle.addWidget(self.plot, 1)
        middle.addWidget(self.vscroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.controls)
        layout.addLayout(middle, 1)
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
        """Names of the channels shown (every page of them), top to bottom."""
        return self._names(self._shown)

    @property
    def page_channels(self) -> list[str]:
        """Names of the rows on the current page, top to bottom (a montage's 'Fp1-F7')."""
        drawn = self._drawn
        return [drawn.channels[i].name for i in self._page_indices()] if drawn else []

    @property
    def drawn_recording(self) -> Recording | None:
        """What the rows are channels of: the recording, or its montage's rows."""
        return self._drawn

    @property
    def greyed_rows(self) -> set[str]:
        """Names of the page's rows drawn grey (a bad channel, or one in a montage pair)."""
        return set(self._greyed)

    @property
    def montage(self) -> Montage | None:
        """The rows of the bipolar montage shown, or None."""
        return self._montage

    def _names(self, indices: Iterable[int]) -> list[str]:
        if self.recording is None:
            return []
        return [self.recording.channels[i].name for i in indices]

    @property
    def page_rows(self) -> list[RowSpan]:
        """What the last redraw drew, one per row: samples after reference and filters."""
        return list(self._page)

    @property
    def scales(self) -> dict[str, float]:
        """Physical units per row (one division) for each unit in the recording."""
        return dict(self._scales)

    @property
    def filters(self) -> ViewFilters:
        """The display filters in effect (none while switched off)."""
        return self._filters if self._filters_on else ViewFilters()

    @property
    def chosen_filters(self) -> tuple[ViewFilters, bool]:
        """The corners chosen and whether filtering is on (off keeps the corners)."""
        return self._filters, self._filters_on

    @property
    def rows_setting(self) -> int:
        """Channels per page as chosen (0: all), whatever the recording shown."""
        return self._rows

    @property
    def reference(self) -> Reference:
        return self._reference

    @property
    def trace_options(self) -> TraceOptions:
        """DC-offset removal and clipping of the traces."""
        return self._trace_options

    @property
    def bad_channels(self) -> set[str]:
        return set(self._bad)

    def set_recording(self, recording: Recording | None, title: str = "") -> None:
        """Shows `recording` from its start, every channel, amplitudes scaled per unit.

        Setting the recording already shown keeps the page, rows, filters and reference.
        """
        self.title.setText(title)
        if recording is not None and recording is self.recording:
            return
        self.recording = recording
        self._drawn = recording
        self._montage = None
        self.display.note.setText("")
        self._t0 = 0.0
        self._first = 0
        self._reference = Reference()
        self._bad = set()
        if recording is None:
            self._shown = []
            self._rows_list = []
            self._page = []
            self.display.readout.setText("")
            self.traces.set_traces([], [], [])
            self.annotations.set_annotations([], 0, 1)
            self.scale_bars.set_bars([], 0, 1, 0, 1)
            self.recording_changed.emit()
            return
        self._shown = list(range(len(recording.channels)))
        self._scales = initial_scales(recording)
        self.unit_box.clear()
        self.unit_box.addItem("all units", None)
        for unit in self._scales:
            self.unit_box.addItem(unit or "(no unit)", unit)
        self.display.set_channels([c.name for c in recording.channels])
        self.time_axis.start = recording.start
        self.time_box.setEnabled(recording.start is not None)
        self._update_scroll()
        self._update_rows()
        self.redraw()
        self.recording_changed.emit()

    def set_visible_channels(self, names: Sequence[str]) -> None:
        """Shows only these channels (names or labels as in the file), in the recording's order."""
        if self.recording is None:
            return
        wanted = set(names)
        self._shown = [
            i for i, c in enumerate(self.recording.channels) if c.name in wanted or c.label in wanted
        ]
        self._update_rows()
        self.redraw()

    def choose_channels(self) -> None:
        """The Channels dialog: which channels are shown, which are bad."""
        if self.recording is None:
            return
        dialog = ChannelDialog(self.recording.channels, self.shown_channels, self._bad, self)
        if dialog.exec():
            self.set_visible_channels(dialog.selected())
            self._user_set_bad(set(dialog.bad()))

    def set_bad_channels(self, names: Iterable[str]) -> None:
        """Greys these channels (names); an average reference leaves them out."""
        names = set(names)
        if names != self._bad:
            self._bad = names
            self.redraw()

    def toggle_bad(self, name: str) -> None:
        """Marks `name` bad, or good again, as a user's click does (emits bad_channels_changed)."""
        self._user_set_bad(self._bad ^ {name})

    def _user_set_bad(self, names: set[str]) -> None:
        if names != self._bad:
            self.set_bad_channels(names)
            self.bad_channels_changed.emit(set(names))

    def set_filters(self, filters: ViewFilters) -> None:
        """Display filters (the recording is not changed); switches filtering on."""
        self._filters = filters
        self._filters_on = True
        self.display.show_filters(filters)
        self.redraw()

    def set_filters_enabled(self, on: bool) -> None:
        """Filters on or off, keeping the chosen corners (EDFbrowser's 'remove filters')."""
        self._filters_on = bool(on)
        self.display.show_filters(self.filters)
        self.redraw()

    def toggle_filters(self) -> None:
        """Display filters off, or back on with the corners chosen before."""
        self.set_filters_enabled(not self._filters_on)

    def toggle_average_reference(self) -> None:
        """Average reference, or back to the signals as recorded."""
        self.set_reference(Reference() if self._reference.kind == "average" else Reference("average"))

    def set_reference(self, reference: Reference) -> None:
        """Re-references the view (average, one channel, or a bipolar montage); the recording is
        not changed. A montage none of whose pairs the recording has is refused (the note says
        why) and the reference stays as it was."""
        montage = None
        if reference.kind == "bipolar" and self.recording is not None:
            montage = bipolar_channels(self.recording, reference.pairs)
            if not montage.channels:
                self.display.note.setText(f"No pair of {reference.describe()} found in this recording")
                self.display.note.setToolTip(montage.describe_missing())
                self.display.show_reference(self._reference)
                return
        self._reference = reference
        self._set_montage(montage)
        self.display.show_reference(reference)
        self._update_rows()
        self.redraw()

    def _set_montage(self, montage: Montage | None) -> None:
        rec = self.recording
        self._montage = montage
        self._drawn = rec
        self.display.note.setText("")
        self.display.note.setToolTip("")
        if montage is None or rec is None:
            return
        # The montage's rows with the recording's own annotation list: edits show at once.
        self._drawn = Recording(montage.channels, rec.annotations, rec.start, rec.source)
        if montage.missing:
            self.display.note.setText(f"{len(montage.missing)} pair(s) left out")
            self.display.note.setToolTip(montage.describe_missing())

    def choose_montage(self) -> None:
        """The pairs dialog ("montage: my pairs..."): a bipolar montage of the user's pairs."""
        from ui.montage_dialog import ask_montage

        ask_montage(self)

    def set_trace_options(self, options: TraceOptions) -> None:
        """DC-offset removal and clipping to rows, for every trace."""
        self._trace_options = options
        self.display.show_options(options)
        self.redraw()

    def toggle_dc_removal(self) -> None:
        """DC-offset removal off, or back on (MNE's browser: the D key)."""
        self.set_trace_options(replace(self._trace_options, remove_dc=not self._trace_options.remove_dc))

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
        self.channel_axis.grey = QColor("#6c6c6c" if self._theme == "dark" else BAD_COLOR)
        self.annotations.set_color(QColor("#ffb000" if self._theme == "dark" else "#e07000"), QColor(bg))
        self.scale_bars.set_color(QColor(fg), QColor(bg))
        self.grid.set_color(QColor(255, 255, 255, 40) if self._theme == "dark" else QColor(0, 0, 0, 40))
        self.redraw()

    def scale_by(self, factor: float, unit: str | None = None) -> None:
        """Steps the scale of `unit` (default: the unit chosen in the bar, or all units) through
        1-2-5 values towards `scale * factor`; below 1 draws larger traces (`step_scale`)."""
        if unit is None and self.unit_box.count():
            unit = self.unit_box.currentData()
        self._scales = {
            u: step_scale(s, factor) if unit is None or u == unit else s for u, s in self._scales.items()
        }
        self.redraw()

    def set_scale(self, unit: str, per_row: float) -> None:
        """Physical units that fill one row, for channels of `unit`."""
        self._scales[unit] = float(per_row)
        self.redraw()

    # --- paging in time ------------------------------------------------------------------------
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

    def jump_to(self, seconds: float) -> None:
        """Shows the page with `seconds` a tenth of a page from its left edge (an event and
        what leads up to it)."""
        self.set_page(seconds - 0.1 * self._page_s)

    def _update_scroll(self) -> None:
        self.scroll.blockSignals(True)
        self.scroll.setRange(0, round(self.max_start() / TICK))
        self.scroll.setPageStep(max(1, round(self._page_s / TICK)))
        self.scroll.setSingleStep(max(1, round(self._page_s / 4 / TICK)))
        self.scroll.setValue(round(self._t0 / TICK))
        self.scroll.blockSignals(False)

    # --- paging through channels -------------------------------------------------------------
    @property
    def channels_per_page(self) -> int:
        """Rows on a page: the setting, or every shown channel when fewer (or 'all')."""
        n = len(self._rows_list)
        return n if self._rows <= 0 else min(self._rows, n)

    @property
    def first_row(self) -> int:
        """Index (in the shown channels) of the page's top row."""
        return self._first

    def set_channels_per_page(self, rows: int) -> None:
        """Channels on a page (0: all); the top row stays where it is when it can."""
        self._rows = max(0, int(rows))
        self.display.show_rows(self._rows)
        self._update_rows()
        self.redraw()

    def set_first_row(self, row: int) -> None:
        """Scrolls the channels so shown channel `row` is the top row (clamped)."""
        first = min(max(0, int(row)), max(0, len(self._rows_list) - self.channels_per_page))
        if first != self._first:
            self._first = first
            self._update_rows()
            self.redraw()

    def step_channels_per_page(self, steps: int) -> None:
        """More (steps > 0) or fewer channels per page, through the choices the bar offers."""
        choices = [n for n in ROWS_CHOICES if n > 0]
        current = self.channels_per_page
        if steps > 0:
            bigger = [n for n in choices if n > current]
            self.set_channels_per_page(bigger[0] if bigger and bigger[0] < len(self._rows_list) else 0)
        else:
            smaller = [n for n in choices if n < current]
            self.set_channels_per_page(smaller[-1] if smaller else choices[0])

    def scroll_rows(self, rows: int) -> None:
        """Scrolls the channels by `rows` (negative: up)."""
        self.set_first_row(self._first + rows)

    def scroll_row_pages(self, pages: int) -> None:
        """Scrolls the channels by whole pages of rows (negative: up)."""
        self.set_first_row(self._first + pages * max(1, self.channels_per_page))

    def _update_rows(self) -> None:
        if self._montage is None:
            self._rows_list = list(self._shown)
        else:  # a montage row shows while both its channels are shown
            shown = set(self._shown)
            members = self._montage.members
            self._rows_list = [k for k, (a, b) in enumerate(members) if a in shown and b in shown]
        n = len(self._rows_list)
        per = self.channels_per_page
        self._first = min(self._first, max(0, n - per))
        self.vscroll.blockSignals(True)
        self.vscroll.setRange(0, max(0, n - per))
        self.vscroll.setPageStep(max(1, per))
        self.vscroll.setValue(self._first)
        self.vscroll.blockSignals(False)
        self.vscroll.setVisible(n > per)

    def _page_indices(self) -> list[int]:
        return self._rows_list[self._first : self._first + self.channels_per_page]

    def _row_members(self, index: int) -> list[str]:
        """The recording's channels drawn in row channel `index` (two for a montage row)."""
        assert self.recording is not None
        pair = self._montage.members[index] if self._montage is not None else (index,)
        return [self.recording.channels[i].name for i in pair]

    def _on_resized(self) -> None:
        if self._pixel_bins() != self._bins:
            self.redraw()

    def _pixel_bins(self) -> int:
        # One min/max pair per two pixel columns: one point per column, every peak kept.
        return max(50, int(self.view.width()) // 2)

    # --- drawing -----------------------------------------------------------------------------
    def redraw(self) -> None:
        """Reads the visible span of the page's channels, references, filters and draws it."""
        rec = self._drawn
        if rec is None:
            return
        t0, t1 = self._t0, self._t0 + self._page_s
        self._bins = bins = self._pixel_bins()
        indices = self._page_indices()
        self._page = read_page(rec, indices, t0, t1, bins, self.filters, self._reference, self._bad)
        self._greyed = greyed = {
            rec.channels[i].name for i in indices if self._bad.intersection(self._row_members(i))
        }
        xs, ys = [], []
        for row, span in enumerate(self._page):
            per_row = self._scales.get(rec.channels[span.index].unit, 1.0)
            xs.append(span.x)
            ys.append(place_row(span.y, row, per_row, self._trace_options))
        colors = _UNIT_COLORS[self._theme]
        pens = [
            QColor(BAD_COLOR if c.name in greyed else colors.get(unit_kind(c.unit), colors[""]))
            for c in (rec.channels[i] for i in indices)
        ]
        self.traces.set_traces(xs, ys, pens)
        n = max(1, self.channels_per_page)
        visible = [
            (a.onset, max(a.end, a.onset), a.text) for a in rec.annotations if a.onset <= t1 and a.end >= t0
        ]
        self.annotations.set_annotations(visible, -0.5, n - 0.5, t0)
        self.grid.set_grid(t0, t1, -0.5, n - 0.5)
        self.scale_bars.set_bars(self._scale_bar_rows(indices), t0, t1, -0.5, n - 0.5)
        ticks = [(row, rec.channels[i].name) for row, i in enumerate(indices)]
        if ticks != self._ticks:  # new ticks repaint the axis: only when the rows change
            self._ticks = ticks
            self.channel_axis.setTicks([ticks, []])
        self.channel_axis.set_greyed(greyed)
        self.view.setRange(xRange=(t0, t1), yRange=(-0.5, n - 0.5), padding=0.0, update=False)
        self.position.setText(self._position_text(t0, t1))
        self._refresh_readout()
        self.redrawn.emit()

    def _scale_bar_rows(self, indices: list[int]) -> list[tuple[float, str]]:
        # One bar per unit, beside the first row of that unit on the page.
        bars: dict[str, tuple[float, str]] = {}
        for row, i in enumerate(indices):
            unit = self._drawn.channels[i].unit if self._drawn else ""
            if unit not in bars:
                bars[unit] = (float(row), f"{self._scales.get(unit, 1.0):.3g} {unit}".strip())
        return list(bars.values())

    def _position_text(self, t0: float, t1: float) -> str:
        dur = self.recording.duration if self.recording else 0.0
        text = f"{t0:.1f}-{min(t1, dur):.1f} s of {dur:.1f} s"
        if len(self._rows_list) > self.channels_per_page:
            last = self._first + self.channels_per_page
            text += f", channels {self._first + 1}-{last} of {len(self._rows_list)}"
        return text

    # --- cursor read-out and the channel menu --------------------------------------------------
    def readout_text(self, t: float, y: float) -> str:
        """'12.345 s  Fc5: -23.4 uV' for time `t` and view row `y` (empty outside the rows)."""
        row = round(y)
        if self._drawn is None or not 0 <= row < len(self._page):
            return ""
        span = self._page[row]
        ch = self._drawn.channels[span.index]
        value = span.value_at(t)
        shown = f"{value:.4g} {ch.unit}".strip() if value is not None else "-"
        return f"{t:.3f} s   {ch.name}: {shown}"

    def _on_mouse_moved(self, pos: QPointF) -> None:
        self._mouse = QPointF(pos)
        self._refresh_readout()

    def _refresh_readout(self) -> None:
        # Also after every redraw: another file, page or channel under a mouse that has not
        # moved must not keep the old read-out.
        pos = self._mouse
        if pos is None or not self.view.sceneBoundingRect().contains(pos):
            self.display.readout.setText("")
            return
        point = self.view.mapSceneToView(pos)
        self.display.readout.setText(self.readout_text(point.x(), point.y()))

    def row_at(self, pos: QPoint) -> int | None:
        """The page row under viewport position `pos` (over traces or the channel names)."""
        y = self.view.mapSceneToView(self.plot.mapToScene(pos)).y()
        row = round(y)
        return row if 0 <= row < len(self._page) else None

    def channel_menu(self, row: int) -> QMenu:
        """The menu of the channel in page row `row`: bad/good, reference, hide (a montage
        row: either of its channels bad, or back to the signals as recorded)."""
        assert self._drawn is not None
        index = self._page[row].index
        if self._montage is not None:
            return montage_row_menu(self, self._drawn.channels[index].name, self._row_members(index))
        return channel_menu(self, self._drawn.channels[index].name)

    def toggle_spectrum(self) -> None:
        """The spectrum dock (Welch PSD of the page's channels), shown or hidden."""
        self.docks.toggle("spectrum")

    def toggle_scalp_map(self) -> None:
        """The scalp-map dock (band power at 10-20 positions), shown or hidden."""
        self.docks.toggle("scalp_map")

    def choose_annotation_file(self) -> None:
        """Adds the annotations of an EDF+ file (a hypnogram) to the recording shown."""
        self.annotation_editor.choose_file()

    def context_menu(self, pos: QPoint) -> QMenu:
        """The right-click menu at viewport position `pos`: the channel's entries over a row,
        then the annotation entries for that time (add, and edit or delete those there)."""
        row = self.row_at(pos)
        menu = self.channel_menu(row) if row is not None else QMenu(self)
        t = self.view.mapSceneToView(self.plot.mapToScene(pos)).x()
        self.annotation_editor.extend_menu(menu, float(t))
        return menu

    # --- input -------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not handle_key(self, event, PAGE_LENGTHS):  # ui.viewer_input: the keys' table
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:  # no mouse over the plot: no read-out
            self._mouse = None
            self._refresh_readout()
        if event.type() == QEvent.Type.Wheel:
            self.wheelEvent(event)
            return True
        if event.type() == QEvent.Type.ContextMenu and isinstance(event, QContextMenuEvent):
            menu = self.context_menu(event.pos())
            if not menu.isEmpty():
                menu.exec(event.globalPos())
            return True
        return super().eventFilter(watched, event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        handle_wheel(self, event)
