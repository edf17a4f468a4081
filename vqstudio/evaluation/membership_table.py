"""The membership-inference figures as the CLI prints them and the Report tab shows them: one row
per attack (AUC per window with its interval, TPR at 1 % FPR, AUC per file) and a paragraph in
plain words. Built from the JSON form (`Assessment.to_dict()["membership"]`, or a saved
report.json), so a saved report reads back the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vqstudio.evaluation.table import Cell

__all__ = [
    "COLUMNS",
    "MEANING",
    "MembershipRow",
    "format_membership",
    "membership_rows",
    "membership_summary",
]

COLUMNS = ("AUC per window [95 %]", "TPR at 1 % FPR", "AUC per file [95 %]")
MEANING = (
    "How well an attacker tells the training windows (members) from held-out windows of the same "
    "recordings (non-members). AUC 0.5 = the attacker learns nothing, 1 = every training window is "
    "told apart; TPR at 1 % FPR = the share of training windows found while wrongly accusing 1 % of "
    "held-out ones (about 1 % = nothing learned)."
)


@dataclass(frozen=True)
class MembershipRow:
    key: str
    title: str
    definition: str
    cells: tuple[Cell, ...]


def _auc_cell(figures: dict[str, Any] | None, unit: str) -> Cell:
    if not isinstance(figures, dict):
        return Cell("n/a", "not computed", footnote=True)
    if figures.get("auc") is None:
        return Cell("n/a", str(figures.get("skipped") or "not computed"), footnote=True)
    lo, hi = figures.get("auc_ci95") or (None, None)
    text = f"{figures['auc']:.2f}" + (f" [{lo:.2f}-{hi:.2f}]" if lo is not None else "")
    counts = f"{figures.get('members', '?')} member and {figures.get('non_members', '?')} non-member {unit}"
    return Cell(text, f"{counts}; 95 % interval (DeLong)")


def _tpr_cell(figures: dict[str, Any] | None) -> Cell:
    if not isinstance(figures, dict) or figures.get("tpr_at_1pct_fpr") is None:
        why = (figures or {}).get("skipped") if isinstance(figures, dict) else None
        return Cell("n/a", str(why or "not computed"), footnote=True)
    tpr = 100 * figures["tpr_at_1pct_fpr"]
    resolution = figures.get("fpr_resolution")
    if resolution is not None and resolution > 0.01:
        # With fewer than 100 non-members the only threshold within 1 % FPR lets none through.
        n = figures.get("non_members", "?")
        return Cell(
            f"{tpr:.1f} %", f"with {n} non-members no threshold has 1 % FPR: this is the TPR at 0 %", True
        )
    return Cell(f"{tpr:.1f} %")


def membership_rows(membership: dict[str, Any] | None) -> list[MembershipRow]:
    """One row per attack of the JSON form (none when the evaluation has no membership figures)."""
    rows = []
    for key, entry in ((membership or {}).get("attacks") or {}).items():
        if not isinstance(entry, dict):
            continue
        window, per_file = entry.get("window"), entry.get("file")
        cells = (_auc_cell(window, "windows"), _tpr_cell(window), _auc_cell(per_file, "files"))
        rows.append(MembershipRow(key, str(entry.get("title", key)), str(entry.get("definition", "")), cells))
    return rows


def membership_summary(membership: dict[str, Any] | None) -> str:
    """What the figures mean, which attack was strongest, and what cannot be judged, in words."""
    if not membership:
        return "Membership inference was not run for this report (it was made before VQ Studio computed it)."
    best = membership.get("strongest")
    if not best:
        why = membership.get("window_note") or "no attack could be scored"
        return f"Membership inference per window could not be judged: {why}"
    lo, hi = best.get("auc_ci95") or (0.0, 1.0)
    auc, tpr = best["auc"], 100 * best["tpr_at_1pct_fpr"]
    if lo > 0.5:
        reading = (
            "its interval lies above 0.5: an attacker holding these recordings tells training windows from "
            "held-out ones better than chance"
        )
    else:
        reading = "its interval includes 0.5: with this many windows it is not shown to do better than chance"
    # Fewer than 100 non-members: no threshold has exactly 1 % FPR; the one used lets none through.
    at = " (at 0 % FPR: fewer than 100 non-members)" if (best.get("fpr_resolution") or 0) > 0.01 else ""
    text = (
        f"Strongest membership attack: {best['title']}, AUC {auc:.2f} [{lo:.2f}-{hi:.2f}], "
        f"TPR at 1 % FPR {tpr:.1f} %{at}; {reading}. (AUC 0.5 and TPR 1 % mean the attacker learns nothing.)"
    )
    attacks = membership.get("attacks") or {}
    below = [
        str(e.get("title", k))
        for k, e in attacks.items()
        if isinstance(e, dict) and ((e.get("window") or {}).get("auc_ci95") or [0.0, 1.0])[1] < 0.5
    ]
    if below:
        # Held-out windows looking MORE like members: the two parts of the recordings differ.
        text += (
            f" {', '.join(below)} scored held-out windows above training ones (interval below 0.5): the "
            "training and held-out parts of the recordings differ (the held-out part is their end), which "
            "is no sign of memorization."
        )
    file_note = membership.get("file_note")
    per_file = [
        (str(e.get("title", k)), e["file"])
        for k, e in attacks.items()
        if isinstance(e, dict) and isinstance(e.get("file"), dict) and e["file"].get("auc") is not None
    ]
    if per_file:
        title, f = max(per_file, key=lambda item: item[1]["auc"])
        f_lo, f_hi = f.get("auc_ci95") or (0.0, 1.0)
        text += (
            f" Per file ({f.get('members', '?')} training recordings against {f.get('non_members', '?')} "
            f"never trained on), the strongest is {title}, AUC {f['auc']:.2f} [{f_lo:.2f}-{f_hi:.2f}]"
            + (f": {file_note}" if file_note else ".")
        )
    elif file_note:
        text += f" Per file: {file_note}"
    return text


def format_membership(membership: dict[str, Any] | None) -> str:
    """The plain-text section the CLI prints under the metric table."""
    lines = ["Membership inference: " + MEANING]
    rows = membership_rows(membership)
    notes: list[str] = []
    texts = []
    for r in rows:
        line = []
        for cell in r.cells:
            text = cell.text
            if cell.footnote and cell.note:
                said = f"n/a: {cell.note}" if text == "n/a" else cell.note
                if membership and cell.note == membership.get("file_note"):
                    said = "n/a: see 'Per file' above"  # the summary says it whole
                if said not in notes:
                    notes.append(said)
                text = f"{text}[{notes.index(said) + 1}]"
            line.append(text)
        texts.append(line)
    if rows:
        width = max([len("attack")] + [len(r.title) for r in rows])
        cols = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(COLUMNS)]
        lines.append(
            f"{'attack':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(COLUMNS, cols, strict=True))
        )
        for r, line in zip(rows, texts, strict=True):
            lines.append(
                f"{r.title:<{width}}  " + "  ".join(f"{t:>{w}}" for t, w in zip(line, cols, strict=True))
            )
    lines.append(membership_summary(membership))
    if membership and membership.get("window_note") and membership.get("strongest"):
        lines.append(f"Per window: {membership['window_note']}")
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines)
