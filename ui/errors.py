"""The one error dialog, and the hook that routes uncaught exceptions to it so the app lives on.

User errors (`VQStudioError`) show their one-line reason; anything else is a bug: the dialog
says so and carries the traceback in its details. The engine's reasons are written for the
command line (they name flags such as `--resume`); `app_message` says them in the app's words
(the field or button to use) before any dialog or status line shows them.
"""

from __future__ import annotations

import contextlib
import re
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from vqstudio.errors import user_error

__all__ = ["app_message", "ask_action", "install_excepthook", "show_error", "show_exception"]

# Whole phrases first (they read better rewritten as a sentence), then single flags.
_PHRASES: tuple[tuple[str, str], ...] = (
    (r"train one first with: vqstudio train FILE --project \S+", "train a project into it first"),
    (
        r"(?:add|use) --resume to continue it,? or choose another --project folder",
        "resume it, or choose another project folder",
    ),
    (
        r"give the same files with --resume \(or none, to re-read the stored paths\)",
        "open the project (File > Open project) and resume it: its own recordings are opened with it",
    ),
    (r"run vqstudio train first", "train it first"),
    (r"use --device cpu", "choose the CPU under Device"),
    (r"--device cpu", "the CPU device"),
    (r"--device (\S+) asked for", r"the device \1 was chosen"),
    (r"give it with --rate HZ", "give its sample rate when asked"),
    (r"give --resample HZ", "set the project's Rate"),
    (r"give more real data with --real", "choose more reference recordings"),
    (r"\(--synthetic FILE\.\.\.\)", "(generate some first)"),
    (r"leave out --label \(or train with --labels annotations\|files\)", "choose any label"),
    (r"--labels annotations\|files", "labels from annotations or files"),
    (r"--stage (tokenizer|prior|both)", r"Resume continues: \1"),
    (r"start it without torchrun or --nproc", "untick all GPUs beside Device"),  # "all N GPUs"
    (
        r"add its annotations to the recording they belong to",
        "open the recording they belong to, then this file",
    ),
)
_FLAGS = {
    "resume": "Resume",
    "project": "the project folder",
    "real": "reference recordings",
    "window": "Window",
    "channels": "Channels",
    "preset": "Model size",
    "device": "Device",
    "rate": "the sample rate",
    "resample": "Rate",
    "minutes": "Time budget",
    "labels": "Labels",
    "label": "Label",
    "seconds": "Length",
    "count": "Count",
    "steps": "Sampler steps",
    "guidance": "Guidance",
    "tokenizer-steps": "tokenizer steps",
    "prior-steps": "prior steps",
    "out": "the output file",
    "stage": "Resume continues",
    "codec": "Tokenizer",
    "from-scratch": "Tokenizer: per-channel codec from scratch",
    "weights": "the weights",
}
_FLAG = re.compile(r"--([a-z][a-z-]*)( HZ| DIR| FILE(?:\.\.\.)?| PATH)?")


def app_message(text: str) -> str:
    """`text` (an engine message, written for the command line) in the app's own words: no
    `--flag` is left; each names the field or button that does the same in the app."""
    for pattern, replacement in _PHRASES:
        text = re.sub(pattern, replacement, text)
    return _FLAG.sub(lambda m: _FLAGS.get(m.group(1), m.group(1).replace("-", " ")), text)


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """A modal warning with a one-line message (and details for bug reports)."""
    message = app_message(message)
    if not details:
        QMessageBox.warning(parent, title, message)
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setDetailedText(details)
    box.exec()


def ask_action(
    parent: QWidget | None, title: str, message: str, actions: list[str], cancel: str = "Cancel"
) -> str | None:
    """A warning offering the actions that fix it, as buttons; returns the one chosen, or None."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, app_message(message), QMessageBox.StandardButton.NoButton, parent
    )
    buttons = {box.addButton(text, QMessageBox.ButtonRole.AcceptRole): text for text in actions}
    box.addButton(cancel, QMessageBox.ButtonRole.RejectRole)
    if buttons:
        box.setDefaultButton(next(iter(buttons)))
    box.exec()
    return buttons.get(box.clickedButton())


def show_exception(parent: QWidget | None, title: str, error: BaseException) -> None:
    """The reason of a user error, or 'internal error' with the traceback for anything else."""
    said = user_error(error)
    if said is not None:
        show_error(parent, title, str(said))
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
