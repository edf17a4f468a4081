"""Streaming preparation (vqstudio.data.stream): the same windows as in memory, from a cache on disk.

Small EDF files written here; every comparison is exact (bit for bit): the streamed path resamples
and filters whole channels and whole pieces, as `prepare` does, and normalises elementwise.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from vqstudio.data import stream
from vqstudio.data.prep import PrepConfig, prepare
from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Annotation, Gap, Recording, Source


def _write(folder, name: str, seconds: float = 30.0, rate: float = 128.0, seed: int = 0, flat_at=None) -> str:
    """An EDF+ of three channels (sines in noise, annotations every 5 s); `flat_at` (s) holds every
    channel constant for 3 s there (a lead off)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.stack([30 * np.sin(2 * np.pi * (5 + 3 * c) * t) + rng.normal(0, 4, n) for c in range(3)])
    if flat_at is not None:
        a = int(flat_at * rate)
        x[:, a : a + int(3 * rate)] = x[:, a : a + 1]
    notes = [Annotation(float(k), 5.0, "A" if k % 10 == 0 else "B") for k in range(0, int(seconds), 5)]
    rec = Recording.from_array(x, rate, ["Fp1", "Cz", "O1"], "uV", annotations=notes)
    path = os.path.join(os.fspath(folder), f"{name}.edf")
    write_recording(rec, path)
    return path


def _same(memory, streamed) -> None:
    """Every field of two preparations equal, windows bit for bit."""
    assert isinstance(streamed.train.data, np.memmap) and isinstance(streamed.val.data, np.memmap)
    assert not isinstance(memory.train.data, np.memmap)
    assert streamed.rate == memory.rate and streamed.window == memory.window
    assert np.array_equal(streamed.mean, memory.mean) and np.array_equal(streamed.std, memory.std)
    for a, b in ((memory.train, streamed.train), (memory.val, streamed.val)):
        assert a.data.shape == b.data.shape
        assert np.array_equal(np.asarray(b.data), a.data)
        for f in ("starts", "labels", "files"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert streamed.label_names == memory.label_names
    assert streamed.sources == memory.sources
    assert streamed.excluded_flat == memory.excluded_flat and streamed.flat_places == memory.flat_places
    assert streamed.working == memory.working and streamed.output_rate == memory.output_rate
    assert streamed.config == dataclasses.replace(memory.config, stream=True)
    index = np.arange(0, len(memory.train), 3)
    assert np.array_equal(streamed.windows("train", index), memory.windows("train", index))
    assert np.array_equal(streamed.windows("val"), memory.windows("val"))


@pytest.mark.parametrize("reads", ["file mapped per recording", "file unmapped every 1,000 samples"])
def test_streamed_windows_are_the_in_memory_windows_bit_for_bit(tmp_path, monkeypatch, reads):
    if reads.startswith("file unmapped"):
        monkeypatch.setattr(stream, "MAP_LIMIT", 0)
        monkeypatch.setattr(stream, "READ_CHUNK", 1000)
    paths = [_write(tmp_path, "a", 30, seed=1, flat_at=12.0), _write(tmp_path, "b", 22, seed=2)]
    recs = [read_recording(p) for p in paths]
    # The train job's settings: a working rate chosen from the spectrum, flat stretches left out.
    config = PrepConfig(window_s=1.0, working_rate=True, skip_flat=True, labels="files")
    memory = prepare(recs, config)
    assert memory.excluded_flat["train"] > 0 and memory.working is not None
    _same(memory, prepare([read_recording(p) for p in paths], dataclasses.replace(config, stream=True)))
    # Resampled (polyphase, up and down by a fraction), band-pass and notch, annotation labels.
    config = PrepConfig(window_s=1.0, resample=100.0, bandpass=(1.0, 40.0), notch=50.0, labels="annotations")
    _same(prepare(recs, config), prepare(recs, dataclasses.replace(config, stream=True)))


def test_gaps_and_stored_statistics_and_rate(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 5, (2, 3000))
    rec = Recording.from_array(x, 100.0, ["A", "B"], "uV", source=Source("g.edf", "EDF"))
    rec.gaps.append(Gap(11.0, 14.0))
    config = PrepConfig(window_s=0.5, skip_flat=True)
    memory = prepare([rec], config)
    _same(memory, prepare([rec], dataclasses.replace(config, stream=True)))
    stats = {"mean": [1.0, -2.0], "std": [3.0, 0.5]}
    _same(
        prepare([rec], config, stats=stats),
        prepare([rec], dataclasses.replace(config, stream=True), stats=stats),
    )


@pytest.mark.parametrize("seed", [3, 4])
def test_statistics_beyond_the_cap_come_by_chunks_and_match(tmp_path, monkeypatch, seed):
    path = _write(tmp_path, "s", 40, seed=seed, flat_at=30.0)
    config = PrepConfig(window_s=1.0)
    memory = prepare([read_recording(path)], config)
    # Far below the 4,608 training samples per channel: exact order statistics by histograms
    # (tiny bins and chunks here, so every narrowing step runs) and float64 sums by chunks.
    monkeypatch.setattr(stream, "STATS_MAX_SAMPLES", 1000)
    monkeypatch.setattr(stream, "NORMALIZE_CHUNK", 777)
    monkeypatch.setattr(stream, "STATS_BINS", 8)
    monkeypatch.setattr(stream, "STATS_COLLECT", 40)
    cache = tmp_path / "cache"
    chunked = prepare([read_recording(path)], dataclasses.replace(config, stream=True), cache=str(cache))
    assert np.array_equal(chunked.mean, memory.mean)  # the median: exact
    assert np.allclose(chunked.std, memory.std, rtol=1e-6, atol=0)  # sums in another order
    (folder,) = cache.iterdir()
    assert "by chunks" in (folder / "meta.json").read_text()


def test_order_statistics_are_exact_with_ties(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(0, 3, 5001)).astype(np.float32)  # few distinct values: many ties
    path = str(tmp_path / "row.npy")
    np.save(path, x)
    offset = int(np.load(path, mmap_mode="r").offset)
    monkeypatch.setattr(stream, "NORMALIZE_CHUNK", 1000)
    monkeypatch.setattr(stream, "STATS_BINS", 4)
    monkeypatch.setattr(stream, "STATS_COLLECT", 10)
    ranks = [0, 4, 2500, 4995, 5000]
    got = stream._order_statistics(path, offset, x.size, ranks)
    assert got == {r: float(np.sort(x)[r]) for r in ranks}


def test_the_cache_is_memory_mapped_reused_and_holds_no_pickle(tmp_path):
    paths = [_write(tmp_path, f"r{i}", 20, seed=i) for i in range(3)]
    cache = tmp_path / "project" / "cache"
    config = PrepConfig(window_s=1.0, stream=True)
    p = prepare([read_recording(q) for q in paths], config, cache=str(cache))
    # The prepared data holds no signal array in memory: only the memory maps and the index arrays.
    for split in (p.train, p.val):
        assert isinstance(split.data, np.memmap) and split.data.dtype == np.float32
        assert split.starts.nbytes + split.labels.nbytes + split.files.nbytes < split.data.nbytes / 10
    (folder,) = cache.iterdir()
    assert sorted(os.listdir(folder)) == ["meta.json", "train.npy", "val.npy"]
    np.load(folder / "train.npy", allow_pickle=False)  # plain float32 .npy
    written = os.stat(folder / "train.npy").st_mtime_ns
    again = prepare([read_recording(q) for q in paths], config, cache=str(cache))  # reused, not rewritten
    assert os.stat(folder / "train.npy").st_mtime_ns == written
    assert np.array_equal(np.asarray(again.train.data), np.asarray(p.train.data))
    # Other statistics (stored ones that differ): a cache of their own beside, the first untouched
    # (a training reading it keeps its values).
    stats = {"mean": [0.0] * 3, "std": [1.0] * 3}
    other = prepare([read_recording(q) for q in paths], config, stats=stats, cache=str(cache))
    assert np.array_equal(other.mean, np.zeros(3, np.float32))
    assert len(os.listdir(cache)) == 2 and os.stat(folder / "train.npy").st_mtime_ns == written
    physical = np.asarray(p.train.data) * p.std[:, None] + p.mean[:, None]  # mean 0, std 1: physical
    assert np.allclose(np.asarray(other.train.data), physical, rtol=1e-5, atol=1e-4)


def test_streaming_is_chosen_when_the_data_would_not_fit(tmp_path, monkeypatch):
    from vqstudio import resources
    from vqstudio.errors import LimitError

    path = _write(tmp_path, "m", 20)
    rec = read_recording(path)
    config = PrepConfig(window_s=1.0)
    need = stream.estimated_bytes([rec], ["Fp1", "Cz", "O1"], 128.0)
    monkeypatch.setattr(resources, "available_memory", lambda: int(need * 4))
    assert not isinstance(prepare([rec], config, cache=str(tmp_path / "c")).train.data, np.memmap)
    # Where not even a streamed run fits (less than STREAM_MIN_BYTES), the in-memory check refuses
    # data larger than the memory in one line, as before.
    monkeypatch.setattr(resources, "available_memory", lambda: int(need * 0.9))
    with pytest.raises(LimitError, match="needs about"):
        prepare([rec], config, cache=str(tmp_path / "c"))
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", int(need * 0.5))  # a streamed run fits
    assert isinstance(prepare([rec], config, cache=str(tmp_path / "c")).train.data, np.memmap)
    monkeypatch.setattr(resources, "available_memory", lambda: int(need * 1.5))
    assert isinstance(prepare([rec], config, cache=str(tmp_path / "c")).train.data, np.memmap)
    # Without a cache folder (evaluation, a plain `prepare`), nothing changes: in memory as before.
    assert not isinstance(prepare([rec], config).train.data, np.memmap)


def test_a_nan_in_a_streamed_channel_is_refused_naming_it(tmp_path):
    from vqstudio.errors import FormatError

    x = np.random.default_rng(0).normal(0, 1, (2, 2000))
    x[1, 500] = np.nan
    rec = Recording.from_array(x, 100.0, ["A", "B"], "uV", source=Source("n.edf", "EDF"))
    with pytest.raises(FormatError, match=r"n\.edf: channel\(s\) B contain NaN"):
        prepare([rec], PrepConfig(window_s=1.0, stream=True))


def test_reading_a_channel_in_chunks_gives_the_whole_channel(tmp_path, monkeypatch):
    path = _write(tmp_path, "c", 30)
    whole = read_recording(path).channel("Cz").read(0, 3840)
    monkeypatch.setattr(stream, "READ_CHUNK", 1000)
    assert np.array_equal(stream.read_channel(read_recording(path).channel("Cz")), whole)
    assert stream.resampled_length(3840, 128.0, 100.0) == 3000
    assert stream.resampled_length(1001, 100.0, 300.0) == 3003


def test_project_stores_stream_only_when_set():
    assert "stream" not in PrepConfig().to_json()
    assert PrepConfig.from_json(PrepConfig(stream=True).to_json()).stream
    assert not PrepConfig.from_json(PrepConfig().to_json()).stream


def test_a_cache_the_disk_cannot_hold_is_refused_before_writing(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from vqstudio.errors import OutputError

    path = _write(tmp_path, "d", 20)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OutputError, match=r"the window cache needs 0\.0 GB .* free some space"):
        prepare([read_recording(path)], PrepConfig(window_s=1.0, stream=True), cache=str(tmp_path / "c"))
    assert not any(n.endswith(".npy") for _d, _s, files in os.walk(tmp_path / "c") for n in files)
