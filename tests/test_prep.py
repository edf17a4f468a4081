"""Data preparation: shapes, split by time, gaps, labels, channel choice, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from tiny import record_for

from vqstudio.data.prep import PrepConfig, denormalize, normalize, prepare, window_samples
from vqstudio.errors import ChannelError, FormatError
from vqstudio.recording import Annotation, Channel, Gap, Recording, Source


def make_recording(seconds=20.0, rate=100.0, labels=("Fp1", "Cz"), seed=0, name="a.edf", **kw) -> Recording:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    data = np.stack(
        [10 * np.sin(2 * np.pi * (3 + i) * t) + rng.standard_normal(n) for i in range(len(labels))]
    )
    return Recording.from_array(data, rate, list(labels), "uV", source=Source(name, "EDF"), **kw)


def test_window_is_a_multiple_of_16():
    assert window_samples(4.0, 250.0) % 16 == 0
    assert window_samples(4.0, 500.0) == 2000
    assert window_samples(0.01, 100.0) == 16


def test_shapes_and_dataset_keeps_one_array_per_split():
    rec = make_recording(seconds=20, rate=100)
    p = prepare([rec], PrepConfig(window_s=1.28, stride_s=0.5, val_fraction=0.2))
    assert p.window == 128 and p.rate == 100 and p.labels == ["Fp1", "Cz"]
    assert p.train.data.shape == (2, 1600) and p.val.data.shape == (2, 400)
    assert p.train.data.dtype == np.float32
    w = p.windows("train", [0, 3])
    assert w.shape == (2, 2, 128)
    # window i is a view of the one array at starts[i]
    np.testing.assert_array_equal(w[1], p.train.data[:, p.train.starts[3] : p.train.starts[3] + 128])
    assert np.all(np.diff(p.train.starts) == 50)
    assert len(p.val) == 3  # held-out windows do not overlap


def test_split_by_time_per_file_and_stats_from_train_only():
    # Second half of the file has a much larger amplitude: the held-out tail must not leak
    # into the normalisation statistics.
    rec = make_recording(seconds=10, rate=100)
    x = rec.to_array()
    x[:, 900:] *= 100
    rec = Recording.from_array(x, 100, ["Fp1", "Cz"], "uV", source=Source("a.edf", "EDF"))
    p = prepare([rec], PrepConfig(window_s=0.64, val_fraction=0.1))
    assert p.sources[0]["train_s"] == [[0.0, 9.0]] and p.sources[0]["held_out_s"] == [[9.0, 10.0]]
    assert p.std.max() < 20  # from the quiet training part only
    np.testing.assert_allclose(denormalize(p.val.data, p.mean, p.std), x[:, 900:], rtol=1e-4, atol=1e-3)


def test_several_files_of_different_lengths():
    a = make_recording(seconds=10, seed=1, name="a.edf")
    b = make_recording(seconds=25, seed=2, name="b.edf")
    p = prepare([a, b], PrepConfig(window_s=1.28, val_fraction=0.2))
    assert p.train.data.shape[1] == 800 + 2000
    assert set(p.train.files.tolist()) == {0, 1} and set(p.val.files.tolist()) == {0, 1}
    # no window crosses from file a into file b
    assert not np.any((p.train.starts < 800) & (p.train.starts + p.window > 800))


def test_no_window_straddles_a_gap():
    # EDF+D: 30 s of data with a 5 s gap after 12 s (samples joined, gap on the time axis).
    rec = make_recording(seconds=30, rate=100)
    rec.gaps = [Gap(12.0, 17.0)]
    p = prepare([rec], PrepConfig(window_s=1.6, stride_s=0.1, val_fraction=0.2))
    starts = p.train.starts
    assert len(p.train) > 0
    assert not np.any((starts < 1200) & (starts + p.window > 1200))
    assert p.sources[0]["train_s"] == [[0.0, 12.0], [17.0, 29.0]]


def test_labels_from_annotations_at_window_midpoints():
    rec = make_recording(
        seconds=20,
        rate=100,
        annotations=[Annotation(0.0, 6.0, "rest"), Annotation(6.0, 6.0, "task")],
    )
    p = prepare([rec], PrepConfig(window_s=1.0 - 0.04, stride_s=1.0, val_fraction=0.1, labels="annotations"))
    assert p.label_names == ["rest", "task"]
    mids = (p.train.starts + p.window / 2) / p.rate
    expected = np.where(mids < 6, 0, np.where(mids < 12, 1, -1))
    np.testing.assert_array_equal(p.train.labels, expected)
    assert (p.train.labels == -1).any()  # unlabelled windows are kept


def test_labels_from_files():
    a, b = make_recording(name="sub1.edf", seed=1), make_recording(name="sub2.edf", seed=2)
    p = prepare([a, b], PrepConfig(window_s=1.0, labels="files"))
    assert p.label_names == ["sub1", "sub2"]
    np.testing.assert_array_equal(p.train.labels, p.train.files)


def test_channels_match_after_stripping_padding():
    rec = make_recording(labels=("Fc5.", "Iz..", "EEG Fp1"))
    p = prepare([rec], PrepConfig(channels=("Fc5", "EEG Fp1"), window_s=1.0))
    assert p.labels == ["Fc5", "EEG Fp1"]
    with pytest.raises(ChannelError, match="no channel 'Fp2'"):
        prepare([rec], PrepConfig(channels=("Fp2",), window_s=1.0))


def test_every_file_must_have_the_channels():
    a = make_recording(labels=("Fp1", "Cz"), name="a.edf")
    b = make_recording(labels=("Fp1", "O1"), name="b.edf")
    with pytest.raises(ChannelError, match=r"no channel 'Cz' in b\.edf"):
        prepare([a, b], PrepConfig(window_s=1.0))


def test_default_channels_share_the_most_common_rate_and_resample_on_request():
    rec = make_recording(labels=("Fp1", "Cz", "O1"), rate=200)
    ecg = Channel.from_samples("ECG", np.sin(np.arange(2000) / 10), 100.0, "mV")
    rec.channels.append(ecg)
    p = prepare([rec], PrepConfig(window_s=1.0))
    assert p.labels == ["Fp1", "Cz", "O1"] and p.rate == 200
    with pytest.raises(ChannelError, match="no common rate"):
        prepare([rec], PrepConfig(channels=("Fp1", "ECG"), window_s=1.0))
    p = prepare([rec], PrepConfig(channels=("Fp1", "ECG"), resample=100, window_s=1.0))
    assert p.rate == 100 and p.train.data.shape[1] == 1800  # 90 % of 20 s at 100 Hz


def test_clear_errors_for_flat_nan_and_short_input():
    rec = make_recording()
    x = rec.to_array()
    x[1] = 3.0
    flat = Recording.from_array(x, 100, ["Fp1", "Cz"], source=Source("flat.edf", "EDF"))
    with pytest.raises(FormatError, match="Cz are flat"):
        prepare([flat], PrepConfig(window_s=1.0))
    x = rec.to_array()
    x[0, 5] = np.nan
    nan = Recording.from_array(x, 100, ["Fp1", "Cz"], source=Source("nan.edf", "EDF"))
    with pytest.raises(FormatError, match=r"nan\.edf.*Fp1.*NaN"):
        prepare([nan], PrepConfig(window_s=1.0))
    short = make_recording(seconds=2)
    with pytest.raises(FormatError, match="too little data for one window"):
        prepare([short], PrepConfig(window_s=4.0))


def test_filters_remove_what_they_should():
    rate = 200.0
    t = np.arange(int(20 * rate)) / rate
    x = np.stack([np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 50 * t)])
    rec = Recording.from_array(x, rate, ["Cz"])
    p = prepare([rec], PrepConfig(window_s=1.0, notch=50.0, bandpass=(1.0, 40.0), val_fraction=0.0))
    y = denormalize(p.train.data, p.mean, p.std)[0, 400:-400]
    spectrum = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(y.size, 1 / rate)
    assert spectrum[np.argmin(abs(freqs - 50))] < 0.01 * spectrum[np.argmin(abs(freqs - 10))]


def test_normalize_round_trip():
    x = np.random.default_rng(0).standard_normal((3, 50)).astype(np.float32) * 7 + 2
    mean, std = np.array([1, 2, 3.0]), np.array([2, 3, 4.0])
    np.testing.assert_allclose(denormalize(normalize(x, mean, std), mean, std), x, rtol=1e-5, atol=1e-5)


def test_prepare_from_project_rebuilds_the_same_split_and_checks_sha256(tmp_path):
    from vqstudio.errors import ProjectError
    from vqstudio.io import read_recording, write_recording
    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project

    paths = []
    for i, seconds in enumerate((12, 20)):
        path = str(tmp_path / f"r{i}.csv")
        write_recording(make_recording(seconds=seconds, seed=i), path)
        paths.append(path)
    config = PrepConfig(window_s=1.28, val_fraction=0.2)
    p = prepare([read_recording(q) for q in paths], config)
    project = Project.create(str(tmp_path / "proj"), record_for(p))
    q = prepare_from_project(project)
    np.testing.assert_array_equal(q.val.starts, p.val.starts)
    np.testing.assert_array_equal(q.train.data, p.train.data)
    np.testing.assert_array_equal(q.mean, p.mean)
    with open(paths[1], "a") as f:
        f.write("20.00,1,2\n")
    with pytest.raises(ProjectError, match=r"r1\.csv has changed since training"):
        prepare_from_project(str(tmp_path / "proj"))


def test_a_flat_stretch_is_kept_out_of_training_and_held_out_windows():
    # 2 s of one channel held constant (a lead off) in the training part, and the last 0.5 s
    # of the file (held out) pinned at a constant on both: no window may hold either.
    rec = make_recording(seconds=20, rate=100)
    x = rec.to_array()
    x[1, 500:700] = x[1, 500]
    x[:, 1950:] = 3.0
    rec = Recording.from_array(x, 100, ["Fp1", "Cz"], "uV", source=Source("a.edf", "EDF"))
    config = PrepConfig(window_s=1.28, stride_s=0.32, val_fraction=0.2, skip_flat=True)
    p = prepare([rec], config)
    for split, starts in (("train", p.train.starts), ("val", p.val.starts)):
        spans = [(s, s + p.window) for s in starts]
        offset = 0 if split == "train" else 1600
        assert not any(a + offset < 700 and b + offset > 500 for a, b in spans), split
        assert not any(b + offset > 1950 for a, b in spans), split
    kept = prepare([rec], PrepConfig(window_s=1.28, stride_s=0.32, val_fraction=0.2))
    assert p.excluded_flat == {"train": len(kept.train) - len(p.train), "val": len(kept.val) - len(p.val)}
    assert p.excluded_flat["train"] >= 9 and p.excluded_flat["val"] == 1
    split = record_for(p).data.split  # what project.json will say
    assert (split.flat_train, split.flat_held_out) == (p.excluded_flat["train"], 1)


def test_a_resampled_flat_stretch_is_still_found():
    # The constant is judged at the source rate: resampled to 64 Hz it would ripple.
    rec = make_recording(seconds=20, rate=100)
    x = rec.to_array()
    x[0, 300:600] = -187.5
    rec = Recording.from_array(x, 100, ["Fp1", "Cz"], "uV", source=Source("a.edf", "EDF"))
    p = prepare([rec], PrepConfig(window_s=1.0, stride_s=0.25, resample=64.0, skip_flat=True))
    assert p.rate == 64.0 and p.excluded_flat["train"] > 0
    assert all(s + p.window <= 3 * 64 or s >= 6 * 64 for s in p.train.starts)


def test_all_flat_training_data_says_so():
    rec = make_recording(seconds=10, rate=100)
    x = rec.to_array()
    x[0, :] = np.repeat(np.arange(10.0), 100)  # a staircase: constant for 1 s at a time
    rec = Recording.from_array(x, 100, ["Fp1", "Cz"], "uV", source=Source("a.edf", "EDF"))
    with pytest.raises(FormatError, match="every training window holds a flat"):
        prepare([rec], PrepConfig(window_s=1.28, skip_flat=True))
