"""EDF/BDF reader: lazy span reads, labels, mixed rates, EDF+D gaps, plain EDF, fallbacks."""

from __future__ import annotations

import os

import edfio
import numpy as np
import pyedflib
import pytest
from tiny import write_edf_plus_d

from vqstudio.errors import ChannelError
from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Annotation, Channel, Recording


def write_plain_edf(path: str, labels: list[str], rate: int, seconds: int, seed: int = 0) -> np.ndarray:
    """A plain EDF (no annotation signal) written by pyedflib; returns the samples written."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(labels), rate * seconds)) * 50
    w = pyedflib.EdfWriter(path, len(labels), pyedflib.FILETYPE_EDF)
    w.setSignalHeaders(
        [
            {
                "label": lab,
                "dimension": "uV",
                "sample_frequency": rate,
                "physical_min": -500.0,
                "physical_max": 500.0,
                "digital_min": -32768,
                "digital_max": 32767,
                "transducer": "",
                "prefilter": "",
            }
            for lab in labels
        ]
    )
    w.writeSamples(list(data))
    w.close()
    return data


def test_lazy_channels_read_spans_without_loading(tmp_path):
    path = str(tmp_path / "lazy.edf")
    rng = np.random.default_rng(1)
    rec = Recording.from_array(rng.standard_normal((4, 256 * 20)) * 30, 256, ["A", "B", "C", "D"], "uV")
    write_recording(rec, path)
    back = read_recording(path)
    assert not any(c.loaded for c in back.channels)
    span = back.channels[2].read(1000, 1600)
    assert not back.channels[2].loaded and span.dtype == np.float32 and span.size == 600
    full = back.channels[2].samples
    assert back.channels[2].loaded
    np.testing.assert_array_equal(span, full[1000:1600])
    # spans crossing record boundaries and at the ends
    other = read_recording(path).channels[2]
    for a, b in [(0, 1), (255, 257), (5119, 5120), (0, 5120), (5000, 9999)]:
        np.testing.assert_array_equal(other.read(a, b), full[a:b])
    assert [x.size for x in back.span(2.0, 3.0)] == [256] * 4


def test_dot_and_space_padded_labels_keep_their_label(tmp_path):
    path = str(tmp_path / "dots.edf")
    write_plain_edf(path, ["Fc5.", "Iz..", "EEG Fp1"], 160, 2)
    rec = read_recording(path)
    assert [c.label for c in rec.channels] == ["Fc5.", "Iz..", "EEG Fp1"]
    assert [c.name for c in rec.channels] == ["Fc5", "Iz", "EEG Fp1"]
    assert rec.channel("Fc5").label == "Fc5." and rec.channel("Iz..").name == "Iz"
    assert rec.source.format == "EDF" and rec.annotations == []


def test_plain_edf_values_match_pyedflib(tmp_path):
    path = str(tmp_path / "plain.edf")
    data = write_plain_edf(path, ["A", "B"], 200, 3)
    rec = read_recording(path)
    with pyedflib.EdfReader(path) as r:
        for i, c in enumerate(rec.channels):
            np.testing.assert_allclose(c.samples, r.readSignal(i), atol=1e-4)
    assert np.abs(rec.channels[0].samples - data[0]).max() <= 1000 / 65535 + 1e-4


def test_mixed_rate_psg(tmp_path):
    path = str(tmp_path / "psg.edf")
    rng = np.random.default_rng(2)
    chans = [
        Channel.from_samples("EEG Fpz-Cz", rng.standard_normal(100 * 60) * 20, 100, "uV"),
        Channel.from_samples("EOG horizontal", rng.standard_normal(100 * 60) * 50, 100, "uV"),
        Channel.from_samples("Resp oro-nasal", rng.standard_normal(60), 1, ""),
        Channel.from_samples("Temp rectal", 37 + rng.standard_normal(60) * 0.1, 1, "DegC"),
    ]
    write_recording(Recording(chans, [Annotation(30.0, 30.0, "Sleep stage 1")]), path)
    rec = read_recording(path)
    assert rec.rates == [100.0, 100.0, 1.0, 1.0]
    assert [c.n_samples for c in rec.channels] == [6000, 6000, 60, 60]
    assert rec.duration == 60.0
    eeg, temp = rec.span(10.0, 20.0, ["EEG Fpz-Cz", "Temp rectal"])
    assert eeg.size == 1000 and temp.size == 10
    np.testing.assert_allclose(temp, chans[3].samples[10:20], atol=0.01)
    with pytest.raises(ChannelError):
        rec.to_array()  # mixed rates need a choice


def test_bdf_24_bit_values(tmp_path):
    path = str(tmp_path / "fine.bdf")
    x = (np.linspace(-1.0, 1.0, 2048) * 1e-3).astype(np.float32)  # tiny values need 24 bits
    write_recording(Recording([Channel.from_samples("EXG1", x, 2048, "V")]), path)
    rec = read_recording(path)
    assert rec.source.format == "BDF+C"
    c = rec.channels[0]
    step = (c.physical_max - c.physical_min) / (2**24 - 1)
    assert np.all(np.abs(c.samples.astype(float) - x) <= step + np.abs(x) * 2.0**-23)
    assert np.abs(c.samples - x).max() < 1e-9  # far finer than EDF's 16 bits could give


def test_negative_digital_values_in_bdf(tmp_path):
    path = str(tmp_path / "neg.bdf")
    x = np.array([-5.0, -1.0, 0.0, 1.0, 5.0] * 20)
    write_recording(Recording([Channel.from_samples("X", x, 100, "uV")]), path)
    got = read_recording(path).channels[0].read(0, 5)
    np.testing.assert_allclose(got, x[:5], atol=1e-5)


def test_edf_plus_d_gaps(tmp_path):
    path = str(tmp_path / "disc.edf")
    write_edf_plus_d(path)
    rec = read_recording(path)
    assert rec.source.format == "EDF+D"
    assert [(g.start, g.stop) for g in rec.gaps] == [(2.0, 5.0)]
    assert rec.channels[0].n_samples == 400  # samples joined record after record
    assert [(a.onset, a.text) for a in rec.annotations] == [(0.5, "start")]
    np.testing.assert_allclose(rec.channels[0].read(195, 205), np.arange(195, 205), atol=0.02)


def _patch(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_non_ascii_header_still_opens(tmp_path):
    """A real-world quirk: a patient name in Latin-1. pyedflib refuses it; edfio reads it."""
    path = str(tmp_path / "latin.edf")
    rng = np.random.default_rng(0)
    rec = Recording.from_array(
        rng.standard_normal((2, 200)), 100, ["A", "B"], "uV", [Annotation(0.5, 0, "x")]
    )
    write_recording(rec, path)
    _patch(path, 8, "Jürgen Müller".encode("latin-1").ljust(80))
    with pytest.raises(OSError):
        pyedflib.EdfReader(path)
    back = read_recording(path)
    assert back.channels[0].n_samples == 200 and "Jürgen" in back.patient
    assert [a.text for a in back.annotations] == ["x"]
    assert any("edfio" in n for n in back.notes)
    np.testing.assert_allclose(back.channels[1].samples, rec.channels[1].samples, atol=1e-3)


def test_plain_edf_both_libraries_refuse_still_opens_from_its_header(tmp_path):
    path = str(tmp_path / "baddate.edf")
    write_plain_edf(path, ["A"], 100, 2)
    _patch(path, 168, b"32.13.85")  # no such date: pyedflib and edfio both refuse
    rec = read_recording(path)
    assert rec.start is None and rec.channels[0].n_samples == 200
    assert any("refused" in n for n in rec.notes)


def test_edf_plus_both_libraries_refuse_is_a_format_error(tmp_path):
    from vqstudio.errors import FormatError

    path = str(tmp_path / "baddate_plus.edf")
    write_recording(Recording.from_array(np.zeros((1, 100)), 100, ["A"], "uV"), path)
    _patch(path, 168, b"32.13.85")
    with pytest.raises(FormatError, match=r"baddate_plus\.edf: cannot be read as EDF\+C"):
        read_recording(path)
    with pytest.raises(Exception):  # noqa: B017 - edfio's own error type
        edfio.read_edf(path).startdate  # noqa: B018


def test_start_time_and_recording_fields(tmp_path):
    import datetime as dt

    path = str(tmp_path / "start.edf")
    rec = Recording.from_array(np.zeros((1, 100)), 100, ["A"], "uV", start=dt.datetime(2021, 3, 4, 5, 6, 7))
    write_recording(rec, path)
    back = read_recording(path)
    assert back.start == dt.datetime(2021, 3, 4, 5, 6, 7)
    assert back.source.path == path and back.sha256 is not None and len(back.sha256) == 64


def test_reader_does_not_read_the_data_at_open(tmp_path, monkeypatch):
    """Opening a file reads the header and annotations; samples only on request."""
    path = str(tmp_path / "big.edf")
    rec = Recording.from_array(np.zeros((8, 256 * 120)), 256, [f"C{i}" for i in range(8)], "uV")
    write_recording(rec, path)
    calls = []
    import vqstudio.io.edf_read as mod

    real = mod.RecordSamples.read
    monkeypatch.setattr(mod.RecordSamples, "read", lambda self, *a: calls.append(a) or real(self, *a))
    back = read_recording(path)
    assert calls == []
    back.channels[3].read(256, 512)
    assert calls == [(3, 256, 512)]
    assert os.path.getsize(path) > 8 * 256 * 120 * 2
