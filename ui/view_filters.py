"""Display filters of the viewer: high-pass, low-pass and mains notch, for the view only.

Nothing here touches a recording: the viewer reads the visible span plus `margin_seconds` on
each side, filters that block forward and backward (`sosfiltfilt`, zero phase: events stay
where they are) and draws the middle, so page edges show no start-up transient. Designs are
cached per (filters, rate): paging re-filters, it never re-designs. No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "HIGHPASS_CHOICES",
    "LOWPASS_CHOICES",
    "NOTCH_CHOICES",
    "ViewFilters",
    "apply_filters",
    "design",
    "margin_seconds",
]

# What the viewer offers (Hz); EDFbrowser and MNE's browser offer about these.
HIGHPASS_CHOICES = (0.1, 0.3, 0.5, 1.0, 5.0)
LOWPASS_CHOICES = (15.0, 30.0, 40.0, 70.0, 100.0)
NOTCH_CHOICES = (50.0, 60.0)

HIGHPASS_ORDER = 2  # gentle, as clinical EEG's "low-frequency filter"; little ringing
LOWPASS_ORDER = 4
NOTCH_Q = 30.0  # a 50 Hz notch about 1.7 Hz wide
MIN_MARGIN_S = 1.0
MAX_MARGIN_S = 10.0  # caps the extra read at very low high-pass corners


@dataclass(frozen=True)
class ViewFilters:
    """Corner frequencies in Hz; None switches that filter off."""

    highpass: float | None = None
    lowpass: float | None = None
    notch: float | None = None

    def __post_init__(self) -> None:
        for name in ("highpass", "lowpass", "notch"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive frequency in Hz, got {value}")

    @property
    def active(self) -> bool:
        """Whether any filter is on."""
        return any(v is not None for v in (self.highpass, self.lowpass, self.notch))

    def describe(self) -> str:
        """A short text for the status line, e.g. '0.5-40 Hz, notch 50 Hz'."""
        parts = []
        if self.highpass is not None and self.lowpass is not None:
            parts.append(f"{self.highpass:g}-{self.lowpass:g} Hz")
        elif self.highpass is not None:
            parts.append(f"high-pass {self.highpass:g} Hz")
        elif self.lowpass is not None:
            parts.append(f"low-pass {self.lowpass:g} Hz")
        if self.notch is not None:
            parts.append(f"notch {self.notch:g} Hz")
        return ", ".join(parts) or "no filter"


def margin_seconds(filters: ViewFilters) -> float:
    """Seconds read on each side of the page so the filter has settled at its edges.

    A high-pass settles in a few of its time constants (1 / (2 pi fc)); 2 / fc is about 12 of
    them, capped at MAX_MARGIN_S. Low-pass and notch settle within a second.
    """
    if not filters.active:
        return 0.0
    if filters.highpass is None:
        return MIN_MARGIN_S
    return min(MAX_MARGIN_S, max(MIN_MARGIN_S, 2.0 / filters.highpass))


@lru_cache(maxsize=64)
def design(filters: ViewFilters, rate: float) -> np.ndarray | None:
    """Second-order sections of every active filter that fits below Nyquist, or None.

    A corner at or above Nyquist (a 100 Hz low-pass on 128 Hz data) is left out: that filter
    would do nothing. The returned array is shared by the cache: do not change it.
    """
    from scipy import signal  # here, not at the top: importing it takes a second of start-up

    nyquist = rate / 2.0
    parts = []
    if filters.highpass is not None and filters.highpass < nyquist:
        parts.append(signal.butter(HIGHPASS_ORDER, filters.highpass, "highpass", fs=rate, output="sos"))
    if filters.lowpass is not None and filters.lowpass < nyquist:
        parts.append(signal.butter(LOWPASS_ORDER, filters.lowpass, "lowpass", fs=rate, output="sos"))
    if filters.notch is not None and filters.notch < nyquist:
        b, a = signal.iirnotch(filters.notch, NOTCH_Q, fs=rate)
        parts.append(signal.tf2sos(b, a))
    if not parts:
        return None
    # Not made read-only: scipy's sosfilt refuses read-only coefficient arrays.
    return np.concatenate(parts, axis=0)


def apply_filters(block: np.ndarray, rate: float, filters: ViewFilters, at_edge: bool = False) -> np.ndarray:
    """`block` (channels, samples) filtered forward and backward along its last axis.

    Returns `block` itself when no filter applies (off, or every corner above Nyquist).
    `at_edge`: the block meets the recording's start or end, where no margin of real data lets
    the filter settle; it is then padded by a margin's length of its own odd reflection (which
    continues a drift, as an OpenBCI offset settling, instead of stepping into it: a high-pass
    shows no start-up transient). Blocks too short are padded as far as they allow.
    """
    sos = design(filters, float(rate)) if filters.active else None
    if sos is None or block.shape[-1] < 2:
        return block
    from scipy import signal

    # sosfiltfilt's default pad length: 3 * (2 * sections + 1) samples.
    padlen = 3 * (2 * len(sos) + 1)
    if at_edge:
        padlen = max(padlen, math.ceil(margin_seconds(filters) * rate))
    return signal.sosfiltfilt(sos, block, axis=-1, padlen=min(padlen, block.shape[-1] - 1))
