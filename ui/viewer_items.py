"""Graphics items of the signal viewer: the traces of one page, annotations, and axes.

Every item draws only what the page shows. The traces are one item painting one polyline per
channel from reused `QPolygonF` buffers (no per-point Python, no antialiasing, no finite checks),
because 64 separate pyqtgraph curves cost about half again as much a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
import pyqtgraph.functions as fn
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPen, QPolygonF

__all__ = ["AnnotationItem", "ClockAxis", "TraceItem", "peak_decimate"]


def peak_decimate(t0: float, rate: float, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """x (s) and y of `y` reduced to `bins` min/max pairs, so every spike stays visible.

    `t0` is the time of `y[0]`. When `y` already has fewer than two samples per bin it comes
    back unchanged (with its times): decimating would only lose detail.
    """
    x, rows = peak_decimate_rows(t0, rate, y[None, :], bins)
    return x, rows[0]


def peak_decimate_rows(t0: float, rate: float, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """`peak_decimate` of every row of a `(channels, samples)` array at once (one shared x)."""
    n = y.shape[1]
    if bins <= 0 or n <= 2 * bins:
        return t0 + np.arange(n, dtype=np.float64) / rate, y
    per = -(-n // bins)  # samples per bin, rounded up: at most `bins` full bins
    full = n // per
    used = full * per
    if per <= 64:
        # Few samples a bin: element-wise min/max over `per` strided views beats a reduction
        # along a tiny axis by several times.
        lo = y[:, 0:used:per].copy()
        hi = lo.copy()
        for j in range(1, per):
            view = y[:, j:used:per]
            np.minimum(lo, view, out=lo)
            np.maximum(hi, view, out=hi)
    else:
        blocks = y[:, :used].reshape(y.shape[0], full, per)
        lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    pairs = np.empty((y.shape[0], full, 2), dtype=y.dtype)
    pairs[:, :, 0] = lo
    pairs[:, :, 1] = hi
    # Each pair sits at its bin's start and middle: the line still advances left to right.
    xs = np.empty((full, 2), dtype=np.float64)
    xs[:, 0] = np.arange(full) * per
    xs[:, 1] = xs[:, 0] + per / 2
    x = t0 + xs.reshape(-1) / rate
    out = pairs.reshape(y.shape[0], -1)
    if used < n:  # the last, partial bin: its own min and max
        tail = y[:, used:]
        x = np.concatenate([x, t0 + np.array([used, used + (tail.shape[1] - 1) / 2]) / rate])
        out = np.concatenate([out, tail.min(axis=1, keepdims=True), tail.max(axis=1, keepdims=True)], axis=1)
    return x, out


class TraceItem(pg.GraphicsObject):
    """The traces of one page: one polyline per channel in view coordinates (x s, y rows)."""

    def __init__(self) -> None:
        super().__init__()
        self._polys: list[QPolygonF] = []
        self._sizes: list[int] = []
        self._pens: list[QPen] = []
        self._rect = QRectF()
        self.setFlag(self.GraphicsItemFlag.ItemIgnoresParentOpacity, True)

    def set_traces(
        self, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], colors: Sequence[QColor]
    ) -> None:
        """Replaces the traces; buffers are reused when large enough (no reallocation while paging)."""
        self.prepareGeometryChange()
        while len(self._polys) < len(xs):
            self._polys.append(QPolygonF())
            self._sizes.append(0)
        pens = []
        xmin, xmax, ymin, ymax = np.inf, -np.inf, np.inf, -np.inf
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            n = int(x.size)
            poly = self._polys[i]
            if poly.size() != n:
                poly.resize(n)
            if n:
                buf = fn.ndarray_from_qpolygonf(poly)
                buf[:, 0] = x
                buf[:, 1] = y
                xmin, xmax = min(xmin, x[0]), max(xmax, x[-1])
                ymin, ymax = min(ymin, float(y.min())), max(ymax, float(y.max()))
            self._sizes[i] = n
            pen = QPen(colors[i])
            pen.setCosmetic(True)
            pen.setWidth(0)
            pens.append(pen)
        self._pens = pens
        self._count = len(xs)
        if np.isfinite(xmin):
            self._rect = QRectF(xmin, ymin, xmax - xmin, max(ymax - ymin, 1e-9))
        else:
            self._rect = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args: object) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for i in range(getattr(self, "_count", 0)):
            if self._sizes[i] > 1:
                painter.setPen(self._pens[i])
                painter.drawPolyline(self._polys[i])


class AnnotationItem(pg.GraphicsObject):
    """Annotations of the visible span as shaded bands (or lines for instants) with their text."""

    def __init__(self) -> None:
        super().__init__()
        self._items: list[tuple[float, float, str]] = []
        self._rect = QRectF()
        self._color = QColor(255, 170, 0)
        self._font = QFont()
        self._font.setPointSizeF(8.5)

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)
        self.update()

    def set_annotations(self, items: Sequence[tuple[float, float, str]], y0: float, y1: float) -> None:
        """`items` are (onset s, end s, text) of the visible span; y0..y1 the rows' extent."""
        self.prepareGeometryChange()
        self._items = list(items)
        if self._items:
            x0 = min(a for a, _, _ in self._items)
            x1 = max(b for _, b, _ in self._items)
            self._rect = QRectF(x0, y0, max(x1 - x0, 1e-6), y1 - y0)
        else:
            self._rect = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args: object) -> None:
        if not self._items:
            return
        # Paint in device pixels so text keeps its size whatever the view's scale.
        transform = painter.transform()
        top, bottom = self._rect.top(), self._rect.bottom()
        painter.resetTransform()
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        # A light tint over the span (long state annotations cover whole pages) and a solid bar on top.
        fill = QColor(self._color)
        fill.setAlpha(22)
        bar = QColor(self._color)
        bar.setAlpha(170)
        edge = QColor(self._color)
        edge.setAlpha(200)
        for onset, end, text in self._items:
            a = transform.map(QPointF(onset, top))
            b = transform.map(QPointF(end, bottom))
            x0, x1 = min(a.x(), b.x()), max(a.x(), b.x())
            y0, y1 = min(a.y(), b.y()), max(a.y(), b.y())
            if x1 - x0 >= 1.5:
                painter.fillRect(QRectF(x0, y0, x1 - x0, y1 - y0), QBrush(fill))
                painter.fillRect(QRectF(x0, y0, x1 - x0, 3), QBrush(bar))
            painter.setPen(QPen(edge, 1))
            painter.drawLine(QPointF(x0, y0), QPointF(x0, y1))
            if text:
                shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(int(x1 - x0), 160))
                painter.drawText(QPointF(x0 + 3, y0 + metrics.ascent() + 5), shown)


class GridItem(pg.GraphicsObject):
    """Faint vertical lines at round seconds across the rows (as paper EEG has)."""

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[float] = []
        self._rect = QRectF()
        self._pen = QPen(QColor(128, 128, 128, 70))
        self._pen.setCosmetic(True)
        self._pen.setWidth(0)

    def set_color(self, color: QColor) -> None:
        self._pen.setColor(color)
        self.update()

    def set_grid(self, t0: float, t1: float, y0: float, y1: float) -> None:
        """Lines every 1, 2, 5, 10... s so a page holds at most about 15 of them."""
        span = max(t1 - t0, 1e-9)
        step = next(
            (s for s in (0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 600, 1800, 3600) if span / s <= 15), 7200
        )
        first = np.ceil(t0 / step) * step
        self.prepareGeometryChange()
        self._lines = [float(v) for v in np.arange(first, t1 + 1e-9, step)]
        self._rect = QRectF(t0, y0, span, y1 - y0)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args: object) -> None:
        painter.setPen(self._pen)
        top, bottom = self._rect.top(), self._rect.bottom()
        for x in self._lines:
            painter.drawLine(QPointF(x, top), QPointF(x, bottom))


class ClockAxis(pg.AxisItem):
    """A time axis labelled in seconds from the start, or in clock time when a start is known."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.start: dt.datetime | None = None
        self.clock = False

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if not (self.clock and self.start is not None):
            if spacing >= 1:
                return [f"{v:g}" for v in values]
            return [f"{v:.{max(0, -int(np.floor(np.log10(spacing))))}f}" for v in values]
        out = []
        for v in values:
            t = self.start + dt.timedelta(seconds=float(v))
            out.append(t.strftime("%H:%M:%S") + (f".{t.microsecond // 100000}" if spacing < 1 else ""))
        return out
