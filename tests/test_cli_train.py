"""`vqstudio train` and `vqstudio reconstruct` from the command line: exit codes, files, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from vqstudio.cli import main
from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Recording

RATE = 64.0


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    t = np.arange(int(40 * RATE)) / RATE
    x = np.stack(
        [20 * np.sin(2 * np.pi * 5 * t) + rng.standard_normal(t.size), 30 * np.sin(2 * np.pi * 2 * t)]
    )
    path = str(tmp_path_factory.mktemp("data") / "rec.csv")
    write_recording(Recording.from_array(x, RATE, ["II", "V"], "mV"), path)
    return path


def run(argv: list[str]) -> int:
    """Exit code of `vqstudio ARGV` in this process (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


def train_args(csv, project, *extra):
    return [
        "train",
        csv,
        "--project",
        project,
        "--window",
        "1",
        "--device",
        "cpu",
        "--prior-steps",
        "0",
        *extra,
    ]


def test_train_resume_refuse_and_reconstruct(csv_file, tmp_path, capsys):
    project = str(tmp_path / "proj")
    assert main(train_args(csv_file, project, "--tokenizer-steps", "4", "--seed", "1")) == 0
    out = capsys.readouterr()
    assert "snr_db" in out.out and "prd_percent" in out.out and "tokenizer steps: 4" in out.out
    assert "tokenizer" in out.err  # the progress bar / lines went to stderr
    for name in ("project.json", "tokenizer.safetensors", "state.safetensors", "history.jsonl"):
        assert os.path.isfile(os.path.join(project, name)), name
    with open(os.path.join(project, "project.json")) as f:
        meta = json.load(f)
    assert meta["seed"] == 1 and meta["data"]["sources"][0]["sha256"]

    # Training into an existing project without --resume: exit 2, one line, nothing changed.
    before = os.path.getmtime(os.path.join(project, "tokenizer.safetensors"))
    assert main(train_args(csv_file, project, "--tokenizer-steps", "4")) == 2
    err = capsys.readouterr().err
    assert "already holds a project" in err and "Traceback" not in err
    assert os.path.getmtime(os.path.join(project, "tokenizer.safetensors")) == before

    # --resume continues the step count.
    assert main(train_args(csv_file, project, "--tokenizer-steps", "6", "--resume")) == 0
    assert "tokenizer steps: 6" in capsys.readouterr().out

    out_path = str(tmp_path / "rec.edf")
    assert main(["reconstruct", project, csv_file, "--out", out_path]) == 0
    printed = capsys.readouterr().out
    assert "snr_db" in printed and "lsd_db" in printed
    rec = read_recording(out_path)
    assert [c.name for c in rec.channels] == ["II", "V"] and rec.channels[0].rate == RATE
    assert abs(rec.duration - 40.0) < 1.0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--channels", "NoSuch", "--tokenizer-steps", "2"], "no channel 'NoSuch'"),
        (["--window", "50", "--tokenizer-steps", "2"], "too little data"),
        (["--window", "100", "--tokenizer-steps", "2"], "must be from 0.25 to 60"),
        (["--tokenizer-steps", "-3"], "must be from 0 to 100,000,000"),
    ],
)
def test_bad_input_exits_2_with_one_line(csv_file, tmp_path, capsys, extra, message):
    assert run([*train_args(csv_file, str(tmp_path / "p")), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "p" / "project.json")


def test_reconstruct_refuses_missing_project(csv_file, tmp_path, capsys):
    assert main(["reconstruct", str(tmp_path / "none"), csv_file, "--out", str(tmp_path / "o.edf")]) == 2
    assert "no project folder" in capsys.readouterr().err


def test_ctrl_c_writes_a_checkpoint_and_exits_130(csv_file, tmp_path):
    project = str(tmp_path / "p")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vqstudio", *train_args(csv_file, project, "--tokenizer-steps", "100000")],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    history = os.path.join(project, "history.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(history) and os.path.getsize(history) > 0:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "stopped" in err and "Traceback" not in err
    with open(os.path.join(project, "project.json")) as f:
        meta = json.load(f)
    assert meta["progress"]["tokenizer"]["step"] > 0
    assert os.path.isfile(os.path.join(project, "tokenizer.safetensors"))


def test_held_out_chooses_the_share_of_each_recording_kept_out_of_training(csv_file, tmp_path, capsys):
    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project

    shares = {}
    for share in (0.1, 0.4):
        project = str(tmp_path / f"P{share}")
        steps = ["--tokenizer-steps", "2", "--prior-steps", "0", "--device", "cpu", "--threads", "1"]
        code = main(
            ["train", csv_file, "--project", project, "--window", "2", "--held-out", str(share), *steps]
        )
        assert code == 0, capsys.readouterr().err
        opened = Project.open(project)
        assert opened.prep_config.val_fraction == share  # stored: evaluation rebuilds the same split
        prepared = prepare_from_project(opened)
        shares[share] = prepared.val.data.shape[1] / (
            prepared.val.data.shape[1] + prepared.train.data.shape[1]
        )
    assert shares[0.1] == pytest.approx(0.1, abs=0.02) and shares[0.4] == pytest.approx(0.4, abs=0.02)
    # chosen when the project is made: a resume keeps its split
    code = main(["train", "--project", str(tmp_path / "P0.4"), "--resume", "--held-out", "0.2"])
    assert code == 2 and "--held-out is chosen when a project is made" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's own exit, with its one line
        main(["train", csv_file, "--project", str(tmp_path / "P3"), "--held-out", "0.7"])
    assert refused.value.code == 2 and "--held-out: must be from 0.02 to 0.5" in capsys.readouterr().err
