"""Fault injection: `vqstudio train` killed with SIGKILL, and every resume must succeed.

Two ways of killing:
- at 20 random moments, checkpoints written a few times a second so kills land inside checkpoint
  writes too; every resume must start no earlier than the last checkpoint the killed run
  reported (at most one interval lost);
- exactly at the renames that publish a checkpoint's files (`os.replace` in
  `vqstudio/io/atomic.py`), just before and just after each one, where a random kill rarely
  lands (14 kills: each rename of a run's first and second checkpoint both ways, a new project
  and a resume at their first writes): the project must stay readable, the next run must
  resume from the state file's step, and the temporary files a kill leaves must be swept by
  the next run.
"""

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

from vqstudio.io import write_recording
from vqstudio.io.atomic import is_temp_name
from vqstudio.project import Project
from vqstudio.project.checkpoint import saved_stages
from vqstudio.recording import Recording

pytestmark = pytest.mark.slow

KILLS = 20
RATE = 64.0
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _write_source(folder) -> str:
    """A minute of two noisy sines at 64 Hz, as EDF: enough windows to train on."""
    rng = np.random.default_rng(0)
    t = np.arange(int(60 * RATE)) / RATE
    x = np.stack([20 * np.sin(2 * np.pi * 6 * t), 10 * np.cos(2 * np.pi * 9 * t)]) + rng.normal(
        0, 2, (2, t.size)
    )
    source = str(folder / "source.edf")
    write_recording(Recording.from_array(x, RATE, ["C3", "C4"], "uV"), source)
    return source


def _train_args(project: str, source: str | None, steps: int = 100000, every_min: str = "0.003") -> list[str]:
    """`vqstudio train`'s arguments: a new project from `source`, or `--resume` without one;
    checkpoints every `every_min` minutes (0.003: about every 0.2 s), a budget of steps never
    reached before the kill."""
    inputs = [source] if source else []
    return [
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
        str(steps),
        "--prior-steps",
        "0",
        "--device",
        "cpu",
        "--checkpoint-minutes",
        every_min,
    ]


def _train_command(project: str, source: str | None, steps: int = 100000) -> list[str]:
    return [sys.executable, "-m", "vqstudio", *_train_args(project, source, steps)]


def _started_at(err: str) -> int | None:
    """The step a run's tokenizer resumed at (its 'resuming' line), None when it did not resume."""
    started = re.findall(r"resuming the tokenizer at step (\d+)", err)
    return int(started[0]) if started else None


def _last_reported(err: str, before: int) -> int:
    """The step of the last checkpoint a run reported written (`before` when it reported none)."""
    written = re.findall(r"checkpoint: tokenizer step (\d+)", err)
    return int(written[-1]) if written else before


def _saved_step(project: str) -> int:
    """The tokenizer's step in the project's state file (0 without one); reading it is the check
    that the state file is whole."""
    return saved_stages(os.path.join(project, "state.safetensors")).get("tokenizer", {"step": 0})["step"]


def _temp_files(project: str) -> list[str]:
    """The temporary files (`.vqs-PID-XXXXXXXX.part.EXT`) in the project folder."""
    return sorted(name for name in os.listdir(project) if is_temp_name(name))


def _clean_resume(project: str, steps: int) -> subprocess.CompletedProcess:
    """A resume that trains to `steps` and ends by itself."""
    return subprocess.run(
        _train_command(project, None, steps), capture_output=True, text=True, env=ENV, timeout=300
    )


# ----------------------------------------------------------------------------- random kills


def _run_until_killed(argv: list[str], after_s: float) -> tuple[str, int | None]:
    """Runs `argv`, kills it with SIGKILL `after_s` seconds after its stage starts training (its
    'tokenizer: ... parameters' or 'resuming the tokenizer' line); returns its stderr and the exit
    code if it ended by itself first."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = None
    started = ("tokenizer", "resuming the tokenizer")
    while proc.poll() is None:
        if deadline is None and any(line.startswith(started) for line in list(lines)):
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
    source = _write_source(tmp_path)
    project = str(tmp_path / "project")
    chooser = random.Random(1)

    last_reported = 0
    resumed_at = []
    for kill in range(KILLS):
        err, code = _run_until_killed(
            _train_command(project, source if kill == 0 else None), chooser.uniform(0.05, 1.0)
        )
        assert code is None, f"run {kill} ended by itself with {code}:\n{err[-2000:]}"
        assert "Traceback" not in err and "vqstudio:" not in err, err[-2000:]
        started = _started_at(err)
        if kill > 0 and started is not None:
            resumed_at.append(started)
            assert started >= last_reported, (kill, started, last_reported)
        last_reported = _last_reported(err, last_reported)
        assert _saved_step(project) >= last_reported

    # After every kill the project still resumes and finishes a short run cleanly.
    done = _clean_resume(project, last_reported + 3)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(resumed_at) >= KILLS // 2  # most kills came after a checkpoint, so most runs resumed


# ----------------------------------------------------------------------------- kills at renames

# The training command in a Python whose `os.replace` kills its own process at its Nth rename of
# a VQ Studio temporary file (argv: N, "before" or "after", then vqstudio's arguments), saying
# where on stderr first. Only renames of `.vqs-` files count, so a library's own `os.replace`
# cannot shift the plan. Patching the `os` module is enough: `atomic_path` calls `os.replace`
# through the module (no module of vqstudio does `from os import replace`), and the patch is in
# place before vqstudio is imported.
_KILL_AT_RENAME = """
import os, signal, sys

real_replace = os.replace
kill_at, when = int(sys.argv[1]), sys.argv[2]
renames = 0

def kill(dst):
    sys.stderr.write(f"process {os.getpid()} killed at rename {renames} ({when}): {os.path.basename(dst)}\\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def replace(src, dst, *args, **kwargs):
    global renames
    ours = os.path.basename(src).startswith(".vqs-")
    renames += ours
    if ours and renames == kill_at and when == "before":
        kill(dst)
    real_replace(src, dst, *args, **kwargs)
    if ours and renames == kill_at and when == "after":
        kill(dst)

os.replace = replace
from vqstudio.cli import main
sys.exit(main(sys.argv[3:]))
"""

# What a run of `vqstudio train` renames, in order: project.json twice as it starts (made, or
# reconciled with the state file; then given this run's budget and device: training/job.py),
# then per checkpoint the state file (the commit point), the published weights and project.json
# (training/stage_state.py). With no prior stage, a checkpoint has these three renames.
STARTUP_RENAMES = ("project.json", "project.json")
CHECKPOINT_RENAMES = ("state.safetensors", "tokenizer.safetensors", "project.json")
WHEN = ("before", "after")


def _rename_plan() -> list[tuple[int, str]]:
    """(rename number within the run, "before" or "after") of each kill, in the order made.

    A new project killed before its project.json is first written (the next run makes it again);
    then each rename of a run's first checkpoint and of its second, before and after (the first
    two on a project with no state file yet); then a resume killed between its two startup
    writes of project.json, with checkpoints behind it.
    """
    plan = [(1, "before")]
    startup = len(STARTUP_RENAMES)
    for checkpoint in (1, 2):
        for position in range(len(CHECKPOINT_RENAMES)):
            rename = startup + (checkpoint - 1) * len(CHECKPOINT_RENAMES) + position + 1
            plan += [(rename, when) for when in WHEN]
    return [*plan, (2, "before")]


def _expected_target(rename: int) -> str:
    """The file the `rename`th rename of a run publishes (see STARTUP_RENAMES)."""
    if rename <= len(STARTUP_RENAMES):
        return STARTUP_RENAMES[rename - 1]
    return CHECKPOINT_RENAMES[(rename - len(STARTUP_RENAMES) - 1) % len(CHECKPOINT_RENAMES)]


def _run_killed_at_rename(args: list[str], rename: int, when: str) -> tuple[str, str, int]:
    """Runs vqstudio with `args`, killed at its `rename`th rename (`when`: before or after it),
    asserting it was killed there; returns its stderr, the file the kill landed at and its PID."""
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AT_RENAME, str(rename), when, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    landed = re.findall(rf"process (\d+) killed at rename {rename} \({when}\): (\S+)", proc.stderr)
    assert proc.returncode == -signal.SIGKILL and landed, (
        f"not killed at rename {rename} ({when}); exit {proc.returncode}:\n{proc.stderr[-2000:]}"
    )
    assert "Traceback" not in proc.stderr and "vqstudio:" not in proc.stderr, proc.stderr[-2000:]
    pid, target = landed[0]
    return proc.stderr, target, int(pid)


def test_kills_at_each_rename_of_a_checkpoint_each_resume_succeeds(tmp_path):
    source = _write_source(tmp_path)
    project = str(tmp_path / "project")
    meta = os.path.join(project, "project.json")

    last_reported = 0  # the last checkpoint any run reported written
    landed_at = []
    for rename, when in _rename_plan():
        new = not os.path.exists(meta)  # a project that never got its project.json starts again
        saved_before = 0 if new else _saved_step(project)
        err, target, pid = _run_killed_at_rename(
            _train_args(project, source if new else None, every_min="0.001"), rename, when
        )
        assert target == _expected_target(rename), (
            f"rename {rename} published {target}, not {_expected_target(rename)}: the order of "
            "a run's writes changed; update STARTUP_RENAMES / CHECKPOINT_RENAMES"
        )
        landed_at.append((rename, when, target))

        # A run that got to training resumed exactly from the state file's step (never earlier
        # than the last checkpoint reported), or started afresh when there was none.
        if rename > len(STARTUP_RENAMES):
            assert _started_at(err) == (saved_before or None), (rename, when, err[-2000:])
        last_reported = _last_reported(err, last_reported)

        # What the kill left is readable: project.json (unless no run ever wrote it) and the
        # state file, which holds at least the last checkpoint reported.
        if os.path.exists(meta):
            Project.open(project)
        else:
            assert (rename, when) == (1, "before") and new
        assert _saved_step(project) >= last_reported, (rename, when, last_reported)

        # The run swept the temporary files earlier kills left; a kill before a rename leaves
        # the file it was about to rename, one after leaves none.
        temps = _temp_files(project)
        ours = [name for name in temps if name.startswith(f".vqs-{pid}-")]
        assert len(ours) == (when == "before"), (rename, when, temps)
        assert len(temps) == len(ours), f"temporary files of earlier runs were not swept: {temps}"

    # A clean resume after the last kill ends by itself, leaves no temporary file behind, and
    # its weights load.
    done = _clean_resume(project, _saved_step(project) + 3)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _temp_files(project) == []
    Project.open(project).load_tokenizer()

    # The kills (each checked above to have landed at its planned rename) hit every file of a
    # checkpoint both before and after its rename.
    hit = {(target, when) for rename, when, target in landed_at if rename > len(STARTUP_RENAMES)}
    assert hit == {(target, when) for target in CHECKPOINT_RENAMES for when in WHEN}
