"""How the CLI runs an engine job: iterate it in the main thread, draw a progress bar with the
losses and an ETA on stderr, and turn Ctrl-C into the job's stop request.

The first Ctrl-C sets the stop event: the job finishes its step, writes its checkpoint and
returns, and the command exits 130. A second Ctrl-C interrupts at once (KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any, TextIO, TypeVar

from vqstudio.events import CheckpointWritten, Event, LogLine, LongRun, Progress, Validation

__all__ = ["ProgressPrinter", "format_duration", "format_rate", "run_job", "sigint_sets"]

R = TypeVar("R")

SHOWN_LOSSES = ("total", "time", "stft", "commit", "loss")


def format_duration(seconds: float | None) -> str:
    """`1h02m`, `3m05s`, `42s`, or `?` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def format_rate(value: float) -> str:
    """A rate or count as people read it: '1234', '12.5', '0.42' (never '0' for 0.4)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


@contextlib.contextmanager
def sigint_sets(stop: threading.Event) -> Iterator[None]:
    """While active, the first SIGINT sets `stop`; a second one raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "\nvqstudio: stopping after this step (Ctrl-C again to quit at once)", file=sys.stderr, flush=True
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ProgressPrinter:
    """Turns events into one redrawn status line on a terminal, or a line every few seconds
    when stderr is a file or pipe."""

    def __init__(self, stream: TextIO | None = None, width: int = 24, quiet_every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.quiet_every_s = quiet_every_s
        self._last_line = 0.0
        self._drawn = False

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self._drawn = False

    def line(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def bar(self, p: Progress) -> str:
        filled = round(self.width * max(0.0, min(1.0, p.fraction)))
        bar = "#" * filled + "-" * (self.width - filled)
        if p.stage == "generate":  # recordings, and seconds of signal made per second
            done = p.fraction * p.total if p.total else float(p.step)
            of = f"/{p.total}" if p.total else ""
            rate = f", {format_rate(p.rate)} s of signal/s" if p.rate else ""
            what = f"{format_rate(done)}{of} recordings{rate}"
        else:
            steps = f"{p.step}/{p.total}" if p.total else f"{p.step}"
            shown = [k for k in SHOWN_LOSSES if k in p.losses] or [k for k in p.losses if k != "lr"][:3]
            losses = " ".join(f"{k} {p.losses[k]:.4g}" for k in shown)
            unit = " windows/s" if p.stage in ("tokenizer", "prior") else "/s"
            rate = f" {format_rate(p.rate)}{unit}" if p.rate else ""
            what = f"step {steps} {losses}{rate}"
        return f"{p.stage:<9} [{bar}] {100 * p.fraction:3.0f}% {what} ETA {format_duration(p.eta_s)}"

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            text = self.bar(event)
            if self.tty:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._drawn = True
            elif time.monotonic() - self._last_line >= self.quiet_every_s or event.fraction >= 1.0:
                self._last_line = time.monotonic()
                self.line(text)
        elif isinstance(event, LogLine):
            self.line(("warning: " if event.level == "warning" else "") + event.message)
        elif isinstance(event, LongRun):
            self.line(f"note: {event.message}; Ctrl-C stops it")
        elif isinstance(event, Validation):
            shown = " ".join(f"{k} {v:.4g}" for k, v in event.metrics.items() if not k.startswith("ema_"))
            self.line(f"{event.stage} validation at step {event.step}: {shown}")
        elif isinstance(event, CheckpointWritten) and not self.tty:
            self.line(f"checkpoint: {event.stage} step {event.step}")

    def close(self) -> None:
        self._clear()
        self.stream.flush()


def run_job(
    job: Generator[Event, None, R], stop: threading.Event, printer: ProgressPrinter | None = None
) -> R:
    """Iterates `job` in this thread, printing its events; Ctrl-C sets `stop`. Returns its result."""
    printer = printer or ProgressPrinter()
    try:
        with sigint_sets(stop):
            while True:
                try:
                    event = next(job)
                except StopIteration as done:
                    return done.value
                printer(event)
    finally:
        printer.close()
