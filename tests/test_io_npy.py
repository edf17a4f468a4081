"""`.npy` + JSON sidecar: one-rate round trips and the batch that `generate` writes."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from vqstudio.errors import FormatError, OutputError
from vqstudio.io import read_recording, read_recordings, write_npy_batch, write_recording
from vqstudio.recording import Annotation, Channel, Recording


def test_npy_round_trip_with_sidecar(tmp_path):
    rng = np.random.default_rng(0)
    rec = Recording.from_array(
        rng.standard_normal((3, 512)), 256, ["Fp1", "Fp2", "ECG"], ["uV", "uV", "mV"],
        [Annotation(0.5, 1.0, "alpha")], start=dt.datetime(2020, 2, 3, 4, 5, 6),
    ).marked_synthetic("test")  # fmt: skip
    out = tmp_path / "rec.npy"
    report = write_recording(rec, str(out))
    assert report.extra_paths == (str(tmp_path / "rec.json"),)
    arr = np.load(out, allow_pickle=False)
    assert arr.dtype == np.float32 and arr.shape == (3, 512)
    meta = json.loads((tmp_path / "rec.json").read_text())
    assert meta["labels"] == ["Fp1", "Fp2", "ECG"] and meta["rate"] == 256 and meta["synthetic"] is True
    back = read_recording(str(out))
    assert back.labels == rec.labels and [c.unit for c in back.channels] == ["uV", "uV", "mV"]
    assert back.rates == [256.0] * 3 and back.start == rec.start and back.synthetic
    assert [(a.onset, a.duration, a.text) for a in back.annotations] == [
        (a.onset, a.duration, a.text) for a in rec.annotations
    ]
    np.testing.assert_array_equal(back.to_array(), rec.to_array())


def test_npy_refuses_mixed_rates(tmp_path):
    rec = Recording(
        [Channel.from_samples("A", np.zeros(100), 100), Channel.from_samples("B", np.zeros(1), 1)]
    )
    with pytest.raises(OutputError, match=r"one rate"):
        write_recording(rec, str(tmp_path / "m.npy"))
    assert list(tmp_path.iterdir()) == []


def test_batch_with_per_item_annotations(tmp_path):
    data = np.random.default_rng(1).standard_normal((2, 2, 500)).astype(np.float32)
    out = tmp_path / "s.npy"
    report = write_npy_batch(
        data, str(out), rate=250, labels=["II", "V"], units=["mV", "mV"],
        annotations=[[Annotation(0, 0, "AF")], [Annotation(0, 0, "normal")]], extra={"seed": 3},
    )  # fmt: skip
    assert report.path == str(out)
    assert np.load(out).shape == (2, 2, 500)
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["seed"] == 3 and meta["shape"] == [2, 2, 500] and meta["units"] == ["mV", "mV"]
    recs = read_recordings(str(out))
    assert len(recs) == 2 and [r.annotations[0].text for r in recs] == ["AF", "normal"]
    np.testing.assert_array_equal(recs[1].to_array(), data[1])
    with pytest.raises(FormatError, match=r"batch of 2"):
        read_recording(str(out))


def test_batch_shape_is_checked(tmp_path):
    with pytest.raises(OutputError, match=r"not \(count, 3 channels"):
        write_npy_batch(np.zeros((2, 2, 10)), str(tmp_path / "x.npy"), rate=1, labels=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


def test_npy_without_sidecar_needs_a_rate(tmp_path):
    np.save(tmp_path / "bare.npy", np.zeros((2, 10), dtype=np.float32))
    with pytest.raises(FormatError, match=r"--rate"):
        read_recording(str(tmp_path / "bare.npy"))
    rec = read_recording(str(tmp_path / "bare.npy"), rate=10)
    assert rec.labels == ["ch1", "ch2"] and rec.duration == 1.0


def test_npy_with_objects_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match=r"obj.npy"):
        read_recording(str(tmp_path / "obj.npy"), rate=1)
