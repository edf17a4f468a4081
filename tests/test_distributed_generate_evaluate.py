"""Generation and evaluation with several processes (`--nproc 2`, gloo on the CPU).

Generation: each process samples its share of the recordings and rank 0 writes every file once.

- 2 processes give exactly what one process gives that samples the same batches (half the
  recordings at a time): the batches' random streams depend on the seed and the batch alone.
- Files: each recording written once, named as one process names them, reported once.
- A refusal (an unknown label, an output folder that is not there) is rank 0's line, exit 2,
  and nothing is written.

Evaluation: the processes share the per-window work; rank 0's report holds the figures one
process gives (the same windows, the same searches and scores), and rank 0 alone writes it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from vqstudio.events import run_to_end
from vqstudio.generation.sampling import GenerateSettings, generate
from vqstudio.io import write_recording
from vqstudio.recording import Recording
from vqstudio.training import TrainSettings, train

pytestmark = pytest.mark.slow  # each command starts Python and torch in three processes

ROOT = Path(__file__).resolve().parents[1]


def vqstudio(*args: str, cwd: Path, python: list[str] | None = None) -> subprocess.CompletedProcess:
    """`python -m vqstudio ARGS` (or `python PYTHON ARGS`: under torchrun) in a test's folder."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TMPDIR": str(cwd)}
    command = [sys.executable, *(python or ["-m", "vqstudio"]), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def write_input(folder: Path, name: str, hz: float, seed: int) -> str:
    """200 s of two channels at 64 Hz: a held-out part long enough for the membership attacks."""
    rate = 64.0
    rng = np.random.default_rng(seed)
    t = np.arange(int(200 * rate)) / rate
    x = np.stack([30 * np.sin(2 * np.pi * hz * t), 15 * np.cos(2 * np.pi * hz * t)])
    x = x + rng.normal(0, 2, (2, t.size))
    path = str(folder / f"{name}.edf")
    write_recording(Recording.from_array(x, rate, ["C3", "C4"], "uV"), path)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> str:
    """A conditional diffusion project (labels from file names), trained for a few steps."""
    folder = tmp_path_factory.mktemp("gen2")
    inputs = (write_input(folder, "slow", 4.0, 1), write_input(folder, "fast", 12.0, 2))
    settings = TrainSettings(
        inputs=inputs,
        window_s=2.0,
        tokenizer_steps=10,
        prior_steps=10,
        labels="files",
        device="cpu",
        threads=1,
        seed=0,
        val_every=10,
    )
    run_to_end(train(settings, str(folder / "project"), threading.Event()))
    return str(folder / "project")


def test_two_processes_sample_what_one_samples_in_the_same_batches(project, tmp_path):
    count = 5
    done = vqstudio("generate", project, "--seconds", "6", "--count", str(count), "--seed", "3",
                    "--out", str(tmp_path / "two.npy"), "--device", "cpu", "--threads", "1", "--nproc", "2",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    two = np.load(tmp_path / "two.npy")
    settings = GenerateSettings(
        seconds=6, count=count, seed=3, device="cpu", threads=1, as_array=True, batch=math.ceil(count / 2)
    )
    one = run_to_end(generate(project, settings))
    assert two.shape == one.shape == (count, 2, 6 * 64)
    assert np.array_equal(two, one)  # exactly: each row was sampled by one process, summed with zeros
    # every recording is its own (none left at zero by a process that did not sample it)
    assert all(float(np.std(two[i])) > 0 for i in range(count))


def test_every_file_is_written_once_and_reported_once(project, tmp_path):
    done = vqstudio("generate", project, "--seconds", "4", "--count", "3", "--out", str(tmp_path / "s.edf"),
                    "--device", "cpu", "--threads", "1", "--nproc", "2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    written = sorted(p.name for p in tmp_path.glob("s*.edf"))
    assert written == ["s_1.edf", "s_2.edf", "s_3.edf"]
    lines = [line for line in done.stdout.splitlines() if line.startswith("written: ")]
    assert sorted(lines) == sorted(f"written: {tmp_path / n}" for n in written)
    assert done.stdout.count("generated 3 x 4 s") == 1


def test_a_request_rank_0_refuses_is_one_line_exit_2_and_nothing_is_written(project, tmp_path):
    out = str(tmp_path / "s.edf")
    done = vqstudio("generate", project, "--seconds", "4", "--count", "3", "--label", "medium",
                    "--out", out, "--device", "cpu", "--nproc", "2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    said = [line for line in done.stderr.splitlines() if "medium" in line]
    assert len(said) == 1, done.stderr[-3000:]  # rank 0's line; rank 1 adds none on the same machine
    assert said[0].startswith("vqstudio: label 'medium' is not one the prior knows"), done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("s*.edf"))


@pytest.mark.parametrize("launcher", ["nproc", "torchrun"])
def test_an_output_rank_0_may_not_write_is_refused_before_any_process_samples(project, tmp_path, launcher):
    out = tmp_path / "missing" / "s.edf"
    args = ["generate", project, "--seconds", "4", "--count", "3", "--out", str(out), "--device", "cpu"]
    if launcher == "nproc":  # checked before any process starts
        done = vqstudio(*args, "--nproc", "2", cwd=tmp_path)
    else:  # rank 0 refuses before it joins; rank 1, waiting for it, ends at the launcher's SIGTERM
        torchrun = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d"]
        torchrun += ["--rdzv-endpoint", "localhost:0", "-m", "vqstudio"]
        done = vqstudio(*args, cwd=tmp_path, python=torchrun)
        assert "SIGKILL" not in done.stderr, done.stderr[-3000:]
    assert done.returncode != 0, done.stderr[-3000:]
    said = [line for line in done.stderr.splitlines() if line.startswith("vqstudio: ")]
    assert said and "missing" in said[0] and "does not exist" in said[0], done.stderr[-3000:]
    assert "generate  [" not in done.stderr
    if launcher == "nproc":  # (torchrun adds its own report of the processes that failed)
        assert done.returncode == 2 and len(said) == 1 and "Traceback" not in done.stderr


def test_two_processes_evaluate_to_the_report_one_process_writes(project, tmp_path):
    synthetic = tmp_path / "syn.edf"
    made = vqstudio("generate", project, "--seconds", "12", "--count", "2", "--out", str(synthetic),
                    "--device", "cpu", "--threads", "1", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    reports = {}
    for n in (1, 2):
        out = tmp_path / f"report-{n}.json"
        files = [str(tmp_path / "syn_1.edf"), str(tmp_path / "syn_2.edf")]
        done = vqstudio("evaluate", project, "--synthetic", *files, "--json", str(out),
                        "--plots", str(tmp_path / f"plots-{n}"), "--no-references", "--nproc", str(n),
                        cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("report: ") == 1  # rank 0 alone prints the results
        reports[n] = json.loads(out.read_text())
    one, two = reports[1], reports[2]
    judged = [a for a in one["membership"]["attacks"].values() if "auc" in (a.get("window") or {})]
    assert len(judged) >= 3  # the attacks ran: their scores were shared among the processes
    assert one["windows"] == two["windows"]
    for key, metric in one["metrics"].items():
        assert two["metrics"][key]["value"] == pytest.approx(metric["value"], rel=1e-5, abs=1e-9), key
    for name, attack in one["membership"]["attacks"].items():
        got = two["membership"]["attacks"][name]
        assert got.get("skipped") == attack.get("skipped"), name
        if "window" in attack and "auc" in attack["window"]:
            assert got["window"]["auc"] == pytest.approx(attack["window"]["auc"], abs=1e-9), name
    assert one["memorization_verdict"] == two["memorization_verdict"]
    # the second process wrote nothing: one report, one set of plots, each where it was asked
    assert sorted(p.name for p in tmp_path.glob("report-*.json")) == ["report-1.json", "report-2.json"]
    assert sorted(p.name for p in (tmp_path / "plots-2").iterdir()) == sorted(
        p.name for p in (tmp_path / "plots-1").iterdir()
    )
    assert not (Path(project) / "reports").exists()  # nothing went to the project's default place
