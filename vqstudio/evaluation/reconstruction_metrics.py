"""Reconstruction metrics: how close a reconstruction `y` is to its input `x`, and codebook usage.

Arrays are numpy batches shaped `(..., channels, samples)` (a 1-D array is one channel), in
any units as long as `x` and `y` share them. `x` is always the reference (the real input) and
`y` the reconstruction. Every metric is computed per channel, pooling all windows (the leading
axes) and all samples of that channel, and the headline number is the plain mean over channels.
Per-channel pooling keeps the number independent of the channel's units (an ECG in mV beside
EEG in uV counts the same) and keeps one quiet window from dominating. Pass
`per_channel=True` to get the `(channels,)` array instead of the mean.

Mean-centred ("normalised") variants subtract, in the reference energy only, the mean of `x`
over the samples of each window and channel, so a DC offset that the reconstruction gets for
free cannot flatter the score. They are the default for PRD and SNR because EEG and ECG carry
arbitrary offsets; `mean_centred=False` gives the classic, uncentred definitions.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from scipy.signal import welch

from vqstudio.spectra import default_nperseg, welch_psd

__all__ = [
    "DYNAMIC_RANGE_DB",
    "StreamedReconstructionMetrics",
    "codebook_usage",
    "log_spectral_distance_db",
    "lsd_between_psds",
    "prd",
    "reconstruction_metrics",
    "snr_db",
]


def _channels_first(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 `(windows, channels, samples)`; checks they match."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"reference and reconstruction shapes differ: {x.shape} vs {y.shape}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"need at least one sample per channel; got shape {x.shape}")
    if x.ndim == 1:
        x, y = x[None, None], y[None, None]
    return x.reshape(-1, *x.shape[-2:]), y.reshape(-1, *y.shape[-2:])


def _energies(x: np.ndarray, y: np.ndarray, mean_centred: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (reference energy, error energy), each summed over windows and samples."""
    ref = x - x.mean(axis=-1, keepdims=True) if mean_centred else x
    return (ref**2).sum(axis=(0, 2)), ((x - y) ** 2).sum(axis=(0, 2))


def _reduce(values: np.ndarray, per_channel: bool) -> float | np.ndarray:
    return values if per_channel else float(values.mean())


@overload
def prd(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = ..., per_channel: Literal[False] = ...
) -> float: ...
@overload
def prd(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = ..., per_channel: Literal[True]
) -> np.ndarray: ...
def prd(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = True, per_channel: bool = False
) -> float | np.ndarray:
    """Percent root-mean-square difference (%), lower is better, 0 for a perfect reconstruction.

    Per channel c, summing over every window w and sample t:

        PRD_c = 100 * sqrt( sum_{w,t} (x - y)^2 / sum_{w,t} (x - m)^2 )

    where m is the mean of x over the samples of each window (mean-centred, often called PRDN;
    the default) or 0 (`mean_centred=False`, the classic PRD). Returns the mean of PRD_c over
    channels, or the per-channel array. 100 % means an error as large as the signal itself
    (e.g. y = m). A channel with no reference energy gives inf (0 if the error is 0 too).
    """
    x, y = _channels_first(x, y)
    ref, err = _energies(x, y, mean_centred)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(ref > 0, 100.0 * np.sqrt(err / np.where(ref > 0, ref, 1.0)), np.inf)
    values = np.where((ref == 0) & (err == 0), 0.0, values)
    return _reduce(values, per_channel)


@overload
def snr_db(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = ..., per_channel: Literal[False] = ...
) -> float: ...
@overload
def snr_db(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = ..., per_channel: Literal[True]
) -> np.ndarray: ...
def snr_db(
    x: np.ndarray, y: np.ndarray, *, mean_centred: bool = True, per_channel: bool = False
) -> float | np.ndarray:
    """Signal-to-noise ratio of the reconstruction (dB), higher is better.

    Per channel c, summing over every window w and sample t:

        SNR_c = 10 * log10( sum_{w,t} (x - m)^2 / sum_{w,t} (x - y)^2 )

    with m the per-window mean of x (default) or 0 (`mean_centred=False`); the "noise" is the
    reconstruction error. SNR_c = -20 log10(PRD_c / 100) for the same centring. Returns the mean
    of SNR_c (in dB) over channels, or the per-channel array. A perfect reconstruction gives
    +inf; y = m gives 0 dB; each halving of the error RMS adds 6.02 dB.
    """
    x, y = _channels_first(x, y)
    ref, err = _energies(x, y, mean_centred)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 10.0 * np.log10(ref / err)
    values = np.where((ref == 0) & (err == 0), np.inf, values)
    values = np.where((ref == 0) & (err > 0), -np.inf, values)
    return _reduce(values, per_channel)


def _band_mask(freqs: np.ndarray, rate: float, band: tuple[float, float] | None) -> np.ndarray:
    lo, hi = (0.5, rate / 2.0) if band is None else band
    mask = (freqs >= lo) & (freqs <= hi) & (freqs > 0)
    if not mask.any():
        raise ValueError(f"no Welch frequency bin between {lo:g} and {hi:g} Hz (bins: {freqs[1]:g} Hz apart)")
    return mask


DYNAMIC_RANGE_DB = 60.0
"""Bins more than this far below the reference PSD's peak are compared at that floor."""


def lsd_between_psds(
    p_ref: np.ndarray, p_other: np.ndarray, dynamic_range_db: float = DYNAMIC_RANGE_DB
) -> np.ndarray:
    """sqrt(mean over the last axis of (10 log10(p_ref / p_other))^2), in dB.

    Both PSDs are first raised to a floor `dynamic_range_db` below the peak of `p_ref` (per
    leading index, i.e. per window and channel). Without it, the empty stop band of a recording's
    low-pass or anti-aliasing filter (e.g. 100-250 Hz of an EEG low-passed at 45 Hz, 100 dB
    below the alpha peak) would dominate the distance with differences no one can see or hear.
    """
    floor = np.maximum(p_ref.max(axis=-1, keepdims=True), 1e-300) * 10.0 ** (-dynamic_range_db / 10.0)
    ratio = np.maximum(p_ref, floor) / np.maximum(p_other, floor)
    return np.sqrt(np.mean((10.0 * np.log10(ratio)) ** 2, axis=-1))


@overload
def log_spectral_distance_db(
    x: np.ndarray,
    y: np.ndarray,
    rate: float,
    *,
    band: tuple[float, float] | None = ...,
    nperseg: int | None = ...,
    per_channel: Literal[False] = ...,
) -> float: ...
@overload
def log_spectral_distance_db(
    x: np.ndarray,
    y: np.ndarray,
    rate: float,
    *,
    band: tuple[float, float] | None = ...,
    nperseg: int | None = ...,
    per_channel: Literal[True],
) -> np.ndarray: ...
def log_spectral_distance_db(
    x: np.ndarray,
    y: np.ndarray,
    rate: float,
    *,
    band: tuple[float, float] | None = None,
    nperseg: int | None = None,
    per_channel: bool = False,
) -> float | np.ndarray:
    """Log-spectral distance between the Welch PSDs of x and y (dB), lower is better, 0 = same.

    For each window w and channel c, P_x and P_y are Welch PSDs (`welch_psd`: Hann, about 2 s
    segments, 50 % overlap) and, over the K frequency bins f of the band,

        LSD_{w,c} = sqrt( (1/K) * sum_f (10 log10(P_x(f) / P_y(f)))^2 )

    i.e. the RMS over frequency of the dB difference between the two spectra. The band defaults
    to 0.5 Hz up to Nyquist (both included; DC never counts). Per channel, LSD_c is the mean of
    LSD_{w,c} over windows (paired: each reconstruction against its own input); the result is
    the mean of LSD_c over channels, or the per-channel array. 1 dB means the spectra differ
    by about 26 % in power on average. Bins more than 60 dB below the input PSD's peak (in the
    band, per window and channel) are compared at that floor (`lsd_between_psds`), so a filter's
    empty stop band cannot dominate.
    """
    x, y = _channels_first(x, y)
    freqs, px = welch_psd(x, rate, nperseg)
    _, py = welch_psd(y, rate, nperseg)
    mask = _band_mask(freqs, rate, band)
    values = lsd_between_psds(px[..., mask], py[..., mask]).mean(axis=0)
    return _reduce(values, per_channel)


def codebook_usage(counts: np.ndarray, dead_below: int = 1) -> dict[str, float]:
    """How evenly the codes of a codebook are used, from how often each code was chosen.

    `counts` has shape `(..., K)`: leading axes are summed (e.g. one row per batch or per
    quantizer level is NOT averaged but added). With p_k = n_k / sum(n):

    - `perplexity` = exp(-sum_k p_k ln p_k) (0 ln 0 = 0): the effective number of codes in use,
      from 1 (one code) to K (all codes equally often); higher is better. 0 when nothing counted.
    - `perplexity_fraction` = perplexity / K, in [0, 1].
    - `used_codes` = number of codes with n_k >= `dead_below`; `usage_fraction` = used / K.
    - `dead_codes` = K - used_codes (codes chosen fewer than `dead_below` times).
    - `codebook_size` = K.
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim == 0 or n.shape[-1] == 0:
        raise ValueError(f"counts must have a codebook axis of length K >= 1; got shape {n.shape}")
    if (n < 0).any() or not np.isfinite(n).all():
        raise ValueError("counts must be finite and non-negative")
    n = n.reshape(-1, n.shape[-1]).sum(axis=0)
    k, total = n.size, float(n.sum())
    if total > 0:
        p = n[n > 0] / total
        perplexity = float(np.exp(-(p * np.log(p)).sum()))
    else:
        perplexity = 0.0
    used = int((n >= dead_below).sum())
    return {
        "codebook_size": float(k),
        "perplexity": perplexity,
        "perplexity_fraction": perplexity / k,
        "used_codes": float(used),
        "usage_fraction": used / k,
        "dead_codes": float(k - used),
    }


def reconstruction_metrics(
    x: np.ndarray, y: np.ndarray, rate: float, band: tuple[float, float] | None = None
) -> dict[str, float]:
    """The three reconstruction figures at once, with their default definitions:
    `prd_percent` (mean-centred PRD, %), `snr_db` (mean-centred, dB), `lsd_db` (dB)."""
    return {
        "prd_percent": prd(x, y),
        "snr_db": snr_db(x, y),
        "lsd_db": log_spectral_distance_db(x, y, rate, band=band),
    }


class StreamedReconstructionMetrics:
    """`reconstruction_metrics` of a long `(channels, samples)` recording fed in pieces, without
    holding it whole: energies are summed, and Welch segments are averaged over the pieces.

    `add(x, y)` takes consecutive parts of one contiguous stretch; `end_stretch()` closes it (a
    recording's gap: no Welch segment spans it). Within a stretch, parts are cut on the Welch
    hop, so the segments are exactly those of one Welch over the stretch. The figures equal
    `reconstruction_metrics` of the stretches joined, up to rounding and up to the segments that
    would have spanned a gap. `nperseg` comes from the total length (`default_nperseg`)."""

    def __init__(self, channels: int, rate: float, total_samples: int) -> None:
        self.rate = rate
        self.nperseg = default_nperseg(max(total_samples, 1), rate)
        self.hop = self.nperseg - self.nperseg // 2
        self._sum_x = np.zeros(channels)
        self._sum_x2 = np.zeros(channels)
        self._err2 = np.zeros(channels)
        self._n = 0
        self._psd_x: np.ndarray | None = None
        self._psd_y: np.ndarray | None = None
        self._segments = 0
        self._tail_x = np.zeros((channels, 0))
        self._tail_y = np.zeros((channels, 0))
        self._short_x, self._short_y = self._tail_x, self._tail_y
        self._freqs: np.ndarray | None = None

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Adds the next part of the current stretch (reference `x`, reconstruction `y`)."""
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        self._sum_x += x64.sum(axis=1)
        self._sum_x2 += (x64**2).sum(axis=1)
        self._err2 += ((x64 - y64) ** 2).sum(axis=1)
        self._n += x64.shape[1]
        bx = np.concatenate([self._tail_x, x64], axis=1)
        by = np.concatenate([self._tail_y, y64], axis=1)
        whole = 0 if bx.shape[1] < self.nperseg else (bx.shape[1] - self.nperseg) // self.hop + 1
        if whole:
            end = (whole - 1) * self.hop + self.nperseg
            self._welch(bx[:, :end], by[:, :end], whole)
            start = whole * self.hop
        else:
            start = 0
        self._tail_x, self._tail_y = bx[:, start:], by[:, start:]

    def end_stretch(self) -> None:
        """Closes the current stretch: its samples after the last whole segment count in the
        energies only (no Welch segment spans a gap)."""
        if self._segments == 0 and self._tail_x.shape[1] > self._short_x.shape[1]:
            self._short_x, self._short_y = self._tail_x, self._tail_y  # for a recording this short
        self._tail_x = self._tail_x[:, :0]
        self._tail_y = self._tail_y[:, :0]

    def _welch(self, x: np.ndarray, y: np.ndarray, segments: int, nperseg: int | None = None) -> None:
        n = nperseg or self.nperseg
        kw = {"fs": self.rate, "window": "hann", "nperseg": n, "noverlap": n // 2, "axis": -1}
        self._freqs, px = welch(x, **kw)
        _, py = welch(y, **kw)
        if self._psd_x is None or self._psd_y is None:
            self._psd_x, self._psd_y = np.zeros_like(px), np.zeros_like(py)
        self._psd_x += px * segments
        self._psd_y += py * segments
        self._segments += segments

    def result(self, band: tuple[float, float] | None = None) -> dict[str, float]:
        """`{prd_percent, snr_db, lsd_db}` as `reconstruction_metrics` defines them."""
        self.end_stretch()
        if self._segments == 0:  # no stretch as long as one segment: one segment of the longest
            self._welch(self._short_x, self._short_y, 1, nperseg=self._short_x.shape[1])
        ref = self._sum_x2 - self._sum_x**2 / max(self._n, 1)
        err = self._err2
        with np.errstate(divide="ignore", invalid="ignore"):
            prd_c = np.where(ref > 0, 100.0 * np.sqrt(err / np.where(ref > 0, ref, 1.0)), np.inf)
            snr_c = 10.0 * np.log10(ref / err)
        prd_c = np.where((ref == 0) & (err == 0), 0.0, prd_c)
        snr_c = np.where((ref == 0) & (err == 0), np.inf, snr_c)
        assert self._psd_x is not None and self._psd_y is not None and self._freqs is not None
        mask = _band_mask(self._freqs, self.rate, band)
        lsd = lsd_between_psds(self._psd_x[..., mask], self._psd_y[..., mask])
        return {
            "prd_percent": float(prd_c.mean()),
            "snr_db": float(snr_c.mean()),
            "lsd_db": float(lsd.mean()),
        }
