"""The working rate (issue 11, item 4): chosen from the spectrum, resampled back and filled on
generation, overridden by --resample, and absent from projects stored before it."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfiltfilt
from tiny import record_for

from vqstudio.data import working_rate as wr
from vqstudio.data.prep import PrepConfig, prepare
from vqstudio.events import run_to_end
from vqstudio.generation.sampling import GenerateSettings, generate
from vqstudio.io import write_recording
from vqstudio.project import Project
from vqstudio.project.windows import prepare_from_project
from vqstudio.recording import Recording
from vqstudio.training import TrainSettings, train


def _lowpassed(rate: float, cutoff: float, seconds: float, channels: int = 3, seed: int = 0) -> np.ndarray:
    """White noise low-passed (8th-order Butterworth, zero phase) plus a faint broadband floor."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((channels, int(seconds * rate)))
    x = sosfiltfilt(butter(8, cutoff, fs=rate, output="sos"), w, axis=-1)
    return (x + 1e-3 * rng.standard_normal(x.shape)).astype(np.float32)


def test_band_limited_signal_gets_a_low_working_rate():
    choice = wr.choose_working_rate([_lowpassed(500.0, 40.0, 120)], 500.0)
    assert 100.0 <= choice["rate"] <= 128.0
    assert choice["output_rate"] == 500.0
    assert 30.0 < choice["f_keep"] < 50.0
    fill = choice["fill"]
    assert len(fill["edges"]) == wr.FILL_BINS + 1 and np.shape(fill["psd"]) == (3, wr.FILL_BINS)


def test_a_mains_line_does_not_set_the_band():
    x = _lowpassed(500.0, 40.0, 120)
    t = np.arange(x.shape[1]) / 500.0
    with_line = x + 3.0 * np.sin(2 * np.pi * 50.0 * t)[None, :].astype(np.float32)
    assert wr.choose_working_rate([with_line], 500.0)["rate"] == wr.choose_working_rate([x], 500.0)["rate"]


def test_broadband_white_noise_keeps_the_source_rate():
    w = np.random.default_rng(1).standard_normal((2, 500 * 60)).astype(np.float32)
    choice = wr.choose_working_rate([w], 500.0)
    assert choice["rate"] == 500.0 and choice["fill"] is None


def test_fill_makes_the_spectrum_whole_above_f_keep():
    """A perfect model at the working rate, resampled back and filled, has the source's PSD
    above f_keep within 2 dB (Welch bands of 5 Hz, up to just below Nyquist)."""
    rate = 500.0
    x = _lowpassed(rate, 40.0, 200, channels=2, seed=3)
    # a source whose band above f_keep holds real (coloured) power, not only the floor
    rng = np.random.default_rng(4)
    hf = sosfiltfilt(butter(2, 120.0, fs=rate, output="sos"), rng.standard_normal(x.shape), axis=-1)
    x = x + (0.03 * hf).astype(np.float32)
    choice = wr.choose_working_rate([x], rate)
    work = choice["rate"]
    assert work < rate
    y = wr.resample(wr.resample(x, rate, work), work, rate)[:, : x.shape[1]]
    y = wr.add_fill(np.ascontiguousarray(y), choice["fill"], rate, work, seed=7)
    f, p_real = wr.welch_psd(x, rate)
    _, p_out = wr.welch_psd(y, rate)
    _, p_nofill = wr.welch_psd(wr.resample(wr.resample(x, rate, work), work, rate), rate)
    for lo in np.arange(np.ceil(choice["f_keep"]), rate / 2 - 10, 5.0):
        band = (f >= lo) & (f < lo + 5)
        db = 10 * np.log10(p_out[:, band].mean(axis=1) / p_real[:, band].mean(axis=1))
        assert np.all(np.abs(db) < 2.0), (lo, db)
    # without the fill the band above the working Nyquist is empty
    top = f > work / 2 + 10
    assert np.all(p_nofill[:, top].mean(axis=1) < 0.01 * p_real[:, top].mean(axis=1))


def test_fill_is_deterministic_per_seed_and_index():
    fill = wr.choose_working_rate([_lowpassed(500.0, 40.0, 60)], 500.0)
    a = wr.add_fill(np.zeros((3, 1000), np.float32), fill["fill"], 500.0, fill["rate"], seed=1, index=2)
    b = wr.add_fill(np.zeros((3, 1000), np.float32), fill["fill"], 500.0, fill["rate"], seed=1, index=2)
    c = wr.add_fill(np.zeros((3, 1000), np.float32), fill["fill"], 500.0, fill["rate"], seed=1, index=3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _recording(rate: float = 256.0, cutoff: float = 20.0, seconds: float = 60.0) -> Recording:
    return Recording.from_array(_lowpassed(rate, cutoff, seconds, channels=2) * 20, rate, ["C3", "C4"], "uV")


def test_resample_overrides_and_old_configs_keep_their_rate():
    rec = _recording()
    chosen = prepare([rec], PrepConfig(working_rate=True, window_s=1.0))
    assert chosen.rate == 64.0 and chosen.output_rate == 256.0
    data = record_for(chosen).data.to_json()  # what project.json will say
    assert data["output_rate"] == 256.0 and data["working_rate"]["fill"]
    forced = prepare([rec], PrepConfig(working_rate=True, resample=128.0, window_s=1.0))
    assert forced.rate == 128.0 and forced.output_rate is None
    assert "output_rate" not in record_for(forced).data.to_json()
    old = PrepConfig.from_json({k: v for k, v in PrepConfig().to_json().items() if k != "working_rate"})
    assert old.working_rate is False and prepare([rec], old).rate == 256.0
    assert TrainSettings().prep.working_rate is True
    assert TrainSettings(resample=200.0).prep.resample == 200.0


def _train(folder, **prep: object) -> str:
    path = str(folder / "in.edf")
    write_recording(_recording(), path)
    settings = TrainSettings(
        inputs=(path,),
        window_s=1.0,
        tokenizer_steps=4,
        prior_steps=4,
        device="cpu",
        threads=1,
        seed=0,
        **prep,
    )
    run_to_end(train(settings, str(folder / "project"), threading.Event()))
    return str(folder / "project")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project trained a few steps on 256 Hz data low-passed at 20 Hz (working rate 64 Hz)."""
    before = torch.get_num_threads()
    yield _train(tmp_path_factory.mktemp("wr"))
    torch.set_num_threads(before)


def test_generate_gives_seconds_times_the_output_rate(project, tmp_path):
    p = Project.open(project)
    assert p.rate == 64.0 and p.output_rate == 256.0 and p.fill
    s = GenerateSettings(seconds=3.5, count=2, seed=5, device="cpu", as_array=True)
    a = run_to_end(generate(project, s))
    assert a.shape == (2, 2, round(3.5 * 256))
    assert np.array_equal(a, run_to_end(generate(project, s)))
    recs = run_to_end(generate(project, GenerateSettings(seconds=2.0, device="cpu")))
    assert recs[0].channels[0].rate == 256.0 and recs[0].channels[0].n_samples == 512
    # the resumed data is rebuilt at the stored working rate
    assert prepare_from_project(project).rate == 64.0


def test_old_project_json_opens_resumes_and_generates_at_its_stored_rate(tmp_path):
    """A project.json from before the working rate: no `working_rate` in prep or settings, no
    `output_rate`; it trained at the source rate and keeps it."""
    before = torch.get_num_threads()
    old = _train(tmp_path, working_rate=False)
    torch.set_num_threads(before)
    meta_path = os.path.join(old, "project.json")
    with open(meta_path) as f:
        meta = json.load(f)
    assert "output_rate" not in meta["data"] and "working_rate" not in meta["data"]
    meta["prep"].pop("working_rate")
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    p = Project.open(old)
    assert p.output_rate == p.rate == 256.0 and p.fill is None
    a = run_to_end(generate(old, GenerateSettings(seconds=2.0, device="cpu", as_array=True)))
    assert a.shape == (1, 2, 512)
    assert prepare_from_project(old).rate == 256.0
    result = run_to_end(
        train(TrainSettings(tokenizer_steps=6, device="cpu", threads=1), old, threading.Event(), resume=True)
    )
    assert result.tokenizer_step == 6 and Project.open(old).rate == 256.0
