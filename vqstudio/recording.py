"""The one in-memory model of a recording, used by readers, writers, preparation and sampling.

A `Recording` holds `Channel`s (label, unit, rate, physical range, transducer, prefilter and
samples in physical units), `Annotation`s and a start time. Samples of large files stay on disk
until asked for: a channel made by a reader holds a `SampleSource` and reads only the span a
caller wants (`Channel.read`), or everything on first access to `Channel.samples`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from vqstudio.errors import ChannelError, FormatError

__all__ = [
    "Annotation",
    "Channel",
    "Gap",
    "Recording",
    "SampleSource",
    "Source",
    "clean_label",
    "file_sha256",
]

SYNTHETIC_MARK = "VQ Studio synthetic"
# A reconstruction is the tokenizer's copy of a real recording: not synthetic (it carries the
# person's data), so it is marked as what it is.
RECONSTRUCTION_MARK = "VQ Studio reconstruction"
ANNOTATION_TEXT_LIMIT = 40  # what EDF+ writers (edflib) keep of an annotation text


class SampleSource(Protocol):
    """Reads samples of one channel of a file in physical units, without loading the rest."""

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        """Samples `start:stop` of channel `index` as float32 physical values."""
        ...


@dataclass(frozen=True)
class Annotation:
    """An event: onset and duration in seconds from the recording start, and its text."""

    onset: float
    duration: float
    text: str

    @property
    def end(self) -> float:
        return self.onset + max(self.duration, 0.0)


@dataclass(frozen=True)
class Gap:
    """A stretch with no data in an EDF+D file, in seconds of the recording's time axis."""

    start: float
    stop: float


@dataclass(frozen=True)
class Source:
    """Where a recording came from."""

    path: str
    format: str  # "EDF", "EDF+C", "EDF+D", "BDF", "BDF+C", "BDF+D", "CSV", "NPY", "simulated"

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def clean_label(label: str) -> str:
    """A channel label without the padding files add: surrounding spaces and trailing dots.

    EEGMMIDB labels are padded with dots (`Fc5.`, `Iz..`); EDF labels with spaces.
    """
    return label.strip().rstrip(".").strip() or label.strip()


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks so a multi-GB file needs no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Channel:
    """One signal: its header fields and its samples in physical units (float32)."""

    label: str
    unit: str
    rate: float
    n_samples: int
    physical_min: float = float("nan")
    physical_max: float = float("nan")
    transducer: str = ""
    prefilter: str = ""
    _samples: np.ndarray | None = field(default=None, repr=False)
    _source: SampleSource | None = field(default=None, repr=False)
    _index: int = field(default=-1, repr=False)

    @classmethod
    def from_samples(
        cls,
        label: str,
        samples: np.ndarray,
        rate: float,
        unit: str = "",
        physical_range: tuple[float, float] | None = None,
        transducer: str = "",
        prefilter: str = "",
    ) -> Channel:
        """A channel holding `samples` in memory; the physical range defaults to the data's."""
        data = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if physical_range is None:
            physical_range = (
                (float(data.min()), float(data.max())) if data.size else (float("nan"), float("nan"))
            )
        return cls(
            label=label,
            unit=unit,
            rate=float(rate),
            n_samples=int(data.size),
            physical_min=float(physical_range[0]),
            physical_max=float(physical_range[1]),
            transducer=transducer,
            prefilter=prefilter,
            _samples=data,
        )

    @classmethod
    def on_disk(cls, source: SampleSource, index: int, **header: object) -> Channel:
        """A channel whose samples stay in `source` until read."""
        return cls(_source=source, _index=index, **header)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """The label without padding (what users type and what `--channels` matches)."""
        return clean_label(self.label)

    @property
    def duration(self) -> float:
        return self.n_samples / self.rate if self.rate > 0 else 0.0

    @property
    def loaded(self) -> bool:
        return self._samples is not None

    @property
    def samples(self) -> np.ndarray:
        """All samples (float32, physical units); read from the file on first access."""
        if self._samples is None:
            if self._source is None:
                return np.zeros(0, dtype=np.float32)
            self._samples = self._source.read(self._index, 0, self.n_samples)
        return self._samples

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples `start:stop` (clipped to the channel), read from disk when not loaded."""
        start, stop = max(0, int(start)), min(self.n_samples, int(stop))
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        if self._samples is not None or self._source is None:
            return self.samples[start:stop]
        return self._source.read(self._index, start, stop)

    def read_seconds(self, start_s: float, stop_s: float) -> np.ndarray:
        """Samples between two times in seconds."""
        return self.read(round(start_s * self.rate), round(stop_s * self.rate))

    def with_samples(self, samples: np.ndarray, rate: float | None = None) -> Channel:
        """A copy with other samples (same header fields); the range is kept, not recomputed."""
        data = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        return replace(
            self,
            rate=float(self.rate if rate is None else rate),
            n_samples=int(data.size),
            _samples=data,
            _source=None,
            _index=-1,
        )


@dataclass
class Recording:
    """Channels, annotations and a start time; what every reader returns and every writer takes."""

    channels: list[Channel]
    annotations: list[Annotation] = field(default_factory=list)
    start: dt.datetime | None = None
    source: Source | None = None
    gaps: list[Gap] = field(default_factory=list)
    patient: str = ""
    recording_info: str = ""
    synthetic: bool = False
    # What a reader noticed and the user should hear about (irregular CSV time column, a fallback
    # reader used, bytes ignored); `vqstudio info` prints them.
    notes: list[str] = field(default_factory=list)
    _sha256: str | None = field(default=None, repr=False)

    @classmethod
    def from_array(
        cls,
        data: np.ndarray,
        rate: float,
        labels: Sequence[str],
        units: Sequence[str] | str = "",
        annotations: Sequence[Annotation] = (),
        start: dt.datetime | None = None,
        source: Source | None = None,
    ) -> Recording:
        """A recording from a `(channels, samples)` array at one rate."""
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] != len(labels):
            raise FormatError(
                f"data of shape {data.shape} does not match {len(labels)} channel labels "
                "(expected channels x samples)"
            )
        unit_list = [units] * len(labels) if isinstance(units, str) else list(units)
        channels = [
            Channel.from_samples(label, row, rate, unit)
            for label, row, unit in zip(labels, data, unit_list, strict=True)
        ]
        return cls(channels=channels, annotations=list(annotations), start=start, source=source)

    def __repr__(self) -> str:
        where = f" from {self.source.name}" if self.source else ""
        return (
            f"<Recording{where}: {len(self.channels)} channels, {self.duration:.1f} s, "
            f"{len(self.annotations)} annotations>"
        )

    @property
    def duration(self) -> float:
        """Seconds covered by the longest channel."""
        return max((c.duration for c in self.channels), default=0.0)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    @property
    def rates(self) -> list[float]:
        return [c.rate for c in self.channels]

    @property
    def sha256(self) -> str | None:
        """sha256 of the source file, computed once when first asked (None for in-memory data)."""
        if self._sha256 is None and self.source and os.path.isfile(self.source.path):
            self._sha256 = file_sha256(self.source.path)
        return self._sha256

    @property
    def known_sha256(self) -> str | None:
        """sha256 of the source file when already computed (None otherwise): never reads the file,
        for callers on a thread that must not wait for a large file."""
        return self._sha256

    def channel_index(self, name: str) -> int:
        """Index of the channel whose label matches `name` after stripping padding.

        An exact match wins; otherwise a case-insensitive match of the cleaned labels.
        """
        for i, c in enumerate(self.channels):
            if c.label == name:
                return i
        wanted = clean_label(name)
        for i, c in enumerate(self.channels):
            if c.name == wanted:
                return i
        for i, c in enumerate(self.channels):
            if c.name.lower() == wanted.lower():
                return i
        where = f" in {self.source.name}" if self.source else ""
        shown = ", ".join(c.name for c in self.channels[:12]) + (", ..." if len(self.channels) > 12 else "")
        raise ChannelError(f"no channel '{name}'{where}; it has: {shown}")

    def channel(self, name: str) -> Channel:
        return self.channels[self.channel_index(name)]

    def select(self, names: Sequence[str]) -> Recording:
        """A recording with only the named channels, in the order given."""
        return replace(self, channels=[self.channel(n) for n in names])

    def span(self, start_s: float, stop_s: float, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Samples of each (named) channel between two times, each at its own rate."""
        chans = self.channels if names is None else [self.channel(n) for n in names]
        return [c.read_seconds(start_s, stop_s) for c in chans]

    def to_array(self, names: Sequence[str] | None = None) -> np.ndarray:
        """All samples of channels sharing one rate as a float32 `(channels, samples)` array."""
        chans = self.channels if names is None else [self.channel(n) for n in names]
        if not chans:
            return np.zeros((0, 0), dtype=np.float32)
        if len({c.rate for c in chans}) > 1:
            raise ChannelError(
                "channels have different rates ("
                + ", ".join(f"{c.name} {c.rate:g} Hz" for c in chans)
                + "); choose channels of one rate or resample them"
            )
        n = min(c.n_samples for c in chans)
        return np.stack([c.read(0, n) for c in chans])

    # Annotation edits change this recording in place: everyone holding it (the viewer, training,
    # an export) sees the same list.
    def add_annotations(self, items: Iterable[Annotation]) -> int:
        """Adds the `items` not already here (same onset, duration and text), keeping the list in
        time order; returns how many were added."""
        present = set(self.annotations)
        new = [a for a in dict.fromkeys(items) if a not in present]
        if new:
            self.annotations[:] = sorted([*self.annotations, *new], key=lambda a: (a.onset, a.text))
        return len(new)

    def remove_annotation(self, annotation: Annotation) -> bool:
        """Removes one annotation equal to `annotation`; False when there is none."""
        try:
            self.annotations.remove(annotation)
        except ValueError:
            return False
        return True

    def replace_annotation(self, old: Annotation, new: Annotation) -> None:
        """Puts `new` in place of `old` (kept in time order); `KeyError` when `old` is not here."""
        if not self.remove_annotation(old):
            raise KeyError(f"no annotation {old.text!r} at {old.onset:g} s")
        self.add_annotations([new])

    def load(self) -> Recording:
        """Reads every channel into memory (so the source file may change or go) and returns self."""
        for c in self.channels:
            _ = c.samples
        return self

    def marked_synthetic(self, note: str) -> Recording:
        """A copy flagged as synthetic, with annotations at 0 s saying so and what made it.

        EDF+ writers keep 40 bytes of an annotation's text, so the mark stands alone and the
        note follows in pieces of at most 40 characters (split between words), all at 0 s.
        """
        return replace(self._marked(SYNTHETIC_MARK, note), synthetic=True, patient="")

    def marked_reconstruction(self, note: str) -> Recording:
        """A copy marked (annotations at 0 s, as `marked_synthetic`) as a tokenizer reconstruction."""
        return self._marked(RECONSTRUCTION_MARK, note)

    def _marked(self, mark: str, note: str) -> Recording:
        pieces = [mark, *textwrap.wrap(note, ANNOTATION_TEXT_LIMIT)]
        return replace(self, annotations=[*(Annotation(0.0, 0.0, t) for t in pieces), *self.annotations])

    @property
    def vqstudio_mark(self) -> str | None:
        """'synthetic' or 'reconstruction' when VQ Studio made the recording (by its mark), else None."""
        if self.synthetic:
            return "synthetic"
        for a in self.annotations:
            if a.onset == 0.0 and a.text.startswith(SYNTHETIC_MARK):
                return "synthetic"
            if a.onset == 0.0 and a.text.startswith(RECONSTRUCTION_MARK):
                return "reconstruction"
        return None
