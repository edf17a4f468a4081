"""Data preparation: recordings in, normalised windows out, split by time.

`prepare(recordings, config)` picks channels, resamples them to the project's rate (polyphase),
filters them if asked, splits each file BY TIME into a training part and a held-out part (the
last `val_fraction` of each file), computes per-channel normalisation statistics on the
training part only, and lists window start indices with a stride so that no window straddles a
gap of an EDF+D file. Each split keeps its signal once, as one float32 `(channels, samples)`
array (the contiguous pieces of every file joined); windows are gathered by index, never copied
per window. (`vqstudio.project.windows` rebuilds exactly the same thing from `project.json`.)
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from vqstudio.data.defaults import default_channels, fit_window
from vqstudio.data.flat import flat_mask
from vqstudio.errors import ChannelError, FormatError, InputFileError, LimitError
from vqstudio.ranges import Range
from vqstudio.recording import Channel, Recording, clean_label
from vqstudio.resources import check_memory

__all__ = [
    "ChannelInfo",
    "LoadedChannels",
    "PrepConfig",
    "PreparedData",
    "Split",
    "contiguous_pieces",
    "denormalize",
    "filter_piece",
    "load_channels",
    "normalize",
    "prepare",
    "window_samples",
]

LABEL_MODES = ("none", "annotations", "files")
NORMALIZATION = "median; std of values clipped to the 0.1..99.9 percentiles (training part only)"


# The window a new project may ask for, in seconds: shorter holds too little of a slow rhythm,
# longer makes batches the CPU cannot hold (a stored project keeps whatever it was given). Its
# default, 4 s, is adapted to slow channels and short recordings (`vqstudio.data.defaults`).
WINDOW_S = Range(0.25, 60.0, 4.0)
# The window of projects stored without one (the default before windows were fitted).
STORED_WINDOW_S = 4.0
# A rate to resample to, in Hz: above any biosignal amplifier.
RATE_HZ = Range(0.0, 1e6, open_low=True)


@dataclass(frozen=True)
class PrepConfig:
    """How recordings become training windows (stored in project.json as `prep`)."""

    channels: tuple[str, ...] | None = None  # None: `defaults.default_channels` of the first recording
    resample: float | None = None  # the project's rate; None: the chosen channels' rate
    bandpass: tuple[float, float] | None = None  # Hz; either bound may be 0 / None-like (<= 0: off)
    notch: float | None = None  # Hz (mains: 50 or 60)
    # Seconds; None: fitted to the rate and length (`defaults.fit_window`) when prepared, and
    # stored as the number it came to (`PreparedData.config`).
    window_s: float | None = None
    stride_s: float | None = None  # None: a quarter of the window (training); held-out uses the window
    val_fraction: float = 0.1
    labels: str = "none"  # "none" | "annotations" | "files"
    # Window samples are a multiple of this: the train job sets the chosen tokenizer's
    # downsampling (`tokenizer_stage.window_multiple`); 16 suits every preset when unset.
    multiple: int = 16
    # With no `resample`: train at a working rate chosen from the spectrum (vqstudio.data.
    # working_rate) and give generated recordings the source rate back. Off here and in projects
    # stored before it existed (so they rebuild as they were); `TrainSettings` turns it on.
    working_rate: bool = False
    # Leave out of both splits every window holding a flat (constant) or saturated stretch of
    # any channel (`vqstudio.data.flat`): a lead off or a rail is not signal to learn or judge.
    # Off here and in projects stored before it existed; `TrainSettings` turns it on.
    skip_flat: bool = False
    # Prepare by streaming (`vqstudio.data.stream`): windows in a cache on disk, read as training
    # needs them, never all in memory (`--stream`; a run also streams when the data would not fit,
    # `stream.should_stream`). Same windows either way. Stored only when set (old projects: off).
    stream: bool = False

    def __post_init__(self) -> None:
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(self.channels))
        if self.bandpass is not None:
            object.__setattr__(self, "bandpass", tuple(float(b) for b in self.bandpass))
        if self.window_s is not None and self.window_s <= 0:
            raise ValueError(f"window must be positive, got {self.window_s} s")
        if self.stride_s is not None and self.stride_s <= 0:
            raise ValueError(f"stride must be positive, got {self.stride_s} s")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ValueError(f"held-out fraction must be in [0, 0.9), got {self.val_fraction}")
        if self.labels not in LABEL_MODES:
            raise ValueError(f"labels must be one of {LABEL_MODES}, got '{self.labels}'")
        if self.resample is not None and self.resample <= 0:
            raise ValueError(f"--resample must be a positive rate, got {self.resample}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels) if self.channels is not None else None
        d["bandpass"] = list(self.bandpass) if self.bandpass is not None else None
        if not self.stream:  # a project prepared in memory stores what it stored before streaming existed
            del d["stream"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PrepConfig:
        d = dict(d)
        if d.get("channels") is not None:
            d["channels"] = tuple(d["channels"])
        if d.get("bandpass") is not None:
            d["bandpass"] = tuple(d["bandpass"])
        d.setdefault("window_s", STORED_WINDOW_S)  # stored before windows were fitted
        return cls(**d)


@dataclass(frozen=True)
class ChannelInfo:
    """A project channel and what the source file said about it (export keeps these)."""

    label: str
    unit: str
    transducer: str
    prefilter: str
    physical_min: float
    physical_max: float
    source_rate: float

    @classmethod
    def of(cls, channel: Any) -> ChannelInfo:
        """What a recording's channel (`recording.Channel`) says of itself."""
        return cls(
            label=channel.name,
            unit=channel.unit,
            transducer=channel.transducer,
            prefilter=channel.prefilter,
            physical_min=float(channel.physical_min),
            physical_max=float(channel.physical_max),
            source_rate=float(channel.rate),
        )


class LabelNames:
    """Label texts in the order first met, each with its index (-1 for no label)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, text: str | None) -> int:
        """The index of `text`, numbering it when it is new; -1 for None."""
        if text is None:
            return -1
        if text not in self._index:
            self._index[text] = len(self.names)
            self.names.append(text)
        return self._index[text]


@dataclass
class Split:
    """One split's signal (normalised, one array) and its windows.

    `data` is `(channels, samples)` float32: the contiguous pieces of every file, joined. A
    window `i` is `data[:, starts[i] : starts[i] + window]`; `labels[i]` is an index into
    `PreparedData.label_names` or -1; `files[i]` the source file's index.
    """

    data: np.ndarray
    starts: np.ndarray
    labels: np.ndarray
    files: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.size)


@dataclass
class PreparedData:
    """What training and evaluation need from the recordings (see the module docstring)."""

    config: PrepConfig
    channels: list[ChannelInfo]
    rate: float
    window: int
    mean: np.ndarray  # (channels,) float32
    std: np.ndarray  # (channels,) float32
    train: Split
    val: Split
    label_names: list[str]
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Set when the rate is a working rate (`PrepConfig.working_rate`): the source rate that
    # generation gives back, and the spectrum above the working band that it fills in.
    output_rate: float | None = None
    working: dict[str, Any] | None = None
    # Windows left out for a flat or saturated stretch (`PrepConfig.skip_flat`), per split.
    excluded_flat: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    # Where those windows start, per split: (index of the source file, recording time in s).
    flat_places: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: {"train": [], "val": []})

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    @property
    def units(self) -> list[str]:
        return [c.unit for c in self.channels]

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def windows(self, split: str = "val", index: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Normalised windows `(n, channels, window)` float32 of `split` ('train'/'val') (copies)."""
        s = self.val if split == "val" else self.train
        starts = s.starts if index is None else s.starts[np.asarray(index, dtype=np.int64)]
        if isinstance(s.data, np.memmap):  # a cache on disk: read through a mapping of its own
            from vqstudio.data.stream import gather_windows

            return gather_windows(s.data, starts, self.window)
        idx = starts[:, None] + np.arange(self.window)[None, :]
        return np.ascontiguousarray(s.data[:, idx].transpose(1, 0, 2))

    def physical(self, x: np.ndarray) -> np.ndarray:
        """Normalised `(..., channels, samples)` back to physical units."""
        return denormalize(x, self.mean, self.std)


def normalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Physical `(..., channels, samples)` to normalised: `(x - mean) / std` per channel."""
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    return ((np.asarray(x, dtype=np.float32) - m) / s).astype(np.float32, copy=False)


def denormalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Normalised `(..., channels, samples)` back to physical units: `x * std + mean`."""
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    return (np.asarray(x, dtype=np.float32) * s + m).astype(np.float32, copy=False)


def window_samples(window_s: float, rate: float, multiple: int = 16) -> int:
    """Window length in samples: `window_s * rate` rounded to the nearest multiple (at least one)."""
    return max(multiple, round(window_s * rate / multiple) * multiple)


# ---------------------------------------------------------------------- channel choice


def _name(rec: Recording) -> str:
    return rec.source.name if rec.source else "the recording"


def choose_channels(recordings: Sequence[Recording], wanted: Sequence[str] | None) -> list[str]:
    """Names (cleaned labels) of the channels to train on, checked against every file: `wanted`,
    or the defaults of the first recording (`defaults.default_channels`: the rate that carries
    the signal, housekeeping channels left out)."""
    first = recordings[0]
    if wanted is None:
        names = default_channels(first)
        if not names:
            if first.channels and all(c.n_samples == 0 for c in first.channels):
                raise ChannelError(f"{_name(first)} holds no samples (0 data records): the file is empty")
            raise ChannelError(f"{_name(first)} has no signal channels")
    else:
        names = [clean_label(w) for w in wanted if w.strip()]
        if not names:
            raise ChannelError("--channels is empty; give labels separated by commas")
    if len(set(names)) != len(names):
        dup = [n for n, k in Counter(names).items() if k > 1]
        raise ChannelError(f"channel(s) {', '.join(dup)} named twice; each channel may appear once")
    for rec in recordings:
        for n in names:
            rec.channel_index(n)  # raises ChannelError naming the file and its channels
    return names


def _project_rate(recordings: Sequence[Recording], names: Sequence[str], resample: float | None) -> float:
    if resample is not None:
        return float(resample)
    rates = {rec.channel(n).rate for rec in recordings for n in names}
    if len(rates) > 1:
        shown = ", ".join(f"{n} {recordings[0].channel(n).rate:g} Hz" for n in names[:8]) + (
            ", ..." if len(names) > 8 else ""
        )
        raise ChannelError(
            f"the chosen channels have no common rate ({shown}; rates {sorted(rates)}); "
            "choose channels of one rate or give --resample HZ"
        )
    return float(rates.pop())


MAX_UPSAMPLING = 4  # --resample above this multiple of the source rate only invents samples
# Peak memory of preparing and training, per sample of each chosen channel at the larger of the
# source and project rates: the whole-file reads, the float64 filtering, the normalised pieces
# and the windows. Measured above the 1 GB a one-minute run takes (bench/train_memory.py, 2 cores):
# 27 bytes with 2 channels x 2e7 samples (peak 2.0 GB), 36 with 2 x 5e7 (4.6 GB).
PREP_BYTES_PER_SAMPLE = 64


def _check_size(
    recordings: Sequence[Recording], names: Sequence[str], rate: float, *, memory: bool = True
) -> None:
    """Refuses (`LimitError`) a rate far above the sources' or (with `memory`) data the memory
    cannot hold (a streamed preparation holds one channel at a time: it checks the rate only)."""
    top = max(rec.channel(n).rate for rec in recordings for n in names)
    if rate > MAX_UPSAMPLING * top:
        raise LimitError(
            f"a project rate of {rate:g} Hz is more than {MAX_UPSAMPLING} times the highest source rate "
            f"({top:g} Hz); resample to at most {MAX_UPSAMPLING * top:g} Hz"
        )
    if not memory:
        return
    seconds = sum(max(rec.channel(n).duration for n in names) for rec in recordings)
    check_memory(
        PREP_BYTES_PER_SAMPLE * seconds * max(rate, top) * len(names),
        f"{_duration_text(seconds)} of {len(names)} channel{'s' if len(names) > 1 else ''} "
        f"at {max(rate, top):g} Hz",
        "choose fewer channels or files, or a lower --resample rate",
    )


def _duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 3600:.1f} hours" if seconds >= 3 * 3600 else f"{seconds / 60:.0f} minutes"


# ---------------------------------------------------------------------- signal processing


def _resample(x: np.ndarray, src: float, dst: float) -> np.ndarray:
    if abs(src - dst) < 1e-9:
        return x
    from scipy.signal import resample_poly

    frac = Fraction(dst / src).limit_denominator(1000)
    return resample_poly(x, frac.numerator, frac.denominator, axis=-1).astype(np.float32)


def filter_piece(x: np.ndarray, rate: float, config: PrepConfig) -> np.ndarray:
    """Zero-phase band-pass / notch along the last axis (pieces too short to filter are kept)."""
    from scipy import signal

    nyq = rate / 2
    if config.bandpass is not None:
        lo, hi = config.bandpass
        lo = lo if lo and lo > 0 else None
        hi = hi if hi and 0 < hi < nyq else None
        if lo and hi:
            sos = signal.butter(4, [lo, hi], btype="bandpass", fs=rate, output="sos")
        elif lo:
            sos = signal.butter(4, lo, btype="highpass", fs=rate, output="sos")
        elif hi:
            sos = signal.butter(4, hi, btype="lowpass", fs=rate, output="sos")
        else:
            sos = None
        if sos is not None and x.shape[-1] > 3 * 2 * sos.shape[0] * 3:
            x = signal.sosfiltfilt(sos, x, axis=-1)
    if config.notch and 0 < config.notch < nyq:
        b, a = signal.iirnotch(config.notch, 30.0, fs=rate)
        if x.shape[-1] > 3 * max(len(a), len(b)) * 3:
            x = signal.filtfilt(b, a, x, axis=-1)
    return np.asarray(x, dtype=np.float32)


def contiguous_pieces(rec: Recording, n: int, rate: float) -> list[tuple[int, int, float]]:
    """Contiguous runs `(start, stop, time_offset_s)` of a channel of `n` samples at `rate`.

    Readers join the data records of an EDF+D file (the samples hold no gaps) and list each
    gap in seconds of the file's time axis, so a gap is a cut point at its position in the
    joined samples. `time_offset_s` maps a piece's sample `i` to recording time `i / rate + offset`
    (annotations are on that time axis).
    """
    pieces: list[tuple[int, int, float]] = []
    pos, shift = 0, 0.0
    for g in sorted(rec.gaps, key=lambda g: g.start):
        cut = min(n, max(pos, round((g.start - shift) * rate)))
        pieces.append((pos, cut, shift))
        pos = cut
        shift += max(0.0, g.stop - g.start)
    pieces.append((pos, n, shift))
    return [(a, b, off) for a, b, off in pieces if b > a]


class LoadedChannels(NamedTuple):
    """`load_channels`' result: the signal, its channels, and (when asked) where it is flat."""

    x: np.ndarray  # (channels, samples) float32 physical values at the asked rate
    channels: list[Channel]
    flat: np.ndarray | None  # (samples,) bool: any channel flat or saturated there; None unasked


def load_channels(
    rec: Recording, names: Sequence[str], rate: float, *, find_flat: bool = False
) -> LoadedChannels:
    """The named channels at `rate` as `(channels, samples)` float32 physical values.

    With `find_flat`, also the samples where any channel is flat or saturated (`flat.flat_mask`),
    judged at the channel's own rate: resampling would turn a constant into a ripple."""
    chans = [rec.channel(n) for n in names]
    rows, flats = [], []
    for c in chans:
        x = np.asarray(c.read(0, c.n_samples), dtype=np.float32)
        if find_flat:
            flats.append((flat_mask(x, c.rate), c.rate))
        rows.append(_resample(x, c.rate, rate) if c.rate != rate else x)
    n = min(r.size for r in rows)
    flat = None
    if find_flat:
        flat = np.zeros(n, dtype=bool)
        for mask, src_rate in flats:
            flat |= _at_rate(mask, src_rate, rate, n)
    return LoadedChannels(np.stack([r[:n] for r in rows]), chans, flat)


def _at_rate(mask: np.ndarray, src: float, dst: float, n: int) -> np.ndarray:
    """A per-sample mask at `src` Hz carried to `n` samples at `dst` Hz: a sample is flagged
    when a source sample within its span is."""
    if src == dst:
        return mask[:n]
    t = np.arange(n) * (src / dst)
    lo = np.clip(np.floor(t).astype(np.int64), 0, mask.size - 1)
    hi = np.clip(np.ceil(t).astype(np.int64), 0, mask.size - 1)
    return mask[lo] | mask[hi]


def _check_values(x: np.ndarray, rec: Recording, names: Sequence[str]) -> None:
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        which = ", ".join(n for n, b in zip(names, bad, strict=True) if b)
        raise FormatError(
            f"{_name(rec)}: channel(s) {which} contain NaN or infinite values; clean or drop them"
        )


def _label_at(rec: Recording, t: float) -> str | None:
    """Text of the annotation covering time `t` (the latest-starting one when several do)."""
    best = None
    for a in rec.annotations:
        if a.onset <= t < a.end and (best is None or a.onset >= best.onset):
            best = a
    return best.text.strip() if best is not None and best.text.strip() else None


def _starts(length: int, window: int, stride: int) -> np.ndarray:
    if length < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, length - window + 1, stride, dtype=np.int64)


# ---------------------------------------------------------------------- prepare


# A piece of one split: (signal, flat samples or None, file index, time offset (s), recording).
_Part = tuple[np.ndarray, "np.ndarray | None", int, float, Recording]


def _slice(flat: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    return None if flat is None else flat[a:b]


def _clean_starts(flat: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The window starts whose `window` samples hold no flagged (flat) sample."""
    flagged = np.concatenate([[0], np.cumsum(flat, dtype=np.int64)])
    return starts[flagged[starts + window] == flagged[starts]]


def prepare(
    recordings: Sequence[Recording],
    config: PrepConfig = PrepConfig(),
    stats: dict | None = None,
    rate: float | None = None,
    *,
    new: bool = False,
    cache: str | None = None,
) -> PreparedData:
    """Turns recordings into normalised, split windows (see the module docstring).

    `stats` (`{"mean": [...], "std": [...]}`) reuses stored statistics instead of computing them;
    `rate`, a project's stored rate, is used instead of choosing a working rate again (with
    `config.working_rate`; a stored project keeps its rate whatever the rule would say today).
    `new`: the data of a new project, whose window must hold the model's minimum of samples
    (`defaults.min_window_samples`; a stored project keeps what it was given). A `window_s` of
    None is fitted to the rate and length (`defaults.fit_window`); `PreparedData.config` holds
    the seconds it came to. Raises `ChannelError`/`FormatError`/`LimitError` with one clear line
    for unusable input.

    Streaming (`vqstudio.data.stream`): with `config.stream`, or when `cache` (a folder for the
    window cache, a project's `cache/`) is given and the data would take more than half the memory
    available, the windows are prepared into a cache on disk (in `cache`, or a temporary folder
    removed with the data) and the splits' `data` are memory maps of it: the same windows,
    statistics and labels, never all in memory. Otherwise everything below runs as it always has.
    """
    if not recordings:
        raise InputFileError("no input recordings given")
    names = choose_channels(recordings, config.channels)
    source_rate = _project_rate(recordings, names, config.resample)
    output_rate: float | None = None
    working: dict[str, Any] | None = None
    from vqstudio.data import stream as streaming

    stream = streaming.should_stream(recordings, names, source_rate, config.stream, cache)
    if config.working_rate and config.resample is None:
        _check_size(recordings, names, source_rate, memory=not stream)
        output_rate = source_rate
        if rate is None:
            choose = streaming.choose_working_rate_streamed if stream else _choose_working_rate
            working = choose(recordings, names, source_rate, config)
            rate = float(working["rate"])
    else:
        rate = source_rate
    _check_size(recordings, names, rate, memory=not stream)
    config = _with_window(config, recordings, names, rate, new)
    assert config.window_s is not None
    window = window_samples(config.window_s, rate, config.multiple)
    stride = max(1, round((config.stride_s if config.stride_s else config.window_s / 4) * rate))
    if stream:
        return streaming.prepare_streamed(
            recordings, config, names, rate, window, stride, stats, cache, output_rate, working
        )

    infos: list[ChannelInfo] | None = None
    train_parts: list[_Part] = []
    val_parts: list[_Part] = []
    sources: list[dict[str, Any]] = []
    for fi, rec in enumerate(recordings):
        x, chans, flat = load_channels(rec, names, rate, find_flat=config.skip_flat)
        _check_values(x, rec, names)
        if infos is None:
            infos = [ChannelInfo.of(c) for c in chans]
        n = x.shape[1]
        # Split by time: the last val_fraction of the file's samples are held out.
        cut = n - round(n * config.val_fraction)
        train_ranges, val_ranges = [], []
        for a, b, off in contiguous_pieces(rec, n, rate):
            piece = filter_piece(x[:, a:b], rate, config)
            if a < cut:
                e = min(b, cut)
                train_parts.append((piece[:, : e - a], _slice(flat, a, e), fi, a / rate + off, rec))
                train_ranges.append([a / rate + off, e / rate + off])
            if b > cut:
                s = max(a, cut)
                val_parts.append((piece[:, s - a :], _slice(flat, s, b), fi, s / rate + off, rec))
                val_ranges.append([s / rate + off, b / rate + off])
        src = rec.source
        sources.append(
            {
                "path": os.path.abspath(src.path) if src else None,
                "format": src.format if src else "memory",
                "sha256": rec.sha256,
                "samples": n,
                "train_s": train_ranges,
                "held_out_s": val_ranges,
            }
        )
    assert infos is not None

    # Labels: annotation texts or file stems become indices into label_names.
    labels = LabelNames()
    label_names, label_index = labels.names, labels.index

    excluded = {"train": 0, "val": 0}
    places: dict[str, list[tuple[int, float]]] = {"train": [], "val": []}

    def build(parts: list[_Part], step: int, split: str) -> Split:
        datas, starts, labels, files = [], [], [], []
        offset = 0
        for x, flat, fi, t0, rec in parts:
            s = _starts(x.shape[1], window, step)
            if flat is not None and s.size:
                keep = _clean_starts(flat, s, window)
                excluded[split] += int(s.size - keep.size)
                places[split] += [(fi, t0 + int(a) / rate) for a in np.setdiff1d(s, keep)]
                s = keep
            if s.size:
                datas.append(x)
                starts.append(s + offset)
                files.append(np.full(s.size, fi, dtype=np.int64))
                if config.labels == "annotations":
                    mids = t0 + (s + window / 2) / rate
                    labels.append(np.array([label_index(_label_at(rec, t)) for t in mids], dtype=np.int64))
                elif config.labels == "files":
                    stem = os.path.splitext(rec.source.name)[0] if rec.source else f"file{fi + 1}"
                    labels.append(np.full(s.size, label_index(stem), dtype=np.int64))
                else:
                    labels.append(np.full(s.size, -1, dtype=np.int64))
                offset += x.shape[1]
        if not datas:
            empty = np.zeros(0, dtype=np.int64)
            return Split(np.zeros((len(names), 0), dtype=np.float32), empty, empty.copy(), empty.copy())
        return Split(
            np.ascontiguousarray(np.concatenate(datas, axis=1), dtype=np.float32),
            np.concatenate(starts),
            np.concatenate(labels),
            np.concatenate(files),
        )

    train = build(train_parts, stride, "train")
    if len(train) == 0 and excluded["train"]:
        # A channel constant throughout gets its own message, naming it and what to leave out.
        _refuse_constant_channels(np.concatenate([p[0] for p in train_parts], axis=1), names)
        raise FormatError(
            f"every training window holds a flat (constant) or saturated stretch ({excluded['train']} "
            "left out): the recordings carry no usable signal in the chosen channels"
        )
    if len(train) == 0:
        longest = max((p[0].shape[1] for p in train_parts), default=0) / rate
        raise FormatError(
            f"too little data for one window: the window is {window / rate:g} s but the longest "
            f"training stretch is {longest:.2f} s; give longer recordings or a shorter --window"
        )
    val = build(val_parts, window, "val")

    if stats is not None:
        mean = np.asarray(stats["mean"], dtype=np.float32)
        std = np.asarray(stats["std"], dtype=np.float32)
    else:
        mean, std = _robust_stats(train.data, names)
    train.data = normalize(train.data, mean, std)
    val.data = normalize(val.data, mean, std)
    return PreparedData(
        config,
        infos,
        rate,
        window,
        mean,
        std,
        train,
        val,
        label_names,
        sources,
        output_rate,
        working,
        excluded_flat=excluded,
        flat_places=places,
    )


def _with_window(
    config: PrepConfig, recordings: Sequence[Recording], names: Sequence[str], rate: float, new: bool
) -> PrepConfig:
    """`config` with its window in seconds: the one asked for (checked against the model's
    minimum for a `new` project), or one fitted to the rate and the shortest training part."""
    if config.window_s is not None and not new:
        return config
    seconds = min(max(rec.channel(n).duration for n in names) for rec in recordings)
    window_s = fit_window(
        rate,
        seconds * (1 - config.val_fraction),
        config.multiple,
        config.window_s,
        limits=WINDOW_S,
        what=_name(recordings[0]) if len(recordings) == 1 else "the shortest recording",
    )
    return replace(config, window_s=window_s)


def _choose_working_rate(
    recordings: Sequence[Recording], names: Sequence[str], source_rate: float, config: PrepConfig
) -> dict[str, Any]:
    """The working rate and fill spectrum (`vqstudio.data.working_rate.choose_working_rate`) from
    the training part of every file at the source rate, filtered as the project filters."""
    from vqstudio.data.working_rate import choose_working_rate

    pieces = []
    for rec in recordings:
        x = load_channels(rec, names, source_rate).x
        cut = x.shape[1] - round(x.shape[1] * config.val_fraction)
        for a, b, _off in contiguous_pieces(rec, x.shape[1], source_rate):
            if a < cut:
                pieces.append(filter_piece(x[:, a : min(b, cut)], source_rate, config))
        del x
    return choose_working_rate(pieces, source_rate)


def _level(centre: np.ndarray) -> np.ndarray:
    """The size against which a channel's std counts as zero: |median|, kept above 1e-30."""
    return np.maximum(np.abs(centre), 1e-30)


def _refuse_constant_channels(
    x: np.ndarray, names: Sequence[str], level: np.ndarray | None = None
) -> np.ndarray:
    """Each channel's std (float64); `FormatError` naming the channels that are constant (std at
    most 1e-9 of their `level`, by default `_level` of the median) and what to leave out."""
    x64 = np.asarray(x, dtype=np.float64)
    full = np.std(x64, axis=1)
    if level is None:
        level = _level(np.median(x64, axis=1))
    flat = [n for n, f, m in zip(names, full, level, strict=True) if not (math.isfinite(f) and f > 1e-9 * m)]
    if flat:
        keep = [n for n in names if n not in flat]
        advice = f"leave them out with --channels {','.join(keep)}" if keep else "choose other channels"
        raise FormatError(
            f"channel(s) {', '.join(flat)} are flat (constant) in the training data, so they carry "
            f"nothing to learn; {advice}"
        )
    return full


def _robust_stats(x: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel centre (median) and scale (std after clipping the 0.1 % tails).

    In float64 and relative to each channel's level: float32 sums give a constant channel at
    -187500 a std of 0.0156, which then passes for signal and blows up the normalisation."""
    x64 = np.asarray(x, dtype=np.float64)
    mean = np.median(x64, axis=1)
    lo, hi = np.percentile(x64, [0.1, 99.9], axis=1)
    std = np.array([np.std(np.clip(row, a, b)) for row, a, b in zip(x64, lo, hi, strict=True)])
    level = _level(mean)
    full = _refuse_constant_channels(x64, names, level)
    # A channel that is almost always constant with rare spikes: fall back on the plain std.
    std = np.where(std > 1e-9 * level, std, full)
    return mean.astype(np.float32), std.astype(np.float32)
