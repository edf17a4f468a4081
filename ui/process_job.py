"""A `vqstudio` command run as a process of its own, seen as an engine job: what the app uses
for an "all N GPUs" training (`vqstudio train --nproc N`), which cannot run in the app's thread.

`run_command` starts the command with `--events FILE` already in it, tails FILE and yields
the events its rank 0 appends (`vqstudio.event_stream`), so a `ui.worker.Job` draws them as it
draws an in-process job's. The stop request becomes the command line's Ctrl-C: SIGINT to the
launcher (CTRL_BREAK_EVENT on Windows), which stops every process after its step with a
checkpoint and exits 130. Exit 0 and 130 are the command's answers; any other exit raises
`ProcessFailed` with the last line the command wrote on stderr (its one-line reason).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED
from vqstudio.errors import VQStudioError
from vqstudio.event_stream import EventReader
from vqstudio.events import Event

__all__ = ["POLL_S", "STOP_TIMEOUT_S", "ProcessFailed", "last_line", "run_command"]

POLL_S = 0.1  # how often the events file is read: the app draws at most ten times a second
# How long a stopped command may take to checkpoint and end before its processes are killed:
# the launcher's own wait for its processes (TORCH_ELASTIC_SHUTDOWN_TIMEOUT, 120 s) and a margin.
STOP_TIMEOUT_S = 180.0
_TAIL_BYTES = 64 * 1024
_INTERNAL = "internal error"  # how `vqstudio` ends the line after a traceback


class ProcessFailed(VQStudioError):
    """The command ended with an error; the message is the reason it gave."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def last_line(stderr_path: str) -> str:
    """The reason a failed command gave: its last line on stderr, without the `vqstudio: `
    prefix; after an internal error, the exception's line (the one above) goes with it. The
    progress bar's redraws (`\\r`) count as lines."""
    try:
        with open(stderr_path, "rb") as f:
            f.seek(max(0, os.path.getsize(stderr_path) - _TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1].removeprefix("vqstudio: ")
    if line.startswith(_INTERNAL) and len(lines) > 1:
        line = f"{_INTERNAL}: {lines[-2]}"
    return line


def _start(argv: Sequence[str], stderr: Any) -> subprocess.Popen:
    """The command in a process group of its own: the stop reaches its launcher alone (which
    passes it on to the processes it started), and a Ctrl-C in the app's terminal does not."""
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, creationflags=flags)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def _ask_to_stop(process: subprocess.Popen) -> None:
    """The command line's Ctrl-C: the command stops after the step, with a checkpoint."""
    if sys.platform == "win32":
        process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    else:
        process.send_signal(signal.SIGINT)


def _kill(process: subprocess.Popen) -> None:
    """Ends the command and every process it started (its whole group), at once."""
    if sys.platform == "win32":
        process.kill()
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_command(
    argv: Sequence[str], events_path: str, stderr_path: str, stop: threading.Event
) -> Generator[Event, None, int]:
    """Runs `argv` (which writes its events to `events_path`), yields its events as they come
    and returns its exit code, 0 (done) or 130 (stopped with a checkpoint); `ProcessFailed` for
    any other. Its stderr goes to `stderr_path`. Setting `stop` asks it once to stop; if it has
    not ended `STOP_TIMEOUT_S` later, it is killed. Leaving early (the generator closed, an
    error) stops it the same way: no process outlives the job."""
    reader = EventReader(events_path)
    with open(stderr_path, "wb") as stderr:
        process = _start(argv, stderr)
    asked_at: float | None = None
    try:
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_S)  # returns as soon as the command ends
            yield from reader.read()
            if process.returncode is not None:
                break
            if stop.is_set() and asked_at is None:
                _ask_to_stop(process)  # once: a second SIGINT would quit without the checkpoint
                asked_at = time.monotonic()
            elif asked_at is not None and time.monotonic() - asked_at > STOP_TIMEOUT_S:
                _kill(process)
    finally:
        if process.poll() is None:  # left early: stopped as Stop would (if not asked already)
            if asked_at is None:
                _ask_to_stop(process)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill(process)
    yield from reader.read()  # what it wrote as it ended
    code = process.returncode
    if code in (EXIT_OK, EXIT_STOPPED):
        return code
    reason = last_line(stderr_path) or f"the training processes ended with exit code {code}"
    raise ProcessFailed(reason, code)
