"""The viewer's display bar: channels per page, display filters, reference, and the cursor read-out.

It only shows and reports choices (signals carrying plain values); the viewer applies them.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ui.view_filters import HIGHPASS_CHOICES, LOWPASS_CHOICES, NOTCH_CHOICES, ViewFilters
from ui.view_reference import Reference

__all__ = ["ROWS_CHOICES", "DisplayBar"]

ROWS_CHOICES = (4, 8, 10, 16, 20, 32, 64, 0)  # channels per page; 0: all


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


class DisplayBar(QWidget):
    """Channels per page, high-pass, low-pass, notch and reference choices; the read-out."""

    rows_changed = Signal(int)  # channels per page, 0 for all
    filters_changed = Signal(object)  # ViewFilters
    reference_changed = Signal(object)  # Reference

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
            "unit and rate, or one channel",
            [("ref: as recorded", "none"), ("ref: average", "average")],
        )
        self.readout = QLabel()
        self.readout.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.readout.setToolTip("Time and value under the mouse")

        self.rows_box.currentIndexChanged.connect(
            lambda _: self.rows_changed.emit(self.rows_box.currentData())
        )
        for box in (self.highpass_box, self.lowpass_box, self.notch_box):
            box.currentIndexChanged.connect(lambda _: self.filters_changed.emit(self.filters()))
        self.reference_box.currentIndexChanged.connect(
            lambda _: self.reference_changed.emit(self.reference())
        )

        # Each entry names its setting ("HP 0.5 Hz"), so the bar needs no labels and fits a
        # narrow window.
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 2)
        for box in (self.rows_box, self.highpass_box, self.lowpass_box, self.notch_box, self.reference_box):
            row.addWidget(box)
        row.addWidget(self.readout, 1)

    def filters(self) -> ViewFilters:
        """The filters chosen in the boxes."""
        # 0.0 stands for "off" in the boxes (a combo box cannot look up None).
        return ViewFilters(
            self.highpass_box.currentData() or None,
            self.lowpass_box.currentData() or None,
            self.notch_box.currentData() or None,
        )

    def reference(self) -> Reference:
        """The reference chosen in the box."""
        data = self.reference_box.currentData()
        if data in ("none", "average"):
            return Reference(data)
        return Reference("channel", data.removeprefix("channel:"))

    def set_channels(self, names: Sequence[str]) -> None:
        """Offers these channels as references (after 'as recorded' and 'average')."""
        self.reference_box.blockSignals(True)
        while self.reference_box.count() > 2:
            self.reference_box.removeItem(2)
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
        _select(
            self.reference_box,
            reference.kind if reference.kind != "channel" else f"channel:{reference.channel}",
        )
