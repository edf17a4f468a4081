"""Where a page's traces sit: each row's values turned into view coordinates. No Qt here.

A row is one division tall; a trace is drawn about its row's centre, scaled by its unit's
value per division. Two display options, as EDFbrowser and MNE's browser offer them:

* DC-offset removal (on by default, MNE's `remove_dc`): each trace is centred on its own mean
  over the page, so a file's offsets (an OpenBCI board records -80 000 uV and more) never
  push a trace off its row. Off: values are drawn about zero, offsets and all.
* Clipping to the row (EDFbrowser's "clip signals to pane"): each trace stays inside its own
  row. Otherwise a trace may spill into its neighbours' rows, up to `SPILL_ROWS`, never across
  the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SPILL_ROWS", "TraceOptions", "place_row"]

SPILL_ROWS = 3.0  # rows a trace may reach beyond its own without clipping to its row
ROW_HALF = 0.5  # half a row: the edge of a trace's own row


@dataclass(frozen=True)
class TraceOptions:
    """How traces sit in their rows."""

    remove_dc: bool = True
    clip_to_row: bool = False

    @property
    def limit(self) -> float:
        """How far from its row's centre a trace may go, in rows."""
        return ROW_HALF if self.clip_to_row else SPILL_ROWS


def place_row(values: np.ndarray, row: int, per_row: float, options: TraceOptions) -> np.ndarray:
    """View y of `values` (physical units) drawn in `row`, `per_row` units to a division.

    The view's y axis points down (row 0 on top), so larger values go up: `row - value`.
    """
    if not values.size:
        return values.astype(np.float64)
    inv = 1.0 / (per_row or 1.0)
    centre = float(values.mean()) if options.remove_dc else 0.0
    y = row - (values - centre) * inv
    return np.clip(y, row - options.limit, row + options.limit, out=y)
