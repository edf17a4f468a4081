"""Atomic file writes: write beside the target, then `os.replace`, so no partial file is ever seen.

Every writer goes through `atomic_path`, which first runs the one output check of
`vqstudio.io.write_guard` (never over an input, a project's file, a folder or a read-only file),
gives the new file the permissions the user's umask asks for (a temporary file is created
0600), and turns a full disk into one clear line whatever library was writing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from vqstudio.errors import OutputError, VQStudioError
from vqstudio.io.write_guard import check_target

__all__ = ["atomic_path", "disk_full_message", "file_mode", "write_json"]

# Below this much free space a failed write is taken to be a full disk, whatever the library
# said ("the writer failed at data record 51", "614400 requested and 262112 written").
_FULL_BELOW_BYTES = 1 << 20


def current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief race with other threads)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file under the current umask, as `open()` would give it."""
    return 0o666 & ~current_umask()


def _free_bytes(folder: str) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    # root may fill the blocks reserved for it, so what root can still use is what counts there
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def disk_full_message(path: str, error: BaseException | None = None) -> str | None:
    """'cannot write PATH: the disk is full ...' when `error` (or the free space) says so, else None."""
    folder = os.path.dirname(os.path.abspath(path))
    code = getattr(error, "errno", None)
    # Libraries that wrap the OS error keep its text ("... (os error 28)" from safetensors).
    said = str(error or "")
    said_full = "No space left on device" in said or f"os error {errno.ENOSPC}" in said
    free = _free_bytes(folder)
    if code in (errno.ENOSPC, errno.EDQUOT) or said_full or (free is not None and free < _FULL_BELOW_BYTES):
        shown = f" ({free / 1e6:.1f} MB free)" if free is not None else ""
        return f"cannot write {path}: the disk is full{shown}; free some space and try again"
    return None


@contextlib.contextmanager
def atomic_path(path: str, suffix: str | None = None, *, owner: str | None = None) -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    The temporary name keeps the extension (or `suffix`), since some writers choose the format
    by extension. `owner` is the project folder when a project writes its own files.
    """
    check_target(path, owner=owner)
    folder = os.path.dirname(os.path.abspath(path))
    ext = suffix if suffix is not None else os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vqs-", suffix=".part" + ext, dir=folder)
    except OSError as e:
        raise OutputError(disk_full_message(path, e) or f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except VQStudioError:
        _remove(tmp)
        raise
    except Exception as e:
        full = disk_full_message(path, e)  # before the partial file is removed and space comes back
        _remove(tmp)
        if full:
            raise OutputError(full) from e
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def write_json(path: str, data: Any, *, owner: str | None = None) -> None:
    """Writes JSON atomically, indented, with a trailing newline."""
    with atomic_path(path, owner=owner) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
