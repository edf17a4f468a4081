"""Reading CSV/TSV/TXT tables of samples as people write them.

What is understood:

* Separators: comma, semicolon, tab, or runs of spaces; the first lines decide. With a
  semicolon, tab or space separator a decimal comma (`0,25`) is read as a decimal point.
* A header row of channel names, whose units are recognised and taken out of the label:
  `Fp1 (uV)`, `Fp1 [µV]`, `II_mV`, `Resp mV`. Without a header (every cell of the first row
  is a number) the channels are named `ch1..chN` and there is no time column.
* An optional time column (named time, t, time_s, seconds, timestamp, datetime ... or holding
  ISO timestamps): in seconds (or `ms` when its unit says so) or as ISO date-times. The rate is
  derived from it; irregular steps are reported in `Recording.notes`, never silently evened
  out. Without a time column the rate must be given (`rate=`, `--rate HZ`).
* A slower channel beside faster ones: a value on every k-th row and empty cells between
  (its rate is the table's rate / k), as the CSV writer writes mixed rates.
* A column named sample/index is a row counter and is skipped; a text column named
  annotation/event/marker/label becomes annotations (onset = that row's time); another text
  column is skipped with a note.

Everything else is refused with a `FormatError` naming the file, the line and the column:
text in a number column, an empty cell, NaN or Inf, a value too large for float32 (the
samples' type), ragged rows, no numeric column.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
import warnings

import numpy as np

from vqstudio.errors import FormatError, RateNeededError
from vqstudio.io._common import check_input
from vqstudio.recording import Annotation, Channel, Recording, Source

__all__ = ["read_csv", "split_unit"]

TIME_NAMES = {
    "time", "t", "times", "timestamp", "timestamps", "time stamp", "datetime", "date time", "date_time",
    "seconds", "second", "sec", "secs", "elapsed", "elapsed time", "elapsed_time", "time_s", "clock",
    "zeit", "temps", "tiempo", "tempo", "tijd",
}  # fmt: skip
INDEX_NAMES = {
    "sample", "samples", "index", "idx", "n", "sample_index", "sample index", "sample #", "sample_number",
    "sample number", "#", "no", "nr", "row",
}  # fmt: skip
ANNOTATION_NAMES = {
    "annotation", "annotations", "event", "events", "marker", "markers", "label", "labels", "comment",
    "comments", "note", "notes",
}  # fmt: skip
# Units recognised after `_` or a space at the end of a column name (in brackets anything goes).
KNOWN_UNITS = {
    "uV", "µV", "μV", "mV", "V", "nV", "kV", "uv", "mv", "nv", "UV", "MV", "mmHg", "bpm", "BPM", "%",
    "degC", "°C", "Ohm", "kOhm", "mA", "uA", "A", "Hz", "s", "ms", "g", "mg", "au", "a.u.", "L/min",
}  # fmt: skip
_BRACKETED = re.compile(r"^(.*?)\s*[\(\[\{]\s*([^\)\]\}]*?)\s*[\)\]\}]\s*$")
_TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "min": 60.0,
}
ANNOTATION_JOIN = " | "  # several annotations in one cell (what the CSV writer writes)


def split_unit(name: str) -> tuple[str, str]:
    """A column name split into (label, unit): `Fp1 (uV)` -> (`Fp1`, `uV`), `II_mV` -> (`II`, `mV`)."""
    name = name.strip()
    m = _BRACKETED.match(name)
    if m and m.group(1):
        return m.group(1).strip(), m.group(2).strip()
    for sep in ("_", " "):
        head, _, tail = name.rpartition(sep)
        if head.strip() and tail in KNOWN_UNITS:
            return head.strip(), tail
    return name, ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff(first: str, second: str) -> str | None:
    """The separator of a table from its first two lines (None: whitespace)."""
    for sep in ("\t", ";", ","):
        if first.count(sep) and (not second or second.count(sep)):
            return sep
    return None


def _decimals(values: list[str]) -> int:
    """How many digits after the point the numbers were written with (for the time resolution)."""
    best = 0
    for v in values[:50]:
        _, dot, frac = v.strip().partition(".")
        if dot:
            best = max(best, len(re.match(r"\d*", frac).group(0)))  # type: ignore[union-attr]
    return best


def read_csv(path: str, *, rate: float | None = None) -> Recording:
    """A `Recording` from a CSV/TSV/TXT table (see the module docstring for what is understood)."""
    check_input(path)
    name = os.path.basename(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\x00" in text[:4096]:
        raise FormatError(f"{name}: holds binary data, not a text table of numbers")
    lines = text.splitlines()
    numbered = [
        (i + 1, line) for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise FormatError(f"{name}: holds no rows (only blank or # comment lines); it holds no recording")
    sep = _sniff(numbered[0][1], numbered[1][1] if len(numbered) > 1 else "")
    header_cells = _split(numbered[0][1], sep)
    has_header = not all(_is_number(c.replace(",", ".") if sep != "," else c) for c in header_cells)
    data = numbered[1:] if has_header else numbered
    if not data:
        raise FormatError(f"{name}: has a header row but no data rows")
    body = "\n".join(line for _, line in data)
    # A decimal comma is only possible when the comma is not the separator.
    if sep != "," and "," in data[0][1]:
        body = body.replace(",", ".")
    linenos = [n for n, _ in data]
    first_row = _split(body.partition("\n")[0], sep)
    width = len(header_cells) if has_header else len(first_row)
    if has_header and width > 1 and header_cells[-1].strip() == "":  # a trailing separator
        header_cells, width = header_cells[:-1], width - 1
    names = [c.strip() for c in header_cells] if has_header else [f"ch{i + 1}" for i in range(width)]
    notes: list[str] = []
    first_row = (first_row + [""] * width)[:width]

    time_col, channels_cols, annotation_cols = _roles(names, first_row, has_header, notes)
    if not channels_cols:
        shown = ", ".join(f"'{c}'" for c in names[:8])
        raise FormatError(
            f"{name}: no numeric column to read as a signal (columns: {shown}); the table needs at "
            "least one column of numbers"
        )

    numeric_time = time_col is not None and _is_number(first_row[time_col])
    used = sorted(channels_cols + ([time_col] if numeric_time else []))
    table = None
    if not annotation_cols and (time_col is None or numeric_time):
        table = _fast_numbers(body, sep, used, width)
    if table is not None:
        for k, j in enumerate(used):
            cell = lambda i, j=j: _split(data[i][1], sep)[j]  # noqa: E731 - the text, for a message
            _check_finite(name, table[:, k], names[j], linenos, cell)
            if j in channels_cols:
                _check_float32(name, table[:, k], names[j], linenos, cell)
        values = list(np.ascontiguousarray(table[:, [used.index(j) for j in channels_cols]].T))
        steps = [1] * len(channels_cols)
        time_cells = table[:, used.index(time_col)] if numeric_time else None
        head_rows = body.split("\n", 20)[:20]  # after the decimal comma became a point
        time_text = [_split(r, sep)[time_col] for r in head_rows] if numeric_time else []
    else:
        rows = (
            list(csv.reader(io.StringIO(body), delimiter=sep))
            if sep
            else [ln.split() for ln in body.split("\n")]
        )
        for (lineno, _), r in zip(data, rows, strict=True):
            if len(r) == width + 1 and r[-1].strip() == "":
                del r[-1]
            if len(r) != width:
                raise FormatError(
                    f"{name}: line {lineno} has {len(r)} cells but the table has {width} columns; "
                    "every row needs one value per column"
                )
        cells = np.array(rows, dtype=str).reshape(len(rows), width)
        values, steps = [], []
        for j in channels_cols:
            step, idx = _sparse_step(cells[:, j])
            if idx is not None:  # a slower or shorter channel: a value every `step` rows
                column, rows_used = cells[idx, j], [linenos[i] for i in idx]
                values.append(_numbers(name, column, names[j], rows_used))
                _check_float32(name, values[-1], names[j], rows_used, lambda i, col=column: str(col[i]))
                notes.append(
                    f"column '{names[j]}' has a value every {step} row(s) for {idx.size} of "
                    f"{len(rows)} rows: read as a channel at 1/{step} of the table's rate"
                    if step > 1
                    else f"column '{names[j]}' ends after {idx.size} of {len(rows)} rows (a shorter channel)"
                )
            else:
                values.append(_numbers(name, cells[:, j], names[j], linenos))
                _check_float32(name, values[-1], names[j], linenos, lambda i, j=j: str(cells[i, j]))
            steps.append(step)
        time_cells = cells[:, time_col] if time_col is not None else None
        time_text = list(cells[:20, time_col]) if time_col is not None else []

    times, start = None, None
    if time_cells is not None:
        times, start = _times(name, time_cells, names[time_col], linenos)
    if rate is not None:
        if not (rate > 0 and math.isfinite(rate)):
            raise FormatError(f"{name}: the sample rate must be a positive number of Hz, not {rate}")
        rate = float(rate)
        if times is not None and times.size > 1 and times[-1] > times[0]:
            derived = (times.size - 1) / (times[-1] - times[0])
            if abs(derived - rate) > 0.01 * rate:
                notes.append(
                    f"the time column says {derived:.6g} Hz but {rate:g} Hz was given; used {rate:g} Hz"
                )
    elif times is not None:
        rate, note = _rate_from_times(name, times, names[time_col], linenos, _decimals(time_text))
        if note:
            notes.append(note)
    else:
        raise RateNeededError(
            f"{name}: has no time column (a first column named time, t, time_s or timestamp), so "
            "its sample rate is unknown; give it with --rate HZ"
        )

    annotations = []
    for j in annotation_cols:
        col_times = times if times is not None else np.arange(len(data)) / rate
        for i in np.flatnonzero(np.char.str_len(np.char.strip(cells[:, j])) > 0):
            for text_part in str(cells[i, j]).strip().split(ANNOTATION_JOIN):
                if text_part.strip():
                    annotations.append(Annotation(round(float(col_times[i]), 9), 0.0, text_part.strip()))

    channels = []
    for k, j in enumerate(channels_cols):
        label, unit = split_unit(names[j])
        channels.append(Channel.from_samples(label or names[j], values[k], rate / steps[k], unit))
    return Recording(
        channels=channels,
        annotations=annotations,
        start=start,
        source=Source(path, "CSV"),
        notes=notes,
    )


def _roles(
    names: list[str], first_row: list[str], has_header: bool, notes: list[str]
) -> tuple[int | None, list[int], list[int]]:
    """Which column is the time, which are signals and which hold annotations (by name, then content)."""
    time_col = None
    if has_header:
        for j, col in enumerate(names):
            if split_unit(col)[0].lower() in TIME_NAMES or col.lower() in TIME_NAMES:
                time_col = j
                break
        first = first_row[0]
        if time_col is None and len(names) > 1 and not _is_number(first) and _parse_when(first) is not None:
            time_col = 0
    channels_cols, annotation_cols = [], []
    for j, col in enumerate(names):
        if j == time_col:
            continue
        label = split_unit(col)[0].lower()
        if has_header and label in INDEX_NAMES:
            notes.append(f"skipped column '{col}' (a row counter)")
        elif has_header and label in ANNOTATION_NAMES:
            annotation_cols.append(j)
        elif not _is_number(first_row[j]) and first_row[j].strip() != "":
            notes.append(f"skipped column '{col}': it holds text ('{first_row[j][:20]}'), not numbers")
        else:
            channels_cols.append(j)
    return time_col, channels_cols, annotation_cols


def _split(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    return next(csv.reader([line], delimiter=sep))


def _numbers(name: str, column: np.ndarray, col_name: str, linenos: list[int]) -> np.ndarray:
    """A column of strings as float64, or a `FormatError` at the first cell that is not a finite number."""
    try:
        out = column.astype(np.float64)
    except ValueError:
        for i, cell in enumerate(column):
            if not _is_number(cell):
                what = "is empty" if not cell.strip() else f"holds '{cell.strip()[:30]}', not a number"
                raise FormatError(
                    f"{name}: line {linenos[i]}, column '{col_name}' {what}; every cell of a signal "
                    "column must be a number (fix or remove that row)"
                ) from None
        raise
    _check_finite(name, out, col_name, linenos, lambda i: str(column[i]))
    return out


def _sparse_step(column: np.ndarray) -> tuple[int, np.ndarray | None]:
    """`(k, rows)` when a column has a value on every k-th row from the first, then maybe none.

    That is how a table holds a slower channel beside faster ones (k >= 2), or a channel that
    ends before the others (empty cells at the end), as `write_csv` writes them. `(1, None)`:
    every cell is filled, or the empty cells follow no such pattern (`_numbers` reports them).
    """
    filled = np.char.str_len(np.char.strip(column)) > 0
    if filled.all():
        return 1, None
    rows = np.flatnonzero(filled)
    if rows.size >= 2 and rows[0] == 0:
        k = int(rows[1])
        # three values at least before a gap pattern counts as a slower channel, not a hole
        if (k == 1 or rows.size >= 3) and np.array_equal(rows, np.arange(rows.size) * k):
            return k, rows
    return 1, None


def _check_finite(name: str, values: np.ndarray, col_name: str, linenos: list[int], cell) -> None:
    """`FormatError` at the first NaN or Inf; `cell(i)` gives the text of row `i` for the message."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise FormatError(
            f"{name}: line {linenos[i]}, column '{col_name}' is {cell(i).strip()} "
            f"({bad.size} such cell{'s' if bad.size > 1 else ''}); every sample must be a finite "
            "number (fill or cut the missing stretch)"
        )


FLOAT32_MAX = float(np.finfo(np.float32).max)  # about 3.4e38


def _check_float32(name: str, values: np.ndarray, col_name: str, linenos: list[int], cell) -> None:
    """`FormatError` at the first sample beyond float32's range (VQ Studio keeps samples as float32,
    where it would become infinite); `cell(i)` gives the text of row `i` for the message."""
    big = np.flatnonzero(np.abs(values) > FLOAT32_MAX)
    if big.size:
        i = int(big[0])
        more = f" ({big.size} such cells)" if big.size > 1 else ""
        raise FormatError(
            f"{name}: line {linenos[i]}, column '{col_name}' holds {cell(i).strip()[:30]}, too large for "
            f"32-bit floats{more}: VQ Studio stores samples as float32, whose largest value is about "
            "3.4e38; fix that cell or rescale the column to a smaller unit"
        )


def _fast_numbers(body: str, sep: str | None, used: list[int], width: int) -> np.ndarray | None:
    """The used columns as float64 via numpy's C parser, or None when the table needs the careful path."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.loadtxt(
                io.StringIO(body), delimiter=sep, usecols=used, dtype=np.float64, ndmin=2,
                comments=None, quotechar='"',
            )  # fmt: skip
    except (ValueError, IndexError):
        return None
    # loadtxt reads only the used columns: make sure rows are not ragged before trusting it.
    first = body.partition("\n")[0]
    if table.shape[0] != body.count("\n") + 1 or len(_split(first, sep)) not in (width, width + 1):
        return None
    return table


def _parse_when(text: str) -> dt.datetime | float | None:
    """An ISO date-time (datetime) or a time of day (seconds since midnight), else None."""
    s = text.strip()
    if not s:
        return None
    try:
        when = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        try:
            t = dt.time.fromisoformat(s)
        except ValueError:
            return None
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond * 1e-6
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when


def _times(
    name: str, column: np.ndarray, col_name: str, linenos: list[int]
) -> tuple[np.ndarray, dt.datetime | None]:
    """The time column in seconds from its first row, and the start date-time if it has one."""
    _, unit = split_unit(col_name)
    if _is_number(column[0]):
        scale = _TIME_UNITS.get(unit.lower(), 1.0) if unit else 1.0
        seconds = _numbers(name, column, col_name, linenos) * scale
        return seconds - seconds[0], None
    start_text = column[0].strip()
    first = _parse_when(start_text)
    if first is None:
        raise FormatError(
            f"{name}: line {linenos[0]}, column '{col_name}' holds '{start_text[:30]}', neither "
            "seconds nor an ISO date-time"
        )
    try:  # fast path: numpy parses plain ISO date-times (a zone makes it warn: the slow path then)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stamps = np.array(np.char.replace(np.char.strip(column), " ", "T"), dtype="datetime64[us]")
        seconds = (stamps - stamps[0]).astype(np.float64) * 1e-6
        return seconds, first if isinstance(first, dt.datetime) else None
    except (ValueError, UserWarning, DeprecationWarning):
        pass
    out = np.empty(column.size)
    base = first
    for i, cell in enumerate(column):
        when = _parse_when(cell)
        if when is None or type(when) is not type(base):
            raise FormatError(
                f"{name}: line {linenos[i]}, column '{col_name}' holds '{cell.strip()[:30]}', not a "
                "date-time like the rows above"
            )
        out[i] = (when - base).total_seconds() if isinstance(when, dt.datetime) else when - base  # type: ignore[operator]
    if not isinstance(base, dt.datetime):  # times of day: a step back means the day changed
        out += np.concatenate([[0.0], np.cumsum(np.diff(out) < -43_200.0)]) * 86_400.0
    return out, base if isinstance(base, dt.datetime) else None


def _rate_from_times(
    name: str, t: np.ndarray, col_name: str, linenos: list[int], decimals: int
) -> tuple[float, str]:
    """The sample rate the time column implies, and a note when its steps are irregular."""
    if t.size < 2:
        raise FormatError(
            f"{name}: one row only; a rate cannot be derived from its time column (give --rate HZ)"
        )
    steps = np.diff(t)
    back = np.flatnonzero(steps <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise FormatError(
            f"{name}: line {linenos[i]}, column '{col_name}': time {t[i]:g} s does not increase on the "
            f"row before ({t[i - 1]:g} s); rows must be in time order without repeats. If that column "
            "is not a time (or is one with repeated stamps), give the sample rate with --rate HZ instead"
        )
    rate = (t.size - 1) / (t[-1] - t[0])
    nearest = round(rate)
    rate = float(nearest) if nearest > 0 and abs(rate - nearest) <= 2e-3 * rate else float(f"{rate:.6g}")
    resolution = 10.0 ** (-decimals) if decimals else 1e-6
    deviation = np.abs(t - np.arange(t.size) / rate)
    worst = int(np.argmax(deviation))
    if deviation[worst] <= 0.5 / rate + resolution:
        return rate, ""
    big = int(np.argmax(steps))
    return rate, (
        f"the time column is irregular: steps from {steps.min():.6g} s to {steps.max():.6g} s "
        f"(the largest before line {linenos[big + 1]}), up to {deviation[worst]:.6g} s off an even "
        f"{rate:g} Hz grid; samples are taken as evenly spaced at {rate:g} Hz"
    )
