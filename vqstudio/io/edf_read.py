"""Reading EDF, EDF+ (C and D) and BDF/BDF+ files lazily.

Three parts, each doing what it is best at:

* The fixed-width header is parsed here (`EdfHeader.parse`): it is 256 bytes plus 256 per
  signal, and checking every field ourselves gives messages that name the file, the field and
  the signal, and lets us lay out the data records for the next part.
* Samples are read through a numpy memmap of the data records (`RecordSamples`): a span of a
  channel touches only the records that hold it, a whole channel is one strided copy, and the
  conversion to float32 physical units is two vectorised operations. On a 118 MB, 64-channel
  EDF+ this reads about 1.4 GB/s warm and a 10 s span of every channel in about 1 ms
  (`bench/io.py`), where pyedflib's `readSignal` reads 32 MB/s.
* Annotations (every annotation signal) and the start time come from pyedflib, which opens a
  file without loading its samples; when pyedflib refuses a file, edfio (lazy) is tried, and a
  plain EDF without annotation signals that both refuse still opens from its header. An EDF+
  recording field saying `Startdate X` (the date is unknown) takes the start from the header's
  date and time fields, as pyedflib does, with a note.

EDF+D: the samples of a discontinuous file are joined record after record (as in the file);
`Recording.gaps` holds each skipped stretch in seconds of the file's time axis (from the
data-record onsets), where the annotations are too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from vqstudio.errors import FormatError
from vqstudio.io._common import check_input
from vqstudio.recording import Annotation, Channel, Gap, Recording, Source

__all__ = [
    "EdfAnnotations",
    "EdfHeader",
    "RecordSamples",
    "SignalHeader",
    "annotations_only",
    "read_edf",
    "read_edf_annotations",
]

EDF_MAGIC = b"0       "
BDF_MAGIC = b"\xffBIOSEMI"
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")

# (name, width) of the fixed header and of each per-signal block, in file order.
_FILE_FIELDS = (
    ("version", 8),
    ("patient", 80),
    ("recording", 80),
    ("startdate", 8),
    ("starttime", 8),
    ("header_bytes", 8),
    ("reserved", 44),
    ("records", 8),
    ("record_duration", 8),
    ("signals", 4),
)
_SIGNAL_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("unit", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefilter", 80),
    ("samples_per_record", 8),
    ("reserved", 32),
)


@dataclass(frozen=True)
class SignalHeader:
    """One signal's header fields, parsed and checked."""

    label: str
    transducer: str
    unit: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    prefilter: str
    samples_per_record: int

    @property
    def is_annotation(self) -> bool:
        return self.label.strip() in ANNOTATION_LABELS


@dataclass(frozen=True)
class EdfHeader:
    """The header of an EDF/BDF file and the layout of its data records."""

    path: str
    bdf: bool
    patient: str
    recording: str
    startdate: str
    starttime: str
    header_bytes: int
    reserved: str
    records: int
    record_duration: float
    signals: tuple[SignalHeader, ...]
    trailing_bytes: int

    @property
    def bytes_per_sample(self) -> int:
        return 3 if self.bdf else 2

    @property
    def record_samples(self) -> int:
        return sum(s.samples_per_record for s in self.signals)

    @property
    def format(self) -> str:
        base = "BDF" if self.bdf else "EDF"
        kind = self.reserved.strip()[:5].upper()
        if kind.endswith("+D"):
            return base + "+D"
        if kind.endswith("+C") or any(s.is_annotation for s in self.signals):
            return base + "+C"
        return base

    @classmethod
    def parse(cls, path: str, expect_bdf: bool | None = None) -> EdfHeader:
        """Reads and checks the header of `path`; `FormatError` names what is wrong.

        `expect_bdf` is what the file's extension says (None: either); a BDF file named .edf
        (or the reverse) is refused, since a reader that trusted the name would read garbage.
        """
        size = check_input(path)
        name = os.path.basename(path)
        with open(path, "rb") as f:
            head = f.read(256)
            if len(head) < 256:
                raise FormatError(
                    f"{name}: only {len(head)} bytes, too short for an EDF/BDF header (256 bytes "
                    "at least); the file is truncated or not EDF/BDF"
                )
            version = head[:8]
            if version == BDF_MAGIC:
                bdf = True
            elif version.rstrip(b" ") == b"0":
                bdf = False
            else:
                raise FormatError(
                    f"{name}: not an EDF or BDF file (its first 8 bytes are {version!r}, "
                    "expected '0' or '\\xffBIOSEMI')"
                )
            if expect_bdf is not None and bdf != expect_bdf:
                actual, named = ("BDF (24-bit)", "EDF") if bdf else ("EDF (16-bit)", "BDF")
                right = ".bdf" if bdf else ".edf"
                raise FormatError(
                    f"{name}: the file holds {actual} data but its name says {named}; "
                    f"rename it to {right} and open it again"
                )
            fields: dict[str, str] = {}
            pos = 0
            for key, width in _FILE_FIELDS:
                fields[key] = head[pos : pos + width].decode("latin-1")
                pos += width
            ns = _int_field(name, "number of signals", fields["signals"])
            if not 1 <= ns <= 10_000:
                raise FormatError(f"{name}: the header says {ns} signals; the file is corrupt")
            header_bytes = 256 * (ns + 1)
            declared = _int_field(name, "header size", fields["header_bytes"])
            if declared != header_bytes:
                raise FormatError(
                    f"{name}: the header size field says {declared} bytes but {ns} signals "
                    f"need {header_bytes}; the header is corrupt"
                )
            body = f.read(256 * ns)
        if len(body) < 256 * ns:
            raise FormatError(
                f"{name}: the file is truncated inside its header ({size} bytes, the header "
                f"alone needs {header_bytes})"
            )
        columns: dict[str, list[str]] = {}
        pos = 0
        for key, width in _SIGNAL_FIELDS:
            columns[key] = [
                body[pos + i * width : pos + (i + 1) * width].decode("latin-1") for i in range(ns)
            ]
            pos += width * ns
        signals = tuple(_signal(name, i, {k: v[i] for k, v in columns.items()}, bdf) for i in range(ns))
        duration = _float_field(name, "data record duration", fields["record_duration"])
        has_data = any(not s.is_annotation for s in signals)
        if duration < 0 or (duration == 0 and has_data) or not np.isfinite(duration):
            raise FormatError(
                f"{name}: data record duration {fields['record_duration'].strip()!r} is not a "
                "positive number of seconds; the header is corrupt"
            )
        record_bytes = sum(s.samples_per_record for s in signals) * (3 if bdf else 2)
        available = (size - header_bytes) // record_bytes
        records = _int_field(name, "number of data records", fields["records"])
        if records == -1:  # still being recorded when the header was written: count them
            records = available
        elif records < 0:
            raise FormatError(f"{name}: the header says {records} data records; the header is corrupt")
        elif available < records:
            raise FormatError(
                f"{name}: the file is truncated: the header promises {records} data records "
                f"({header_bytes + records * record_bytes} bytes) but it holds {size} bytes "
                f"({available} whole records); copy the file again from its source"
            )
        return cls(
            path=path,
            bdf=bdf,
            patient=fields["patient"].strip(),
            recording=fields["recording"].strip(),
            startdate=fields["startdate"],
            starttime=fields["starttime"],
            header_bytes=header_bytes,
            reserved=fields["reserved"],
            records=records,
            record_duration=duration,
            signals=signals,
            trailing_bytes=size - header_bytes - records * record_bytes,
        )

    def start_from_fields(self) -> dt.datetime | None:
        """The start date and time of the fixed fields (dd.mm.yy hh.mm.ss; 1985 clipping rule)."""
        try:
            d, m, y = (int(v) for v in self.startdate.strip().split("."))
            hh, mm, ss = (int(v) for v in self.starttime.strip().replace(":", ".").split("."))
            return dt.datetime(2000 + y if y < 85 else 1900 + y, m, d, hh, mm, ss)
        except ValueError:
            return None


def _int_field(name: str, what: str, text: str, signal: str = "") -> int:
    try:
        value = float(text.strip())
    except ValueError:
        raise FormatError(
            f"{name}: header field '{what}'{signal} is {text.strip()!r}, not a number; the header is corrupt"
        ) from None
    if not value.is_integer():
        raise FormatError(
            f"{name}: header field '{what}'{signal} is {text.strip()!r}, not a whole number; "
            "the header is corrupt"
        )
    return int(value)


def _float_field(name: str, what: str, text: str, signal: str = "") -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise FormatError(
            f"{name}: header field '{what}'{signal} is {text.strip()!r}, not a number; the header is corrupt"
        ) from None
    if not np.isfinite(value):
        raise FormatError(f"{name}: header field '{what}'{signal} is {text.strip()!r}; the header is corrupt")
    return value


def _signal(name: str, i: int, f: dict[str, str], bdf: bool) -> SignalHeader:
    label = f["label"].rstrip(" \x00")
    where = f" of signal {i + 1} ({label.strip() or 'no label'})"
    spr = _int_field(name, "samples per data record", f["samples_per_record"], where)
    if spr < 1:
        raise FormatError(
            f"{name}: header field 'samples per data record'{where} is {spr}; the header is corrupt"
        )
    dmin = _int_field(name, "digital minimum", f["digital_min"], where)
    dmax = _int_field(name, "digital maximum", f["digital_max"], where)
    pmin = _float_field(name, "physical minimum", f["physical_min"], where)
    pmax = _float_field(name, "physical maximum", f["physical_max"], where)
    is_annotation = label.strip() in ANNOTATION_LABELS
    lo, hi = (-(1 << 23), (1 << 23) - 1) if bdf else (-32768, 32767)
    if not is_annotation:
        if not (lo <= dmin < dmax <= hi):
            raise FormatError(
                f"{name}: digital range {dmin}..{dmax}{where} is not an increasing range inside "
                f"{lo}..{hi}; the header is corrupt"
            )
        if pmin == pmax:
            raise FormatError(
                f"{name}: physical minimum equals physical maximum ({pmin:g}){where}; its samples "
                "cannot be scaled; the header is corrupt"
            )
    return SignalHeader(
        label=label,
        transducer=f["transducer"].strip(),
        unit=f["unit"].strip(),
        physical_min=pmin,
        physical_max=pmax,
        digital_min=dmin,
        digital_max=dmax,
        prefilter=f["prefilter"].strip(),
        samples_per_record=spr,
    )


class RecordSamples:
    """A `SampleSource` over the data records of an EDF/BDF file, through a numpy memmap.

    Only the records holding the asked span are touched; memory is the float32 output plus a
    copy of the asked span in its stored (16/24-bit) form.
    """

    def __init__(self, header: EdfHeader) -> None:
        self.header = header
        self._mm: np.ndarray | None = None
        self._flat: np.ndarray | None = None  # BDF: the bytes from one before the data
        self._columns: list[int] = []
        col = 0
        for s in header.signals:
            self._columns.append(col)
            col += s.samples_per_record
        # Physical = digital * gain + offset, from the header's ranges (as every EDF reader does).
        self._gain = [
            (s.physical_max - s.physical_min) / (s.digital_max - s.digital_min)
            if not s.is_annotation
            else 1.0
            for s in header.signals
        ]
        self._offset = [
            s.physical_min - s.digital_min * g for s, g in zip(header.signals, self._gain, strict=True)
        ]

    def _records(self) -> np.ndarray:
        """The data records as `(records, samples)` int16 (EDF) or `(records, bytes)` uint8 (BDF)."""
        if self._mm is None:
            h = self.header
            n = h.record_samples
            if h.bdf:
                # Mapped from one byte before the data, so every 24-bit sample can be read as the
                # top three bytes of a 4-byte word (see `read`); that byte is the header's last.
                self._flat = np.memmap(
                    h.path,
                    dtype=np.uint8,
                    mode="r",
                    offset=h.header_bytes - 1,
                    shape=(1 + h.records * n * 3,),
                )
                self._mm = self._flat[1:].reshape(h.records, n * 3)
            else:
                self._mm = np.memmap(
                    h.path, dtype="<i2", mode="r", offset=h.header_bytes, shape=(h.records, n)
                )
        return self._mm

    def close(self) -> None:
        """Unmaps the file (the channels read it again on the next access)."""
        self._mm = self._flat = None

    def raw_bytes(self, index: int) -> np.ndarray:
        """The stored bytes of signal `index` as `(records, bytes per record)` (annotation signals)."""
        spr, col, bps = (
            self.header.signals[index].samples_per_record,
            self._columns[index],
            self.header.bytes_per_sample,
        )
        mm = self._records()
        view = mm.view(np.uint8) if not self.header.bdf else mm
        return np.asarray(view[:, col * bps : (col + spr) * bps])

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        """Samples `start:stop` of signal `index` as float32 physical values."""
        spr = self.header.signals[index].samples_per_record
        start, stop = max(0, start), min(stop, spr * self.header.records)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        r0, r1 = start // spr, (stop - 1) // spr + 1
        first, n = start - r0 * spr, stop - start
        col = self._columns[index]
        mm = self._records()
        gain, offset = self._gain[index], self._offset[index]
        if not self.header.bdf:
            # One pass from the strided 16-bit column into float32, scaled; then the offset.
            block = np.empty((r1 - r0, spr), dtype=np.float32)
            np.multiply(mm[r0:r1, col : col + spr], np.float32(gain), out=block, dtype=np.float32)
            block += np.float32(offset)
            flat = block.reshape(-1)
            return flat if first == 0 and n == flat.size else flat[first : first + n].copy()
        # Each little-endian 24-bit sample with the byte before it is a 4-byte word whose top
        # three bytes are the sample: an arithmetic shift by 8 gives it, sign and all, with no
        # copy of the raw bytes (a strided, unaligned int32 view of the mapping).
        record_bytes = self.header.record_samples * 3
        words = np.ndarray(
            shape=(r1 - r0, spr),
            dtype="<i4",
            buffer=self._flat,  # type: ignore[arg-type]
            offset=r0 * record_bytes + 3 * col,  # = the byte before the sample in `_flat`
            strides=(record_bytes, 3),
        )
        digital = words >> 8
        # float64 on the way: 24-bit values need more than float32's mantissa for the product.
        scaled = np.multiply(digital, gain, dtype=np.float64)
        block = np.empty((r1 - r0, spr), dtype=np.float32)
        np.add(scaled, offset, out=block, casting="unsafe")
        flat = block.reshape(-1)
        return flat if first == 0 and n == flat.size else flat[first : first + n].copy()


_TAL_ONSET = re.compile(rb"([+-]\d+(?:\.\d*)?)\x14\x14")


def _record_onsets(source: RecordSamples) -> np.ndarray | None:
    """Onset (s) of every data record from the timekeeping TAL of the first annotation signal."""
    idx = next((i for i, s in enumerate(source.header.signals) if s.is_annotation), None)
    if idx is None:
        return None
    raw = source.raw_bytes(idx)
    onsets = np.empty(raw.shape[0])
    for k, row in enumerate(raw):
        m = _TAL_ONSET.match(row.tobytes())
        if m is None:
            raise FormatError(
                f"{os.path.basename(source.header.path)}: data record {k + 1} has no time-keeping "
                "annotation, which an EDF+D file needs; the file is corrupt"
            )
        onsets[k] = float(m.group(1))
    return onsets


def _gaps(onsets: np.ndarray, duration: float) -> list[Gap]:
    gaps = []
    t0 = onsets[0] if onsets.size else 0.0
    for prev, nxt in itertools.pairwise(onsets):
        end = prev + duration
        if nxt - end > 1e-6:
            gaps.append(Gap(float(end - t0), float(nxt - t0)))
    return gaps


def _meta_pyedflib(path: str) -> tuple[dt.datetime | None, list[Annotation]]:
    import pyedflib

    reader = pyedflib.EdfReader(path)
    try:
        start = reader.getStartdatetime()
        onsets, durations, texts = reader.readAnnotations()
    finally:
        reader.close()
    notes = [
        Annotation(float(o), max(float(d), 0.0), str(t))
        for o, d, t in zip(onsets, durations, texts, strict=True)
    ]
    return start, notes


def _meta_edfio(header: EdfHeader) -> tuple[dt.datetime | None, list[Annotation]]:
    import edfio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = header.path
        edf = edfio.read_bdf(path) if header.bdf else edfio.read_edf(path, lazy_load_data=True)
        try:
            start = edf.startdatetime
        except edfio.AnonymizedDateError:
            # "Startdate X": EDF+'s unknown date. pyedflib then takes the fixed fields; so do we.
            start = header.start_from_fields()
        notes = [Annotation(float(a.onset), float(a.duration or 0.0), a.text) for a in edf.annotations]
    return start, notes


def _unknown_date_note(header: EdfHeader) -> str | None:
    """A note when an EDF+/BDF+ recording field says `Startdate X` (the start date is unknown)."""
    words = header.recording.split()
    if "+" not in header.format or words[:2] != ["Startdate", "X"]:
        return None
    when = header.start_from_fields()
    shown = f"{when:%Y-%m-%d %H:%M:%S}" if when else "none"
    return (
        "the recording field says 'Startdate X' (start date unknown); the start is taken from the "
        f"header's date and time fields ({shown})"
    )


def _metadata(header: EdfHeader, notes: list[str]) -> tuple[dt.datetime | None, list[Annotation]]:
    """Start time and annotations (sorted) through pyedflib, else edfio, else the header alone
    (a plain EDF without annotation signals); reader fallbacks are added to `notes`."""
    name = os.path.basename(header.path)
    has_annotation_signal = any(s.is_annotation for s in header.signals)
    try:
        start, annotations = _meta_pyedflib(header.path)
    except Exception as first:
        try:
            start, annotations = _meta_edfio(header)
            notes.append(f"pyedflib refused the file ({_reason(first)}); read with edfio")
        except Exception as second:
            if has_annotation_signal:
                raise FormatError(
                    f"{name}: cannot be read as {header.format}: {_reason(first)}; edfio: {_reason(second)}"
                ) from None
            start, annotations = header.start_from_fields(), []
            notes.append(f"pyedflib ({_reason(first)}) and edfio refused the file; read from its header")
    return start, sorted(annotations, key=lambda a: (a.onset, a.text))


def read_edf(path: str, *, expect_bdf: bool | None = None) -> Recording:
    """A lazy `Recording` of an EDF/EDF+/BDF/BDF+ file: header and annotations now, samples when read."""
    header = EdfHeader.parse(path, expect_bdf)
    name = os.path.basename(path)
    if not any(not s.is_annotation for s in header.signals):
        raise FormatError(
            f"{name}: the file holds annotations only (no signal to show or train on); add its "
            "annotations to the recording they belong to"
        )
    notes: list[str] = []
    if header.trailing_bytes:
        notes.append(f"ignored {header.trailing_bytes} bytes after the last whole data record")
    start, annotations = _metadata(header, notes)
    unknown_date = _unknown_date_note(header)
    if unknown_date:
        notes.append(unknown_date)
    source = RecordSamples(header)
    gaps: list[Gap] = []
    if header.format.endswith("+D"):
        onsets = _record_onsets(source)
        if onsets is not None:
            gaps = _gaps(onsets, header.record_duration)
    channels = []
    for i, s in enumerate(header.signals):
        if s.is_annotation:
            continue
        channels.append(
            Channel.on_disk(
                source,
                i,
                label=s.label,
                unit=s.unit,
                rate=s.samples_per_record / header.record_duration,
                n_samples=s.samples_per_record * header.records,
                physical_min=min(s.physical_min, s.physical_max),
                physical_max=max(s.physical_min, s.physical_max),
                transducer=s.transducer,
                prefilter=s.prefilter,
            )
        )
    rec = Recording(
        channels=channels,
        annotations=annotations,
        start=start,
        source=Source(path, header.format),
        gaps=gaps,
        patient=header.patient,
        recording_info=header.recording,
        notes=notes,
    )
    return rec


@dataclass(frozen=True)
class EdfAnnotations:
    """The annotations of an EDF+/BDF+ file and its start time, which lines them up with the
    recording they belong to (a Sleep-EDF hypnogram starts when its PSG does)."""

    path: str
    format: str
    start: dt.datetime | None
    annotations: tuple[Annotation, ...]
    signals: int  # ordinary signals in the file; 0 for an annotation-only file such as a hypnogram
    notes: tuple[str, ...] = ()

    @property
    def end(self) -> float:
        """Seconds from the file's start to the end of its last annotation."""
        return max((a.end for a in self.annotations), default=0.0)


def annotations_only(path: str) -> bool:
    """Whether `path` is an EDF+/BDF+ file holding annotation signals only (a hypnogram); False
    for any other file, readable or not. Reads the header alone."""
    try:
        header = EdfHeader.parse(path)
    except (OSError, ValueError):
        return False
    return all(s.is_annotation for s in header.signals)


def read_edf_annotations(path: str, *, expect_bdf: bool | None = None) -> EdfAnnotations:
    """The annotations of any EDF+/BDF+ file (annotation-only or not), without reading samples.

    A plain EDF/BDF (no annotation signal) is refused: it holds none to add.
    """
    header = EdfHeader.parse(path, expect_bdf)
    if not any(s.is_annotation for s in header.signals):
        raise FormatError(
            f"{os.path.basename(path)}: a plain {header.format} file holds no annotations "
            "(EDF+ and BDF+ files keep them in an 'EDF Annotations' signal)"
        )
    notes: list[str] = []
    start, annotations = _metadata(header, notes)
    unknown_date = _unknown_date_note(header)
    if unknown_date:
        notes.append(unknown_date)
    return EdfAnnotations(
        path=path,
        format=header.format,
        start=start,
        annotations=tuple(annotations),
        signals=sum(not s.is_annotation for s in header.signals),
        notes=tuple(notes),
    )


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:160]
