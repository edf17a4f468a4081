"""End to end with the real tokenizer: train both stages briefly, generate through the engine
job and the `vqstudio generate` command, export to EDF/BDF/CSV/.npy and read it back."""

from __future__ import annotations

import json
import threading

import numpy as np
import pyedflib
import pytest
import torch

from vqstudio.cli import main
from vqstudio.events import Progress, SamplePreview, run_to_end
from vqstudio.generation.sampling import GenerateSettings, generate
from vqstudio.io import write_recording
from vqstudio.recording import Recording
from vqstudio.training import TrainSettings, train

RATE = 64.0


def _write_input(folder, name: str, hz: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    t = np.arange(int(40 * RATE)) / RATE
    x = np.stack([30 * np.sin(2 * np.pi * hz * t), 15 * np.cos(2 * np.pi * hz * t)]) + rng.normal(
        0, 2, (2, t.size)
    )
    path = str(folder / f"{name}.edf")
    write_recording(Recording.from_array(x, RATE, ["C3", "C4"], "uV"), path)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A conditional diffusion project (labels from file names), trained for a few steps."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("gen")
    inputs = (_write_input(folder, "slow", 4.0, 1), _write_input(folder, "fast", 12.0, 2))
    settings = TrainSettings(
        inputs=inputs,
        window_s=2.0,
        tokenizer_steps=20,
        prior_steps=20,
        labels="files",
        device="cpu",
        threads=1,
        seed=0,
        val_every=10,
    )
    result = run_to_end(train(settings, str(folder / "project"), threading.Event()))
    assert result.prior_step == 20
    yield str(folder / "project")
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """The command uses every core; on the shared 2-core test machine one thread is faster."""
    import vqstudio.device

    monkeypatch.setattr(vqstudio.device, "set_threads", lambda threads=None: torch.set_num_threads(1) or 1)


def _edf(path: str) -> tuple[list[str], float, list[str], np.ndarray, float]:
    with pyedflib.EdfReader(path) as r:
        labels = [s.strip() for s in r.getSignalLabels()]
        data = np.stack([r.readSignal(i) for i in range(r.signals_in_file)])
        return labels, r.getFileDuration(), list(r.readAnnotations()[2]), data, r.getSampleFrequency(0)


def test_edf_export_round_trips_with_the_synthetic_annotation(project, tmp_path, capsys):
    out = tmp_path / "synth.edf"
    code = main(["generate", project, "--seconds", "6", "--count", "2", "--label", "slow", "--seed", "1",
                 "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "signal-seconds per second" in printed
    for i in (1, 2):
        path = tmp_path / f"synth_{i}.edf"
        assert str(path) in printed
        labels, duration, texts, data, rate = _edf(str(path))
        assert labels == ["C3", "C4"] and rate == RATE and abs(duration - 6) < 1e-6
        assert any("synthetic" in t.lower() for t in texts), texts
        assert "slow" in texts
        assert data.shape == (2, 6 * int(RATE)) and np.isfinite(data).all() and data.std() > 0
    assert not out.exists()  # count 2: numbered files only


def test_npy_batch_is_reproducible(project, tmp_path):
    a, b, c = (tmp_path / n for n in ("a.npy", "b.npy", "c.npy"))
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        args = ["generate", project, "--seconds", "5", "--count", "3", "--seed", seed, "--out", str(path)]
        assert main([*args, "--device", "cpu"]) == 0
    x = np.load(a, allow_pickle=False)
    assert x.shape == (3, 2, 5 * int(RATE)) and x.dtype == np.float32
    assert np.array_equal(x, np.load(b, allow_pickle=False))
    assert not np.array_equal(x, np.load(c, allow_pickle=False))
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["labels"] == ["C3", "C4"] and meta["rate"] == RATE
    texts = [item["text"] for item in meta["annotations"][0]]
    assert any("synthetic" in t.lower() for t in texts)
    assert any(t in ("slow", "fast") for t in texts)  # a conditional prior draws a label


def test_one_bdf_and_one_csv(project, tmp_path):
    for name in ("one.bdf", "one.csv"):
        assert (
            main(["generate", project, "--seconds", "3", "--out", str(tmp_path / name), "--device", "cpu"])
            == 0
        )
        assert (tmp_path / name).exists()
    with pyedflib.EdfReader(str(tmp_path / "one.bdf")) as r:
        assert r.getFileDuration() == 3 and r.signals_in_file == 2


def test_job_events_labels_in_proportion_and_stop(project):
    job = generate(project, GenerateSettings(seconds=4, count=8, seed=5, device="cpu", threads=1))
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            recordings = done.value
            break
    assert any(isinstance(e, Progress) and e.stage == "generate" for e in events)
    preview = next(e for e in events if isinstance(e, SamplePreview))
    assert preview.samples.shape == (2, 2 * int(RATE)) and preview.label in ("slow", "fast")  # one window
    assert len(recordings) == 8
    rec = recordings[0]
    assert rec.synthetic and rec.labels == ["C3", "C4"] and rec.channels[0].unit == "uV"
    assert rec.channels[0].rate == RATE and rec.to_array().shape == (2, 4 * int(RATE))
    drawn = {a.text for r in recordings for a in r.annotations if a.text in ("slow", "fast")}
    assert drawn  # labels drawn in training proportions (equal here: both appear at 8 draws)
    # Each channel states its source's physical range, even where samples go beyond it: the EDF
    # writer widens the range then (never clips) and says so in a note.
    with open(f"{project}/project.json") as f:
        stated = [(c["physical_min"], c["physical_max"]) for c in json.load(f)["data"]["channels"]]
    for r in recordings:
        assert [(ch.physical_min, ch.physical_max) for ch in r.channels] == stated
    stop = threading.Event()
    stop.set()
    assert run_to_end(generate(project, GenerateSettings(seconds=30, device="cpu", threads=1), stop)) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--seconds", "2", "--label", "nope"],
        ["--seconds", "2", "--out-ext", ".wav"],
        ["--seconds", "0"],
        ["--seconds", "2", "--count", "0"],
        ["--seconds", "2", "--steps", "0"],
    ],
)
def test_bad_requests_exit_2(project, tmp_path, capsys, args):
    out = str(tmp_path / ("x.wav" if "--out-ext" in args else "x.edf"))
    args = [a for a in args if a not in ("--out-ext", ".wav")]
    with pytest.raises(SystemExit) as exit_info:
        code = main(["generate", project, *args, "--out", out, "--device", "cpu"])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err


def test_missing_project_exits_2(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "none"), "--seconds", "2", "--out", str(tmp_path / "x.edf")]) == 2
    assert "no project" in capsys.readouterr().err
