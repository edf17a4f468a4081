"""A plain dict describing a recording: what `vqstudio info --json` prints for one file."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from vqstudio.recording import Recording

__all__ = ["summary"]


def _num(x: float) -> float | None:
    """JSON has no NaN: unknown values become null."""
    return None if x is None or not math.isfinite(x) else float(x)


def summary(rec: Recording) -> dict[str, Any]:
    """File, format, duration, start, channels (label, unit, rate, physical range, samples,
    duration), annotations (count and counts per text), gaps and reader notes, as plain JSON types.
    """
    texts = Counter(a.text for a in rec.annotations)
    return {
        "file": rec.source.path if rec.source else None,
        "format": rec.source.format if rec.source else None,
        "duration_s": rec.duration,
        "start": rec.start.isoformat() if rec.start else None,
        "synthetic": rec.vqstudio_mark == "synthetic",
        "reconstruction": rec.vqstudio_mark == "reconstruction",
        "channel_count": len(rec.channels),
        "channels": [
            {
                "label": c.label,
                "name": c.name,
                "unit": c.unit,
                "rate": c.rate,
                "physical_min": _num(c.physical_min),
                "physical_max": _num(c.physical_max),
                "samples": c.n_samples,
                "duration_s": c.duration,
                "transducer": c.transducer,
                "prefilter": c.prefilter,
            }
            for c in rec.channels
        ],
        "annotation_count": len(rec.annotations),
        "annotation_texts": dict(texts.most_common(50)),
        "gaps": [{"start_s": g.start, "stop_s": g.stop} for g in rec.gaps],
        "notes": list(getattr(rec, "notes", [])),
    }
