"""Streaming preparation: windows of recordings larger than memory, from a cache on disk.

`prepare` (vqstudio.data.prep) holds every window's signal in memory, which caps the data at
what the machine holds (and it refuses more, `prep._check_size`). This module prepares the same
windows without ever holding more than one channel of one recording:

0. Where a working rate is to be chosen (`vqstudio.data.working_rate`), its pooled spectrum is
   computed one channel of one training piece at a time (`choose_working_rate_streamed`): the
   same segments, weights and sums, so the same rate and fill.
1. A planning pass lays the splits out from the file headers alone (the resampled length of each
   recording, its contiguous pieces, the train/held-out cut) and, when flat stretches are left
   out, from one channel at a time (`flat.flat_mask`). It gives the window starts, labels and
   file indices exactly as `prepare` lists them.
2. A writing pass reads each chosen channel of each recording (in chunks of records, unmapping
   the file between chunks), resamples it (polyphase, the whole channel at once, so no chunk join
   exists), checks it for NaNs, filters each contiguous piece (zero-phase, the whole piece, as
   `prepare` does) and writes its training and held-out parts into two float32 `.npy` files of
   `(channels, samples)`, rows written with plain file writes (no mapping: the page cache holds
   them, not this process).
3. The normalisation statistics are computed one channel at a time from the training file (float64,
   the same `_robust_stats` as in memory, so they are the same numbers; a long channel by chunks,
   the same figures within float64 rounding), then both files are
   normalised in place chunk by chunk (elementwise float32 arithmetic, so chunking changes no bit).
4. `meta.json`, written last, marks the cache complete; its key (the sources' sha256, the channels,
   the rate, the prep settings, the layout) lets a later preparation of the same data (resume,
   evaluate, every rank of a distributed run) reuse it instead of writing it again. Statistics
   other than a cache's own (a project's stored ones that differ) get a cache of their own
   (`windows-KEY-TAG`): a cache is never written over while a training may read it.

The result is a `PreparedData` whose splits' `data` are read-only `numpy.memmap`s of the cache:
training gathers its windows from the files (`gather_windows`, plain reads, so pages read do not
count in the process's memory). Windows, statistics, labels and splits are bit for bit
those of the in-memory `prepare` (a test shows it).

Memory: one channel of one recording (float32 read, float64 for filtering) while writing, and one
channel of the training split in float64 for the statistics up to `STATS_MAX_SAMPLES` samples;
beyond, chunks of `NORMALIZE_CHUNK` samples: the median and percentiles as exact order statistics
(histogram narrowing) and the stds as float64 sums (`_chunked_stats`).

Torch-free; `vqstudio.distributed` is imported lazily (it is torch-free at import too).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from vqstudio.errors import FormatError, InputFileError
from vqstudio.recording import Channel, Recording

__all__ = [
    "CACHE_DIR",
    "CACHE_PREFIX",
    "CACHE_VERSION",
    "MEMORY_SHARE",
    "STATS_MAX_SAMPLES",
    "STREAM_MIN_BYTES",
    "drop_window_cache",
    "estimated_bytes",
    "gather_windows",
    "is_streamed",
    "is_window_cache",
    "prepare_streamed",
    "resampled_length",
    "should_stream",
]

CACHE_DIR = "cache"  # the window cache's folder inside a project folder
CACHE_PREFIX = "windows-"  # each cache's folder: this and the first 16 hex digits of its key
CACHE_VERSION = 1  # bumped when the cache's layout or meaning changes (old caches are rebuilt)
# Stream when the in-memory preparation would need more than this share of the memory available
# now: the rest is for the model, the optimizer and the batches.
MEMORY_SHARE = 0.5
# ... provided a streamed run fits at all: torch, the model and the batches (a streamed run with 64
# channels peaked at 0.7 GB, bench/scale.py --data-mb). With less available, nothing streams by
# itself and the in-memory check refuses the data in one line, as it always has.
STREAM_MIN_BYTES = 1 << 30
# The most samples of one channel whose statistics are computed from the row held whole, as in
# memory (float64 32 MiB, about 4 times that at the peak of median and percentiles; 2**24 took
# 320 MB); beyond, by chunks (`_chunked_stats`, the same figures). 2**22 is 4.6 hours at 256 Hz.
STATS_MAX_SAMPLES = 1 << 22
# Samples of one channel read from a file between unmappings (the strided read of a channel
# touches every page of the records it spans: 2**18 samples of a 64-channel EDF map 32 MiB).
READ_CHUNK = 1 << 18
MAP_LIMIT = 256 << 20  # files up to this stay mapped while their channels are read (`keep_mapped`)
NORMALIZE_CHUNK = 1 << 22  # samples of one row normalised at a time (16 MiB of float32)


# ---------------------------------------------------------------------- when to stream


def estimated_bytes(recordings: Sequence[Recording], names: Sequence[str], rate: float) -> float:
    """The memory the in-memory preparation and training would take (`prep._check_size`'s figure)."""
    from vqstudio.data.prep import PREP_BYTES_PER_SAMPLE

    top = max(rec.channel(n).rate for rec in recordings for n in names)
    seconds = sum(max(rec.channel(n).duration for n in names) for rec in recordings)
    return PREP_BYTES_PER_SAMPLE * seconds * max(rate, top) * len(names)


def should_stream(
    recordings: Sequence[Recording], names: Sequence[str], rate: float, asked: bool, cache: str | None
) -> bool:
    """Whether to prepare by streaming: when asked (`--stream`, `PrepConfig.stream`), or, where a
    cache folder is given (a training run), when `estimated_bytes` exceeds `MEMORY_SHARE` of the
    memory available now and at least `STREAM_MIN_BYTES` are available. The ranks of a
    distributed run take rank 0's answer (their machines' free memory may differ, and they must
    all prepare alike)."""
    from vqstudio import distributed
    from vqstudio.resources import available_memory

    stream = asked
    if not stream and cache is not None:
        free = available_memory()
        stream = (
            free is not None
            and free >= STREAM_MIN_BYTES
            and estimated_bytes(recordings, names, rate) > MEMORY_SHARE * free
        )
    if distributed.current().distributed:
        stream = bool(distributed.agree({"stream": float(stream)})["stream"])
    return stream


def is_window_cache(folder: str) -> bool:
    """Whether `folder` holds window caches only (`windows-<key>` folders, their temporary files),
    as `prepare_streamed` makes them: what a new project's folder may hold before it is made."""
    from vqstudio.io.atomic import is_temp_name

    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return all(n.startswith(CACHE_PREFIX) or is_temp_name(n) for n in names)


def drop_window_cache(folder: str) -> None:
    """Removes the window caches in `folder` and the folder when nothing else is in it (a run that
    never made its project leaves the project folder as it found it)."""
    if not is_window_cache(folder):
        return
    for name in os.listdir(folder):
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def is_streamed(data: np.ndarray) -> bool:
    """Whether a split's `data` is a cache on disk (a memory map) rather than an array in memory."""
    return isinstance(data, np.memmap)


def gather_windows(data: np.ndarray, starts: np.ndarray, window: int, file: Any = None) -> np.ndarray:
    """Windows `(len(starts), channels, window)` float32 of `data` `(channels, samples)`.

    For a cache on disk each window's row of each channel is read from the file into the result
    (one read each: the rows are contiguous in the file). Not through a mapping: indexing a map
    of the file made the kernel map far more than the windows (16 windows of 64 channels mapped
    270 MB of a 360 MB cache), which counts in the process's resident memory. `file`: the cache
    file already open (unbuffered, binary), as `WindowBatches` keeps it for the whole stage."""
    starts = np.asarray(starts, dtype=np.int64)
    if not is_streamed(data):
        idx = starts[:, None] + np.arange(window)[None, :]
        return np.ascontiguousarray(data[:, idx].transpose(1, 0, 2))
    assert isinstance(data, np.memmap) and data.filename is not None
    channels, samples = data.shape
    out = np.empty((starts.size, channels, window), dtype=np.float32)
    row_bytes = 4 * samples
    with contextlib.ExitStack() as stack:
        f = file if file is not None else stack.enter_context(open(data.filename, "rb", buffering=0))
        for w, start in enumerate(starts.tolist()):
            for c in range(channels):
                f.seek(data.offset + c * row_bytes + 4 * start)
                view = memoryview(out[w, c]).cast("B")
                if f.readinto(view) != view.nbytes:
                    raise OSError(f"the window cache {data.filename} is shorter than its header says")
    return out


# ---------------------------------------------------------------------- reading


def resampled_length(n: int, src: float, dst: float) -> int:
    """Samples of `n` at `src` Hz after `prep._resample` to `dst` Hz (resample_poly's length)."""
    if abs(src - dst) < 1e-9:
        return n
    frac = Fraction(dst / src).limit_denominator(1000)
    up, down = frac.numerator, frac.denominator
    return (n * up) // down + bool((n * up) % down)


def _unmap(channel: Channel) -> None:
    """Drops the file mapping behind a lazily read channel (EDF/BDF: `RecordSamples.close`); the
    next read maps the file again. Resident memory then holds no page of the file."""
    close = getattr(getattr(channel, "_source", None), "close", None)
    if callable(close):
        close()


def keep_mapped(rec: Recording) -> bool:
    """Whether `rec`'s file may stay mapped while its channels are read one after another (then
    unmapped, `release`): a file up to `MAP_LIMIT` bytes. Its channels then read 8 times faster
    (64 channels of a 59 MB EDF: 0.05 s against 0.39 s unmapped between chunks), for resident
    memory of at most that file."""
    if rec.source is None:
        return False
    try:
        return os.path.getsize(rec.source.path) <= MAP_LIMIT
    except OSError:
        return False


def release(rec: Recording) -> None:
    """Unmaps `rec`'s file (every channel's source; they share one)."""
    for c in rec.channels:
        _unmap(c)


def read_channel(channel: Channel, keep: bool = False) -> np.ndarray:
    """All samples of `channel` (float32 physical values), read `READ_CHUNK` samples at a time with
    the file unmapped between reads: what `Channel.read(0, n)` gives, without the mapping of the
    whole file staying resident. `keep` (`keep_mapped`): read at once and left mapped."""
    n = channel.n_samples
    if channel.loaded or n <= READ_CHUNK or keep:
        x = np.asarray(channel.read(0, n), dtype=np.float32)
        if not keep:
            _unmap(channel)
        return x
    out = np.empty(n, dtype=np.float32)
    for a in range(0, n, READ_CHUNK):
        b = min(n, a + READ_CHUNK)
        out[a:b] = channel.read(a, b)
        _unmap(channel)
    return out


def _channel_at_rate(channel: Channel, rate: float, n: int, keep: bool = False) -> np.ndarray:
    """One channel at `rate`, its first `n` samples, as `prep.load_channels` makes its row."""
    from vqstudio.data.prep import _resample

    x = read_channel(channel, keep)
    row = _resample(x, channel.rate, rate) if channel.rate != rate else x
    return row[:n]


# ---------------------------------------------------------------------- the plan


@dataclass
class _Part:
    """A part of one split from one contiguous piece of one recording."""

    file: int
    piece: tuple[int, int]  # the piece (start, stop) in the recording's samples at the rate
    a: int  # this part's samples [a, b) in the recording's samples
    b: int
    t0: float  # recording time of sample `a` (s)
    starts: np.ndarray  # window starts within the part (flat ones left out)
    dest: int = -1  # where the part starts in its split's file (-1: no window, not written)


@dataclass
class _Plan:
    n: list[int] = field(default_factory=list)  # each recording's samples at the rate
    train: list[_Part] = field(default_factory=list)
    val: list[_Part] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    places: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: {"train": [], "val": []})

    def size(self, split: str) -> int:
        parts = self.train if split == "train" else self.val
        return sum(p.b - p.a for p in parts if p.dest >= 0)


def _flat_of(rec: Recording, names: Sequence[str], rate: float, n: int) -> np.ndarray:
    """`prep.load_channels(..., find_flat=True).flat`, one channel read at a time."""
    from vqstudio.data.flat import flat_mask
    from vqstudio.data.prep import _at_rate

    flat = np.zeros(n, dtype=bool)
    keep = keep_mapped(rec)
    for name in names:
        c = rec.channel(name)
        flat |= _at_rate(flat_mask(read_channel(c, keep), c.rate), c.rate, rate, n)
    release(rec)
    return flat


def _plan(
    recordings: Sequence[Recording], names: Sequence[str], rate: float, window: int, stride: int, config: Any
) -> _Plan:
    """The splits' layout (see the module docstring, step 1), as `prepare` builds it."""
    from vqstudio.data.prep import _clean_starts, _starts, contiguous_pieces

    plan = _Plan()
    for fi, rec in enumerate(recordings):
        chans = [rec.channel(name) for name in names]
        n = min(resampled_length(c.n_samples, c.rate, rate) for c in chans)
        plan.n.append(n)
        flat = _flat_of(rec, names, rate, n) if config.skip_flat else None
        cut = n - round(n * config.val_fraction)
        train_ranges, val_ranges = [], []
        for a, b, off in contiguous_pieces(rec, n, rate):
            for split, lo, hi, step in (("train", a, min(b, cut), stride), ("val", max(a, cut), b, window)):
                if hi <= lo:  # the piece lies wholly on the other side of the cut
                    continue
                s = _starts(hi - lo, window, step)
                t0 = lo / rate + off
                if flat is not None and s.size:
                    keep = _clean_starts(flat[lo:hi], s, window)
                    plan.excluded[split] += int(s.size - keep.size)
                    plan.places[split] += [(fi, t0 + int(x) / rate) for x in np.setdiff1d(s, keep)]
                    s = keep
                (plan.train if split == "train" else plan.val).append(_Part(fi, (a, b), lo, hi, t0, s))
                (train_ranges if split == "train" else val_ranges).append([t0, hi / rate + off])
        src = rec.source
        plan.sources.append(
            {
                "path": os.path.abspath(src.path) if src else None,
                "format": src.format if src else "memory",
                "sha256": rec.sha256,
                "samples": n,
                "train_s": train_ranges,
                "held_out_s": val_ranges,
            }
        )
    for parts in (plan.train, plan.val):
        offset = 0
        for p in parts:
            if p.starts.size:
                p.dest, offset = offset, offset + (p.b - p.a)
    return plan


def _label_arrays(
    plan: _Plan, recordings: Sequence[Recording], config: Any, window: int, rate: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """Per split `(starts, labels, files)` and the label names, in `prepare`'s order (training
    parts first, then held-out, file by file), so label indices are the same."""
    from vqstudio.data.prep import LabelNames, _label_at

    labels = LabelNames()
    names, label_index = labels.names, labels.index

    out = {}
    for split, parts in (("train", plan.train), ("val", plan.val)):
        starts, labels, files = [], [], []
        for p in parts:
            if p.dest < 0:
                continue
            s, rec = p.starts, recordings[p.file]
            starts.append(s + p.dest)
            files.append(np.full(s.size, p.file, dtype=np.int64))
            if config.labels == "annotations":
                mids = p.t0 + (s + window / 2) / rate
                labels.append(np.array([label_index(_label_at(rec, t)) for t in mids], dtype=np.int64))
            elif config.labels == "files":
                stem = os.path.splitext(rec.source.name)[0] if rec.source else f"file{p.file + 1}"
                labels.append(np.full(s.size, label_index(stem), dtype=np.int64))
            else:
                labels.append(np.full(s.size, -1, dtype=np.int64))
        if starts:
            out[split] = (np.concatenate(starts), np.concatenate(labels), np.concatenate(files))
        else:
            empty = np.zeros(0, dtype=np.int64)
            out[split] = (empty, empty.copy(), empty.copy())
    return out, names


# ---------------------------------------------------------------------- the cache files


def _new_npy(path: str, channels: int, samples: int) -> int:
    """Makes `path` a float32 `.npy` of `(channels, samples)` (sparse until written); returns the
    byte offset of its data."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(channels, max(samples, 0)))
    offset = int(mm.offset)
    del mm
    return offset


def _write_at(f: Any, offset: int, values: np.ndarray) -> None:
    f.seek(offset)
    f.write(np.ascontiguousarray(values, dtype=np.float32).tobytes())


def _read_at(path: str, offset: int, count: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.float32, count=count, offset=offset)


def _write_signal(
    recordings: Sequence[Recording],
    names: Sequence[str],
    rate: float,
    config: Any,
    plan: _Plan,
    paths: dict[str, str],
) -> dict[str, int]:
    """Step 2 of the module docstring: every kept part's filtered physical samples into its split's
    file. Returns each file's data offset."""
    from vqstudio.data.prep import filter_piece

    sizes = {s: plan.size(s) for s in ("train", "val")}
    offsets = {s: _new_npy(paths[s], len(names), sizes[s]) for s in ("train", "val")}
    with open(paths["train"], "r+b") as ftrain, open(paths["val"], "r+b") as fval:
        handles = {"train": ftrain, "val": fval}
        for fi, rec in enumerate(recordings):
            parts = [("train", p) for p in plan.train if p.file == fi and p.dest >= 0]
            parts += [("val", p) for p in plan.val if p.file == fi and p.dest >= 0]
            keep = keep_mapped(rec)
            for ci, name in enumerate(names):
                row = _channel_at_rate(rec.channel(name), rate, plan.n[fi], keep)
                if not np.isfinite(row).all():
                    where = rec.source.name if rec.source else "the recording"
                    raise FormatError(
                        f"{where}: channel(s) {name} contain NaN or infinite values; clean or drop them"
                    )
                filtered: dict[tuple[int, int], np.ndarray] = {}
                for split, p in parts:
                    if p.piece not in filtered:  # each piece filtered whole, as `prepare` does
                        a, b = p.piece
                        filtered[p.piece] = filter_piece(row[None, a:b], rate, config)[0]
                    piece = filtered[p.piece]
                    values = piece[p.a - p.piece[0] : p.b - p.piece[0]]
                    at = offsets[split] + 4 * (ci * sizes[split] + p.dest)
                    _write_at(handles[split], at, values)
                del row, filtered
            release(rec)
    return offsets


def _channel_stats(path: str, offset: int, ci: int, size: int, name: str) -> tuple[float, float, bool]:
    """Channel `ci`'s `(centre, scale)` from the training file, as `prep._robust_stats` computes
    them, and whether they were found by chunks (`_chunked_stats`, beyond `STATS_MAX_SAMPLES`)
    rather than from the row held whole."""
    from vqstudio.data.prep import _robust_stats

    if size > STATS_MAX_SAMPLES:
        mean, std = _chunked_stats(path, offset + 4 * ci * size, size, name)
        return mean, std, True
    mean_, std_ = _robust_stats(_read_at(path, offset + 4 * ci * size, size)[None, :], [name])
    return float(mean_[0]), float(std_[0]), False


STATS_BINS = 4096  # histogram bins of each narrowing pass of `_order_statistics`
STATS_COLLECT = 1 << 20  # values of a bin few enough to be read into memory and sorted


def _row_chunks(path: str, at: int, size: int) -> Any:
    """The row of `size` float32 samples at byte `at`, as float64 chunks of `NORMALIZE_CHUNK`."""
    for a in range(0, size, NORMALIZE_CHUNK):
        yield _read_at(path, at + 4 * a, min(size, a + NORMALIZE_CHUNK) - a).astype(np.float64)


def _order_statistics(path: str, at: int, size: int, ranks: Sequence[int]) -> dict[int, float]:
    """The exact values at 0-based `ranks` of the sorted row, never holding the row: each rank's
    range of values is narrowed by histograms of `STATS_BINS` bins (one pass over the row for
    all ranks), until its bin holds at most `STATS_COLLECT` values (read and sorted) or one value."""
    lo, hi = np.inf, -np.inf
    for x in _row_chunks(path, at, size):
        lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    # Per rank: values v with a <= v < b (v <= b when `closed`), how many there are, how many below.
    state = {r: (lo, hi, True, size, 0) for r in ranks}
    found: dict[int, float] = {}
    while len(found) < len(state):
        ranges = sorted({state[r] for r in state if r not in found})
        hists = {k: np.zeros(STATS_BINS, dtype=np.int64) for k in ranges if k[3] > STATS_COLLECT}
        bounds = {k: [np.inf, -np.inf] for k in ranges}
        kept: dict[tuple, list[np.ndarray]] = {k: [] for k in ranges if k[3] <= STATS_COLLECT}
        for x in _row_chunks(path, at, size):
            for k in ranges:
                a, b, closed = k[0], k[1], k[2]
                v = x[(x >= a) & ((x <= b) if closed else (x < b))]
                if not v.size:
                    continue
                bounds[k] = [min(bounds[k][0], float(v.min())), max(bounds[k][1], float(v.max()))]
                if k in kept:
                    kept[k].append(v)
                else:  # bins [e_i, e_i+1), the last closed, as np.histogram counts them
                    hists[k] += np.histogram(v, bins=STATS_BINS, range=(a, b))[0]
        for k in ranges:
            a, b, closed, _count, below = k
            if bounds[k][0] == bounds[k][1]:  # one value fills the range
                found.update({r: bounds[k][0] for r in state if state[r] == k})
            elif k in kept:
                values = np.sort(np.concatenate(kept[k]))
                found.update({r: float(values[r - below]) for r in state if state[r] == k})
            else:
                edges = np.linspace(a, b, STATS_BINS + 1)
                cum = np.concatenate([[0], np.cumsum(hists[k])])
                for r in [r for r in state if state[r] == k]:
                    i = int(np.searchsorted(cum, r - below, side="right")) - 1
                    last = i == STATS_BINS - 1
                    state[r] = (
                        float(edges[i]),
                        float(edges[i + 1]),
                        last and closed,
                        int(hists[k][i]),
                        below + int(cum[i]),
                    )
    return found


def _chunked_stats(path: str, at: int, size: int, name: str) -> tuple[float, float]:
    """`prep._robust_stats` of one channel's row without holding it: the median and the 0.1 and
    99.9 percentiles from exact order statistics (`_order_statistics`, interpolated as numpy's
    linear method does), the stds from float64 sums over chunks (two passes: the mean, then the
    squared deviations, as `np.std`; sums in another order than numpy's, so equal within float64
    rounding, which float32 keeps)."""
    from vqstudio.data.prep import _level

    n = size
    q = np.true_divide(np.array([0.1, 99.9]), 100)
    virtual = (n - 1) * q  # numpy's linear method
    prev = np.clip(np.floor(virtual), 0, n - 1).astype(np.int64)
    nxt = np.clip(prev + 1, 0, n - 1)
    gamma = virtual - np.floor(virtual)
    ranks = sorted({(n - 1) // 2, n // 2, *prev.tolist(), *nxt.tolist()})
    value = _order_statistics(path, at, size, ranks)
    centre = (value[(n - 1) // 2] + value[n // 2]) / 2.0 if n % 2 == 0 else value[n // 2]
    pct = []
    for p_, n_, t in zip(prev.tolist(), nxt.tolist(), gamma.tolist(), strict=True):
        a, b = np.float64(value[p_]), np.float64(value[n_])
        d = b - a
        pct.append(float(b - d * (1 - t)) if t >= 0.5 else float(a + d * t))  # numpy's _lerp
    lo, hi = pct
    sums = np.zeros(2)
    for x in _row_chunks(path, at, size):
        sums += [np.sum(np.clip(x, lo, hi)), np.sum(x)]
    means = sums / n
    squares = np.zeros(2)
    for x in _row_chunks(path, at, size):
        squares += [np.sum((np.clip(x, lo, hi) - means[0]) ** 2), np.sum((x - means[1]) ** 2)]
    clipped, full = np.sqrt(squares / n)
    level = float(_level(np.array([centre]))[0])
    if not (np.isfinite(full) and full > 1e-9 * level):
        raise FormatError(
            f"channel(s) {name} are flat (constant) in the training data, so they carry nothing to "
            "learn; leave them out with --channels"
        )
    return float(np.float32(centre)), float(np.float32(clipped if clipped > 1e-9 * level else full))


def _normalize_file(
    path: str, offset: int, channels: int, size: int, mean: np.ndarray, std: np.ndarray
) -> None:
    """`prep.normalize` over the file, in place, `NORMALIZE_CHUNK` samples of a row at a time."""
    from vqstudio.data.prep import normalize

    with open(path, "r+b") as f:
        for ci in range(channels):
            for a in range(0, size, NORMALIZE_CHUNK):
                b = min(size, a + NORMALIZE_CHUNK)
                at = offset + 4 * (ci * size + a)
                x = _read_at(path, at, b - a)
                _write_at(f, at, normalize(x[None, :], mean[ci : ci + 1], std[ci : ci + 1])[0])


def _key(recordings: Sequence[Recording], names: Sequence[str], rate: float, config: Any, plan: _Plan) -> str:
    """What the cache depends on, hashed: the sources (sha256, or path and size for data in memory),
    the channels, the rate, the prep settings and the layout."""
    described = {
        "version": CACHE_VERSION,
        "sources": [rec.sha256 or (rec.source.path if rec.source else None) for rec in recordings],
        "channels": list(names),
        "rate": float(rate),
        "prep": {k: v for k, v in config.to_json().items() if k != "stream"},
        "train": plan.size("train"),
        "val": plan.size("val"),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()


def _stats_tag(stats: dict) -> str:
    """8 hex digits naming normalisation statistics (their float32 bytes)."""
    digest = hashlib.sha256()
    for k in ("mean", "std"):
        digest.update(np.asarray(stats[k], dtype=np.float32).tobytes())
    return digest.hexdigest()[:8]


def _valid_meta(folder: str, key: str, stats: dict | None) -> dict[str, Any] | None:
    """The cache's `meta.json` when it is complete and made from the same data (and, when `stats`
    are given, normalised with them); None otherwise."""
    try:
        with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or not all(
        os.path.isfile(os.path.join(folder, n)) for n in ("train.npy", "val.npy")
    ):
        return None
    if stats is not None:
        for k in ("mean", "std"):
            if not np.array_equal(np.asarray(stats[k], np.float32), np.asarray(meta[k], np.float32)):
                return None
    return meta


def _check_disk(folder: str, needed: int) -> None:
    """Refuses (`OutputError`, one line) a cache the disk cannot hold, before writing any of it."""
    from vqstudio.errors import OutputError

    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise OutputError(
            f"the window cache needs {needed / 1e9:.1f} GB in {folder} and the disk has {free / 1e9:.1f} GB "
            "free; free some space, or train on fewer files or channels or at a lower --resample rate"
        )


def _build(
    folder: str,
    key: str,
    recordings: Sequence[Recording],
    names: Sequence[str],
    rate: float,
    config: Any,
    plan: _Plan,
    stats: dict | None,
) -> dict[str, Any]:
    """Writes the cache (steps 2-4) into `folder`: the two split files, then `meta.json` last."""
    from vqstudio.io.atomic import atomic_path, write_json

    os.makedirs(folder, exist_ok=True)
    _check_disk(folder, 4 * len(names) * (plan.size("train") + plan.size("val")))
    with contextlib.suppress(OSError):
        os.remove(os.path.join(folder, "meta.json"))  # the files below change: not complete until rewritten
    owner = os.path.dirname(os.path.dirname(os.path.abspath(folder)))
    with contextlib.ExitStack() as stack:
        paths = {
            s: stack.enter_context(atomic_path(os.path.join(folder, f"{s}.npy"), owner=owner))
            for s in ("train", "val")
        }
        offsets = _write_signal(recordings, names, rate, config, plan, paths)
        size = plan.size("train")
        chunked = False
        if stats is not None:
            mean = np.asarray(stats["mean"], dtype=np.float32)
            std = np.asarray(stats["std"], dtype=np.float32)
        else:
            found = [
                _channel_stats(paths["train"], offsets["train"], ci, size, n) for ci, n in enumerate(names)
            ]
            mean = np.array([m for m, _s, _u in found], dtype=np.float32)
            std = np.array([s for _m, s, _u in found], dtype=np.float32)
            chunked = any(u for _m, _s, u in found)
        for s in ("train", "val"):
            _normalize_file(paths[s], offsets[s], len(names), plan.size(s), mean, std)
    meta = {
        "key": key,
        "version": CACHE_VERSION,
        "channels": list(names),
        "rate": float(rate),
        "train_samples": plan.size("train"),
        "val_samples": plan.size("val"),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        # How the statistics came: given (a project's stored ones), or computed from the rows.
        "statistics": "given"
        if stats is not None
        else ("by chunks: exact order statistics, float64 sums" if chunked else "rows held whole"),
    }
    write_json(os.path.join(folder, "meta.json"), meta, owner=owner)
    return meta


def _temporary_folder() -> str:
    return tempfile.mkdtemp(prefix="vqstudio-windows-")


def prepare_streamed(
    recordings: Sequence[Recording],
    config: Any,
    names: Sequence[str],
    rate: float,
    window: int,
    stride: int,
    stats: dict | None,
    cache: str | None,
    output_rate: float | None,
    working: dict[str, Any] | None,
) -> Any:
    """`prepare`'s result, its splits a cache on disk (see the module docstring).

    `cache` is the folder of caches (a project's `cache/`; each cache is a subfolder named by its
    key); None makes a temporary one, removed with the returned data. `config` has its window;
    `rate`, `window`, `stride` are `prepare`'s. In a distributed run rank 0 writes the cache and
    the others wait, then read it."""
    from vqstudio import distributed
    from vqstudio.data.prep import ChannelInfo, PreparedData, Split

    plan = _plan(recordings, names, rate, window, stride, config)
    arrays, label_names = _label_arrays(plan, recordings, config, window, rate)
    if len(arrays["train"][0]) == 0 and plan.excluded["train"]:
        raise FormatError(
            f"every training window holds a flat (constant) or saturated stretch ({plan.excluded['train']} "
            "left out): the recordings carry no usable signal in the chosen channels"
        )
    if len(arrays["train"][0]) == 0:
        longest = max((p.b - p.a for p in plan.train), default=0) / rate
        raise FormatError(
            f"too little data for one window: the window is {window / rate:g} s but the longest "
            f"training stretch is {longest:.2f} s; give longer recordings or a shorter --window"
        )
    key = _key(recordings, names, rate, config, plan)
    temporary = cache is None
    root = _temporary_folder() if cache is None else cache
    folder = os.path.join(root, f"{CACHE_PREFIX}{key[:16]}")
    if stats is not None and _valid_meta(folder, key, None) and not _valid_meta(folder, key, stats):
        # The same windows normalised otherwise (a project's stored statistics that are not the
        # ones computed from the data): a cache of their own, so a cache that a running training
        # reads is never written over with other values.
        folder += "-" + _stats_tag(stats)

    def build() -> None:
        if _valid_meta(folder, key, stats) is None:
            _build(folder, key, recordings, names, rate, config, plan, stats)

    if temporary:  # a folder of this process's own: every process writes its own
        build()
    else:
        distributed.main_first(build)
    meta = _valid_meta(folder, key, stats)
    if meta is None:
        raise InputFileError(
            f"the window cache {folder} is incomplete after it was written; remove it and retry"
        )
    chans = [recordings[0].channel(n) for n in names]
    infos = [ChannelInfo.of(c) for c in chans]
    splits = {}
    for s in ("train", "val"):
        data = np.load(os.path.join(folder, f"{s}.npy"), mmap_mode="r", allow_pickle=False)
        splits[s] = Split(data, *arrays[s])
    prepared = PreparedData(
        replace(config, stream=True),
        infos,
        rate,
        window,
        np.asarray(meta["mean"], dtype=np.float32),
        np.asarray(meta["std"], dtype=np.float32),
        splits["train"],
        splits["val"],
        label_names,
        plan.sources,
        output_rate,
        working,
        excluded_flat=plan.excluded,
        flat_places=plan.places,
    )
    if temporary:  # the temporary cache goes with the data (the maps keep the files readable on POSIX)
        weakref.finalize(prepared, shutil.rmtree, root, True)
    return prepared


# ---------------------------------------------------------------------- the working rate


def pooled_psd_streamed(
    recordings: Sequence[Recording], names: Sequence[str], source: float, config: Any
) -> tuple[np.ndarray, np.ndarray]:
    """`working_rate._pooled_psd` of the training pieces `prep._choose_working_rate` gives it, one
    channel of one piece at a time: the same segments and weights, so the same spectrum."""
    from vqstudio.data.prep import contiguous_pieces, filter_piece
    from vqstudio.data.working_rate import SEGMENT_S
    from vqstudio.spectra import default_nperseg
    from vqstudio.spectra import welch_psd as _welch

    pieces: list[tuple[int, int, int]] = []  # (file, start, stop) of each training piece
    for fi, rec in enumerate(recordings):
        n = min(rec.channel(name).n_samples for name in names)
        cut = n - round(n * config.val_fraction)
        pieces += [(fi, a, min(b, cut)) for a, b, _off in contiguous_pieces(rec, n, source) if a < cut]
    seg = default_nperseg(max(b - a for _f, a, b in pieces), source, seconds=SEGMENT_S)
    used = [(f, a, b) for f, a, b in pieces if b - a >= seg]
    if not used:
        raise FormatError("too little data to choose a working rate; give longer recordings or --resample")
    # File by file (each file mapped once), each channel's sum over the pieces in `used`'s order,
    # as `_pooled_psd` adds up the rows of its pieces.
    sums: list[np.ndarray | None] = [None] * len(names)
    weight = 0.0
    freqs: np.ndarray | None = None
    for fi in sorted({f for f, _a, _b in used}):
        rec = recordings[fi]
        n = min(rec.channel(nm).n_samples for nm in names)
        keep = keep_mapped(rec)
        own = [(a, b) for f, a, b in used if f == fi]
        for ci, name in enumerate(names):
            row = read_channel(rec.channel(name), keep)[:n]
            for a, b in own:
                x = filter_piece(row[None, a:b], source, config)
                freqs, p = _welch(x, source, seg)
                p = np.atleast_2d(p)[0] * (b - a)
                sums[ci] = p if sums[ci] is None else sums[ci] + p
            del row
        weight += sum(b - a for a, b in own)
        release(rec)
    assert freqs is not None and all(row is not None for row in sums)
    return freqs, np.stack([row / weight for row in sums if row is not None])


def choose_working_rate_streamed(
    recordings: Sequence[Recording], names: Sequence[str], source: float, config: Any
) -> dict[str, Any]:
    """`prep._choose_working_rate` without holding the recordings: the spectrum streamed."""
    from vqstudio.data.working_rate import choose_from_psd

    f, p = pooled_psd_streamed(recordings, names, source, config)
    return choose_from_psd(f, p, source)
