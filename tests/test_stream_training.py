"""Training on streamed windows (vqstudio.data.stream): a folder of EDF files trains from the
project's window cache, the batches are the in-memory batches, and two processes each read
their own share and follow one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import tiny_cli_args, write_input

from vqstudio.cli import main
from vqstudio.data.prep import PrepConfig, prepare
from vqstudio.events import run_to_end
from vqstudio.io import read_recording
from vqstudio.project import Project
from vqstudio.project.windows import prepare_from_project
from vqstudio.training import TrainSettings, train
from vqstudio.training.batches import WindowBatches

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    """A folder of five small EDF files (and a note beside them, which is no recording)."""
    path = tmp_path_factory.mktemp("recordings")
    for i in range(5):
        write_input(path, f"s{i:02d}", seconds=20.0 + 4 * i)
    (path / "README.txt").write_text("recordings of the test\n")
    return str(path)


def test_streamed_batches_are_the_in_memory_batches(folder):
    recs = [read_recording(os.path.join(folder, f"s{i:02d}.edf")) for i in range(5)]
    config = PrepConfig(window_s=2.0)
    memory, streamed = prepare(recs, config), prepare(recs, PrepConfig(window_s=2.0, stream=True))
    draws = []
    for prepared in (memory, streamed):
        batches = WindowBatches(
            prepared.train, prepared.window, torch.device("cpu"), torch.Generator().manual_seed(5)
        )
        draws.append([batches.batch(6) for _ in range(3)])
    # The split stays on disk: no tensor of the signal is made.
    on_disk = WindowBatches(streamed.train, streamed.window, torch.device("cpu"), torch.Generator())
    assert on_disk.data is None and isinstance(on_disk.disk.data, np.memmap)
    for a, b in zip(*draws, strict=True):
        assert torch.equal(a, b)


def test_each_rank_reads_only_the_windows_of_its_share(folder, monkeypatch):
    from vqstudio import distributed
    from vqstudio.training import batches as batches_module

    recs = [read_recording(os.path.join(folder, f"s{i:02d}.edf")) for i in range(2)]
    streamed = prepare(recs, PrepConfig(window_s=2.0, stream=True))
    read, real = [], batches_module.gather_windows

    def counted(data, rows, window, file=None):
        read.append(len(rows))
        return real(data, rows, window, file)

    monkeypatch.setattr(batches_module, "gather_windows", counted)

    def batch(n: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(3)
        return WindowBatches(streamed.train, streamed.window, torch.device("cpu"), gen).batch(n)

    whole = batch(8)  # one process, batch 8
    monkeypatch.setattr(distributed, "_world", distributed.World(rank=1, size=2))
    share = batch(4)  # rank 1 of 2, batch 4 each: the second half of the same 8, and only those read
    assert read == [8, 4] and torch.equal(share, whole[4:])


def test_a_folder_trains_streamed_and_the_project_keeps_its_cache(folder, tmp_path, capsys):
    project = str(tmp_path / "P")
    assert main(["train", folder, "--project", project, "--stream", *tiny_cli_args()]) == 0
    record = Project.open(project).record
    assert [os.path.basename(s.path) for s in record.data.sources] == [f"s{i:02d}.edf" for i in range(5)]
    with open(os.path.join(project, "project.json"), encoding="utf-8") as f:
        assert json.load(f)["prep"]["stream"] is True
    (cache,) = os.listdir(os.path.join(project, "cache"))
    files = sorted(os.listdir(os.path.join(project, "cache", cache)))
    assert files == ["meta.json", "train.npy", "val.npy"]
    # Evaluation and resume read the same cache again (not rewritten), with the stored statistics.
    train_npy = os.path.join(project, "cache", cache, "train.npy")
    written = os.stat(train_npy).st_mtime_ns
    prepared = prepare_from_project(project)
    assert isinstance(prepared.train.data, np.memmap) and os.stat(train_npy).st_mtime_ns == written
    assert len(prepared.train) == record.data.split.train_windows
    assert (
        main(["train", "--project", project, "--resume", "--tokenizer-steps", "6", "--prior-steps", "0"]) == 0
    )
    assert os.stat(train_npy).st_mtime_ns == written


def test_an_empty_folder_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), "--project", str(tmp_path / "P")]) == 2
    assert "holds no recordings" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "P")


def test_a_failed_streamed_run_leaves_no_cache_behind(folder, tmp_path, monkeypatch):
    from vqstudio.errors import LimitError
    from vqstudio.training import job

    project = str(tmp_path / "P")
    seen = []

    def refuse(prepared, settings, device):  # bad input found once the windows are streamed
        seen.append(os.listdir(os.path.join(project, "cache")))
        raise LimitError("refused by the test")

    monkeypatch.setattr(job, "_check_models_fit", refuse)
    settings = TrainSettings(
        inputs=(os.path.join(folder, "s00.edf"),), window_s=2.0, stream=True, device="cpu"
    )
    with pytest.raises(LimitError, match="refused by the test"):
        run_to_end(train(settings, project, threading.Event()))
    assert seen and seen[0]  # the cache was there
    assert not os.path.exists(project)  # and is gone with the folder the run made


@pytest.mark.slow  # starts Python and torch in three processes
def test_two_streamed_processes_follow_one_in_memory_and_only_rank_0_writes_the_cache(folder, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_distributed import LAUNCH, WORKER, assert_follows, curve, env, one_process

    inputs = [os.path.join(folder, f"s{i:02d}.edf") for i in range(3)]
    one = str(tmp_path / "one" / "P")
    one_process({"inputs": inputs, "project": one, "batch_size": 8, "tokenizer_steps": 8, "prior_steps": 0})
    two = str(tmp_path / "two" / "P")
    spec = {"inputs": inputs, "project": two, "batch_size": 4, "tokenizer_steps": 8, "constant_lr": True}
    run = subprocess.run(
        [*LAUNCH, WORKER, json.dumps({**spec, "stream": True, "audit": True})],
        env={**env(), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert_follows(curve(two, "tokenizer", "total"), curve(one, "tokenizer", "total"), range(1, 9))
    assert not os.path.exists(two + ".rank1.writes"), Path(two + ".rank1.writes").read_text()
    assert os.listdir(os.path.join(two, "cache"))
