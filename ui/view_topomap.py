"""What a scalp map shows, computed without Qt: band power per electrode and the map between them.

Channels are placed by the electrode their label names (`ui.view_positions`); a channel with no
10-20 / 10-10 position (an ECG lead, a bipolar 'Fpz-Cz', an unknown name), a reference site
(A1, A2, M1, M2: off the scalp), a bad channel or one of another unit than the EEG is left
out, and said so. Band power is the Welch PSD (`vqstudio.spectra.welch_psd`) summed over the
band; the map is a thin-plate spline through the electrodes' powers in dB, clipped to their
range (a spline overshoots between sparse electrodes) and blank outside the head.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from ui.view_positions import HEAD_RADIUS, POSITIONS, electrode_name
from ui.view_reference import unit_kind
from vqstudio.recording import Channel

__all__ = ["BANDS", "MIN_ELECTRODES", "Placement", "band_power", "interpolate", "place_channels"]

BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}
MIN_ELECTRODES = 3  # a map needs a surface: three electrodes at least
ON_SCALP = 1.0  # map radius beyond which a site is no scalp electrode (A1, M2 lie further out)


@dataclass(frozen=True)
class Placement:
    """Channels that have a place on the map, and those left out with the reason."""

    indices: list[int]  # the recording's channels placed
    sites: list[str]  # their electrode names ('Fp1')
    xy: np.ndarray  # (n, 2) map positions
    left_out: list[tuple[str, str]]  # (channel name, why)

    def describe_left_out(self) -> str:
        """'left out: ECG (no 10-20 position), EEG A2-A1 (reference site)' or ''."""
        if not self.left_out:
            return ""
        shown = ", ".join(f"{name} ({why})" for name, why in self.left_out[:8])
        more = f" and {len(self.left_out) - 8} more" if len(self.left_out) > 8 else ""
        return f"left out: {shown}{more}"


def place_channels(channels: Sequence[Channel], bad: Collection[str] = ()) -> Placement:
    """The channels of `channels` a scalp map can show (see the module's docstring)."""
    indices, sites, left_out = [], [], []
    eeg_units = [unit_kind(c.unit) for c in channels if electrode_name(c.label)]
    unit = max(set(eeg_units), key=eeg_units.count) if eeg_units else None
    for i, ch in enumerate(channels):
        site = electrode_name(ch.label)
        if site is None:
            left_out.append((ch.name, "no 10-20 position"))
        elif site in sites:
            left_out.append((ch.name, f"a second {site}"))
        elif float(np.hypot(*POSITIONS[site])) > ON_SCALP:
            left_out.append((ch.name, "reference site"))
        elif ch.name in bad:
            left_out.append((ch.name, "bad"))
        elif unit_kind(ch.unit) != unit:
            left_out.append((ch.name, f"unit {ch.unit or 'none'}"))
        else:
            indices.append(i)
            sites.append(site)
    xy = np.array([POSITIONS[s] for s in sites], dtype=np.float64).reshape(-1, 2)
    return Placement(indices, sites, xy, left_out)


def band_power(samples: np.ndarray, rate: float, band: tuple[float, float]) -> float:
    """Power of `samples` in `band` (Hz): the Welch PSD summed over the band's bins, in the
    samples' unit squared; NaN when the band lies above Nyquist or the span is too short."""
    from vqstudio.spectra import welch_psd

    if samples.size < 16 or band[0] >= rate / 2:
        return float("nan")
    freqs, psd = welch_psd(samples - samples.mean(), rate)
    inside = (freqs >= band[0]) & (freqs < band[1])
    if not inside.any():
        return float("nan")
    return float(psd[inside].sum() * (freqs[1] - freqs[0]))


def interpolate(xy: np.ndarray, values: np.ndarray, size: int = 161) -> np.ndarray:
    """A `(size, size)` map over the square around the head (rows: y from -R to R, columns: x
    from -R to R, R = HEAD_RADIUS); NaN outside the head. Needs `MIN_ELECTRODES` points."""
    from scipy.interpolate import RBFInterpolator

    axis = np.linspace(-HEAD_RADIUS, HEAD_RADIUS, size)
    gx, gy = np.meshgrid(axis, axis)
    inside = np.hypot(gx, gy) <= HEAD_RADIUS
    spline = RBFInterpolator(xy, values, kernel="thin_plate_spline")
    out = np.full(gx.shape, np.nan)
    out[inside] = np.clip(spline(np.column_stack([gx[inside], gy[inside]])), values.min(), values.max())
    return out
