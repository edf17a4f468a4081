"""Atomic file writes: write beside the target, then `os.replace`, so no partial file is ever seen.

Every writer goes through `atomic_path`, which first runs the one output check of
`vqstudio.io.write_guard` (never over an input, a project's file, a folder or a read-only file),
gives the new file the permissions the user's umask asks for (a temporary file is created
0600), flushes it to the disk before the rename, and turns a full disk into one clear line
whatever library was writing. A library that fails without saying so (edflib's close ignores
its write errors) is caught by the writer's own check of what it wrote (`check_size`).

Temporary files are named `.vqs-PID-XXXXXXXX.part.EXT`: a process killed mid-write leaves one
behind, and the next write into that folder (or the next run of its project) removes it once
the process that made it is gone (`sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from vqstudio.errors import OutputError, VQStudioError
from vqstudio.io.write_guard import check_target

__all__ = [
    "TEMP_PREFIX",
    "atomic_path",
    "check_size",
    "disk_full_message",
    "file_mode",
    "is_temp_name",
    "sweep_stale_temps",
    "write_failed",
    "write_json",
]

TEMP_PREFIX = ".vqs-"
# `.vqs-PID-RANDOM.part.EXT`; VQ Studio 0.2 wrote `.vqs-RANDOM.part.EXT` (no PID).
_TEMP_NAME = re.compile(r"^\.vqs-(?:(\d+)-)?[A-Za-z0-9_]+\.part(?:\.[^/\\]*)?$")
# A temporary file with no PID in its name is taken to be stale after this long (no write of
# VQ Studio takes an hour); one with a PID as soon as that process is gone.
LEGACY_TEMP_AGE_S = 3600.0

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


def write_failed(path: str, reason: str) -> OutputError:
    """The error for a write to `path` that came out wrong: "the disk is full" when it is (the
    usual cause), else `reason`."""
    said = disk_full_message(path) or f"cannot write {path}: {reason}; check the disk and try again"
    return OutputError(said)


def check_size(tmp: str, expected: int, path: str) -> None:
    """Raises `OutputError` unless the file `tmp` (being written for `path`) holds `expected`
    bytes: a short file is a full disk (or a writer that stopped), never a file to keep."""
    size = os.path.getsize(tmp)
    if size != expected:
        raise write_failed(path, f"the writer stopped after {size} of {expected} bytes")


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file `atomic_path` makes (`.vqs-...part...`)."""
    return bool(_TEMP_NAME.match(name))


def _process_alive(pid: int) -> bool:
    """Whether process `pid` runs (POSIX; on Windows `os.kill(pid, 0)` would end it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _is_stale(full: str, pid: str | None, now: float) -> bool:
    if pid is not None and sys.platform != "win32":
        return int(pid) != os.getpid() and not _process_alive(int(pid))
    return now - os.lstat(full).st_mtime > LEGACY_TEMP_AGE_S


def sweep_stale_temps(folder: str) -> list[str]:
    """Removes the temporary files that writers killed mid-write left in `folder` (names only
    VQ Studio makes; never one of a process still running). Returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = _TEMP_NAME.match(name)
        if not match:
            continue
        full = os.path.join(folder, name)
        try:
            if _is_stale(full, match.group(1), now) and not os.path.isdir(full):
                os.remove(full)
                removed.append(name)
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _flush_to_disk(tmp: str) -> None:
    """fsync: a write error the OS held back (delayed allocation on a full disk) surfaces here,
    before the rename, and a power cut after the rename finds the new content."""
    fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str, suffix: str | None = None, *, owner: str | None = None) -> Iterator[str]:
    """Yields a temporary path beside `path`; on success it replaces `path`, on error it is removed.

    The temporary name keeps the extension (or `suffix`), since some writers choose the format
    by extension. `owner` is the project folder when a project writes its own files.
    """
    check_target(path, owner=owner)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):  # a project's samples/ or reports/, which check_target allows
        os.makedirs(folder, exist_ok=True)
    sweep_stale_temps(folder)  # a listing per write: nothing beside writing the file itself
    ext = suffix if suffix is not None else os.path.splitext(path)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".part" + ext, dir=folder)
    except OSError as e:
        raise OutputError(disk_full_message(path, e) or f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    try:
        yield tmp
        _flush_to_disk(tmp)
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
    text = (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")
    with atomic_path(path, owner=owner) as tmp:
        with open(tmp, "wb") as f:
            f.write(text)
        check_size(tmp, len(text), path)
