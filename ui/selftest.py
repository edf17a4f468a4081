"""`vqstudio-gui --self-test`: an end-to-end check of an installed VQ Studio in about a minute.

It builds a short demo recording, trains a tiny model for a few steps, generates a recording,
exports it as EDF and reads it back, draws the main window offscreen and checks the picture is
not blank, and trains on 2 CPU processes (gloo) through the `vqstudio` command line, as `--nproc`
starts them in the installed app. Training, generation and the export go through the app's own
entry points in `ui.jobs` (run here synchronously, as the window's worker thread runs them), so
the self-test checks what the app runs. One line per check (`PASS name: detail` or `FAIL name:
reason`) goes to stdout; `run_self_test` returns 0 only when every check passed; a check whose
input an earlier check failed to make reports FAIL "... not available", never a pass.

The files go to a temporary folder, removed at the end, or to `out_dir` (or the folder named by
the environment variable VQSTUDIO_SELFTEST_DIR), kept: `project/` (with the generated recording
in its samples/, as the app keeps it) and `selftest.edf`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ui import jobs

__all__ = ["EDF_NAME", "run_self_test"]

EDF_NAME = "selftest.edf"
DEMO_SECONDS = 60.0  # long enough for training and held-out windows, short to simulate
DEMO_RATE = 128.0
DEMO_CHANNELS = ("Fp1", "O1", "ECG")  # a frontal, an occipital EEG channel and the ECG
TRAIN_STEPS = 10  # per stage: enough to run every code path (checkpoint, validation, preview)
GENERATE_SECONDS = 4.0  # two 2 s windows: the continuation between segments runs too
SAMPLER_STEPS = 8
# One torch thread: these models are tiny, and on a busy machine a second OpenMP thread makes
# each step several times slower (measured: 10 s with one thread, 82 s with two, at load 7).
THREADS = 1
PROCESSES = 2  # the distributed check: gloo on the CPU, which every machine has
DISTRIBUTED_STEPS = 4
DISTRIBUTED_TIMEOUT_S = 240


class NotAvailable(Exception):
    """A part of the app this check needs is not in this build."""


@dataclass
class _State:
    """What one check hands to the next."""

    work: Path
    recording: Any = None
    project_dir: Path | None = None
    generated: Any = None
    edf_path: Path | None = None
    lines: list[str] = field(default_factory=list)


def _run(job: jobs.JobFunction) -> Any:
    """Runs a `ui.jobs` job here, synchronously, as the app's worker thread would (its events
    are dropped), and returns its result."""
    from vqstudio.events import run_to_end

    return run_to_end(job(threading.Event()))


# --- the checks -------------------------------------------------------------------------------


def check_demo(st: _State) -> str:
    from vqstudio.data.simulate import simulate

    rec = simulate(seconds=DEMO_SECONDS, rate=DEMO_RATE, seed=0)
    labels = [c.label for c in rec.channels]
    missing = [c for c in DEMO_CHANNELS if c not in labels]
    if missing:
        raise AssertionError(f"the demo recording lacks channels {missing} (has {labels})")
    st.recording = rec
    return f"{len(rec.channels)} channels, {DEMO_SECONDS:g} s at {DEMO_RATE:g} Hz"


def check_train(st: _State) -> str:
    if st.recording is None:
        raise NotAvailable("no demo recording (the demo check failed)")
    options = {
        "channels": DEMO_CHANNELS,
        "window_s": 2.0,
        "preset": "small",
        "tokenizer_steps": TRAIN_STEPS,
        "prior_steps": TRAIN_STEPS,
        "device": "cpu",
        "seed": 0,
        "val_every": TRAIN_STEPS,
        "batch_size": 8,
        "threads": THREADS,
    }
    st.project_dir = st.work / "project"
    result = _run(jobs.training_job(options, str(st.project_dir), resume=False, recordings=[st.recording]))
    if result.tokenizer_step < TRAIN_STEPS:
        raise AssertionError(f"the tokenizer trained {result.tokenizer_step} of {TRAIN_STEPS} steps")
    if not (st.project_dir / "tokenizer.safetensors").is_file():
        raise AssertionError("training wrote no tokenizer.safetensors")
    if result.prior_step < TRAIN_STEPS or not (st.project_dir / "prior.safetensors").is_file():
        raise AssertionError(
            f"the prior trained {result.prior_step} of {TRAIN_STEPS} steps (prior not available?)"
        )
    return (
        f"tokenizer {result.tokenizer_step} steps, prior {result.prior_step} steps, {result.elapsed_s:.1f} s"
    )


def check_generate(st: _State) -> str:
    if st.project_dir is None or not (st.project_dir / "prior.safetensors").is_file():
        raise NotAvailable("no trained project (the train check failed)")
    options = {
        "seconds": GENERATE_SECONDS,
        "seed": 0,
        "steps": SAMPLER_STEPS,
        "device": "cpu",
        "threads": THREADS,
    }
    recs, paths = _run(jobs.generation_job(str(st.project_dir), options))
    if not recs:
        raise AssertionError("generate returned no recording")
    # The app keeps what it generates in the project's samples/, for Evaluate to read.
    if len(paths) != len(recs) or not all(os.path.isfile(p) for p in paths):
        raise AssertionError(f"generate kept {len(paths)} of {len(recs)} recordings in the project: {paths}")
    rec = recs[0]
    want = round(GENERATE_SECONDS * rec.channels[0].rate)
    import numpy as np

    for ch in rec.channels:
        x = np.asarray(ch.samples)
        if x.shape[-1] != want:
            raise AssertionError(f"channel {ch.label} has {x.shape[-1]} samples, expected {want}")
        if not np.all(np.isfinite(x)):
            raise AssertionError(f"channel {ch.label} holds NaN or infinite values")
        if float(np.std(x)) == 0.0:
            raise AssertionError(f"channel {ch.label} is flat")
    st.generated = rec
    return f"{len(rec.channels)} channels x {want} samples"


def check_export(st: _State) -> str:
    if st.generated is None:
        raise NotAvailable("no generated recording (the generate check failed)")
    import numpy as np

    from vqstudio.io import read_recording

    st.edf_path = st.work / EDF_NAME
    project_dir = str(st.project_dir) if st.project_dir else None
    jobs.export_generated([st.generated], str(st.edf_path), open_files=[], project_dir=project_dir)
    back = read_recording(str(st.edf_path))
    if [c.label for c in back.channels] != [c.label for c in st.generated.channels]:
        raise AssertionError("the EDF read back has other channel labels than were written")
    worst = 0.0
    for a, b in zip(st.generated.channels, back.channels, strict=True):
        x, y = np.asarray(a.samples, dtype=float), np.asarray(b.samples, dtype=float)
        # the writer may pad the end to a whole data record; what was written must come back
        if y.shape[-1] < x.shape[-1]:
            raise AssertionError(f"channel {a.label}: wrote {x.shape[-1]} samples, read {y.shape[-1]}")
        # EDF stores 16-bit integers over the physical range: one step is the tolerance.
        step = (b.physical_max - b.physical_min) / 65535.0
        err = float(np.max(np.abs(x - y[: x.shape[-1]])))
        if not err <= step * 1.01:
            raise AssertionError(f"channel {a.label} reads back {err:.3g} off (one EDF step is {step:.3g})")
        worst = max(worst, err / step if step else 0.0)
    return f"{st.edf_path.name} ({st.edf_path.stat().st_size} bytes) reads back within {worst:.2f} EDF steps"


def check_distributed(st: _State) -> str:
    """`vqstudio train --nproc 2` on the demo recording: the processes start (a frozen app starts
    them through torch.distributed.run's entry point, not `python -m`), join a gloo group, train
    both stages in step, and rank 0's checkpoint says 2 processes ran."""
    if st.recording is None:
        raise NotAvailable("no demo recording (the demo check failed)")
    import subprocess

    from vqstudio.cli.launch import command_line
    from vqstudio.io import write_recording
    from vqstudio.project.checkpoint import saved_stages

    source = st.work / "demo.edf"
    write_recording(st.recording, str(source))
    project = st.work / "project-2-processes"
    steps = str(DISTRIBUTED_STEPS)
    command = [*command_line(), "train", str(source), "--project", str(project), "--nproc", str(PROCESSES)]
    command += [
        "--channels",
        ",".join(DEMO_CHANNELS),
        "--window",
        "2",
        "--preset",
        "small",
        "--device",
        "cpu",
    ]
    command += ["--tokenizer-steps", steps, "--prior-steps", steps, "--threads", str(THREADS)]
    # The launcher's scratch files go to the check's own folder, removed with it.
    env = {**os.environ, "TMPDIR": str(st.work), "OMP_NUM_THREADS": str(THREADS)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=DISTRIBUTED_TIMEOUT_S)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise AssertionError(f"exit {done.returncode}: {last}")
    stages = saved_stages(str(project / "state.safetensors"))
    ran = {name: int(stage["extra"]["progress"].get("processes", 1)) for name, stage in stages.items()}
    if ran.get("tokenizer") != PROCESSES or ran.get("prior") != PROCESSES:
        raise AssertionError(f"the checkpoint records {ran} processes per stage, not {PROCESSES}")
    steps_done = {name: int(stage["extra"]["progress"]["step"]) for name, stage in stages.items()}
    return f"{PROCESSES} processes (gloo), steps {steps_done}"


def check_window(st: _State) -> str:
    from PySide6.QtWidgets import QApplication

    from ui.mainwindow import MainWindow as main_window_cls

    app = QApplication.instance() or QApplication(
        [sys.argv[0], "-platform", os.environ.get("QT_QPA_PLATFORM", "offscreen")]
    )
    window = main_window_cls()
    try:
        window.resize(1000, 700)
        window.show()
        for _ in range(5):  # let layouts and the first paint run
            app.processEvents()
            time.sleep(0.02)
        image = window.grab().toImage()
        return _not_blank(image)
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()


def _not_blank(image: Any) -> str:
    """Counts colours on a grid of the picture; blank (one or two colours) is a failure."""
    w, h = image.width(), image.height()
    if w < 100 or h < 100:
        raise AssertionError(f"the window picture is {w}x{h} pixels")
    colours: dict[int, int] = {}
    for y in range(0, h, 3):
        for x in range(0, w, 3):
            c = image.pixel(x, y)
            colours[c] = colours.get(c, 0) + 1
    total = sum(colours.values())
    background = max(colours.values())
    other = total - background
    if len(colours) < 8 or other < total * 0.01:
        raise AssertionError(
            f"the window looks blank: {len(colours)} colours, {other} of {total} pixels not background"
        )
    return f"{w}x{h}, {len(colours)} colours, {100.0 * other / total:.0f}% not background"


CHECKS: tuple[tuple[str, Callable[[_State], str]], ...] = (
    ("demo recording", check_demo),
    ("train", check_train),
    ("generate", check_generate),
    ("export EDF", check_export),
    ("main window", check_window),
    ("train on 2 processes", check_distributed),
)


def run_self_test(out_dir: str | os.PathLike | None = None) -> int:
    """Runs every check, prints one PASS/FAIL line each, returns 0 only if all passed, else 1."""
    out = out_dir or os.environ.get("VQSTUDIO_SELFTEST_DIR")
    work = Path(out) if out else Path(tempfile.mkdtemp(prefix="vqstudio-selftest-"))
    if out:
        shutil.rmtree(work / "project", ignore_errors=True)  # train refuses an existing project
        work.mkdir(parents=True, exist_ok=True)
    st = _State(work=work)
    failed = 0
    t_all = time.perf_counter()
    try:
        for name, check in CHECKS:
            t0 = time.perf_counter()
            try:
                detail = check(st)
                line = f"PASS {name}: {detail} ({time.perf_counter() - t0:.1f} s)"
            except NotAvailable as e:
                failed += 1
                line = f"FAIL {name}: {e}"
            except Exception as e:
                failed += 1
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                line = f"FAIL {name}: {type(e).__name__}: {reason}"
                if os.environ.get("VQSTUDIO_SELFTEST_TRACEBACK"):
                    traceback.print_exc()
            print(line, flush=True)
    finally:
        if not out:
            shutil.rmtree(work, ignore_errors=True)
    verdict = "PASS" if failed == 0 else "FAIL"
    print(
        f"{verdict} self-test: {len(CHECKS) - failed} of {len(CHECKS)} checks passed "
        f"in {time.perf_counter() - t_all:.1f} s",
        flush=True,
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(run_self_test())
