"""The Signals tab: the welcome page while no recording is open, else the viewer with the list of
open recordings above it and the annotation dock beside it.

The welcome page is what the window shows at start-up; the viewer's side (its module, its plot,
the dock) is built when a recording is first shown or code first asks for the viewer, and
`on_viewer_built(page)` then connects it (the window's view memory, keys, theme, session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ui.session import OpenFile, Session
from ui.welcome import WelcomePage

if TYPE_CHECKING:
    from ui.annotation_dock import AnnotationDock
    from ui.viewer import SignalViewer

__all__ = ["DEMO_DESCRIPTION", "SignalsPage"]

DEMO_DESCRIPTION = (
    "The demo is a simulated EEG + ECG recording that VQ Studio makes itself (no person was recorded)."
)
WELCOME, VIEWER = 0, 1  # the stack's pages


class _ViewerSide:
    """The viewer, the list of open recordings above it and the annotation dock beside it."""

    def __init__(self) -> None:
        from ui.annotation_dock import with_annotation_dock
        from ui.viewer import SignalViewer

        self.viewer = SignalViewer()
        self.file_box = QComboBox()
        self.file_box.setToolTip("Open recordings")
        top = QHBoxLayout()
        top.setContentsMargins(4, 4, 4, 0)
        top.addWidget(QLabel("Recording"))
        top.addWidget(self.file_box, 1)
        viewer_page = QWidget()
        column = QVBoxLayout(viewer_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.viewer, 1)
        self.page, self.annotation_dock = with_annotation_dock(viewer_page, self.viewer)


class SignalsPage(QStackedWidget):
    """The welcome page, or the viewer of the session's current recording."""

    def __init__(self, actions: dict[str, QAction], on_viewer_built: Callable[[SignalsPage], None]) -> None:
        super().__init__()
        self.welcome = WelcomePage(actions["open_demo"], actions["open"], DEMO_DESCRIPTION)
        self.addWidget(self.welcome)
        self._side: _ViewerSide | None = None
        self._on_viewer_built = on_viewer_built

    @property
    def viewer_built(self) -> bool:
        return self._side is not None

    def _viewer_side(self) -> _ViewerSide:
        if self._side is None:
            self._side = _ViewerSide()
            self.addWidget(self._side.page)
            self._on_viewer_built(self)
        return self._side

    @property
    def viewer(self) -> SignalViewer:
        return self._viewer_side().viewer

    @property
    def file_box(self) -> QComboBox:
        return self._viewer_side().file_box

    @property
    def annotation_dock(self) -> AnnotationDock:
        return self._viewer_side().annotation_dock

    def connect_session(self, session: Session) -> None:
        """Choosing in the list selects that recording; marking channels bad marks them in the
        session (which the Train tab's defaults follow). Called once the viewer is built."""
        self.file_box.currentIndexChanged.connect(session.select)
        self.viewer.bad_channels_changed.connect(session.set_bad_channels)

    def show_file_list(self, session: Session) -> None:
        """The list of open recordings, the current one chosen."""
        self.file_box.blockSignals(True)
        self.file_box.clear()
        self.file_box.addItems(session.titles())
        self.file_box.setCurrentIndex(session.current)
        self.file_box.blockSignals(False)

    def show_current(self, current: OpenFile | None) -> None:
        """The viewer with the current recording's bad channels, or the welcome page when none."""
        if current is None and not self.viewer_built:
            self.setCurrentIndex(WELCOME)
            return
        self.viewer.set_bad_channels(current.bad_channels if current else ())
        self.setCurrentIndex(VIEWER if current else WELCOME)
