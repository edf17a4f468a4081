"""Fixed, download-free features of a window: what the discriminator, the Fréchet distance and
the train-on-synthetic classifier look at.

Per channel (F = 8 + 6 numbers): the log power in 8 log-spaced frequency bands from Welch's
PSD (1 s Hann segments) between two frequency bins and Nyquist; log standard deviation;
skewness and kurtosis (compressed with a signed log so one blink window cannot dominate);
Hjorth mobility and complexity (spectral shape from derivatives); the zero-crossing rate of
the centred signal. Across channels: the Pearson correlation of every channel pair.
All are functions of the window alone and invariant to its position in time.
"""

from __future__ import annotations

import numpy as np

from vqstudio.spectra import default_nperseg, welch_psd

__all__ = ["N_BANDS", "feature_names", "window_features"]

N_BANDS = 8
_STATS = ("log_std", "skewness", "kurtosis", "hjorth_mobility", "hjorth_complexity", "zero_crossings")


def feature_names(channel_names: list[str]) -> list[str]:
    """Names of the columns `window_features` returns, in order."""
    names = [f"{c}:logpow_band{b}" for c in channel_names for b in range(N_BANDS)]
    names += [f"{c}:{s}" for c in channel_names for s in _STATS]
    n = len(channel_names)
    names += [f"corr:{channel_names[i]}-{channel_names[j]}" for i in range(n) for j in range(i + 1, n)]
    return names


def _log_band_powers(x: np.ndarray, rate: float) -> np.ndarray:
    """(windows, channels, N_BANDS) log mean PSD in log-spaced bands; empty bands interpolated."""
    freqs, psd = welch_psd(x, rate, default_nperseg(x.shape[-1], rate, seconds=1.0))
    fmin = freqs[min(2, freqs.size - 1)] if freqs.size > 2 else freqs[-1] / 4
    edges = np.geomspace(max(fmin, 1e-3), rate / 2.0, N_BANDS + 1)
    logp = np.log(psd + 1e-30)
    centres = np.sqrt(edges[:-1] * edges[1:])
    out = np.empty((*x.shape[:-1], N_BANDS))
    for b in range(N_BANDS):
        inside = (freqs >= edges[b]) & (freqs < edges[b + 1] if b < N_BANDS - 1 else freqs <= edges[b + 1])
        if inside.any():
            out[..., b] = np.log(psd[..., inside].mean(axis=-1) + 1e-30)
        else:  # band narrower than a bin: read the log-PSD at its centre
            j = int(np.clip(np.searchsorted(freqs, centres[b]), 1, freqs.size - 1))
            w = (centres[b] - freqs[j - 1]) / (freqs[j] - freqs[j - 1])
            out[..., b] = (1 - w) * logp[..., j - 1] + w * logp[..., j]
    return out


def _signed_log(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log1p(np.abs(v))


def window_features(windows: np.ndarray, rate: float) -> np.ndarray:
    """`(windows, channels, samples)` -> `(windows, features)` float64; see the module docstring.
    Large sets are processed in pieces of about 64 MB."""
    windows = np.asarray(windows)
    step = max(1, (64 << 20) // max(1, 32 * int(np.prod(windows.shape[1:]))))
    if len(windows) > step:
        return np.concatenate([_features(windows[i : i + step], rate) for i in range(0, len(windows), step)])
    return _features(windows, rate)


def _features(windows: np.ndarray, rate: float) -> np.ndarray:
    x = np.asarray(windows, dtype=np.float64)
    n, c, _ = x.shape
    centred = x - x.mean(axis=-1, keepdims=True)
    var = (centred**2).mean(axis=-1)
    std = np.sqrt(var) + 1e-12
    z = centred / std[..., None]
    z2 = z * z
    skew = (z2 * z).mean(axis=-1)
    kurt = (z2 * z2).mean(axis=-1) - 3.0
    d1 = np.diff(x, axis=-1)
    d2 = np.diff(d1, axis=-1)
    s1, s2 = d1.std(axis=-1) + 1e-12, d2.std(axis=-1) + 1e-12
    mobility = s1 / std
    complexity = (s2 / s1) / mobility
    zero_crossings = (np.diff(np.signbit(centred), axis=-1)).mean(axis=-1)
    stats = np.stack(
        [np.log(std), _signed_log(skew), _signed_log(kurt), mobility, complexity, zero_crossings], axis=-1
    )
    parts = [_log_band_powers(x, rate).reshape(n, -1), stats.reshape(n, -1)]
    if c > 1:
        corr = np.matmul(z, z.transpose(0, 2, 1)) / x.shape[-1]  # matmul uses BLAS; einsum would not
        iu = np.triu_indices(c, 1)
        parts.append(corr[:, iu[0], iu[1]])
    return np.concatenate(parts, axis=1)
