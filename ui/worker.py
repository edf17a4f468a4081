"""Runs an engine job (a generator of events) in a QThread and hands its events to the GUI.

The thread only iterates the job and drops each event into an inbox (a short lock, never a wait
on the GUI). A timer in the GUI thread drains the inbox about ten times a second and emits typed
signals: progress and previews keep only the latest (latest wins), loss points, validations,
checkpoints and log lines are all delivered in order. Stop sets the job's `threading.Event`; the
job finishes its step, checkpoints and returns. The generator is only ever touched by the
thread that runs it; `stop_and_wait` joins the thread (used on close).

A job may run at a lower priority (`low_priority=True`, training): its thread, and the compute
threads it starts (torch's), then yield the cores to the window, so the app can train on every
core and still answer at once. A job that need not finish before the app quits (loading torch to
list the devices) is `detach`ed on close instead of joined: quitting never waits for it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from vqstudio.events import (
    CheckpointWritten,
    LogLine,
    LongRun,
    Progress,
    ReconstructionPreview,
    SamplePreview,
    Validation,
)

__all__ = ["LOW_PRIORITY_NICE", "UPDATE_INTERVAL_MS", "Job", "JobFactory", "join_detached"]

UPDATE_INTERVAL_MS = 100  # at most ~10 GUI updates a second
LOW_PRIORITY_NICE = 5  # added to a low-priority job thread's nice value (Linux): the window wins the CPU
# Detached jobs. Kept for the life of the process: a QThread object deleted while its thread
# still runs aborts the app.
_detached: list[Job] = []


def _lower_thread_priority(thread: QThread) -> None:
    """Lowers the calling (job) thread's priority; threads it starts later inherit it on Linux."""
    thread.setPriority(QThread.Priority.LowPriority)  # what Qt can do on Windows and macOS
    if sys.platform.startswith("linux"):
        # On Linux the nice value is per thread (PRIO_PROCESS with a thread id) and is inherited by
        # the threads this one creates, such as torch's OpenMP pool; QThread priorities do nothing there.
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):  # not allowed here: the job still runs, at normal priority
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + LOW_PRIORITY_NICE)


def join_detached(timeout_s: float = 5.0) -> None:
    """Waits (at most `timeout_s` in all) for detached jobs' threads, so the interpreter never
    exits under a running thread; called after the window has gone."""
    deadline = time.monotonic() + timeout_s
    for job in list(_detached):
        if job._ended.wait(max(0.0, deadline - time.monotonic())):
            job._thread.wait()


JobFactory = Callable[[threading.Event], Generator[Any, None, Any]]


class _Thread(QThread):
    """Iterates the job; everything it touches besides the generator is the inbox."""

    def __init__(self, owner: Job) -> None:
        super().__init__()
        self._owner = owner

    def run(self) -> None:
        owner = self._owner
        if owner.low_priority:
            _lower_thread_priority(self)
        try:
            self._iterate(owner)
        finally:
            owner._ended.set()

    @staticmethod
    def _iterate(owner: Job) -> None:
        try:
            job = owner._factory(owner.stop_event)
            while True:
                try:
                    event = next(job)
                except StopIteration as done:
                    owner._result = done.value
                    break
                owner._post(event)
        except BaseException as error:
            owner._error = error
            owner._error_text = "".join(traceback.format_exception(type(error), error, error.__traceback__))


class Job(QObject):
    """One engine job in its own thread; connect to the signals, then `start()`."""

    progress = Signal(object)  # Progress, the latest
    losses = Signal(list)  # list[Progress] since the last update (for loss curves)
    validation = Signal(object)  # Validation
    reconstruction = Signal(object)  # ReconstructionPreview, the latest
    sample = Signal(object)  # SamplePreview, the latest
    checkpoint = Signal(object)  # CheckpointWritten
    log = Signal(object)  # LogLine
    long_run = Signal(object)  # LongRun: the job will run for long (ask whether to go on)
    finished = Signal(object)  # the job's return value
    failed = Signal(object, str)  # the exception, its traceback text

    def __init__(
        self, name: str, factory: JobFactory, parent: QObject | None = None, low_priority: bool = False
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.low_priority = low_priority
        self._factory = factory
        self.stop_event = threading.Event()
        # Set by the thread as it ends. Joining waits on it, not on QThread.wait(), which would hold
        # the GIL while the job's Python code still needs it to finish its step.
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._latest: dict[type, Any] = {}
        self._queue: list[Any] = []
        self._points: list[Progress] = []
        self._result: Any = None
        self._error: BaseException | None = None
        self._error_text = ""
        self.done = False
        self._thread = _Thread(self)
        self._thread.finished.connect(self._on_thread_finished)
        self._timer = QTimer(self)
        self._timer.setInterval(UPDATE_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)

    # Called in the job's thread.
    def _post(self, event: Any) -> None:
        with self._lock:
            if isinstance(event, Progress):
                self._latest[Progress] = event
                if event.losses:
                    self._points.append(event)
            elif isinstance(event, ReconstructionPreview | SamplePreview):
                self._latest[type(event)] = event
            else:
                self._queue.append(event)

    # GUI thread.
    def start(self) -> None:
        self._timer.start()
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.isRunning()

    def stop(self) -> None:
        """Asks the job to stop after its current step (returns at once)."""
        self.stop_event.set()

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Stops the job and joins its thread; True when the thread has ended."""
        self.stop_event.set()
        if not self._thread.isRunning() and not self._ended.is_set() and not self.done:
            return True  # never started
        ended = self._ended.wait(None if timeout_ms is None else timeout_ms / 1000)
        if ended:
            self._thread.wait()  # run() has returned: this only lets Qt finish the thread

            self._on_thread_finished()
        return bool(ended)

    def detach(self) -> None:
        """Lets the job run out on its own: it stops, says nothing more, and nobody waits for it
        (the window may close at once). `join_detached` waits for such jobs at exit."""
        self.stop_event.set()
        self._timer.stop()
        self.done = True  # the thread's end emits nothing now
        if self._ended.is_set():
            return
        self.setParent(None)
        _detached.append(self)

    def _flush(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, {}
            queue, self._queue = self._queue, []
            points, self._points = self._points, []
        for event in queue:
            if isinstance(event, Validation):
                self.validation.emit(event)
            elif isinstance(event, CheckpointWritten):
                self.checkpoint.emit(event)
            elif isinstance(event, LogLine):
                self.log.emit(event)
            elif isinstance(event, LongRun):
                self.long_run.emit(event)
            else:
                self.log.emit(LogLine(str(event)))
        if points:
            self.losses.emit(points)
        if Progress in latest:
            self.progress.emit(latest[Progress])
        if ReconstructionPreview in latest:
            self.reconstruction.emit(latest[ReconstructionPreview])
        if SamplePreview in latest:
            self.sample.emit(latest[SamplePreview])

    def _on_thread_finished(self) -> None:
        if self.done:
            return
        self.done = True
        self._timer.stop()
        self._flush()
        if self._error is not None:
            self.failed.emit(self._error, self._error_text)
        else:
            self.finished.emit(self._result)
