"""Annotations from another file lined up with a recording, and the ones under the mouse. No Qt.

A Sleep-EDF hypnogram starts when its PSG does; any EDF+ file of annotations says when it
starts. Its annotations are shifted by the difference of the two start times, when both are
known and the shifted annotations still meet the recording; otherwise they are taken as they
are (onsets from the recording's start), and the note says which.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

from vqstudio.recording import Annotation, Recording

__all__ = ["Placed", "annotations_at", "place_annotations"]


@dataclass(frozen=True)
class Placed:
    """Annotations on a recording's time axis, and how they were put there."""

    annotations: list[Annotation]
    shift: float  # seconds added to every onset
    note: str  # '', or how they were lined up
    outside: int  # how many lie wholly after the recording's end (or before its start)


def _meets(annotations: Sequence[Annotation], duration: float) -> list[bool]:
    return [a.end >= 0.0 and a.onset <= duration for a in annotations]


def _shifted(annotations: Sequence[Annotation], shift: float) -> list[Annotation]:
    return [replace(a, onset=round(a.onset + shift, 6)) for a in annotations] if shift else list(annotations)


def place_annotations(annotations: Sequence[Annotation], start: dt.datetime | None, rec: Recording) -> Placed:
    """`annotations` of a file starting at `start`, on `rec`'s time axis (see the module)."""
    duration = rec.duration
    shift, note = 0.0, ""
    if start is not None and rec.start is not None:
        shift = (start.replace(tzinfo=None) - rec.start.replace(tzinfo=None)).total_seconds()
        if (
            shift
            and not any(_meets(_shifted(annotations, shift), duration))
            and any(_meets(annotations, duration))
        ):
            note = (
                f"its start ({start:%Y-%m-%d %H:%M:%S}) is {shift:+.0f} s from the recording's, which "
                "would put every annotation outside it: taken from the recording's start instead"
            )
            shift = 0.0
        elif shift:
            note = (
                f"shifted by {shift:+g} s: the file starts {start:%H:%M:%S}, "
                f"the recording {rec.start:%H:%M:%S}"
            )
    placed = _shifted(annotations, shift)
    outside = sum(not m for m in _meets(placed, duration))
    return Placed(placed, shift, note, outside)


def annotations_at(rec: Recording, t: float, slack: float = 0.0) -> list[Annotation]:
    """The annotations covering time `t`; an instant counts within `slack` seconds of it."""
    return [a for a in rec.annotations if a.onset - slack <= t <= max(a.end, a.onset + slack)]
