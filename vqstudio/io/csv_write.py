"""Writing a recording as a CSV table that `read_csv` (and a spreadsheet) reads back.

Columns: `time_s`, one per channel named `label (unit)`, and `annotations` when there are
any (each at the row nearest its onset; several in one cell joined by ' | '). Rows run at the
fastest channel's rate; a slower channel whose rate divides it fills every k-th row with empty
cells between (PSG: 1 Hz SpO2 beside 100 Hz EEG). What a CSV cannot hold is stated in the
report (annotation durations, the start date); rates that do not divide the fastest one are
refused (resample, or write EDF/BDF).
"""

from __future__ import annotations

import math

import numpy as np

from vqstudio.errors import OutputError
from vqstudio.io._common import WriteReport, check_output
from vqstudio.io.atomic import atomic_path
from vqstudio.io.csv_read import ANNOTATION_JOIN
from vqstudio.recording import SYNTHETIC_MARK, Annotation, Recording

__all__ = ["write_csv"]


def write_csv(rec: Recording, path: str) -> WriteReport:
    """Writes `rec` (all channels at one rate) as CSV atomically."""
    if not rec.channels:
        raise OutputError(f"cannot write {path}: the recording has no channels")
    rate = max(c.rate for c in rec.channels)
    steps = [round(rate / c.rate) for c in rec.channels]
    odd = [c for c, k in zip(rec.channels, steps, strict=True) if abs(rate / c.rate - k) > 1e-9 * k]
    if odd:
        raise OutputError(
            f"cannot write {path}: rows run at {rate:g} Hz and "
            + ", ".join(f"{c.name} ({c.rate:g} Hz)" for c in odd[:4])
            + " do not fit a whole number of rows per sample; write EDF/BDF, or resample"
        )
    check_output(rec.source.path if rec.source else None, path)
    notes: list[str] = []
    n = max(c.n_samples * k for c, k in zip(rec.channels, steps, strict=True))
    columns = []
    for c, k in zip(rec.channels, steps, strict=True):
        x = np.asarray(c.samples, dtype=np.float32)
        if not np.isfinite(x).all():
            raise OutputError(f"cannot write {path}: channel '{c.name}' has NaN/Inf samples")
        columns.append((x, k))
    if any(k > 1 for k in steps):
        notes.append("slower channels fill every k-th row, with empty cells between")
    if any(x.size * k < n - (k - 1) for x, k in columns):
        notes.append("shorter channels end with empty cells")
    annotations = list(rec.annotations)
    if rec.synthetic and not any(a.text.startswith(SYNTHETIC_MARK) for a in annotations):
        annotations.insert(0, Annotation(0.0, 0.0, SYNTHETIC_MARK))
    cells = [""] * n
    for a in annotations:
        i = min(max(round(a.onset * rate), 0), n - 1)
        text = a.text.replace("\n", " ").replace('"', "'")
        cells[i] = text if not cells[i] else cells[i] + ANNOTATION_JOIN + text
    if any(a.duration > 0 for a in annotations):
        notes.append("annotation durations are not kept in CSV (onsets only)")
    if any(a.onset < 0 or a.onset * rate > n - 1 for a in annotations):
        notes.append("annotations outside the data were put on the first or last row")
    if rec.start is not None:
        notes.append("the start date and time are not kept in CSV (time_s counts from 0)")
    names = ["time_s"] + [f"{c.name} ({c.unit})" if c.unit else c.name for c in rec.channels]
    if annotations:
        names.append("annotations")
    decimals = min(9, max(3, math.ceil(math.log10(max(rate, 1.0))) + 3))
    times = np.arange(n) / rate
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(_quote(s) for s in names) + "\n")
        block = 65536
        for r0 in range(0, n, block):
            r1 = min(n, r0 + block)
            cols = [np.char.mod(f"%.{decimals}f", times[r0:r1])]
            for x, k in columns:
                col = np.zeros(r1 - r0, dtype="<U16")  # empty strings
                rows = np.arange(r0, r1)
                on = (rows % k == 0) & (rows // k < x.size)
                col[on] = np.char.mod("%.9g", x[rows[on] // k])
                cols.append(col)
            if annotations:
                cols.append(np.array([_quote(s) if s else "" for s in cells[r0:r1]]))
            rows = cols[0]
            for c in cols[1:]:
                rows = np.char.add(np.char.add(rows, ","), c)
            f.write("\n".join(rows.tolist()) + "\n")
    return WriteReport(path=path, format="CSV", notes=notes)


def _quote(text: str) -> str:
    return f'"{text}"' if any(ch in text for ch in ',;"\t') else text
