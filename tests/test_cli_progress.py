"""The command line's progress line (issue 21, item 8): generation shows recordings and seconds of
signal per second (it read "step 0/1 ... 1/s"), training its steps and windows per second; the log
says how the thread count was chosen in step times, not "49.9x faster"."""

from __future__ import annotations

import io

from vqstudio.cli.progress import ProgressPrinter, format_rate
from vqstudio.events import Progress
from vqstudio.threads import ThreadPolicy, ThreadTuner


def test_generation_shows_recordings_and_signal_seconds_per_second():
    printer = ProgressPrinter(io.StringIO())
    line = printer.bar(Progress("generate", 0, 1, 2.0, 6.0, 0.25, {}, 37.5))
    assert "0.25/1 recordings, 37.5 s of signal/s" in line and "step" not in line
    line = printer.bar(Progress("generate", 3, 4, 8.0, 0.0, 1.0, {}, 0.42))
    assert "4/4 recordings, 0.42 s of signal/s" in line


def test_training_shows_steps_and_windows_per_second():
    line = ProgressPrinter(io.StringIO()).bar(
        Progress("tokenizer", 120, 400, 10.0, 20.0, 0.3, {"total": 1.5}, 1234.4)
    )
    assert "step 120/400 total 1.5 1234 windows/s" in line
    assert format_rate(0.4) == "0.4" and format_rate(12.34) == "12.3" and format_rate(1500.2) == "1500"


def test_the_thread_choice_is_said_in_step_times():
    """Two threads dropped after one slow step (a pool starting up, another process) read as
    "chosen by timing (49.9x faster than 2 threads)"."""
    times = iter([0.05, 0.05, 0.05, 0.05, 2.5] + [0.05] * 10)
    tuner = ThreadTuner(2, lambda n: None, 2, ThreadPolicy(), label="tokenizer")
    lines = [line for _ in range(12) if (line := tuner.step_done(next(times)))]
    assert lines == [
        "tokenizer: 1 thread of 2 cores, chosen by timing (50 ms a step; 2 threads took 2.5 s on a step, "
        "over 3x longer, and were not timed further)"
    ]
