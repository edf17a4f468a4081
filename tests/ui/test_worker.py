"""The job worker: events become throttled signals, latest preview wins, stop, errors, join."""

from __future__ import annotations

import threading
import time

import numpy as np

from ui.worker import UPDATE_INTERVAL_MS, Job
from vqstudio.errors import FormatError
from vqstudio.events import LogLine, Progress, ReconstructionPreview


def _busy_job(n: int, stop: threading.Event):
    preview = np.zeros((1, 8), np.float32)
    for step in range(1, n + 1):
        if stop.is_set():
            yield LogLine("stopping")
            return {"stopped": True, "step": step - 1}
        yield Progress("tokenizer", step, n, 0.0, None, step / n, {"total": 1.0 / step})
        if step % 10 == 0:
            yield ReconstructionPreview(step, 8.0, ("a",), ("uV",), preview, preview)
            yield LogLine(f"step {step}")
        time.sleep(0.0002)
    return {"stopped": False, "step": n}


def test_events_are_throttled_and_complete(qtbot):
    job = Job("t", lambda stop: _busy_job(2000, stop))
    progress, losses, previews, logs = [], [], [], []
    job.progress.connect(progress.append)
    job.losses.connect(losses.extend)
    job.reconstruction.connect(previews.append)
    job.log.connect(logs.append)
    t0 = time.perf_counter()
    with qtbot.waitSignal(job.finished, timeout=30_000) as done:
        job.start()
    elapsed = time.perf_counter() - t0
    assert done.args[0] == {"stopped": False, "step": 2000}
    # At most one GUI update per interval (plus the final flush), each the latest at that time.
    assert 1 <= len(progress) <= elapsed * 1000 / UPDATE_INTERVAL_MS + 2
    assert progress[-1].step == 2000 and previews[-1].step == 2000
    assert len(previews) <= len(progress) + 1
    # Nothing that must arrive is dropped: every loss point and log line, in order.
    assert [p.step for p in losses] == list(range(1, 2001))
    assert [e.message for e in logs] == [f"step {s}" for s in range(10, 2001, 10)]
    assert not job.running


def test_stop_ends_the_job_between_steps(qtbot):
    job = Job("t", lambda stop: _busy_job(10**9, stop))
    job.start()
    qtbot.waitUntil(lambda: job.running, timeout=5000)
    time.sleep(0.05)
    with qtbot.waitSignal(job.finished, timeout=10_000) as done:
        job.stop()
    assert done.args[0]["stopped"] is True and done.args[0]["step"] > 0


def test_stop_and_wait_joins(qtbot):
    job = Job("t", lambda stop: _busy_job(10**9, stop))
    job.start()
    qtbot.waitUntil(lambda: job.running, timeout=5000)
    assert job.stop_and_wait(10_000) is True
    assert not job.running and job.done


def test_errors_arrive_as_failed(qtbot):
    def broken(stop):
        yield LogLine("reading")
        raise FormatError("x.edf: bad header; re-export it")

    job = Job("t", broken)
    with qtbot.waitSignal(job.failed, timeout=10_000) as failed:
        job.start()
    error, text = failed.args
    assert isinstance(error, FormatError) and "bad header" in text
