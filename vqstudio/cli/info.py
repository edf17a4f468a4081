"""`vqstudio info FILE... [--rate HZ] [--json]`: what is in recordings, without loading their samples.

Human output: one block per file (format, duration, start, annotations, then a table of
channels). `--json`: one JSON object for one file, a JSON list of objects for several
(`vqstudio.io.summary`; a `.npy` batch adds `items`, its count). An EDF+ file of annotations
only (a Sleep-EDF hypnogram) is described by its annotations: `annotations_only` is true, its
channel list empty, and `annotations` lists each (onset, duration, text). Every file is read before
anything is printed, so a bad file gives
exit 2 with one line on stderr and no partial output.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show channels, rates, ranges, annotations and start time of recordings",
        description=(
            "Show what is in EDF, EDF+, BDF, CSV/TSV/TXT or .npy recordings: channels (label, unit, "
            "rate, physical range, samples, duration), annotation count, start time; for an EDF+ file "
            "of annotations only (a hypnogram), its annotations. With --json, "
            "one JSON object for one file, or a JSON list of objects for several files."
        ),
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="recordings to describe (or project folders: their privacy)"
    )
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate of CSV files without a time column")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=run)


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:.6g}"


SHOWN_ANNOTATIONS = 20  # lines of an annotation-only file's listing; the rest are counted


def _annotation_lines(s: dict[str, Any]) -> list[str]:
    """The listing of an annotation-only file: onset, duration and text, one a line."""
    rows = s["annotations"]
    lines = [f"  {'onset s':>10}  {'duration s':>10}  text"]
    for a in rows[:SHOWN_ANNOTATIONS]:
        lines.append(f"  {a['onset_s']:>10.6g}  {a['duration_s']:>10.6g}  {a['text']}")
    if len(rows) > SHOWN_ANNOTATIONS:
        lines.append(f"  ... {len(rows) - SHOWN_ANNOTATIONS} more")
    return lines


def render(s: dict[str, Any]) -> str:
    """The human-readable block for one summary."""
    start = s["start"] or "unknown"
    lines = [
        f"{s['file']}",
        f"  format {s['format']}, {s['channel_count']} channels, {s['duration_s']:.6g} s, start {start}, "
        f"{s['annotation_count']} annotations" + (", synthetic" if s["synthetic"] else ""),
    ]
    if s["annotation_texts"]:
        shown = ", ".join(f"{t!r} x{n}" for t, n in list(s["annotation_texts"].items())[:8])
        lines.append(f"  annotations: {shown}")
    if s["gaps"]:
        lines.append(f"  {len(s['gaps'])} gap(s) in the data (EDF+D)")
    if s.get("annotations_only"):
        lines[1] = (
            f"  format {s['format']}, annotations only (no signal), start {start}, "
            f"{s['annotation_count']} annotations over {s['duration_s']:.6g} s"
        )
        return "\n".join([*lines, *_annotation_lines(s), *(f"  note: {n}" for n in s["notes"])])
    rows = [("label", "unit", "rate Hz", "physical min", "physical max", "samples", "duration s")]
    for c in s["channels"]:
        rows.append(
            (
                c["label"],
                c["unit"],
                f"{c['rate']:g}",
                _fmt(c["physical_min"]),
                _fmt(c["physical_max"]),
                str(c["samples"]),
                f"{c['duration_s']:.6g}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        lines.append(
            "  "
            + "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    for note in s["notes"]:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _describe_annotations(path: str) -> dict[str, Any]:
    """The summary of an annotation-only EDF+ file: the keys of any file's, no channels, a
    duration to the end of its last annotation, and the annotations themselves."""
    from vqstudio.io import read_annotations, summary
    from vqstudio.recording import Recording, Source

    found = read_annotations(path)
    rec = Recording([], list(found.annotations), found.start, Source(path, found.format))
    s = summary(rec)
    s["duration_s"] = found.end
    s["notes"] = list(found.notes)
    s["annotations_only"] = True
    s["annotations"] = [
        {"onset_s": a.onset, "duration_s": a.duration, "text": a.text} for a in found.annotations
    ]
    return s


def _describe(path: str, rate: float | None) -> dict[str, Any]:
    """The summary of one file; a `.npy` batch is described by its first item and its count."""
    from vqstudio.io import annotations_only, read_recordings, summary

    if annotations_only(path):
        return _describe_annotations(path)
    recs = read_recordings(path, rate=rate)
    s = summary(recs[0])
    if len(recs) > 1:
        s["items"] = len(recs)
        s["notes"] = [f"a batch of {len(recs)} recordings of the same shape; the figures are the first one's"]
    return s


def _describe_project(path: str) -> dict[str, Any]:
    """A project folder: its channels, rate, steps and differential privacy (`privacy`: the
    record's, or None when trained without)."""
    from vqstudio.project import Project

    project = Project.open(path)
    record = project.record
    return {
        "project": path,
        "channels": [c.label for c in record.data.channels],
        "rate_hz": record.data.rate,
        "tokenizer_steps": record.stage("tokenizer").step,
        "prior_steps": record.stage("prior").step,
        "privacy": dict(record.privacy) if record.privacy else None,
    }


def _render_project(s: dict[str, Any]) -> str:
    from vqstudio.project.privacy import describe_privacy

    lines = [
        f"project: {s['project']}",
        f"channels: {', '.join(s['channels'])} at {s['rate_hz']:g} Hz",
        f"steps: tokenizer {s['tokenizer_steps']}, prior {s['prior_steps']}",
        describe_privacy(s["privacy"]),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from vqstudio.project import Project

    summaries = [_describe_project(f) if Project.exists(f) else _describe(f, args.rate) for f in args.files]
    if args.json:
        out = summaries[0] if len(summaries) == 1 else summaries
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        blocks = [_render_project(s) if "project" in s else render(s) for s in summaries]
        sys.stdout.write("\n\n".join(blocks) + "\n")
    return 0
