"""The scalp-map dock: band power of the EEG over the page, on a head seen from above.

The band (delta, theta, alpha, beta, gamma) is chosen in the dock; the span is the viewer's
page, after its display filters and reference (a bipolar montage has no positions: the map then
uses the signals as recorded, and says so). Electrodes are the channels whose labels name a
10-20 / 10-10 site (`ui.view_topomap.place_channels`); those left out are listed under the map.
The nose is up and the left hemisphere on the left, as MNE draws topomaps.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ui.following_dock import FollowingDock
from ui.view_page import read_page
from ui.view_positions import HEAD_RADIUS
from ui.view_reference import Reference
from ui.view_topomap import BANDS, MIN_ELECTRODES, Placement, band_power, interpolate, place_channels
from ui.viewer import SignalViewer

__all__ = ["ScalpMapDock"]

DELAY_MS = 200  # paging fast recomputes once, after the keys stop
COLORMAP = "viridis"


def _outline() -> list[tuple[np.ndarray, np.ndarray]]:
    """The head (a circle), the nose and the ears, as (x, y) polylines in map units."""
    r = HEAD_RADIUS
    a = np.linspace(0, 2 * math.pi, 181)
    head = (r * np.cos(a), r * np.sin(a))
    nose = (np.array([-0.09, 0.0, 0.09]) * r / 0.85, np.array([r - 0.01, r + 0.1, r - 0.01]))
    ear = np.linspace(-0.5 * math.pi, 0.5 * math.pi, 30)
    right = (r + 0.05 * np.cos(ear), 0.14 * np.sin(ear))
    left = (-r - 0.05 * np.cos(ear), 0.14 * np.sin(ear))
    return [head, nose, right, left]


class ScalpMapDock(FollowingDock):
    """Band power over the page as a scalp map; updates with the viewer while shown."""

    def __init__(self, viewer: SignalViewer, parent: QWidget | None = None) -> None:
        super().__init__("Scalp map", viewer, DELAY_MS, parent)
        self.setObjectName("scalp_map_dock")
        self.placement: Placement | None = None
        self.powers = np.zeros(0)  # band power per placed electrode, unit^2
        self.image: np.ndarray | None = None  # the map in dB (NaN outside the head)
        self.band_box = QComboBox()
        for name, (lo, hi) in BANDS.items():
            self.band_box.addItem(f"{name} ({lo:g}-{hi:g} Hz)", name)
        self.band_box.setCurrentIndex(list(BANDS).index("alpha"))
        self.band_box.currentIndexChanged.connect(lambda _: self.refresh())
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.left_out = QLabel()
        self.left_out.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Band"))
        top.addWidget(self.band_box, 1)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(2, 2, 2, 2)
        column.addLayout(top)
        column.addWidget(self.caption)
        column.addWidget(self.graphics, 1)
        column.addWidget(self.left_out)
        self.setWidget(holder)

    @property
    def band(self) -> str:
        return str(self.band_box.currentData())

    def set_band(self, name: str) -> None:
        self.band_box.setCurrentIndex(list(BANDS).index(name))

    def refresh(self) -> None:
        """Recomputes the band powers over the page and draws the map."""
        self._timer.stop()
        self.graphics.clear()
        self.image, self.powers = None, np.zeros(0)
        rec = self.viewer.recording
        if rec is None:
            self.placement = None
            self.caption.setText("No recording shown")
            self.left_out.setText("")
            return
        self.placement = placement = place_channels(rec.channels, self.viewer.bad_channels)
        said = placement.describe_left_out()
        self.left_out.setText(said[:1].upper() + said[1:])
        if len(placement.indices) < MIN_ELECTRODES:
            self.caption.setText(
                f"A scalp map needs {MIN_ELECTRODES} EEG channels at 10-20 positions (labels such as "
                f"Fp1, C3, O2); this recording has {len(placement.indices)}."
            )
            return
        self._compute(placement)
        self._draw(placement)

    def _compute(self, placement: Placement) -> None:
        viewer, rec = self.viewer, self.viewer.recording
        assert rec is not None
        t0, t1 = viewer.page_start, viewer.page_start + viewer.page_length
        reference = viewer.reference if viewer.reference.kind != "bipolar" else Reference()
        spans = read_page(rec, placement.indices, t0, t1, 64, viewer.filters, reference, viewer.bad_channels)
        lo, hi = BANDS[self.band]
        self.powers = np.array([band_power(s.samples, s.rate, (lo, hi)) for s in spans])
        where = (
            "as recorded (a montage has no positions)"
            if reference != viewer.reference
            else reference.describe()
        )
        unit = rec.channels[placement.indices[0]].unit or "units"
        self.caption.setText(
            f"{self.band.capitalize()} power ({lo:g}-{hi:g} Hz), {t0:.1f}-{min(t1, rec.duration):.1f} s, "
            f"{len(placement.indices)} electrodes, {where}; dB re 1 {unit}²"
        )

    def _draw(self, placement: Placement) -> None:
        finite = np.isfinite(self.powers) & (self.powers > 0)
        if finite.sum() < MIN_ELECTRODES:
            self.caption.setText(self.caption.text() + ": the band lies above what the channels hold")
            return
        db = 10 * np.log10(self.powers[finite])
        self.image = interpolate(placement.xy[finite], db)
        low, high = float(np.nanmin(self.image)), float(np.nanmax(self.image))
        cmap = pg.colormap.get(COLORMAP)
        plot = self.graphics.addPlot(row=0, col=0)
        plot.setAspectLocked(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        scaled = (self.image - low) / max(high - low, 1e-12)
        rgba = cmap.map(np.nan_to_num(scaled), mode="byte")
        rgba[..., 3] = np.where(np.isfinite(self.image), 255, 0)
        item = pg.ImageItem(rgba, axisOrder="row-major")
        item.setRect(QRectF(-HEAD_RADIUS, -HEAD_RADIUS, 2 * HEAD_RADIUS, 2 * HEAD_RADIUS))
        plot.addItem(item)
        for xs, ys in _outline():
            plot.plot(xs, ys, pen=pg.mkPen("#303030", width=2))
        xy = placement.xy
        plot.addItem(pg.ScatterPlotItem(xy[:, 0], xy[:, 1], size=5, brush="k", pen=None))
        for (x, y), site in zip(xy, placement.sites, strict=True):
            label = pg.TextItem(site, color="#101010", anchor=(0.5, -0.15))
            label.setPos(float(x), float(y))
            plot.addItem(label)
        plot.setRange(xRange=(-1.05, 1.05), yRange=(-1.0, 1.08), padding=0.0)
        bar = pg.ColorBarItem(values=(low, high), colorMap=cmap, interactive=False, width=12, label="dB")
        self.graphics.addItem(bar, row=0, col=1)
