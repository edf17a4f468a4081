"""Writing EDF+ and BDF+ files through pyedflib, with every value checked here first.

pyedflib's own checks are `assert`s (gone under `python -O`) or warnings, and edflib prints
the physical range into the 8-character header fields by cutting digits, which can move a
maximum below the data. So this module chooses and checks everything itself:

* the data record duration, so every channel has a whole number of samples per record;
* each channel's physical range: the source's when every sample fits in it, else the data's
  with 1 % headroom, rounded outward to a value that fits 8 characters (never clipping);
* the digital values (rounded to nearest, checked to lie inside the digital range);
* header text made printable ASCII and cut to the field lengths (each change noted);
* enough annotation signals for every annotation (edflib stores one per signal per record).

After pyedflib has written the file, the physical range fields are set to the exact strings
chosen here, so the header states precisely the scaling the digital values were made with.
Then the header is read back and the file's size checked against it: edflib's close does not
report its write errors, so a full disk would otherwise leave a truncated file under the name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from vqstudio.errors import OutputError
from vqstudio.io._common import WriteReport, ascii_text, check_output
from vqstudio.io.atomic import atomic_path, check_size, write_failed
from vqstudio.recording import SYNTHETIC_MARK, Annotation, Channel, Recording

__all__ = ["DIGITAL_RANGE", "choose_record_duration", "physical_range", "write_edf"]

DIGITAL_RANGE = {False: (-32768, 32767), True: (-(1 << 23), (1 << 23) - 1)}  # keyed by "is BDF"
DEFAULT_START = dt.datetime(1985, 1, 1)  # EDF+'s "unknown" start (the clipping date)
HEADROOM = 0.01  # of the data's span, on each side, when the range comes from the data
MAX_RECORD_BYTES = 61440  # EDF+ asks data records to stay below this
ANNOTATION_TEXT_LIMIT = 40  # edflib cuts longer annotation texts
MAX_ANNOTATION_SIGNALS = 64  # edflib's limit


def _fit8(value: float, up: bool) -> tuple[float, str]:
    """The nearest value at or beyond `value` (above when `up`) written in at most 8 characters."""
    if not math.isfinite(value):
        raise ValueError(value)
    for decimals in range(7, -1, -1):
        q = 10**decimals
        scaled = value * q
        n = math.ceil(scaled) if up else math.floor(scaled)
        text = f"{n / q:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        if len(text) > 8:
            continue
        out = float(text)
        if (up and out < value) or (not up and out > value):  # formatting rounded the wrong way
            continue
        return out, text
    raise ValueError(value)


def physical_range(channel: Channel, data: np.ndarray) -> tuple[str, str, str]:
    """`(min, max, how)`: the 8-character physical range fields for `data` and how they were chosen.

    The channel's own range is kept when every sample lies inside it and it fits the field;
    otherwise the data's range with headroom, rounded outward. Raises `ValueError` when the
    values are too large for the field.
    """
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    src_lo, src_hi = channel.physical_min, channel.physical_max
    if math.isfinite(src_lo) and math.isfinite(src_hi) and src_lo < src_hi and src_lo <= lo and hi <= src_hi:
        try:
            a, a_text = _fit8(src_lo, up=False)
            b, b_text = _fit8(src_hi, up=True)
        except ValueError:
            pass
        else:
            if a == src_lo and b == src_hi:
                return a_text, b_text, "kept"
    span = hi - lo
    pad = span * HEADROOM if span > 0 else max(abs(hi) * HEADROOM, 1e-6)
    try:
        _, a_text = _fit8(lo - pad, up=False)
    except ValueError:  # headroom is a nicety: near the field's limit, fit the data itself
        _, a_text = _fit8(lo, up=False)
    try:
        _, b_text = _fit8(hi + pad, up=True)
    except ValueError:
        _, b_text = _fit8(hi, up=True)
    if float(a_text) >= float(b_text):  # far below the field's resolution: widen by its last digit
        _, b_text = _fit8(float(a_text) + 1e-6, up=True)
    return a_text, b_text, "data"


def choose_record_duration(rates: list[float], bytes_per_sample: int) -> Fraction:
    """A data record duration (s) giving every rate a whole number of samples per record.

    1 s for integer rates (shorter when a record would exceed 61440 bytes and the rates
    allow it); for fractional rates the least common multiple of their denominators
    (0.5 Hz -> 2 s, 1/30 Hz -> 30 s). Raises `ValueError` when no duration up to 60 s works.
    """
    fracs = []
    for r in rates:
        f = Fraction(r).limit_denominator(1000)
        if f <= 0 or abs(float(f) - r) > 1e-9 * max(r, 1.0):
            raise ValueError(f"rate {r} Hz")
        fracs.append(f)
    duration = Fraction(math.lcm(*(f.denominator for f in fracs)))
    if duration > 60:
        raise ValueError("rates " + ", ".join(f"{r:g}" for r in rates))
    if duration == 1:
        for k in (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 40, 50, 64, 100, 125, 128, 200, 250, 500, 1000):
            if (
                all(f.numerator % k == 0 for f in fracs)
                and sum(f / k for f in fracs) * bytes_per_sample <= MAX_RECORD_BYTES
            ):
                return Fraction(1, k)
    return duration


def _fitted(channel: Channel, n: int) -> np.ndarray:
    """The channel's samples padded (with its last value) or cut to `n` samples, as float64."""
    data = np.asarray(channel.samples, dtype=np.float64)
    if data.size >= n:
        return data[:n]
    edge = data[-1] if data.size else 0.0
    return np.concatenate([data, np.full(n - data.size, edge)])


def _patient_fields(rec: Recording, anonymize: bool) -> dict[str, Any]:
    """pyedflib's patient fields: EDF+'s "X" (unknown) when anonymising."""
    if anonymize or not rec.patient.strip():
        return {}
    tokens = ascii_text(rec.patient, 80).split()
    if len(tokens) >= 4 and tokens[1] in ("M", "F", "X"):
        fields = {
            "patientcode": tokens[0] if tokens[0] != "X" else "",
            "patientname": tokens[3] if tokens[3] != "X" else "",
        }
        if tokens[1] != "X":
            fields["sex"] = tokens[1]
        if tokens[2] != "X":
            with contextlib.suppress(ValueError):
                birth = dt.datetime.strptime(tokens[2].title(), "%d-%b-%Y").date()
                fields["birthdate"] = birth  # type: ignore[assignment]
        if len(tokens) > 4:
            fields["patient_additional"] = " ".join(tokens[4:])
        return fields
    return {"patientname": "_".join(tokens)[:60]}


def _annotations(rec: Recording, duration: float, notes: list[str]) -> list[Annotation]:
    """The annotations to write: the synthetic mark first when needed, onsets on the written time axis."""
    annotations = list(rec.annotations)
    if rec.synthetic and not any(a.text.startswith(SYNTHETIC_MARK) for a in annotations):
        annotations.insert(0, Annotation(0.0, 0.0, SYNTHETIC_MARK))
    if rec.gaps:
        # The samples are written back to back: move onsets from the source's time axis onto it.
        gaps = sorted(rec.gaps, key=lambda g: g.start)

        def joined(t: float) -> float:
            shift = 0.0
            for g in gaps:
                if t >= g.stop:
                    shift += g.stop - g.start
                elif t > g.start:
                    return g.start - shift
            return t - shift

        annotations = [Annotation(joined(a.onset), a.duration, a.text) for a in annotations]
        notes.append(
            f"the source had {len(gaps)} gap(s) (EDF+D); written as one continuous recording with "
            "annotations moved onto its time axis"
        )
    kept = [a for a in annotations if a.onset >= 0]
    if len(kept) < len(annotations):
        notes.append(f"dropped {len(annotations) - len(kept)} annotation(s) with a negative onset")
    if any(a.onset > duration for a in kept):
        notes.append("some annotations start after the end of the written data; kept as they are")
    long = sum(len(a.text.encode("utf-8")) > ANNOTATION_TEXT_LIMIT for a in kept)
    if long:
        notes.append(
            f"{long} annotation text(s) cut to {ANNOTATION_TEXT_LIMIT} bytes (the EDF+ writer's limit)"
        )
    return sorted(kept, key=lambda a: a.onset)


@dataclass(frozen=True)
class _Signal:
    """One channel as it will be written: its header fields and its digital samples."""

    header: dict[str, Any]  # pyedflib's signal header
    range_text: tuple[str, str]  # the exact physical min/max fields
    digital: np.ndarray  # int32 (records, samples per record)


def _layout(
    rec: Recording, bdf: bool, fit: str, path: str, notes: list[str]
) -> tuple[Fraction, list[int], int]:
    """Record duration, samples per record of each channel and the number of records (`fit`)."""
    try:
        record = choose_record_duration([c.rate for c in rec.channels], 3 if bdf else 2)
    except ValueError as e:
        raise OutputError(
            f"cannot write {path}: no data record duration up to 60 s gives a whole number of "
            f"samples per record for {e}; resample the channels"
        ) from None
    spr = [int(Fraction(c.rate).limit_denominator(1000) * record) for c in rec.channels]
    durations = [c.duration for c in rec.channels]
    if max(durations) <= 0:
        raise OutputError(f"cannot write {path}: the recording has no samples")
    span = max(durations) if fit == "pad" else min(durations)
    exact = span / float(record)
    n_records = math.ceil(exact - 1e-9) if fit == "pad" else math.floor(exact + 1e-9)
    if n_records < 1:
        raise OutputError(
            f"cannot write {path}: {span:g} s is shorter than one {float(record):g} s data record "
            "(use fit='pad')"
        )
    written = n_records * float(record)
    if fit == "pad" and written - min(durations) > 1e-9:
        notes.append(
            f"padded {written - min(durations):.6g} s at the end (last value repeated) to fill whole "
            f"{float(record):g} s data records"
        )
    elif fit == "trim" and max(durations) - written > 1e-9:
        notes.append(
            f"trimmed {max(durations) - written:.6g} s at the end to whole {float(record):g} s data records"
        )
    return record, spr, n_records


def _signal(c: Channel, n: int, bdf: bool, path: str, notes: list[str]) -> tuple[_Signal, bool]:
    """The channel `c` fitted to `n` samples, its range chosen, scaled to digital and its text
    fields made ASCII; and whether its stated physical range had to be widened."""
    dmin, dmax = DIGITAL_RANGE[bdf]
    data = _fitted(c, n)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise OutputError(f"cannot write {path}: channel '{c.name}' has {bad} NaN/Inf samples")
    try:
        lo_text, hi_text, how = physical_range(c, data)
    except ValueError:
        raise OutputError(
            f"cannot write {path}: channel '{c.name}' has values up to {np.abs(data).max():.3g} "
            f"{c.unit}, too large for the 8-character EDF field; convert it to a larger unit"
        ) from None
    stated = (
        math.isfinite(c.physical_min) and math.isfinite(c.physical_max) and c.physical_min < c.physical_max
    )
    # "widened" only when samples lay outside the stated range (otherwise it was only re-rounded)
    outside = bool(data.size) and (data.min() < c.physical_min or data.max() > c.physical_max)
    widened = how != "kept" and stated and outside
    lo, hi = float(lo_text), float(hi_text)
    digital = np.rint((data - lo) / (hi - lo) * (dmax - dmin) + dmin)
    if digital.size and (digital.min() < dmin or digital.max() > dmax):  # excluded by the range; checked
        raise OutputError(f"cannot write {path}: channel '{c.name}' would be clipped (internal range error)")
    label = ascii_text(c.label.rstrip(), 16)
    if label != c.label.rstrip():
        notes.append(f"label '{c.label.rstrip()}' written as '{label}' (16 ASCII characters at most)")
    unit = ascii_text(c.unit, 8)
    if ascii_text(c.unit) != unit:
        notes.append(f"unit '{c.unit}' of '{c.name}' cut to '{unit}' (8 characters)")
    for field_name, text in (("transducer", c.transducer), ("prefilter", c.prefilter)):
        if len(ascii_text(text)) > 80:
            notes.append(f"{field_name} of '{c.name}' cut to 80 characters")
    header = {
        "label": label,
        "dimension": unit,
        "sample_frequency": c.rate,
        "physical_min": lo,
        "physical_max": hi,
        "digital_min": dmin,
        "digital_max": dmax,
        "transducer": ascii_text(c.transducer, 80),
        "prefilter": ascii_text(c.prefilter, 80),
    }
    return _Signal(header, (lo_text, hi_text), digital.astype(np.int32)), widened


def write_edf(
    rec: Recording, path: str, *, bdf: bool = False, anonymize: bool = True, fit: str = "pad"
) -> WriteReport:
    """Writes `rec` as EDF+ (or BDF+ when `bdf`) atomically; see the module docstring for the rules."""
    if fit not in ("pad", "trim"):
        raise OutputError(f"cannot write {path}: fit must be 'pad' or 'trim', not {fit!r}")
    if not rec.channels:
        raise OutputError(f"cannot write {path}: the recording has no channels")
    check_output(rec.source.path if rec.source else None, path)
    notes: list[str] = []
    record, spr, n_records = _layout(rec, bdf, fit, path, notes)
    signals, widened = [], []
    for c, k in zip(rec.channels, spr, strict=True):
        sig, was_widened = _signal(c, n_records * k, bdf, path, notes)
        signals.append(sig)
        if was_widened:
            widened.append(c.name)
    if widened:
        shown = ", ".join(widened[:6]) + (", ..." if len(widened) > 6 else "")
        notes.append(f"physical range widened to fit the data (never clipped) for: {shown}")
    annotations = _annotations(rec, n_records * float(record), notes)
    n_annotation_signals = max(1, math.ceil(len(annotations) / n_records))
    if n_annotation_signals > MAX_ANNOTATION_SIGNALS:
        raise OutputError(
            f"cannot write {path}: {len(annotations)} annotations do not fit {n_records} data records "
            f"(at most {MAX_ANNOTATION_SIGNALS} per record)"
        )
    patient = _patient_fields(rec, anonymize)
    if patient:
        notes.append("patient fields kept (anonymize=False)")
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyedflib warns about what is checked above
        _write_with_pyedflib(
            tmp, rec, signals, record, n_records, annotations, n_annotation_signals, patient, bdf
        )
        _set_physical_fields(tmp, [s.range_text for s in signals])
        _check_written(tmp, path, n_records, bdf)
    return WriteReport(path=path, format="BDF+" if bdf else "EDF+", notes=notes)


def _write_with_pyedflib(
    tmp: str,
    rec: Recording,
    signals: list[_Signal],
    record: Fraction,
    n_records: int,
    annotations: list[Annotation],
    n_annotation_signals: int,
    patient: dict[str, Any],
    bdf: bool,
) -> None:
    """Hands the checked header, annotations and digital records to pyedflib."""
    import pyedflib

    writer = pyedflib.EdfWriter(
        tmp, len(signals), pyedflib.FILETYPE_BDFPLUS if bdf else pyedflib.FILETYPE_EDFPLUS
    )
    try:
        writer.setSignalHeaders([s.header for s in signals])
        writer.setDatarecordDuration(float(record))
        writer.set_number_of_annotation_signals(n_annotation_signals)
        writer.setStartdatetime((rec.start or DEFAULT_START).replace(tzinfo=None))
        writer.setEquipment("VQ_Studio")
        if rec.synthetic:
            writer.setRecordingAdditional("synthetic")
        setters = {
            "patientcode": writer.setPatientCode,
            "patientname": writer.setPatientName,
            "patient_additional": writer.setPatientAdditional,
            "sex": writer.setSex,
            "birthdate": writer.setBirthdate,
        }
        for key, value in patient.items():
            setters[key](value)
        for a in annotations:
            text = a.text.encode("utf-8")[:ANNOTATION_TEXT_LIMIT].decode("utf-8", "ignore")
            if writer.writeAnnotation(a.onset, a.duration if a.duration > 0 else -1, text) < 0:
                raise OSError(f"the writer refused annotation '{a.text[:40]}'")  # atomic_path: OutputError
        per_record = sum(s.digital.size for s in signals) // n_records
        chunk = max(1, (1 << 22) // max(1, per_record))  # ~16 MB of int32 per block
        for r0 in range(0, n_records, chunk):
            block = np.concatenate(
                [s.digital.reshape(n_records, -1)[r0 : r0 + chunk] for s in signals], axis=1
            )
            for i, row in enumerate(block):
                if writer.blockWriteDigitalSamples(np.ascontiguousarray(row, dtype=np.int32)) < 0:
                    raise OSError(f"the writer failed at data record {r0 + i + 1}")
    finally:
        writer.close()


def _check_written(tmp: str, path: str, n_records: int, bdf: bool) -> None:
    """Reads the header back and checks the file holds every data record it declares, and as
    many as were meant (`OutputError`, "the disk is full" when it is)."""
    try:
        with open(tmp, "rb") as f:
            head = f.read(256)
            ns = int(head[252:256].decode("ascii"))
            header_bytes = int(head[184:192].decode("ascii"))
            declared = int(head[236:244].decode("ascii"))
            f.seek(256 + ns * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80))
            per_record = sum(int(f.read(8).decode("ascii")) for _ in range(ns))
    except (OSError, ValueError, UnicodeDecodeError):
        raise write_failed(path, "the writer left an unreadable header") from None
    if declared != n_records:
        raise write_failed(path, f"the writer stored {declared} of {n_records} data records")
    check_size(tmp, header_bytes + declared * per_record * (3 if bdf else 2), path)


def _set_physical_fields(path: str, ranges: list[tuple[str, str]]) -> None:
    """Writes the exact physical min/max strings into the header fields (edflib cuts digits)."""
    with open(path, "r+b") as f:
        head = f.read(256)
        ns = int(head[252:256].decode("ascii").strip())
        base = 256 + ns * (16 + 80 + 8)
        for i, (lo, hi) in enumerate(ranges):
            f.seek(base + i * 8)
            f.write(lo.ljust(8).encode("ascii"))
            f.seek(base + ns * 8 + i * 8)
            f.write(hi.ljust(8).encode("ascii"))
        f.flush()
        os.fsync(f.fileno())
