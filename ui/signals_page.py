"""The Signals tab: the welcome page while no recording is open, else the viewer with the list of
open recordings above it and the annotation dock beside it."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ui.annotation_dock import with_annotation_dock
from ui.session import OpenFile, Session
from ui.viewer import SignalViewer
from ui.welcome import WelcomePage

__all__ = ["DEMO_DESCRIPTION", "SignalsPage"]

DEMO_DESCRIPTION = (
    "The demo is a simulated EEG + ECG recording that VQ Studio makes itself (no person was recorded)."
)
WELCOME, VIEWER = 0, 1  # the stack's pages


class SignalsPage(QStackedWidget):
    """The welcome page, or the viewer of the session's current recording."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.welcome = WelcomePage(actions["open_demo"], actions["open"], DEMO_DESCRIPTION)
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
        self.addWidget(self.welcome)
        signals_page, self.annotation_dock = with_annotation_dock(viewer_page, self.viewer)
        self.addWidget(signals_page)

    def connect_session(self, session: Session) -> None:
        """Choosing in the list selects that recording; marking channels bad marks them in the
        session (which the Train tab's defaults follow)."""
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
        self.viewer.set_bad_channels(current.bad_channels if current else ())
        self.setCurrentIndex(VIEWER if current else WELCOME)
