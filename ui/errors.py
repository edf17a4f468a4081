"""The one error dialog, and the hook that routes uncaught exceptions to it so the app lives on.

User errors (`VQStudioError`) show their one-line reason; anything else is a bug: the dialog
says so and carries the traceback in its details.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from vqstudio.errors import VQStudioError

__all__ = ["install_excepthook", "show_error", "show_exception"]


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A modal warning with a one-line message (and details for bug reports)."""
    if not details:
        QMessageBox.warning(parent, title, message)
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(details)
    box.exec()


def show_exception(parent: QWidget | None, title: str, error: BaseException) -> None:
    """The reason of a user error, or 'internal error' with the traceback for anything else."""
    if isinstance(error, VQStudioError):
        show_error(parent, title, str(error))
    else:
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        show_error(
            parent,
            title,
            f"Internal error: {type(error).__name__}: {error}\n(details below belong in a bug report)",
            details,
        )


def install_excepthook() -> None:
    """Uncaught exceptions in slots go to the error dialog instead of killing the app."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, tb)
            return
        traceback.print_exception(kind, error, tb)
        app = QApplication.instance()
        parent = app.activeWindow() if app else None
        # If the dialog itself fails, the traceback printed above is all we can give.
        with contextlib.suppress(Exception):
            show_exception(parent, "VQ Studio", error.with_traceback(tb))

    sys.excepthook = hook
