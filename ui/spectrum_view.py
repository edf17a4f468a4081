"""The spectrum dock: the Welch PSD of the channels on the page, on a log scale, as MNE's
`plot_psd` and EDFbrowser's power spectrum show it.

It follows the viewer: the channels and span on screen, after the display filters and the
reference or montage (the spectrum of what is drawn), recomputed shortly after the page
changes while the dock is shown. One plot per kind of unit (an ECG lead in mV does not share an
axis with EEG in uV); bad channels are drawn grey and dashed. The PSD is
`vqstudio.spectra.welch_psd` (Hann, 50 % overlap, about 2 s segments), as the engine's reports
compute it. Hovering names the curve under the mouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui.following_dock import FollowingDock
from ui.view_reference import unit_kind
from ui.viewer import SignalViewer

__all__ = ["ChannelSpectrum", "SpectrumDock", "page_spectra"]

DELAY_MS = 150  # paging fast recomputes once, after the keys stop
MIN_SAMPLES = 16  # fewer samples than this in the page give no spectrum


@dataclass(frozen=True)
class ChannelSpectrum:
    """One channel's PSD over the page."""

    name: str
    unit: str
    freqs: np.ndarray  # Hz
    psd: np.ndarray  # unit^2 / Hz
    bad: bool


def page_spectra(viewer: SignalViewer) -> list[ChannelSpectrum]:
    """The PSD of every row on the viewer's page (rows with too few samples left out)."""
    from vqstudio.spectra import welch_psd

    out = []
    names = viewer.page_channels
    drawn = viewer.drawn_recording
    if drawn is None:
        return []
    bad = viewer.greyed_rows
    for name, span in zip(names, viewer.page_rows, strict=False):
        if span.samples.size < MIN_SAMPLES:
            continue
        freqs, psd = welch_psd(span.samples - span.samples.mean(), span.rate)
        unit = drawn.channels[span.index].unit
        out.append(ChannelSpectrum(name, unit, freqs[1:], psd[1:], name in bad))  # no 0 Hz on a log axis
    return out


class SpectrumDock(FollowingDock):
    """The PSD of the page's channels; updates with the viewer while shown."""

    def __init__(self, viewer: SignalViewer, parent: QWidget | None = None) -> None:
        super().__init__("Spectrum", viewer, DELAY_MS, parent)
        self.setObjectName("spectrum_dock")
        self.spectra: list[ChannelSpectrum] = []
        self.plots: dict[str, pg.PlotItem] = {}  # by kind of unit
        self._curves: list[tuple[pg.PlotDataItem, ChannelSpectrum]] = []
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.layout_widget.setBackground("w")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.hover = QLabel()
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(2, 2, 2, 2)
        column.addWidget(self.caption)
        column.addWidget(self.layout_widget, 1)
        column.addWidget(self.hover)
        self.setWidget(holder)
        self.layout_widget.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def refresh(self) -> None:
        """Recomputes and redraws the spectra of the page shown."""
        self._timer.stop()
        self.spectra = page_spectra(self.viewer)
        self.layout_widget.clear()
        self.plots, self._curves = {}, []
        if not self.spectra:
            shown = self.viewer.recording is not None
            self.caption.setText("No channel to show" if shown else "No recording shown")
            return
        groups: dict[str, list[ChannelSpectrum]] = {}
        for s in self.spectra:
            groups.setdefault(unit_kind(s.unit), []).append(s)
        for row, members in enumerate(groups.values()):
            self.plots[unit_kind(members[0].unit)] = self._plot(row, members)
        rec, t0 = self.viewer.recording, self.viewer.page_start
        t1 = min(t0 + self.viewer.page_length, rec.duration if rec else t0)
        self.caption.setText(
            f"Welch PSD of {len(self.spectra)} channel(s), {t0:.1f}-{t1:.1f} s, "
            f"{self.viewer.filters.describe()}, {self.viewer.reference.describe()}"
        )

    def _plot(self, row: int, members: list[ChannelSpectrum]) -> pg.PlotItem:
        plot = self.layout_widget.addPlot(row=row, col=0)
        plot.setLogMode(x=False, y=True)
        plot.showGrid(x=True, y=True, alpha=0.25)
        unit = members[0].unit or "units"
        plot.setLabel("left", f"PSD ({unit}²/Hz)")
        plot.getAxis("left").enableAutoSIPrefix(False)  # the unit is the channels' own
        plot.setLabel("bottom", "Frequency (Hz)")
        plot.setMenuEnabled(False)
        legend = plot.addLegend(offset=(-5, 5), labelTextSize="7pt") if len(members) <= 12 else None
        for k, s in enumerate(members):
            if s.bad:
                pen = pg.mkPen("#a0a0a0", width=1, style=Qt.PenStyle.DashLine)
            else:
                pen = pg.mkPen(pg.intColor(k, hues=max(len(members), 8), maxValue=200), width=1.2)
            finite = np.isfinite(s.psd) & (s.psd > 0)
            curve = plot.plot(s.freqs[finite], s.psd[finite], pen=pen, name=s.name if legend else None)
            self._curves.append((curve, s))
        top = max(float(s.freqs[-1]) for s in members)
        plot.setXRange(0, top, padding=0.0)
        return plot

    def _on_mouse_moved(self, pos: QPointF) -> None:
        """Names the curve nearest the mouse (in the log-power axis)."""
        best: tuple[float, str] | None = None
        for plot in self.plots.values():
            if not plot.sceneBoundingRect().contains(pos):
                continue
            point = plot.vb.mapSceneToView(pos)
            for curve, s in self._curves:
                if curve.getViewBox() is not plot.vb or not s.freqs.size:
                    continue
                k = int(np.clip(np.searchsorted(s.freqs, point.x()), 0, s.freqs.size - 1))
                if s.psd[k] > 0:
                    gap = abs(np.log10(s.psd[k]) - point.y())
                    text = f"{s.name}: {s.psd[k]:.3g} {s.unit or 'units'}²/Hz at {s.freqs[k]:.1f} Hz"
                    if best is None or gap < best[0]:
                        best = (gap, text)
        self.hover.setText(best[1] if best else "")
