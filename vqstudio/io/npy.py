"""`.npy` arrays of samples with a JSON sidecar (`NAME.json`) that says what they are.

One recording: float32 `(channels, samples)`. A batch from `vqstudio generate --count N`:
float32 `(count, channels, samples)`. The sidecar holds labels, units, the rate, annotations
(one list per batch item), the start time and the synthetic flag; no pickle is ever loaded.

The two files are one unit: both are written to temporary names before either is renamed, and
the sidecar holds the array file's shape and sha256, so a reader finds out when a kill between
the two renames left a sidecar beside an array it does not describe (`read_npy` refuses it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vqstudio.errors import FormatError, OutputError, RateNeededError
from vqstudio.io._common import WriteReport, check_input, check_output
from vqstudio.io.atomic import atomic_path, check_size, write_failed, write_json
from vqstudio.recording import SYNTHETIC_MARK, Annotation, Recording, Source, file_sha256

__all__ = ["check_npy_output", "read_npy", "sidecar_path", "write_npy", "write_npy_batch"]

SIDECAR_FORMAT = "vqstudio-npy"


def sidecar_path(path: str) -> str:
    """`NAME.json` beside `NAME.npy`."""
    return os.path.splitext(path)[0] + ".json"


def _annotation_dicts(annotations: Sequence[Annotation]) -> list[dict[str, Any]]:
    return [{"onset": a.onset, "duration": a.duration, "text": a.text} for a in annotations]


def check_npy_output(path: str) -> None:
    """Refuses `path` and its sidecar when either may not be written (`OutputError`): the
    general output rules, a name that is not `.npy`, and a `NAME.json` that is there already but
    is not a sidecar VQ Studio wrote (a sidecar never replaces a file it did not create)."""
    side = sidecar_path(path)
    if os.path.splitext(path)[1].lower() != ".npy":
        raise OutputError(f"cannot write {path}: the array needs a .npy name (its sidecar is .json)")
    check_output(None, path)
    check_output(None, side)
    if os.path.exists(side) and not _is_our_sidecar(side):
        raise OutputError(
            f"cannot write {path}: its sidecar {side} is there already and VQ Studio did not write it; "
            "choose another output name"
        )


def _is_our_sidecar(side: str) -> bool:
    try:
        with open(side, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == SIDECAR_FORMAT


def _data_offset(path: str) -> int:
    """Where the array data of the `.npy` file `path` starts (after its header)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (  # 3.0 differs from 2.0 only in the header's text encoding
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        read_header(f)
        return f.tell()


def _write(data: np.ndarray, path: str, meta: dict[str, Any], notes: list[str]) -> WriteReport:
    side = sidecar_path(path)
    check_npy_output(path)
    array = np.ascontiguousarray(data, dtype=np.float32)
    with atomic_path(path) as tmp:
        np.save(tmp, array, allow_pickle=False)
        try:
            offset = _data_offset(tmp)
        except (OSError, ValueError) as e:
            raise write_failed(path, f"the array header came out unreadable ({e})") from e
        check_size(tmp, offset + array.nbytes, path)
        # The sidecar is renamed first, then the array: a kill between leaves a new sidecar whose
        # digest the old array does not match, which readers refuse.
        write_json(side, {**meta, "npy_sha256": file_sha256(tmp)})
    return WriteReport(path=path, format="NPY", notes=notes, extra_paths=(side,))


def write_npy(rec: Recording, path: str) -> WriteReport:
    """Writes a one-rate recording as float32 `(channels, samples)` plus its sidecar, atomically."""
    if not rec.channels:
        raise OutputError(f"cannot write {path}: the recording has no channels")
    rates = {c.rate for c in rec.channels}
    if len(rates) > 1:
        raise OutputError(
            f"cannot write {path}: .npy holds one rate but the channels have "
            + ", ".join(f"{r:g}" for r in sorted(rates))
            + " Hz; write EDF/BDF, or resample or choose channels of one rate"
        )
    check_output(rec.source.path if rec.source else None, path)
    notes = []
    n = min(c.n_samples for c in rec.channels)
    if any(c.n_samples != n for c in rec.channels):
        notes.append(f"channels cut to the shortest one ({n} samples)")
    data = np.stack([np.asarray(c.read(0, n), dtype=np.float32) for c in rec.channels])
    annotations = list(rec.annotations)
    if rec.synthetic and not any(a.text.startswith(SYNTHETIC_MARK) for a in annotations):
        annotations.insert(0, Annotation(0.0, 0.0, SYNTHETIC_MARK))
    meta = {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "shape": list(data.shape),
        "layout": "channels x samples",
        "labels": [c.label for c in rec.channels],
        "units": [c.unit for c in rec.channels],
        "rate": rates.pop(),
        "annotations": _annotation_dicts(annotations),
        "start": rec.start.isoformat() if rec.start else None,
        "synthetic": bool(rec.synthetic),
    }
    return _write(data, path, meta, notes)


def write_npy_batch(
    data: np.ndarray,
    path: str,
    *,
    rate: float,
    labels: Sequence[str],
    units: Sequence[str] | str = "",
    annotations: Sequence[Annotation] | Sequence[Sequence[Annotation]] = (),
    extra: dict[str, Any] | None = None,
) -> WriteReport:
    """Writes float32 `(count, channels, samples)` and `NAME.json` (labels, units, rate, annotations).

    `annotations` is one list for every item, or one list per item (e.g. each item's label).
    `extra` adds keys to the sidecar (e.g. the project and seed). The arrays are marked
    synthetic: this is what `generate` writes.
    """
    arr = np.asarray(data)
    if arr.ndim != 3 or arr.shape[1] != len(labels):
        raise OutputError(
            f"cannot write {path}: data of shape {arr.shape} is not (count, {len(labels)} channels, samples)"
        )
    if not np.isfinite(arr).all():
        raise OutputError(f"cannot write {path}: the data has NaN/Inf samples")
    unit_list = [units] * len(labels) if isinstance(units, str) else list(units)
    items = list(annotations)
    if items and all(not isinstance(a, Annotation) for a in items):
        if len(items) != arr.shape[0]:
            raise OutputError(f"cannot write {path}: {len(items)} annotation lists for {arr.shape[0]} items")
        per_item = [list(a) for a in items]  # type: ignore[arg-type]
    else:
        per_item = [list(items) for _ in range(arr.shape[0])]  # type: ignore[arg-type]
    meta: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "shape": list(arr.shape),
        "layout": "count x channels x samples",
        "labels": list(labels),
        "units": unit_list,
        "rate": float(rate),
        "annotations": [_annotation_dicts(a) for a in per_item],
        "start": None,
        "synthetic": True,
    }
    if extra:
        meta.update({k: v for k, v in extra.items() if k not in meta})
    return _write(arr, path, meta, [])


def _load_sidecar(path: str) -> dict[str, Any] | None:
    side = sidecar_path(path)
    if not os.path.exists(side):
        return None
    try:
        with open(side, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise FormatError(
            f"{os.path.basename(side)}: unreadable sidecar of {os.path.basename(path)} ({e})"
        ) from None
    if not isinstance(meta, dict):
        raise FormatError(f"{os.path.basename(side)}: the sidecar is not a JSON object")
    return meta


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _as_float32(name: str, item: np.ndarray, labels: list[str]) -> np.ndarray:
    """`(channels, samples)` as float32; `FormatError` naming the channel for NaN/Inf, or for a
    value float32 cannot hold (checked before the cast, which would warn and make it Inf)."""
    if item.dtype.kind == "f":
        finite = np.isfinite(item).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise FormatError(f"{name}: channel '{labels[bad]}' has NaN/Inf samples")
    big = np.abs(item).max(axis=1) > FLOAT32_MAX if item.size else np.zeros(len(labels), bool)
    if big.any():
        bad = int(np.flatnonzero(big)[0])
        raise FormatError(
            f"{name}: channel '{labels[bad]}' holds {float(np.abs(item[bad]).max()):.3g}, too large for "
            "32-bit floats: VQ Studio stores samples as float32 (largest about 3.4e38); rescale it"
        )
    return np.asarray(item, dtype=np.float32)


def _check_pair(path: str, shape: tuple[int, ...], meta: dict[str, Any]) -> None:
    """Refuses (`FormatError`) a sidecar that describes another array than the one in `path`
    (its shape, and the file's sha256 where the sidecar holds it)."""
    side = os.path.basename(sidecar_path(path))
    said = meta.get("shape")
    if said is not None and list(said) != list(shape):
        raise FormatError(
            f"{os.path.basename(path)}: its sidecar {side} describes an array of shape {list(said)}, but "
            f"the file holds {list(shape)}: the two were not written together (a write cut short?); "
            "write them again"
        )
    digest = meta.get("npy_sha256")
    if digest is not None and digest != file_sha256(path):
        raise FormatError(
            f"{os.path.basename(path)}: its sidecar {side} was written for another array (the sha256 "
            "differs): the two were not written together (a write cut short?); write them again"
        )


def read_npy(path: str, *, rate: float | None = None) -> list[Recording]:
    """The recording(s) of a `.npy` file: one for `(channels, samples)`, `count` for a batch."""
    check_input(path)
    name = os.path.basename(path)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
        raise FormatError(f"{name}: not a numeric .npy array ({e})") from None
    except OSError as e:
        raise FormatError(f"{name}: not a readable .npy file ({e})") from None
    if arr.dtype.kind not in "fiu" or arr.ndim not in (1, 2, 3):
        raise FormatError(
            f"{name}: holds a {arr.dtype} array of shape {arr.shape}; expected numbers (channels, samples)"
        )
    batch = arr.ndim == 3
    arr3 = arr.reshape(1, 1, -1) if arr.ndim == 1 else (arr[None] if arr.ndim == 2 else arr)
    meta = _load_sidecar(path) or {}
    _check_pair(path, arr.shape, meta)
    n_ch = arr3.shape[1]
    labels = list(meta.get("labels") or [f"ch{i + 1}" for i in range(n_ch)])
    if len(labels) != n_ch:
        raise FormatError(f"{name}: the sidecar names {len(labels)} channels but the array has {n_ch}")
    units = meta.get("units", "")
    units = [units] * n_ch if isinstance(units, str) else list(units)
    the_rate = rate if rate is not None else meta.get("rate")
    if the_rate is None or not float(the_rate) > 0:
        raise RateNeededError(
            f"{name}: no sample rate (no {os.path.basename(sidecar_path(path))} beside it); "
            "give it with --rate HZ"
        )
    raw_notes = meta.get("annotations") or []
    if raw_notes and isinstance(raw_notes[0], dict):
        raw_notes = [raw_notes] * arr3.shape[0]
    start = None
    if meta.get("start"):
        try:
            start = dt.datetime.fromisoformat(meta["start"])
        except (TypeError, ValueError):
            start = None
    out = []
    for k in range(arr3.shape[0]):
        item = _as_float32(name, arr3[k], labels)
        try:
            notes = [
                Annotation(float(a["onset"]), float(a.get("duration", 0.0)), str(a["text"]))
                for a in (raw_notes[k] if k < len(raw_notes) else [])
            ]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{name}: the sidecar's annotations are malformed") from None
        rec = Recording.from_array(item, float(the_rate), labels, units, notes, start, Source(path, "NPY"))
        rec.synthetic = bool(meta.get("synthetic", False))
        if batch:
            rec.notes.append(f"item {k + 1} of {arr3.shape[0]}")
        out.append(rec)
    return out
