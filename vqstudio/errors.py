"""Typed engine errors, each carrying one user-facing line: which file, what is wrong, what to do.

Each error is also the matching built-in exception, so callers that catch `ValueError` or
`OSError` keep working. The CLI prints `str(error)` and exits 2; the GUI shows it in a dialog.
"""

from __future__ import annotations

__all__ = [
    "ChannelError",
    "CheckpointError",
    "DeviceError",
    "FormatError",
    "InputFileError",
    "LimitError",
    "OutputError",
    "ProjectError",
    "RateNeededError",
    "VQStudioError",
    "user_error",
]


class VQStudioError(Exception):
    """Base of every error whose message is meant for the user (one line, no traceback)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class InputFileError(VQStudioError, OSError):
    """An input file is missing, unreadable or empty."""


class FormatError(VQStudioError, ValueError):
    """A file's content does not follow its format (corrupt header, text in a number column, NaN)."""


class RateNeededError(FormatError):
    """A file holds no sample rate (a CSV without a time column, a .npy without a sidecar);
    the caller may ask for one and read it again with `rate=`."""


class ChannelError(VQStudioError, KeyError):
    """A channel asked for does not exist, or the chosen channels cannot be used together."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0])


class OutputError(VQStudioError, OSError):
    """An output cannot be written (folder missing or not writable, disk full, value out of range)."""


class ProjectError(VQStudioError, ValueError):
    """A project folder is missing, foreign, already used, or not trained far enough."""


class CheckpointError(VQStudioError, ValueError):
    """A weights or state file is corrupt, foreign or does not match its configuration."""


class DeviceError(VQStudioError, RuntimeError):
    """The requested compute device is absent, or ran out of memory even at the smallest batch."""


class LimitError(VQStudioError, ValueError):
    """A request is larger than this machine can hold or than the method allows (says the limit)."""


OUT_OF_MEMORY = (
    "this machine ran out of memory; ask for less (fewer or shorter recordings, fewer channels) "
    "or close other programs"
)


def user_error(error: BaseException) -> VQStudioError | None:
    """`error` as its one line for the user: itself when it is a `VQStudioError`, a `LimitError`
    for a `MemoryError` (a limit of this machine the checks before the job missed, not a bug),
    else None: an internal error, whose traceback belongs in a bug report."""
    if isinstance(error, VQStudioError):
        return error
    if isinstance(error, MemoryError):
        return LimitError(OUT_OF_MEMORY)
    return None
