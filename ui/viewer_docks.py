"""The viewer's analysis docks (the spectrum, the scalp map), each made when first shown.

A dock goes in the dock area nearest the viewer (the Signals tab's, beside the annotation
list), or, where the viewer has none, floats as a window of its own. Nothing here is imported,
built or computed before the user asks for a dock, so the start-up pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

if TYPE_CHECKING:
    from ui.viewer import SignalViewer

__all__ = ["DOCKS", "ViewerDocks"]


def _spectrum(viewer: SignalViewer, parent: QWidget | None) -> QDockWidget:
    from ui.spectrum_view import SpectrumDock

    return SpectrumDock(viewer, parent)


def _scalp_map(viewer: SignalViewer, parent: QWidget | None) -> QDockWidget:
    from ui.scalp_map import ScalpMapDock

    return ScalpMapDock(viewer, parent)


# name -> maker; the names are those the View menu's actions use.
DOCKS: dict[str, Callable[[SignalViewer, QWidget | None], QDockWidget]] = {
    "spectrum": _spectrum,
    "scalp_map": _scalp_map,
}


class ViewerDocks:
    """Makes, shows and hides the analysis docks of one viewer."""

    def __init__(self, viewer: SignalViewer) -> None:
        self.viewer = viewer
        self.docks: dict[str, QDockWidget] = {}

    def _holder(self) -> QMainWindow | None:
        widget = self.viewer.parentWidget()
        while widget is not None and not isinstance(widget, QMainWindow):
            widget = widget.parentWidget()
        return widget

    def dock(self, name: str) -> QDockWidget:
        """The dock `name` ('spectrum', 'scalp_map'), made (hidden) on first use."""
        if name not in self.docks:
            holder = self._holder()
            dock = DOCKS[name](self.viewer, holder)
            if holder is not None:
                holder.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            else:
                dock.setFloating(True)
            dock.hide()
            self.docks[name] = dock
        return self.docks[name]

    def show(self, name: str) -> QDockWidget:
        dock = self.dock(name)
        dock.show()
        dock.raise_()
        return dock

    def toggle(self, name: str) -> None:
        """Shows dock `name`, or hides it when shown."""
        dock = self.dock(name)
        if dock.isVisible():
            dock.hide()
        else:
            self.show(name)
