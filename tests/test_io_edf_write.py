"""EDF+/BDF+ writer: round trips through our reader, pyedflib and MNE; ranges, text fields, notes."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import mne
import numpy as np
import pyedflib
import pytest

from vqstudio.errors import OutputError
from vqstudio.io import read_recording, write_recording
from vqstudio.io.edf_read import EdfHeader
from vqstudio.io.edf_write import choose_record_duration, physical_range
from vqstudio.recording import SYNTHETIC_MARK, Annotation, Channel, Recording

DIGITAL_STEPS = {".edf": 65535, ".bdf": (1 << 24) - 1}


def psg(seconds: int = 30, seed: int = 0) -> Recording:
    """A small PSG-like recording: EEG at 100 Hz beside 1 Hz and 0.5 Hz channels, with annotations."""
    rng = np.random.default_rng(seed)
    chans = [
        Channel.from_samples(
            "EEG Fpz-Cz", rng.standard_normal(100 * seconds) * 30, 100, "µV", prefilter="HP:0.3Hz"
        ),
        Channel.from_samples("EEG Pz-Oz", rng.standard_normal(100 * seconds) * 20, 100, "µV"),
        Channel.from_samples("SpO2", 95 + rng.standard_normal(seconds), 1, "%", transducer="finger clip"),
        Channel.from_samples("Resp belt", rng.standard_normal(seconds // 2), 0.5, "mV"),
    ]
    notes = [
        Annotation(0.0, 30.0, "Sleep stage W"),
        Annotation(12.5, 1.5, "arousal"),
        Annotation(20, 0, "µ event"),
    ]
    return Recording(chans, notes, patient="MCH-0234567 F 02-MAY-1951 Haagse_Harry")


def step(ch: Channel, ext: str) -> float:
    return (ch.physical_max - ch.physical_min) / DIGITAL_STEPS[ext]


def assert_within_step(written: Channel, read: Channel, ext: str) -> None:
    x = written.samples.astype(np.float64)
    y = read.samples[: x.size].astype(np.float64)
    tol = step(read, ext) + np.abs(x) * 2.0**-23  # one quantization step (+ float32 rounding)
    assert np.all(np.abs(x - y) <= tol), f"{written.name}: max error {np.abs(x - y).max()}"


@pytest.mark.parametrize("ext", [".edf", ".bdf"])
def test_round_trip_mixed_rates_through_our_reader(tmp_path, ext):
    rec = psg()
    out = str(tmp_path / f"psg{ext}")
    report = write_recording(rec, out)
    assert report.path == out and os.path.exists(out)
    back = read_recording(out)
    assert back.source.format == ("EDF+C" if ext == ".edf" else "BDF+C")
    assert [c.label for c in back.channels] == [c.label for c in rec.channels]
    assert [c.rate for c in back.channels] == [100.0, 100.0, 1.0, 0.5]
    assert [c.unit for c in back.channels] == ["uV", "uV", "%", "mV"]  # made ASCII
    assert back.channels[0].prefilter == "HP:0.3Hz" and back.channels[2].transducer == "finger clip"
    assert [(a.onset, a.duration, a.text) for a in back.annotations] == [
        (0.0, 30.0, "Sleep stage W"),
        (12.5, 1.5, "arousal"),
        (20.0, 0.0, "µ event"),
    ]
    for a, b in zip(rec.channels, back.channels, strict=True):
        assert b.n_samples == a.n_samples
        assert_within_step(a, b, ext)


@pytest.mark.parametrize("ext", [".edf", ".bdf"])
def test_round_trip_read_by_pyedflib(tmp_path, ext):
    rec = psg()
    out = str(tmp_path / f"psg{ext}")
    write_recording(rec, out)
    with pyedflib.EdfReader(out) as r:
        assert [s.strip() for s in r.getSignalLabels()] == [c.label for c in rec.channels]
        assert list(r.getSampleFrequencies()) == [100.0, 100.0, 1.0, 0.5]
        assert [r.getPhysicalDimension(i).strip() for i in range(4)] == ["uV", "uV", "%", "mV"]
        onsets, _, texts = r.readAnnotations()
        assert list(texts) == ["Sleep stage W", "arousal", "µ event"]
        assert list(onsets) == [0.0, 12.5, 20.0]
        for i, c in enumerate(rec.channels):
            got = r.readSignal(i)
            pstep = (r.getPhysicalMaximum(i) - r.getPhysicalMinimum(i)) / DIGITAL_STEPS[ext]
            assert (
                np.abs(got[: c.n_samples] - c.samples).max()
                <= pstep * 1.001 + np.abs(c.samples).max() * 2**-23
            )
        # anonymised by default: EDF+'s "X" for the patient
        assert r.getPatientName() in ("", "X") and r.getPatientCode() in ("", "X")


@pytest.mark.parametrize("ext", [".edf", ".bdf"])
def test_round_trip_read_by_mne(tmp_path, ext):
    rec = psg()
    out = str(tmp_path / f"psg{ext}")
    write_recording(rec, out)
    reader = mne.io.read_raw_edf if ext == ".edf" else mne.io.read_raw_bdf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MNE warns that it upsamples the slow channels
        raw = reader(out, verbose=False, preload=True)
    assert raw.ch_names == [c.label for c in rec.channels]
    assert raw.info["sfreq"] == 100.0
    assert raw._orig_units["EEG Fpz-Cz"] in ("uV", "µV") and raw._orig_units["Resp belt"] == "mV"
    assert list(raw.annotations.description) == ["Sleep stage W", "arousal", "µ event"]
    assert np.allclose(raw.annotations.onset, [0.0, 12.5, 20.0])
    assert np.allclose(raw.annotations.duration, [30.0, 1.5, 0.0])
    back = read_recording(out)
    eeg = raw.get_data(picks=[0])[0] * 1e6  # MNE gives volts
    assert np.abs(eeg - rec.channels[0].samples).max() <= step(back.channels[0], ext) * 1.001 + 1e-4


def test_one_rate_recording_read_by_mne_values(tmp_path):
    rng = np.random.default_rng(3)
    rec = Recording.from_array(rng.standard_normal((3, 2560)) * 40, 256, ["Fp1", "Fp2", "Cz"], "uV")
    rec.annotations = [Annotation(1.0, 0.5, "blink")]
    out = str(tmp_path / "one.edf")
    write_recording(rec, out)
    raw = mne.io.read_raw_edf(out, verbose=False, preload=True)
    assert raw.info["sfreq"] == 256.0 and raw.n_times == 2560
    back = read_recording(out)
    got = raw.get_data() * 1e6
    for i, c in enumerate(back.channels):
        assert np.abs(got[i] - rec.channels[i].samples).max() <= step(c, ".edf") * 1.001 + 1e-4


def test_source_range_kept_when_samples_fit(tmp_path):
    x = np.linspace(-100, 100, 512)
    ch = Channel.from_samples("EEG", x, 256, "uV", physical_range=(-200.0, 200.0))
    out = str(tmp_path / "keep.edf")
    report = write_recording(Recording([ch]), out)
    back = read_recording(out).channels[0]
    assert (back.physical_min, back.physical_max) == (-200.0, 200.0)
    assert not any("widened" in n for n in report.notes)


def test_range_widened_never_clips_and_is_noted(tmp_path):
    x = np.concatenate([np.zeros(255), [1234.56789]])  # beyond the channel's stated range
    ch = Channel.from_samples("EEG", x, 256, "uV", physical_range=(-100.0, 100.0))
    out = str(tmp_path / "wide.edf")
    report = write_recording(Recording([ch]), out)
    assert any("widened" in n and "EEG" in n for n in report.notes)
    back = read_recording(out).channels[0]
    assert back.physical_max >= 1234.56789 and back.physical_min <= 0
    assert abs(back.samples.max() - 1234.56789) <= step(back, ".edf") + 1e-3


@pytest.mark.parametrize(
    "lo, hi",
    [(0.30000001, 0.30000002), (-123456.789, 98765.4321), (1e-9, 2e-9), (-9999998.5, 99999990.0), (5.0, 5.0)],
)
def test_physical_range_fits_eight_characters_outward(lo, hi):
    ch = Channel.from_samples("x", np.array([lo, hi]), 1)
    ch.physical_min = ch.physical_max = float("nan")
    a, b, how = physical_range(ch, np.array([lo, hi]))
    assert how == "data" and len(a) <= 8 and len(b) <= 8
    assert float(a) <= lo and float(b) >= hi and float(a) < float(b)


def test_values_too_large_for_the_field_are_refused(tmp_path):
    ch = Channel.from_samples("big", np.array([0.0, 5e8]), 1, "uV")
    out = str(tmp_path / "big.edf")
    with pytest.raises(OutputError, match="too large for the 8-character"):
        write_recording(Recording([ch]), out)
    assert os.listdir(tmp_path) == []


def test_record_duration_choice():
    assert choose_record_duration([100.0, 1.0], 2) == 1
    assert choose_record_duration([100.0, 0.5], 2) == 2
    assert choose_record_duration([1 / 30], 2) == 30
    assert choose_record_duration([128.5], 2) == 2
    # 64 channels at 1 kHz would make 128 kB records; a shorter record keeps them under 61440 bytes
    assert choose_record_duration([1000.0] * 64, 2) < 1
    with pytest.raises(ValueError):
        choose_record_duration([1 / 61], 2)


def test_pad_and_trim_are_reported(tmp_path):
    ch = Channel.from_samples("EEG", np.arange(250, dtype=float), 100, "uV")  # 2.5 s
    rec = Recording([ch])
    padded = write_recording(rec, str(tmp_path / "pad.edf"))
    assert any("padded 0.5 s" in n for n in padded.notes)
    back = read_recording(str(tmp_path / "pad.edf")).channels[0]
    assert back.n_samples == 300 and np.allclose(
        back.samples[250:], back.samples[249], atol=step(back, ".edf")
    )
    trimmed = write_recording(rec, str(tmp_path / "trim.edf"), fit="trim")
    assert any("trimmed 0.5 s" in n for n in trimmed.notes)
    assert read_recording(str(tmp_path / "trim.edf")).channels[0].n_samples == 200
    with pytest.raises(OutputError):
        write_recording(rec, str(tmp_path / "x.edf"), fit="stretch")


def test_header_text_ascii_and_cut_to_field_lengths(tmp_path):
    long_label = "EEG Fp1-Referenz-Ohr-links"  # 26 characters
    ch = Channel.from_samples(
        long_label, np.zeros(100), 100, "µV/m²", transducer="Ag/AgCl-é" * 10, prefilter="HP" * 50
    )
    out = str(tmp_path / "text.edf")
    report = write_recording(Recording([ch]), out)
    header = EdfHeader.parse(out)
    s = header.signals[0]
    assert s.label == long_label[:16] and s.unit == "uV/m2"
    assert len(s.transducer) == 80 and s.transducer.isascii() and len(s.prefilter) == 80
    assert any("16 ASCII characters" in n for n in report.notes)
    with open(out, "rb") as f:
        f.read(header.header_bytes).decode("ascii")  # the whole header is ASCII


def test_patient_fields_anonymised_by_default_and_kept_on_request(tmp_path):
    rec = psg()
    write_recording(rec, str(tmp_path / "anon.edf"))
    assert "Haagse" not in read_recording(str(tmp_path / "anon.edf")).patient
    write_recording(rec, str(tmp_path / "named.edf"), anonymize=False)
    kept = read_recording(str(tmp_path / "named.edf")).patient
    assert "MCH-0234567" in kept and "Haagse_Harry" in kept and "F" in kept.split()


def test_many_annotations_all_kept(tmp_path):
    ch = Channel.from_samples("EEG", np.zeros(300), 100, "uV")  # 3 data records
    notes = [Annotation(i * 0.01, 0.0, f"event {i}") for i in range(40)]
    out = str(tmp_path / "many.edf")
    write_recording(Recording([ch], notes), out)
    back = read_recording(out)
    assert [a.text for a in back.annotations] == [f"event {i}" for i in range(40)]
    with pyedflib.EdfReader(out) as r:
        assert len(r.readAnnotations()[2]) == 40


def test_long_annotation_text_is_cut_and_said(tmp_path):
    ch = Channel.from_samples("EEG", np.zeros(100), 100, "uV")
    out = str(tmp_path / "long.edf")
    report = write_recording(Recording([ch], [Annotation(0.2, 0, "x" * 60)]), out)
    assert any("cut to 40" in n for n in report.notes)
    assert read_recording(out).annotations[0].text == "x" * 40


def test_synthetic_recording_keeps_its_mark(tmp_path):
    ch = Channel.from_samples("EEG", np.zeros(100), 100, "uV")
    rec = Recording([ch]).marked_synthetic("vqstudio generate seed 0")
    out = str(tmp_path / "syn.edf")
    write_recording(rec, out)
    texts = [a.text for a in read_recording(out).annotations]
    assert texts == [SYNTHETIC_MARK, "vqstudio generate seed 0"]
    bare = Recording([ch], synthetic=True)  # flagged without the annotation: the writer adds it
    write_recording(bare, str(tmp_path / "bare.edf"))
    assert [a.text for a in read_recording(str(tmp_path / "bare.edf")).annotations] == [SYNTHETIC_MARK]


def test_refuses_to_overwrite_its_input(tmp_path):
    out = str(tmp_path / "in.edf")
    write_recording(psg(), out)
    before = Path(out).read_bytes()
    rec = read_recording(out)
    with pytest.raises(OutputError, match="input recording itself"):
        write_recording(rec, out)
    assert Path(out).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["in.edf"]


def test_writer_checks_survive_python_O(tmp_path):
    """pyedflib's own checks are asserts; ours must hold in an optimised run too."""
    script = f"""
import numpy as np, pyedflib
from vqstudio.io import write_recording
from vqstudio.recording import Channel, Recording
assert False is False
x = np.array([0.0, 0.30000001, 1234.5678912, -7.25] * 25)
ch = Channel.from_samples("EEG", x, 100, "uV", physical_range=(-1.0, 1.0))
write_recording(Recording([ch]), {str(tmp_path / "o.edf")!r})
with pyedflib.EdfReader({str(tmp_path / "o.edf")!r}) as r:
    got = r.readSignal(0)
    lo, hi = r.getPhysicalMinimum(0), r.getPhysicalMaximum(0)
assert lo <= x.min() and hi >= x.max(), (lo, hi)
step = (hi - lo) / 65535
if np.abs(got - x).max() > step:
    raise SystemExit("off by more than a step")
try:
    big = Channel.from_samples("big", np.array([0.0, 5e8]), 1)
    write_recording(Recording([big]), {str(tmp_path / "b.edf")!r})
except Exception as e:
    print(type(e).__name__)
"""
    proc = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OutputError"
    assert not os.path.exists(tmp_path / "b.edf")


def test_edf_plus_d_gaps_map_annotations_onto_written_time(tmp_path):
    from vqstudio.recording import Gap

    ch = Channel.from_samples("EEG", np.zeros(400), 100, "uV")
    rec = Recording([ch], [Annotation(5.5, 0, "after gap")], gaps=[Gap(2.0, 5.0)])
    out = str(tmp_path / "joined.edf")
    report = write_recording(rec, out)
    assert any("gap" in n for n in report.notes)
    assert read_recording(out).annotations[0].onset == pytest.approx(2.5)
