"""A layout that lays its items out in a row and wraps them onto more rows when narrow.

The viewer's control bars hold a dozen boxes; in one `QHBoxLayout` they set a minimum width
of about 800 px, so a window with a recording open could not be made narrower than a small
laptop screen. In this layout the bars wrap instead, as a browser's toolbar does. It follows
Qt's Flow Layout example, with one addition: an item whose horizontal size policy expands
(a read-out label) takes the rest of its row.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLayout, QLayoutItem, QSizePolicy, QWidget

__all__ = ["FlowLayout", "group"]


class FlowLayout(QLayout):
    """Items left to right at their size hints, wrapped onto a new row where the next does not fit."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        """One row of everything: what the bar asks for when there is room."""
        items = self._visible()
        width = sum(i.sizeHint().width() for i in items) + self.spacing() * max(0, len(items) - 1)
        height = max((i.sizeHint().height() for i in items), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:
        """The widest single item: narrower than that, an item itself would be cut."""
        size = QSize()
        for item in self._visible():
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _visible(self) -> list[QLayoutItem]:
        return [i for i in self._items if not (i.widget() is not None and i.widget().isHidden())]

    def _rows(self, width: int) -> list[list[QLayoutItem]]:
        rows: list[list[QLayoutItem]] = [[]]
        used = 0
        for item in self._visible():
            w = item.sizeHint().width()
            if rows[-1] and used + self.spacing() + w > width:
                rows.append([])
                used = 0
            used += (self.spacing() if rows[-1] else 0) + w
            rows[-1].append(item)
        return rows

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Places the items inside `rect` (when `move`) and returns the height they take."""
        m: QMargins = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        y = area.y()
        for row in self._rows(area.width()):
            height = max((i.sizeHint().height() for i in row), default=0)
            if move:
                self._place_row(row, area, y, height)
            y += height + self.spacing()
        return y - self.spacing() - rect.y() + m.bottom() if y > area.y() else m.top() + m.bottom()

    def _place_row(self, row: list[QLayoutItem], area: QRect, y: int, height: int) -> None:
        widths = [i.sizeHint().width() for i in row]
        spare = area.width() - sum(widths) - self.spacing() * (len(row) - 1)
        grow = [i for i, item in enumerate(row) if _expands(item)]
        if spare > 0 and grow:  # the expanding items share the rest of the row
            for i in grow:
                widths[i] += spare // len(grow)
        x = area.x()
        for item, w in zip(row, widths, strict=True):
            w = min(w, area.width())  # a single item wider than the bar is cut, not the bar widened
            item_h = min(height, item.sizeHint().height())
            item.setGeometry(QRect(QPoint(x, y + (height - item_h) // 2), QSize(w, item_h)))
            x += w + self.spacing()


def _expands(item: QLayoutItem) -> bool:
    widget = item.widget()
    growing = (QSizePolicy.Policy.Expanding, QSizePolicy.Policy.MinimumExpanding)
    return widget is not None and widget.sizePolicy().horizontalPolicy() in growing


def group(*widgets: QWidget | str, spacing: int = 4) -> QWidget:
    """Widgets (a str becomes a label) kept on one row of a flow layout, so that a label
    never wraps away from the box it names."""
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(spacing)
    for w in widgets:
        row.addWidget(QLabel(w) if isinstance(w, str) else w)
    return holder
