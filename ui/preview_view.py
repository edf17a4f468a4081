"""The reconstruction preview of the Train tab: a held-out window beside its reconstruction, for
the channels the user picks (a checkable menu; by default one of each unit first, so an ECG
shows beside the EEG), stacked and scaled per channel.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QVBoxLayout, QWidget

from ui.plots import LegendPlot
from vqstudio.events import ReconstructionPreview

__all__ = ["PREVIEW_CHANNELS", "ReconstructionView", "default_preview_channels"]

PREVIEW_CHANNELS = 4  # channels the preview shows until the user picks others


def default_preview_channels(labels: list[str], units: list[str], count: int = PREVIEW_CHANNELS) -> list[str]:
    """The channels the preview starts with: one of each unit first (so an ECG in mV shows beside
    EEG in uV), then the first ones, `count` in all."""
    chosen: list[str] = []
    seen_units: set[str] = set()
    for label, unit in zip(labels, units, strict=False):
        if unit not in seen_units and len(chosen) < count:
            chosen.append(label)
            seen_units.add(unit)
    for label in labels:
        if len(chosen) >= count:
            break
        if label not in chosen:
            chosen.append(label)
    return [label for label in labels if label in chosen]  # in the recording's order


class ReconstructionView(QWidget):
    """The latest `ReconstructionPreview`, drawn for the chosen channels; `chooser` is the
    button with the channel menu (placed by the owner)."""

    def __init__(self) -> None:
        super().__init__()
        self._preview: ReconstructionPreview | None = None
        self._preview_labels: tuple[str, ...] = ()
        self.view = LegendPlot("A held-out window (real) and its reconstruction")
        self.plot = self.view.plot_item
        self.plot.setLabel("bottom", "s")
        self.plot.getAxis("left").setStyle(showValues=False)
        self.real_curve = self.view.add_series("real", width=1)
        self.recon_curve = self.view.add_series("reconstruction", width=1)
        self.step = -1
        self.menu = QMenu(self)
        self.group = QActionGroup(self)
        self.group.setExclusive(False)
        self.chooser = QToolButton()
        self.chooser.setText("Preview channels")
        self.chooser.setToolTip("The channels the reconstruction preview shows")
        self.chooser.setMenu(self.menu)
        self.chooser.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.chooser.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def show_preview(self, r: ReconstructionPreview | None) -> None:
        """Shows `r` (None: empty, saying when it will show); a new channel list refills the menu."""
        self._preview = r
        if r is None:
            self.real_curve.setData([], [])
            self.recon_curve.setData([], [])
            self.plot.setTitle("A held-out window (real) and its reconstruction: shown once training runs")
            self.step = -1
            return
        if tuple(r.labels) != self._preview_labels:
            self._fill_menu(list(r.labels), list(r.units))
        self._draw()

    def _fill_menu(self, labels: list[str], units: list[str]) -> None:
        """One checkable entry per channel of the preview; the earlier choice is kept where it fits."""
        chosen = [a.text() for a in self.group.actions() if a.isChecked()]
        keep = [c for c in chosen if c in labels]
        on = keep or default_preview_channels(labels, units)
        self.menu.clear()
        for action in self.group.actions():
            self.group.removeAction(action)
        for label in labels:
            action = QAction(label, self.menu, checkable=True)
            action.setChecked(label in on)
            action.toggled.connect(lambda _on: self._draw())
            self.group.addAction(action)
            self.menu.addAction(action)
        self._preview_labels = tuple(labels)
        self.chooser.setEnabled(bool(labels))

    def set_channels(self, names: list[str]) -> None:
        """Shows `names` in the preview (what the channel menu does)."""
        for action in self.group.actions():
            action.blockSignals(True)
            action.setChecked(action.text() in names)
            action.blockSignals(False)
        self._draw()

    @property
    def shown_channels(self) -> list[str]:
        return [a.text() for a in self.group.actions() if a.isChecked()]

    def _draw(self) -> None:
        """Stacks the chosen channels of the window, real beside reconstruction."""
        r = self._preview
        if r is None:
            return
        real, recon = np.asarray(r.real, float), np.asarray(r.reconstruction, float)
        chosen = set(self.shown_channels)
        rows = [i for i, label in enumerate(r.labels) if label in chosen]
        t = np.arange(real.shape[1]) / r.rate
        xs, ys_real, ys_recon = [], [], []
        for k, i in enumerate(rows):
            scale = float(np.ptp(real[i])) or 1.0
            centre = float(np.mean(real[i]))
            xs.append(np.append(t, np.nan))
            ys_real.append(np.append(-k + (real[i] - centre) / scale, np.nan))
            ys_recon.append(np.append(-k + (recon[i] - centre) / scale, np.nan))
        if rows:
            x = np.concatenate(xs)
            self.real_curve.setData(x, np.concatenate(ys_real), connect="finite")
            self.recon_curve.setData(x, np.concatenate(ys_recon), connect="finite")
            shown = ", ".join(r.labels[i] for i in rows)
        else:
            self.real_curve.setData([], [])
            self.recon_curve.setData([], [])
            shown = "no channel chosen: pick some under Preview channels"
        self.plot.setTitle(f"Held-out window, step {r.step}: real and reconstruction ({shown})")
        self.step = r.step

    def set_colors(self, background: str, foreground: str) -> None:
        self.view.set_colors(background, foreground)
