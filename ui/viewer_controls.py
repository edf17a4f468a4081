"""The viewer's bars and menus: page length and amplitude (`PageBar`); channels per page,
display filters, reference, trace options and the cursor read-out (`DisplayBar`); a channel's
menu.

They only show and report choices (signals carrying plain values); the viewer applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QPushButton, QSizePolicy, QToolButton, QWidget

from ui.flow_layout import FlowLayout, group
from ui.view_filters import HIGHPASS_CHOICES, LOWPASS_CHOICES, NOTCH_CHOICES, ViewFilters
from ui.view_montage import DOUBLE_BANANA
from ui.view_reference import Reference
from ui.view_traces import TraceOptions

if TYPE_CHECKING:
    from ui.viewer import SignalViewer

__all__ = [
    "DOUBLE_BANANA_REFERENCE",
    "ROWS_CHOICES",
    "DisplayBar",
    "PageBar",
    "channel_menu",
    "montage_row_menu",
]

ROWS_CHOICES = (4, 8, 10, 16, 20, 32, 64, 0)  # channels per page; 0: all
DOUBLE_BANANA_REFERENCE = Reference("bipolar", pairs=DOUBLE_BANANA, name="double banana")
# The reference box's first entries; one entry per channel follows.
FIXED_REFERENCES = (
    ("ref: as recorded", "none"),
    ("ref: average", "average"),
    ("montage: double banana", "bipolar:banana"),
    ("montage: my pairs...", "bipolar:custom"),
)


def _combo(tooltip: str, items: Sequence[tuple[str, object]]) -> QComboBox:
    box = QComboBox()
    box.setToolTip(tooltip)
    box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # arrow keys stay with the viewer
    # Sized for short entries, so the bar fits a narrow window; the open list shows long names.
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(9)
    for text, data in items:
        box.addItem(text, data)
    return box


def _select(box: QComboBox, data: object, text: str = "") -> None:
    """Shows `data`'s entry without emitting (the viewer already holds the value); a value
    not offered yet is added as `text`."""
    index = box.findData(data)
    if index < 0 and text:
        box.addItem(text, data)
        index = box.count() - 1
    if index >= 0:
        box.blockSignals(True)
        box.setCurrentIndex(index)
        box.blockSignals(False)


class PageBar(QWidget):
    """Title, position, page length, time axis, the Channels button and amplitude."""

    page_length_chosen = Signal(float)
    time_mode_chosen = Signal(str)  # "seconds" or "clock"
    channels_clicked = Signal()
    scale_chosen = Signal(float)  # a factor for the unit chosen: below 1 draws larger

    def __init__(self, lengths: Sequence[float], current: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.position = QLabel()
        self.page_box = QComboBox()
        for sec in lengths:
            self.page_box.addItem(f"{sec:g} s", sec)
        self.page_box.setCurrentIndex(current)
        self.page_box.setToolTip("Page length (Ctrl+Up/Down)")
        self.page_box.currentIndexChanged.connect(lambda i: self.page_length_chosen.emit(lengths[i]))
        self.time_box = QComboBox()
        self.time_box.addItems(["Seconds", "Clock time"])
        self.time_box.setToolTip("Time axis in seconds from the start, or clock time")
        self.time_box.currentIndexChanged.connect(
            lambda i: self.time_mode_chosen.emit("clock" if i else "seconds")
        )
        self.channels_button = QPushButton("Channels...")
        self.channels_button.setToolTip("Choose the channels shown and mark bad ones")
        self.channels_button.clicked.connect(self.channels_clicked)
        self.unit_box = QComboBox()
        self.unit_box.setToolTip("Which channels +/- scale: every unit, or the channels of one unit")
        smaller = QPushButton("-")
        smaller.setToolTip("Smaller amplitude (-)")
        smaller.clicked.connect(lambda: self.scale_chosen.emit(1.25))
        larger = QPushButton("+")
        larger.setToolTip("Larger amplitude (+)")
        larger.clicked.connect(lambda: self.scale_chosen.emit(0.8))
        for b in (smaller, larger):
            b.setFixedWidth(30)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.title.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar = FlowLayout(self)
        bar.setContentsMargins(4, 2, 4, 2)
        for item in (
            self.title,
            self.position,
            group("Page", self.page_box, self.time_box),
            self.channels_button,
            group("Amplitude", self.unit_box, smaller, larger),
        ):
            bar.addWidget(item)


def channel_menu(viewer: SignalViewer, name: str) -> QMenu:
    """The right-click menu of channel `name`: mark bad (or good), use as reference, average
    reference, hide."""
    menu = QMenu(viewer)
    bad = menu.addAction(f"Mark {name} good" if name in viewer.bad_channels else f"Mark {name} bad")
    bad.triggered.connect(lambda: viewer.toggle_bad(name))
    ref = menu.addAction(f"Use {name} as reference")
    ref.triggered.connect(lambda: viewer.set_reference(Reference("channel", name)))
    average = menu.addAction("Average reference")
    average.triggered.connect(lambda: viewer.set_reference(Reference("average")))
    hide = menu.addAction(f"Hide {name}")
    hide.triggered.connect(
        lambda: viewer.set_visible_channels([n for n in viewer.shown_channels if n != name])
    )
    return menu


def montage_row_menu(viewer: SignalViewer, row_name: str, members: Sequence[str]) -> QMenu:
    """The right-click menu of a montage row: mark either of its channels bad (or good), or
    go back to the signals as recorded."""
    menu = QMenu(viewer)
    for name in members:
        text = f"Mark {name} good" if name in viewer.bad_channels else f"Mark {name} bad"
        menu.addAction(text).triggered.connect(lambda _=False, n=name: viewer.toggle_bad(n))
    menu.addSeparator()
    menu.addAction("Signals as recorded").triggered.connect(lambda: viewer.set_reference(Reference()))
    menu.setToolTip(row_name)
    return menu


class DisplayBar(QWidget):
    """Channels per page, high-pass, low-pass, notch and reference choices; the read-out."""

    rows_changed = Signal(int)  # channels per page, 0 for all
    filters_changed = Signal(object)  # ViewFilters
    reference_changed = Signal(object)  # Reference
    montage_requested = Signal()  # "montage: my pairs..." chosen: the viewer asks for the pairs
    options_changed = Signal(object)  # TraceOptions

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dc_action = QAction("Remove &DC offset", self, checkable=True, checked=True)
        self.dc_action.setToolTip("Centre each trace on its own mean over the page (D)")
        self.clip_action = QAction("Clip traces to their &rows", self, checkable=True)
        self.clip_action.setToolTip("Keep each trace inside its own row")
        for action in (self.dc_action, self.clip_action):
            action.toggled.connect(lambda _: self.options_changed.emit(self.options()))
        self.options_button = QToolButton()
        self.options_button.setText("Traces")
        self.options_button.setToolTip("DC-offset removal and clipping of the traces")
        self.options_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.options_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        options_menu = QMenu(self.options_button)
        options_menu.addActions([self.dc_action, self.clip_action])
        self.options_button.setMenu(options_menu)
        self.rows_box = _combo(
            "Channels per page (Shift+Up/Down scrolls a page of channels, Up/Down one)",
            [("all channels" if n == 0 else f"{n} channels", n) for n in ROWS_CHOICES],
        )
        self.highpass_box = _combo(
            "High-pass filter for the view only (the recording is not changed)",
            [("HP off", 0.0), *((f"HP {f:g} Hz", f) for f in HIGHPASS_CHOICES)],
        )
        self.lowpass_box = _combo(
            "Low-pass filter for the view only (the recording is not changed)",
            [("LP off", 0.0), *((f"LP {f:g} Hz", f) for f in LOWPASS_CHOICES)],
        )
        self.notch_box = _combo(
            "Mains notch for the view only (50 Hz in Europe, 60 Hz in the Americas)",
            [("notch off", 0.0), *((f"notch {f:g} Hz", f) for f in NOTCH_CHOICES)],
        )
        self.reference_box = _combo(
            "Reference for the view: as recorded, the average of the good channels of the same "
            "unit and rate, a bipolar montage (the double banana, or pairs of your own), or one "
            "channel",
            FIXED_REFERENCES,
        )
        self.reference_box.setMinimumContentsLength(18)  # "montage: double banana" reads whole
        self._custom: Reference | None = None  # the pairs of "montage: my pairs", once chosen
        self.note = QLabel()  # what a montage left out
        self.note.setWordWrap(False)
        self.readout = QLabel()
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.readout.setToolTip("Time and value under the mouse")

        self.rows_box.currentIndexChanged.connect(
            lambda _: self.rows_changed.emit(self.rows_box.currentData())
        )
        for box in (self.highpass_box, self.lowpass_box, self.notch_box):
            box.currentIndexChanged.connect(lambda _: self.filters_changed.emit(self.filters()))
        self.reference_box.currentIndexChanged.connect(self._on_reference_chosen)

        # Each entry names its setting ("HP 0.5 Hz"), so the bar needs no labels and fits a
        # narrow window.
        self.readout.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row = FlowLayout(self)
        row.setContentsMargins(4, 0, 4, 2)
        for box in (self.rows_box, self.highpass_box, self.lowpass_box, self.notch_box, self.reference_box):
            row.addWidget(box)
        for item in (self.options_button, self.note, self.readout):
            row.addWidget(item)

    def filters(self) -> ViewFilters:
        """The filters chosen in the boxes."""
        # 0.0 stands for "off" in the boxes (a combo box cannot look up None).
        return ViewFilters(
            self.highpass_box.currentData() or None,
            self.lowpass_box.currentData() or None,
            self.notch_box.currentData() or None,
        )

    def options(self) -> TraceOptions:
        """The trace options ticked in the Traces menu."""
        return TraceOptions(self.dc_action.isChecked(), self.clip_action.isChecked())

    def show_options(self, options: TraceOptions) -> None:
        for action, on in ((self.dc_action, options.remove_dc), (self.clip_action, options.clip_to_row)):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    def _on_reference_chosen(self, _: int) -> None:
        if self.reference_box.currentData() == "bipolar:custom":
            self.montage_requested.emit()
        else:
            self.reference_changed.emit(self.reference())

    def reference(self) -> Reference:
        """The reference chosen in the box (for "my pairs": the pairs last chosen, if any)."""
        data = self.reference_box.currentData()
        if data in ("none", "average"):
            return Reference(data)
        if data == "bipolar:banana":
            return DOUBLE_BANANA_REFERENCE
        if data == "bipolar:custom":
            return self._custom or DOUBLE_BANANA_REFERENCE
        return Reference("channel", data.removeprefix("channel:"))

    def set_channels(self, names: Sequence[str]) -> None:
        """Offers these channels as references (after 'as recorded', 'average' and the montages)."""
        self.reference_box.blockSignals(True)
        while self.reference_box.count() > len(FIXED_REFERENCES):
            self.reference_box.removeItem(len(FIXED_REFERENCES))
        for name in names:
            self.reference_box.addItem(f"ref: {name}", f"channel:{name}")
        self.reference_box.setCurrentIndex(0)
        self.reference_box.blockSignals(False)

    def show_rows(self, rows: int) -> None:
        _select(self.rows_box, rows)

    def show_filters(self, filters: ViewFilters) -> None:
        for box, value in (
            (self.highpass_box, filters.highpass),
            (self.lowpass_box, filters.lowpass),
            (self.notch_box, filters.notch),
        ):
            prefix = box.itemText(0).removesuffix(" off")
            _select(box, value or 0.0, f"{prefix} {value:g} Hz" if value else "")

    def show_reference(self, reference: Reference) -> None:
        if reference.kind == "bipolar":
            banana = reference.pairs == DOUBLE_BANANA
            if not banana:
                self._custom = reference
            _select(self.reference_box, "bipolar:banana" if banana else "bipolar:custom")
            return
        _select(
            self.reference_box,
            reference.kind if reference.kind != "channel" else f"channel:{reference.channel}",
        )
