"""One process writes a project at a time: an OS lock on the project's `project.lock`, held for
the whole run.

The lock is the kernel's (`flock` on POSIX, `msvcrt.locking` on Windows), so it ends with the
process however the process ends, a kill included: no lock is ever stale to the OS. The file's
text names the holder (process, host, command, start), so a second process can say who holds
the project; a holder that ended without clearing its text was killed, and the next run takes
the project over with a note. The standard library does this in a few lines; a lock library
would add a dependency and still need the holder's text beside it.

Training holds the lock from before it looks at the folder until its last checkpoint; a command
that writes into a project's `samples/` or `reports/` (`lock_outputs`) holds it while it runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from vqstudio.errors import OutputError, ProjectError
from vqstudio.io.atomic import disk_full_message, sweep_stale_temps
from vqstudio.io.write_guard import PROJECT_OUTPUT_FOLDERS, project_above

__all__ = ["LOCK_FILE", "Holder", "ProjectLock", "lock_outputs"]

LOCK_FILE = "project.lock"
# Windows locks byte ranges, and a locked range cannot be read by others: lock one byte past
# any holder text, so the text stays readable.
_WINDOWS_LOCK_OFFSET = 1 << 20


@dataclass(frozen=True)
class Holder:
    """Who holds a project's lock: enough to find the process and tell the user."""

    pid: int
    host: str
    command: str
    started: str  # ISO time, local

    @classmethod
    def this_process(cls, command: str) -> Holder:
        now = dt.datetime.now().isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), command, now)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["started"]))
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        started = self.started.replace("T", " ")
        return f"process {self.pid}{where} ({self.command}, started {started})"


def _try_lock(fd: int) -> bool:
    """Takes the OS lock on `fd` without waiting; False when another holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


def _write_text(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8"))
    os.fsync(fd)


class ProjectLock:
    """The lock of the project in `folder`, for `command` (e.g. "vqstudio train").

    `acquire()` takes it or raises `ProjectError` naming the holder; it returns a note when it
    took over from a run that was killed. `release()` clears the holder's text and lets go.
    """

    def __init__(self, folder: str, command: str) -> None:
        self.folder = os.path.abspath(folder)
        self.path = os.path.join(self.folder, LOCK_FILE)
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> str | None:
        """Takes the lock; `ProjectError` when another process (or job) holds it."""
        if self._fd is not None:
            raise RuntimeError("the project lock is held already")
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.path, flags, 0o666)  # the umask applies
        except OSError as e:
            raise OutputError(
                f"cannot lock the project {self.folder}: {e.strerror or e} ({LOCK_FILE}); "
                "the folder must be writable and the file a plain file"
            ) from e
        try:
            if not _try_lock(fd):
                holder = Holder.parse(_read_text(fd))
                who = holder.describe() if holder else "another process"
                raise ProjectError(
                    f"{self.folder} is in use by {who}; wait for it to end, or stop it, "
                    "then try again (one run writes a project at a time)"
                )
            previous = Holder.parse(_read_text(fd))
            try:
                _write_text(fd, json.dumps(asdict(Holder.this_process(self.command))))
            except OSError as e:
                raise OutputError(disk_full_message(self.path, e) or f"cannot write {self.path}: {e}") from e
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._sweep()
        if previous is None:
            return None
        return (
            f"took over {self.folder} from {previous.describe()}, which ended without releasing it "
            "(killed?); its last checkpoint stands"
        )

    def _sweep(self) -> None:
        """Temporary files of killed writers in the project and its output folders (none can be
        live: their writers would hold this lock)."""
        for sub in ("", *PROJECT_OUTPUT_FOLDERS):
            sweep_stale_temps(os.path.join(self.folder, sub))

    def release(self) -> None:
        """Clears the holder's text and releases the lock (safe to call twice)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                _write_text(fd, "")
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> str | None:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def lock_outputs(paths: Iterable[str], command: str) -> Iterator[list[str]]:
    """Holds the lock of every project whose `samples/` or `reports/` one of `paths` lies in
    (outputs elsewhere need none); yields the notes of locks taken over from killed runs."""
    folders = sorted({p for p in (project_above(os.path.dirname(os.path.abspath(x))) for x in paths) if p})
    with contextlib.ExitStack() as stack:
        notes = []
        for folder in folders:
            note = stack.enter_context(ProjectLock(folder, command))
            if note:
                notes.append(note)
        yield notes
