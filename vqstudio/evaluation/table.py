"""Every metric beside its references: the table the CLI prints and the Report tab shows.

Built from the JSON form of an assessment (`Assessment.to_dict()`, or a saved report.json), so
a saved report reads back into the same table. Columns: synthetic, then the references that
tell how to read a number: held-out real (one held-out half against the other: the best
achievable), reconstruction (held-out windows through the tokenizer: the tokenizer's limit)
and surrogate (phase-randomized training windows: same spectrum, nothing else; a baseline to
beat). Every cell that holds no number says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vqstudio.evaluation.report import DIRECTIONS, verdict_text

__all__ = ["COLUMNS", "Cell", "Row", "comparison_rows", "format_table"]

# (key in the assessment's JSON, column title)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("synthetic", "synthetic"),
    ("held_out_half", "held-out real"),
    ("reconstruction", "reconstruction"),
    ("surrogate", "surrogate"),
)


@dataclass(frozen=True)
class Cell:
    text: str  # what the cell shows
    note: str = ""  # why it is n/a, or what stands behind the number (an interval, a reason)
    footnote: bool = False  # the note says why the cell holds no number (printed below a table)


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    unit: str
    direction: str
    definition: str
    cells: tuple[Cell, ...]

    @property
    def tooltip(self) -> str:
        """Definition and direction, for a reader who has not read the docs."""
        unit = f" Unit: {self.unit}." if self.unit else ""
        return f"{self.title}: {self.definition}{unit} {self.direction[:1].upper()}{self.direction[1:]}."


def _number(value: float, unit: str) -> str:
    text = f"{value:.1f}" if unit == "%" else f"{value:.3g}"
    return f"{text} {unit}".rstrip() if unit in ("%", "dB") else text


def _metric_cell(report: dict[str, Any] | None, key: str, missing: str) -> Cell:
    if report is None:
        return Cell("n/a", missing, footnote=True)
    m = (report.get("metrics") or {}).get(key)
    if not isinstance(m, dict):
        return Cell("n/a", "not computed (the evaluation was stopped before this metric)", footnote=True)
    details = m.get("details") or {}
    value = m.get("value")
    if value is None:
        why = str(details.get("skipped") or details.get("reason") or "could not be computed")
        return Cell("n/a", why, footnote=True)
    unit = m.get("unit") or ""
    ci = details.get("accuracy_ci95")
    if m.get("better") == "chance" and ci:
        lo, hi = 100 * ci[0], 100 * ci[1]
        figure = f"{value:.1f} % [{lo:.0f}-{hi:.0f}]"
        if details.get("judged") is False:  # no verdict its data supports (`verdicts.judge_cnn`)
            note = f"{figure} is no verdict: {details.get('not_judged', '')}"
            return Cell(str(details.get("verdict") or "not enough data to judge"), note, footnote=True)
        return Cell(figure, f"95 % interval {lo:.1f}-{hi:.1f} %")
    return Cell(_number(float(value), unit))


def _extra_cells(report: dict[str, Any] | None, which: str, missing: str) -> Cell:
    if report is None:
        return Cell("n/a", missing)
    metrics = report.get("metrics") or {}
    if which == "trtr":
        details = (metrics.get("tstr") or {}).get("details") or {}
        value = details.get("trtr_accuracy")
        if value is None:
            return Cell("n/a", str(details.get("skipped") or details.get("trtr_method") or "no labels"))
        return Cell(f"{value:.3g}")
    if which == "verdict":
        m = metrics.get("memorization")
        if not isinstance(m, dict):
            return Cell("n/a", "not computed (the evaluation was stopped before this check)")
        details = m.get("details") or {}
        verdict = report.get("memorization_verdict") or details.get("verdict")
        return Cell(verdict_text(verdict), str(details.get("reason", "")))
    counts = report.get("excluded_flat") or {}
    compared, real = int(counts.get("synthetic", 0)), int(counts.get("real", 0))
    # The real windows left out are the same for every column; said in each, so that a heading
    # counting them never contradicts a row of zeros.
    return Cell(f"{compared} (+{real} real)" if real else str(compared), f"real windows left out: {real}")


def comparison_rows(assessment: dict[str, Any]) -> tuple[list[str], list[Row]]:
    """(column titles, rows) for an assessment's JSON: one row per metric of the synthetic
    report, then train-on-real accuracy, the memorization verdict and the flat-window count."""
    references = assessment.get("references") or {}
    notes = assessment.get("reference_notes") or {}
    reports: list[dict[str, Any] | None] = []
    missing: list[str] = []
    for key, _ in COLUMNS:
        report = assessment if key == "synthetic" else references.get(key)
        reports.append(report if isinstance(report, dict) else None)
        missing.append(str(notes.get(key, "not computed (references were not asked for)")))
    rows: list[Row] = []
    for key, m in (assessment.get("metrics") or {}).items():
        if not isinstance(m, dict):
            continue
        direction = DIRECTIONS.get(str(m.get("better", "")), "")
        cells = tuple(_metric_cell(r, key, why) for r, why in zip(reports, missing, strict=True))
        title, unit = str(m.get("title", key)), str(m.get("unit") or "")
        rows.append(Row(key, title, unit, direction, str(m.get("definition", "")), cells))
        if key == "tstr":
            cells = tuple(_extra_cells(r, "trtr", why) for r, why in zip(reports, missing, strict=True))
            definition = "The same classifier trained on real training windows, tested on held-out ones."
            title = "Train-on-real/test-on-real accuracy"
            rows.append(Row("trtr", title, "", DIRECTIONS["higher"], definition, cells))
        if key == "memorization":
            cells = tuple(_extra_cells(r, "verdict", why) for r, why in zip(reports, missing, strict=True))
            rows.append(
                Row(
                    "memorization_verdict",
                    "Memorization: copies training data?",
                    "",
                    "no is what you want; YES = some windows copy training stretches",
                    "Calibrated on the held-out windows' distances to the training data; 'not enough "
                    "held-out data' when too few held-out windows calibrate it.",
                    cells,
                )
            )
    cells = tuple(_extra_cells(r, "flat", why) for r, why in zip(reports, missing, strict=True))
    definition = (
        "Windows left out of the evaluation because a channel holds a flat (constant), or saturated "
        "(pinned at its extreme) stretch: this column's windows, and (+N real) the real windows left out."
    )
    title = "Windows left out: flat or saturated"
    rows.append(Row("excluded_flat", title, "windows", "fewer is better", definition, cells))
    return [title for _, title in COLUMNS], rows


def format_table(columns: list[str], rows: list[Row]) -> str:
    """A plain-text table: metric, one column per set, then unit and how to read it; an "n/a"
    cell, or one that holds no verdict ("not enough data to judge"), carries a footnote number,
    and the notes below say why."""
    notes: list[str] = []
    texts: list[list[str]] = []
    for r in rows:
        line = []
        for cell in r.cells:
            text = cell.text
            if (text == "n/a" or cell.footnote) and cell.note:
                said = f"n/a: {cell.note}" if text == "n/a" else cell.note
                if said not in notes:
                    notes.append(said)
                text = f"{text}[{notes.index(said) + 1}]"
            line.append(text)
        texts.append(line)
    width = max([len("metric")] + [len(r.title) for r in rows])
    cols = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(columns)]
    head = "  ".join(f"{c:>{w}}" for c, w in zip(columns, cols, strict=True))
    lines = [f"{'metric':<{width}}  {head}  unit; how to read"]
    for r, line in zip(rows, texts, strict=True):
        body = "  ".join(f"{t:>{w}}" for t, w in zip(line, cols, strict=True))
        how = "; ".join(p for p in (r.unit, r.direction) if p)
        lines.append(f"{r.title:<{width}}  {body}  {how}")
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines)
