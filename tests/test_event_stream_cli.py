"""`vqstudio train --events FILE` with two processes (gloo on the CPU): rank 0 appends every
event it yields to FILE, the progress in step order, and the other rank writes nothing there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import write_input

from vqstudio.event_stream import EventReader
from vqstudio.events import CheckpointWritten, Progress

pytestmark = pytest.mark.slow  # starts Python and torch in three processes, and trains

ROOT = Path(__file__).resolve().parents[1]


def test_rank_0_of_two_processes_writes_its_events_in_step_order(tmp_path):
    source = write_input(tmp_path, "a", channels=2)
    events = tmp_path / "events.jsonl"
    project = tmp_path / "P"
    args = ["train", source, "--project", str(project), "--window", "2", "--preset", "small"]
    args += ["--tokenizer-steps", "6", "--prior-steps", "0", "--device", "cpu", "--threads", "1"]
    args += ["--nproc", "2", "--events", str(events)]
    run = subprocess.run(
        [sys.executable, "-m", "vqstudio", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    read = EventReader(str(events)).read()
    steps = [e.step for e in read if isinstance(e, Progress) and e.stage == "tokenizer"]
    # One writer (rank 0, not each process), each step once, in order, to the last.
    assert steps == sorted(set(steps)) and steps[-1] == 6, steps
    assert isinstance(read[0], Progress) and read[0].stage == "prepare"
    assert any(isinstance(e, CheckpointWritten) and e.step == 6 for e in read)
    assert (project / "project.json").is_file()
