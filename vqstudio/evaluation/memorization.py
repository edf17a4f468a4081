"""Memorization: is a synthetic window a copy (possibly shifted in time) of a training stretch?

Distance. Every channel is z-scored with the training signal's mean and std; a window is then
one vector of C x w values. For a query window q and the training stretch x_p starting at
sample p (any p, so a copy shifted by any number of samples is found), with both vectors centred
per channel,

    rho(q, p) = <q, x_p> / (||q|| ||x_p||),      d(q) = min over p of sqrt(2 (1 - rho(q, p)))

i.e. the distance between the two unit-norm shapes: 0 for an exact copy (also a rescaled one),
about 1.4 for unrelated windows, 2 for an inverted copy. The sliding dot products come from FFTs
of the training signal in blocks, so the cost is O(queries x channels x samples).

Calibration. The same distance is measured for held-out real windows (never trained on): they
show how close fresh data of this source comes to the training data by chance. A synthetic
window is a NEAR COPY when d < tau = MARGIN x (5th percentile of the held-out distances). The
verdict is
- "yes" when some synthetic window is an exact copy (d < EXACT_COPY), or when near copies are
  more common than among held-out windows: more than MIN_SHARE of the synthetic windows, and a
  one-sided binomial test against the held-out rate (count below tau + 1) / (n + 1) gives
  p < ALPHA;
- "not enough held-out data" when fewer than MIN_HELD_OUT held-out windows calibrate tau;
- "no" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft
from scipy.stats import binomtest

__all__ = [
    "ALPHA",
    "EXACT_COPY",
    "MARGIN",
    "MIN_HELD_OUT",
    "MIN_SHARE",
    "NOT_ENOUGH",
    "MemorizationTest",
    "memorization_test",
    "shape_distances",
]

EXACT_COPY = 0.05  # d below this: rho > 0.9987, a copy whatever the held-out data says
MARGIN = 0.5  # near copy: closer than half the 5th percentile of the held-out distances
QUANTILE = 0.05
MIN_HELD_OUT = 10  # held-out windows needed to estimate that percentile
MIN_SHARE = 0.05
ALPHA = 0.01
NOT_ENOUGH = "not enough held-out data"
_BLOCK = 1 << 15  # training samples per FFT block
_QUERY_CHUNK = 32


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel centred windows scaled to unit norm over (channels, samples); and whether
    the window has any variance at all."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=(1, 2)))
    ok = norm > 1e-12
    return x / np.where(ok, norm, 1.0)[:, None, None], ok


def shape_distances(queries: np.ndarray, signal: np.ndarray, window: int | None = None) -> np.ndarray:
    """d(q) (see the module docstring) of each `(Q, C, w)` query against every stretch of the
    `(C, L)` signal, both already z-scored per channel. Returns `(Q,)` float64; inf when the
    signal is shorter than a window or a query is constant."""
    q = np.asarray(queries, dtype=np.float32)
    x = np.asarray(signal, dtype=np.float64)
    n_q, c, w = q.shape
    length = x.shape[1]
    best = np.full(n_q, -np.inf)
    if length < w or n_q == 0:
        return np.full(n_q, np.inf)
    q_unit, q_ok = _unit_rows(q)
    # Sliding sums for the norm of every centred stretch, per channel, in float64.
    csum = np.concatenate([np.zeros((c, 1)), np.cumsum(x, axis=1)], axis=1)
    csq = np.concatenate([np.zeros((c, 1)), np.cumsum(x * x, axis=1)], axis=1)
    s1 = csum[:, w:] - csum[:, :-w]
    s2 = csq[:, w:] - csq[:, :-w]
    norm2 = np.maximum(s2 - s1 * s1 / w, 0.0).sum(axis=0)  # (L - w + 1,)
    inv_norm = np.where(norm2 > 1e-9 * max(float(norm2.max()), 1e-300), 1.0 / np.sqrt(norm2 + 1e-300), 0.0)
    x32 = x.astype(np.float32)
    positions = length - w + 1
    for start in range(0, positions, _BLOCK):
        count = min(_BLOCK, positions - start)
        seg = x32[:, start : start + count + w - 1]
        nfft = sfft.next_fast_len(seg.shape[1] + w - 1, real=True)
        seg_f = sfft.rfft(seg, nfft, axis=-1, workers=1)
        for a in range(0, n_q, _QUERY_CHUNK):
            qf = np.conj(sfft.rfft(q_unit[a : a + _QUERY_CHUNK], nfft, axis=-1, workers=1))
            # Channel sum in the frequency domain: one inverse FFT per query.
            prod = (qf * seg_f[None]).sum(axis=1)
            dots = sfft.irfft(prod, nfft, axis=-1, workers=1)[:, :count]
            rho = dots * inv_norm[None, start : start + count]
            best[a : a + _QUERY_CHUNK] = np.maximum(best[a : a + _QUERY_CHUNK], rho.max(axis=1))
    d = np.sqrt(np.clip(2.0 * (1.0 - best), 0.0, None))
    d[~q_ok] = np.inf
    return d


@dataclass(frozen=True)
class MemorizationTest:
    """The calibrated verdict and the figures behind it."""

    verdict: str  # "yes", "no" or NOT_ENOUGH
    threshold: float | None
    near_copies: int
    exact_copies: int
    share: float
    expected_share: float | None
    p_value: float | None
    reason: str


def memorization_test(d_syn: np.ndarray, d_real: np.ndarray) -> MemorizationTest:
    """The verdict of the module docstring from synthetic and held-out distances."""
    d_syn, d_real = np.asarray(d_syn, float), np.asarray(d_real, float)
    exact = int((d_syn < EXACT_COPY).sum())
    n = max(len(d_syn), 1)
    if len(d_real) < MIN_HELD_OUT:
        if exact:
            return MemorizationTest(
                "yes", EXACT_COPY, exact, exact, exact / n, None, None,
                f"{exact} synthetic window(s) are exact copies of training stretches",
            )  # fmt: skip
        return MemorizationTest(
            NOT_ENOUGH, None, 0, 0, 0.0, None, None,
            f"{len(d_real)} held-out window(s); at least {MIN_HELD_OUT} are needed to calibrate "
            "the test (give longer or more real recordings)",
        )  # fmt: skip
    tau = max(MARGIN * float(np.quantile(d_real, QUANTILE)), EXACT_COPY)
    near = int((d_syn < tau).sum())
    expected = (int((d_real < tau).sum()) + 1) / (len(d_real) + 1)
    p = float(binomtest(near, len(d_syn), min(expected, 1.0), alternative="greater").pvalue)
    share = near / n
    if exact:
        verdict, reason = "yes", f"{exact} synthetic window(s) are exact copies of training stretches"
    elif share > MIN_SHARE and p < ALPHA:
        verdict = "yes"
        reason = f"{share:.0%} of synthetic windows are near copies (held-out: {expected:.1%}, p = {p:.2g})"
    else:
        verdict = "no"
        reason = f"{share:.0%} of synthetic windows are near copies (held-out: {expected:.1%}, p = {p:.2g})"
    return MemorizationTest(verdict, tau, near, exact, share, expected, p, reason)
