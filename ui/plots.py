"""Plot pieces shared by the tabs: a plot whose legend sits below it (never over the curves), and
one colour per series name, the same in the live and the reopened views.
"""

from __future__ import annotations

import zlib

import pyqtgraph as pg

from ui.theme import PLOT_COLORS

__all__ = ["LegendPlot", "series_color"]

# Fixed colours for the series the app draws, by name (the stage shows as the line style), so a
# series keeps its colour whatever order the series appear in.
_SERIES = {
    "real": 0,
    "reconstruction": 1,
    "generated": 1,
    "total": 0,
    "time": 5,
    "stft": 3,
    "commit": 4,
    "loss": 7,
    "training batches": 2,
    "held-out windows": 6,
}


def series_color(name: str) -> str:
    """The colour of series `name` ('tokenizer: total' and 'total' share one); unknown names get
    a colour from a hash of the name, stable between runs."""
    key = name.rsplit(": ", 1)[-1]
    index = _SERIES.get(key, zlib.crc32(key.encode()) % len(PLOT_COLORS))
    return PLOT_COLORS[index]


class LegendPlot(pg.GraphicsLayoutWidget):
    """A plot (`.plot_item`) with its legend in a row below it, out of the curves' way."""

    def __init__(self, title: str = "", legend_columns: int = 3) -> None:
        super().__init__()
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0, title=title)
        self.legend = pg.LegendItem(colCount=legend_columns, verSpacing=-6)
        self.addItem(self.legend, row=1, col=0)
        self.ci.layout.setRowStretchFactor(0, 1)
        self.ci.layout.setRowStretchFactor(1, 0)

    def add_series(self, name: str, **pen: object) -> pg.PlotDataItem:
        """A new curve named `name` in its own colour (extra `pen` options: width, style)."""
        color = series_color(name)
        curve = self.plot_item.plot([], [], pen=pg.mkPen(color, **pen), name=None)
        curve.setSymbolBrush(color)
        curve.setSymbolPen(color)
        self.legend.addItem(curve, name)
        return curve

    def remove_series(self, curve: pg.PlotDataItem) -> None:
        self.plot_item.removeItem(curve)
        self.legend.removeItem(curve)

    def set_colors(self, background: str, foreground: str) -> None:
        """Background, axes, title and legend text for the theme."""
        self.setBackground(background)
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        self.plot_item.titleLabel.setText(self.plot_item.titleLabel.text, color=foreground)
        self.legend.setLabelTextColor(foreground)
        for _sample, label in self.legend.items:  # the colour applies when the text is set again
            label.setText(label.text)
