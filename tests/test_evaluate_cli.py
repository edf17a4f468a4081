"""`vqstudio evaluate` and `vqstudio demo` end to end on a tiny project (one trained model)."""

import json
import os
from pathlib import Path

import numpy as np
import pyedflib
import pytest

from vqstudio.cli import main
from vqstudio.data.simulate import simulate
from vqstudio.io import write_recording


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project trained on 2 minutes of the demo recording, and 40 s generated from it."""
    root = tmp_path_factory.mktemp("evaluate")
    rec = simulate(seconds=120, seed=3).select(["Fp1", "O1", "ECG"])
    src = str(root / "demo.edf")
    write_recording(rec, src)
    proj = str(root / "proj")
    args = ["train", src, "--project", proj, "--window", "2", "--tokenizer-steps", "20"]
    assert main([*args, "--prior-steps", "20", "--device", "cpu", "--preset", "small"]) == 0
    synth = str(root / "synth.edf")
    assert main(["generate", proj, "--seconds", "40", "--out", synth, "--device", "cpu", "--steps", "5"]) == 0
    return root, proj, src, synth


def test_evaluate_writes_report_and_plots(project, capsys):
    root, proj, _, synth = project
    report, plots = str(root / "r.json"), str(root / "plots")
    assert (
        main(["evaluate", proj, "--synthetic", synth, "--json", report, "--plots", plots, "--references"])
        == 0
    )
    out = capsys.readouterr().out
    assert "PSD log-spectral distance" in out and "surrogate" in out
    # One table: every metric beside held-out real, reconstruction and surrogate.
    header = out.splitlines()[0].split()
    assert header[1:6] == ["synthetic", "held-out", "real", "reconstruction", "surrogate"]
    assert "Real-vs-synthetic accuracy, 1D CNN" in out and "50 % = indistinguishable" in out
    data = json.loads(Path(report).read_text())
    assert data["channels"] == ["Fp1", "O1", "ECG"]
    assert data["windows"]["synthetic"] == 39  # 40 s in 2 s windows every 1 s
    assert data["window_hop_s"] == 1.0
    assert data["metrics"]["psd_lsd"]["value"] > 0
    assert set(data["references"]) == {"held_out_half", "reconstruction", "surrogate"}
    recon = data["references"]["reconstruction"]
    assert recon["windows"]["synthetic"] == recon["windows"]["real"] == data["windows"]["real"]
    assert recon["metrics"]["cnn_accuracy"]["value"] is not None
    assert sorted(os.listdir(plots)) == ["examples.png", "nearest_neighbours.png", "psd.png"]


def test_evaluate_flags_training_copies(project, tmp_path):
    """A 'synthetic' file that is the training recording itself is flagged as memorized."""
    _, proj, src, _ = project
    report = str(tmp_path / "copy.json")
    assert main(["evaluate", proj, "--synthetic", src, "--json", report, "--plots", str(tmp_path)]) == 0
    assert json.loads(Path(report).read_text())["memorization_flag"] is True


def test_a_61_second_recording_evaluates(tmp_path, capsys):
    """Default 4 s windows on a 61 s recording: 6.1 s held out gives 2 overlapping windows; the
    evaluation runs, and says what it cannot judge from so little instead of failing."""
    src = str(tmp_path / "short.edf")
    write_recording(simulate(seconds=61, seed=4).select(["Fp1", "O1"]), src)
    proj = str(tmp_path / "proj")
    args = ["train", src, "--project", proj, "--tokenizer-steps", "5", "--prior-steps", "0"]
    assert main([*args, "--device", "cpu", "--preset", "small"]) == 0
    other = str(tmp_path / "other.edf")
    write_recording(simulate(seconds=30, seed=9).select(["Fp1", "O1"]), other)
    report = str(tmp_path / "r.json")
    assert (
        main(["evaluate", proj, "--synthetic", other, "--json", report, "--plots", str(tmp_path / "p")]) == 0
    )
    data = json.loads(Path(report).read_text())
    assert data["windows"]["real"] == 2
    assert data["memorization_verdict"] == "not enough held-out data"
    assert "at least 4 windows" in data["metrics"]["cnn_accuracy"]["details"]["skipped"]
    assert "reconstruction" in data["references"]
    assert "too few to split" in data["reference_notes"]["held_out_half"]
    assert "n/a[" in capsys.readouterr().out


def test_evaluate_refuses_foreign_channels(project, tmp_path, capsys):
    _, proj, _, _ = project
    other = str(tmp_path / "other.edf")
    write_recording(simulate(seconds=20).select(["C3"]), other)
    assert main(["evaluate", proj, "--synthetic", other, "--json", str(tmp_path / "x.json")]) == 2
    assert "no channel" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.json")


def test_generated_edf_carries_the_synthetic_mark(project):
    _, _, _, synth = project
    with pyedflib.EdfReader(synth) as r:
        texts = list(r.readAnnotations()[2])
        assert [s.strip() for s in r.getSignalLabels()] == ["Fp1", "O1", "ECG"]
        assert np.isfinite(r.readSignal(0)).all()
    assert texts[0] == "VQ Studio synthetic"


def _exit_code(argv: list[str]) -> int:
    """Exit code of `vqstudio ARGV` in this process (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


def test_band_keeps_a_stop_band_out_of_the_psd_distance(project, tmp_path, capsys):
    """'Synthetic' = the real recording low-passed at 20 Hz: the same spectrum below, nothing
    above. From 0.5 Hz to Nyquist the empty stop band dominates the distance; with --band 0.5,15
    it is near 0, for the synthetic set and every reference alike, and the band is in the JSON
    and the table."""
    from scipy.signal import butter, sosfiltfilt

    from vqstudio.recording import Recording

    _, proj, _, _ = project
    rec = simulate(seconds=60, seed=5).select(["Fp1", "O1", "ECG"])
    real, low = str(tmp_path / "real.edf"), str(tmp_path / "low.edf")
    write_recording(rec, real)
    rate = rec.rates[0]
    filtered = sosfiltfilt(butter(8, 20.0, fs=rate, output="sos"), rec.to_array(), axis=1)
    units = [c.unit for c in rec.channels]
    write_recording(Recording.from_array(filtered.astype(np.float32), rate, rec.labels, units), low)
    base = ["evaluate", proj, "--real", real, "--synthetic", low, "--plots", str(tmp_path / "p")]
    full, banded = str(tmp_path / "full.json"), str(tmp_path / "band.json")
    assert main([*base, "--json", full, "--no-references"]) == 0
    capsys.readouterr()
    assert main([*base, "--json", banded, "--band", "0.5,15"]) == 0
    out = capsys.readouterr().out
    assert "PSD log-spectral distance (0.5-15 Hz)" in out
    whole = json.loads(Path(full).read_text())
    data = json.loads(Path(banded).read_text())
    nyquist = data["rate_hz"] / 2
    assert whole["psd_band_hz"] == [0.5, nyquist]
    assert data["psd_band_hz"] == [0.5, 15.0]
    wide, narrow = whole["metrics"]["psd_lsd"]["value"], data["metrics"]["psd_lsd"]["value"]
    assert narrow < 1.0 and wide > 5 * narrow, (narrow, wide)
    assert data["metrics"]["psd_lsd"]["details"]["band_hz"] == [0.5, 15.0]
    assert set(data["references"]) == {"held_out_half", "reconstruction", "surrogate"}
    for name, ref in data["references"].items():
        assert ref["metrics"]["psd_lsd"]["details"]["band_hz"] == [0.5, 15.0], name


@pytest.mark.parametrize(
    ("band", "says"),
    [("45", "LO,HI"), ("a,45", "not a number"), ("-1,45", "0 or more"), ("45,10", "HI must be above LO")],
)
def test_a_bad_band_is_refused_by_the_parser(band, says, capsys):
    # --band=... so that argparse reads "-1,45" as the option's value, not as an option.
    assert _exit_code(["evaluate", "proj", "--synthetic", "s.edf", f"--band={band}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--band" in err and says in err


def test_a_band_starting_above_nyquist_is_refused_before_evaluating(project, tmp_path, capsys):
    _, proj, _, synth = project
    report = str(tmp_path / "r.json")
    args = ["evaluate", proj, "--synthetic", synth, "--json", report, "--band", "5000,6000"]
    assert _exit_code(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Nyquist" in err and "5000 Hz" in err
    assert not os.path.exists(report)
