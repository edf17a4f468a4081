"""Atomic file writes: write beside the target, then `os.replace`, so no partial file is ever seen."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from vqstudio.errors import OutputError

__all__ = ["atomic_path", "check_writable", "write_json"]


def check_writable(path: str) -> None:
    """Raises `OutputError` unless `path`'s folder exists and can be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")


@contextlib.contextmanager
def atomic_path(path: str, suffix: str | None = None) -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    The temporary name keeps the extension (or `suffix`), since some writers choose the
    format by extension.
    """
    check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    ext = suffix if suffix is not None else os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".vqs-", suffix=".part" + ext, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_json(path: str, data: Any) -> None:
    """Writes JSON atomically, indented, with a trailing newline."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
