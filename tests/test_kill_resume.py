"""Fault injection: `vqstudio train` killed with SIGKILL at random moments, checkpoints written a
few times a second so kills land inside checkpoint writes too; every resume must succeed and
start no earlier than the last checkpoint the killed run reported (at most one interval lost)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from vqstudio.data.recording import Recording
from vqstudio.io import write_recording
from vqstudio.project.checkpoint import saved_stages

pytestmark = pytest.mark.slow

KILLS = 20
RATE = 64.0


def _train_command(project: str, source: str | None) -> list[str]:
    inputs = [source] if source else []
    return [
        sys.executable,
        "-m",
        "vqstudio",
        "train",
        *inputs,
        "--project",
        project,
        *([] if source else ["--resume"]),
        "--window",
        "2",
        "--preset",
        "small",
        "--tokenizer-steps",
        "100000",
        "--prior-steps",
        "0",
        "--device",
        "cpu",
        "--checkpoint-minutes",
        "0.003",  # about every 0.2 s
    ]


def _run_until_killed(argv: list[str], after_s: float, env: dict) -> tuple[str, int | None]:
    """Runs `argv`, kills it with SIGKILL `after_s` seconds after its first training step; returns
    its stderr and the exit code if it ended by itself first."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = None
    while proc.poll() is None:
        if deadline is None and any(line.startswith("tokenizer ") for line in list(lines)):
            deadline = time.monotonic() + after_s
        if deadline is not None and time.monotonic() >= deadline:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    reader.join(timeout=10)
    code = proc.returncode
    return "".join(lines), (None if code == -signal.SIGKILL else code)


def test_twenty_kills_each_resume_loses_at_most_one_interval(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(int(60 * RATE)) / RATE
    x = np.stack([20 * np.sin(2 * np.pi * 6 * t), 10 * np.cos(2 * np.pi * 9 * t)]) + rng.normal(
        0, 2, (2, t.size)
    )
    source = str(tmp_path / "source.edf")
    write_recording(Recording.from_array(x, RATE, ["C3", "C4"], "uV"), source)
    project = str(tmp_path / "project")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    chooser = random.Random(1)

    last_reported = 0
    resumed_at = []
    for kill in range(KILLS):
        first = kill == 0 or not os.path.exists(os.path.join(project, "state.safetensors"))
        err, code = _run_until_killed(
            _train_command(project, source if first and kill == 0 else None), chooser.uniform(0.05, 1.5), env
        )
        assert code is None, f"run {kill} ended by itself with {code}:\n{err[-2000:]}"
        assert "Traceback" not in err and "vqstudio:" not in err, err[-2000:]
        started = re.findall(r"resuming the tokenizer at step (\d+)", err)
        if kill > 0 and started:
            resumed_at.append(int(started[0]))
            assert int(started[0]) >= last_reported, (kill, started[0], last_reported)
        written = re.findall(r"checkpoint: tokenizer step (\d+)", err)
        if written:
            last_reported = int(written[-1])
        stages = saved_stages(os.path.join(project, "state.safetensors"))
        assert stages.get("tokenizer", {"step": 0})["step"] >= last_reported

    # After every kill the project still resumes and finishes a short run cleanly.
    done = subprocess.run(
        [
            *_train_command(project, None)[:-4],
            "--tokenizer-steps",
            str(last_reported + 3),
            "--prior-steps",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(resumed_at) >= KILLS // 2  # most kills came after a checkpoint, so most runs resumed
