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

from ui.view_page import peak_decimate, peak_decimate_rows

__all__ = [
    "AnnotationItem",
    "ChannelAxis",
    "ClockAxis",
    "GridItem",
    "ScaleBarItem",
    "TraceItem",
    "peak_decimate",
    "peak_decimate_rows",
    "stack_labels",
]


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


def stack_labels(spans: Sequence[tuple[float, float]], gap: float = 6.0) -> list[int]:
    """The lane (0 = top) of each label, given its (left, width) in pixels, in the order given.

    Labels are placed left to right, each in the first lane whose last label ends `gap`
    pixels before it starts: labels that would overlap go one below the other.
    """
    lanes = [0] * len(spans)
    ends: list[float] = []
    for k in sorted(range(len(spans)), key=lambda k: spans[k][0]):
        left, width = spans[k]
        lane = next((n for n, end in enumerate(ends) if end + gap <= left), len(ends))
        if lane == len(ends):
            ends.append(0.0)
        ends[lane] = left + width
        lanes[k] = lane
    return lanes


class AnnotationItem(pg.GraphicsObject):
    """Annotations of the visible span as shaded bands (or lines for instants) with their text.

    A region that began on an earlier page keeps its label at the page's left edge (marked
    with a '‹'); labels that would overlap are stacked in lanes. `layout` holds what the last
    paint drew: (text, x pixel, lane) per label.
    """

    MAX_LANES = 6  # more overlapping labels than this share the last lane

    def __init__(self) -> None:
        super().__init__()
        self._items: list[tuple[float, float, str]] = []
        self._rect = QRectF()
        self._t0 = 0.0
        self._color = QColor(255, 170, 0)
        self._background = QColor(255, 255, 255, 200)
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self.layout: list[tuple[str, float, int]] = []

    def set_color(self, color: QColor, background: QColor | None = None) -> None:
        self._color = QColor(color)
        if background is not None:
            self._background = QColor(background)
            self._background.setAlpha(200)
        self.update()

    def set_annotations(
        self, items: Sequence[tuple[float, float, str]], y0: float, y1: float, t0: float | None = None
    ) -> None:
        """`items` are (onset s, end s, text) of the visible span; y0..y1 the rows' extent;
        `t0` the page start (where labels of regions begun earlier are drawn)."""
        self.prepareGeometryChange()
        self._items = list(items)
        self._t0 = min((a for a, _, _ in self._items), default=0.0) if t0 is None else float(t0)
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
        self.layout = []
        if not self._items:
            return
        # Paint in device pixels so text keeps its size whatever the view's scale.
        transform = painter.transform()
        top, bottom = self._rect.top(), self._rect.bottom()
        left_edge = transform.map(QPointF(self._t0, top)).x()
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
        labels: list[tuple[str, float, float]] = []  # text, left, width
        y_top = 0.0
        for onset, end, text in self._items:
            a = transform.map(QPointF(onset, top))
            b = transform.map(QPointF(end, bottom))
            x0, x1 = min(a.x(), b.x()), max(a.x(), b.x())
            y0, y1 = min(a.y(), b.y()), max(a.y(), b.y())
            y_top = y0
            if x1 - x0 >= 1.5:
                painter.fillRect(QRectF(x0, y0, x1 - x0, y1 - y0), QBrush(fill))
                painter.fillRect(QRectF(x0, y0, x1 - x0, 3), QBrush(bar))
            painter.setPen(QPen(edge, 1))
            painter.drawLine(QPointF(x0, y0), QPointF(x0, y1))
            if text:
                continued = x0 < left_edge - 0.5
                label_x = max(x0, left_edge)
                room = max(int(x1 - label_x), 160)
                shown = metrics.elidedText(
                    ("‹ " if continued else "") + text, Qt.TextElideMode.ElideRight, room
                )
                labels.append((shown, label_x + 3, float(metrics.horizontalAdvance(shown))))
        lanes = stack_labels([(x, w) for _, x, w in labels])
        line = metrics.height() + 1
        for (shown, x, w), lane in zip(labels, lanes, strict=True):
            lane = min(lane, self.MAX_LANES - 1)
            y = y_top + 5 + lane * line
            painter.fillRect(QRectF(x - 2, y, w + 4, line - 1), QBrush(self._background))
            painter.setPen(QPen(edge.darker(130), 1))
            painter.drawText(QPointF(x, y + metrics.ascent()), shown)
            self.layout.append((shown, x, lane))


class ScaleBarItem(pg.GraphicsObject):
    """Scale bars at the right edge: one row's height (a division) and its value, per unit."""

    def __init__(self) -> None:
        super().__init__()
        self._bars: list[tuple[float, str]] = []
        self._rect = QRectF()
        self._x = 0.0
        self._color = QColor(0, 0, 0)
        self._background = QColor(255, 255, 255, 210)
        self._font = QFont()
        self._font.setPointSizeF(8.5)

    def set_color(self, color: QColor, background: QColor) -> None:
        self._color = QColor(color)
        self._background = QColor(background)
        self._background.setAlpha(210)
        self.update()

    def set_bars(self, bars: Sequence[tuple[float, str]], t0: float, t1: float, y0: float, y1: float) -> None:
        """`bars` are (row, text): a bar spans row-0.5..row+0.5 at the page's right edge `t1`."""
        self.prepareGeometryChange()
        self._bars = list(bars)
        self._x = float(t1)
        self._rect = QRectF(t0, y0, max(t1 - t0, 1e-9), y1 - y0) if self._bars else QRectF()
        self.update()

    @property
    def bars(self) -> list[tuple[float, str]]:
        """The bars drawn: (row, text)."""
        return list(self._bars)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *args: object) -> None:
        if not self._bars:
            return
        transform = painter.transform()
        painter.resetTransform()
        painter.setFont(self._font)
        metrics = QFontMetrics(self._font)
        pen = QPen(self._color, 2)
        for row, text in self._bars:
            top = transform.map(QPointF(self._x, row - 0.5))
            bottom = transform.map(QPointF(self._x, row + 0.5))
            x = top.x() - 12
            y0, y1 = min(top.y(), bottom.y()) + 1, max(top.y(), bottom.y()) - 1
            width = metrics.horizontalAdvance(text)
            box = QRectF(x - width - 10, (y0 + y1) / 2 - metrics.height() / 2, width + 6, metrics.height())
            painter.fillRect(box, QBrush(self._background))
            painter.setPen(pen)
            painter.drawLine(QPointF(x, y0), QPointF(x, y1))
            painter.drawLine(QPointF(x - 4, y0), QPointF(x + 4, y0))
            painter.drawLine(QPointF(x - 4, y1), QPointF(x + 4, y1))
            painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)


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


class ChannelAxis(pg.AxisItem):
    """The channel-name axis; names in `greyed` (bad channels) are drawn in grey."""

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.greyed: set[str] = set()
        self.grey = QColor(150, 150, 150)

    def set_greyed(self, names: set[str]) -> None:
        if names != self.greyed:
            self.greyed = set(names)
            self.picture = None  # the cached picture holds the old colours
            self.update()

    def drawPicture(self, p: QPainter, axisSpec: object, tickSpecs: object, textSpecs: list) -> None:
        good = [spec for spec in textSpecs if spec[2] not in self.greyed]
        super().drawPicture(p, axisSpec, tickSpecs, good)
        pen = QPen(self.grey)
        p.setPen(pen)
        for rect, flags, text in textSpecs:
            if text in self.greyed:
                p.drawText(rect, int(flags), text)
