"""Writing a one-rate recording as a CSV table that `read_csv` (and a spreadsheet) reads back.

Columns: `time_s`, one per channel named `label (unit)`, and `annotations` when there are
any (each at the row nearest its onset; several in one cell joined by ' | '). What a CSV
cannot hold is stated in the report: annotation durations, the start date, mixed rates
(refused: resample or choose channels of one rate).
"""

from __future__ import annotations

import math

import numpy as np

from vqstudio.atomic import atomic_path
from vqstudio.errors import OutputError
from vqstudio.io._common import WriteReport, refuse_overwriting_input
from vqstudio.io.csv_read import ANNOTATION_JOIN
from vqstudio.recording import SYNTHETIC_MARK, Annotation, Recording

__all__ = ["write_csv"]


def write_csv(rec: Recording, path: str) -> WriteReport:
    """Writes `rec` (all channels at one rate) as CSV atomically."""
    if not rec.channels:
        raise OutputError(f"cannot write {path}: the recording has no channels")
    rates = {c.rate for c in rec.channels}
    if len(rates) > 1:
        raise OutputError(
            f"cannot write {path}: a CSV table holds one rate but the channels have "
            + ", ".join(f"{r:g}" for r in sorted(rates))
            + " Hz; write EDF/BDF, or resample or choose channels of one rate"
        )
    refuse_overwriting_input(rec.source.path if rec.source else None, path)
    notes: list[str] = []
    rate = rates.pop()
    n = min(c.n_samples for c in rec.channels)
    if any(c.n_samples != n for c in rec.channels):
        notes.append(f"channels cut to the shortest one ({n} samples)")
    data = np.stack([np.asarray(c.read(0, n), dtype=np.float32) for c in rec.channels], axis=1)
    if not np.isfinite(data).all():
        raise OutputError(f"cannot write {path}: the recording has NaN/Inf samples")
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
            cols += [np.char.mod("%.9g", data[r0:r1, j]) for j in range(data.shape[1])]
            if annotations:
                cols.append(np.array([_quote(s) if s else "" for s in cells[r0:r1]]))
            rows = cols[0]
            for c in cols[1:]:
                rows = np.char.add(np.char.add(rows, ","), c)
            f.write("\n".join(rows.tolist()) + "\n")
    return WriteReport(path=path, format="CSV", notes=notes)


def _quote(text: str) -> str:
    return f'"{text}"' if any(ch in text for ch in ',;"\t') else text
