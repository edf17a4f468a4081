"""Spectral estimation, below both preparation (the working-rate choice) and evaluation (the
spectral metrics): one Welch PSD, so a spectrum means the same thing wherever it is computed."""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

__all__ = ["default_nperseg", "welch_psd"]


def default_nperseg(samples: int, rate: float, seconds: float = 2.0) -> int:
    """Welch segment length: the power of two covering `seconds` (0.5 Hz bins for 2 s),
    but never longer than the window itself."""
    want = 1 << max(3, int(np.ceil(np.log2(max(seconds * rate, 8.0)))))
    return int(min(samples, want))


def welch_psd(x: np.ndarray, rate: float, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch PSD along the last axis: Hann window, 50 % overlap, segment mean removed.

    Returns `(freqs in Hz, psd)` with psd in units^2/Hz and the input's leading shape.
    `nperseg` defaults to `default_nperseg` (about 2 s).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    nperseg = default_nperseg(n, rate) if nperseg is None else int(min(nperseg, n))
    return welch(x, fs=rate, window="hann", nperseg=nperseg, noverlap=nperseg // 2, axis=-1)
