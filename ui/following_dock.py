"""A dock that follows the viewer: it recomputes what it shows once the viewer's page or
recording stops changing (debounced), and only while it is shown. The spectrum and scalp map
docks are such docks."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDockWidget, QWidget

from ui.viewer import SignalViewer

__all__ = ["FollowingDock"]


class FollowingDock(QDockWidget):
    """A `QDockWidget` whose `refresh` runs `delay_ms` after the viewer last redrew or changed
    recording, while the dock is visible (and when it is shown again)."""

    def __init__(
        self, title: str, viewer: SignalViewer, delay_ms: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(title, parent)
        self.viewer = viewer
        self._timer = QTimer(self, singleShot=True, interval=delay_ms)
        self._timer.timeout.connect(self.refresh)
        viewer.redrawn.connect(self._schedule)
        viewer.recording_changed.connect(self._schedule)
        self.visibilityChanged.connect(lambda shown: self._schedule() if shown else None)

    def _schedule(self) -> None:
        if self.isVisible():
            self._timer.start()

    def refresh(self) -> None:
        """Recomputes and redraws what the dock shows (subclasses)."""
        raise NotImplementedError
