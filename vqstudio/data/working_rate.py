"""The working rate: train at the lowest rate that keeps the band holding the signal.

A biosignal sampled at 500 Hz but low-passed near 50 Hz spends most of its samples on a band
that holds almost no power. Training at a lower rate buys the tokenizer more steps in the same
budget. Pure numpy/scipy (the GUI may import it at start).

The rule, per project (all figures from the training part of the chosen channels, at the
source rate, after the project's filters):

- A Welch PSD `P_c(f)` per channel (segments of about 2 s, each detrended to its mean; the DC
  bin is left out). Narrow mains peaks (50/60 Hz and harmonics, `_mains_mask`) are replaced by
  the median of their neighbourhood so that a line cannot set the band edge.
- The band edge `f_keep = max_c min{f : sum_{f' <= f} P_c(f') >= KEEP_FRACTION * sum_f' P_c(f')}`.
- The working rate `r_w = min{source / k : k = 1..MAX_DECIMATION, source / k >= max(MIN_RATE,
  HEADROOM * f_keep)}`, and the source rate itself when no k > 1 qualifies (never above it).
  Integer decimations keep `resample_poly`'s ratio `1 : k` simple and exact.
- The fill description: the mean of `P_c(f)` (physical units^2/Hz) over `FILL_BINS` log-spaced
  bands from `f_keep` to the source Nyquist frequency, stored in project.json.

At generation the decoder's output (at `r_w`) is resampled back to the source rate and noise
with PSD `F_c(f) * (1 - G(f))` is added, where `F_c` is the stored description interpolated
log-log and `G(f)` is the power gain of the down-then-up resampling chain (`chain_gain`). The
fill is thus zero where the working rate keeps the band and rises smoothly across the resampling
filter's transition band to the stored spectrum above it, so the spectra match over the whole
band.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "FILL_BINS",
    "HEADROOM",
    "KEEP_FRACTION",
    "MIN_RATE",
    "add_fill",
    "band_edge",
    "chain_gain",
    "choose_from_psd",
    "choose_working_rate",
    "fill_noise",
    "resample",
    "welch_psd",
]

KEEP_FRACTION = 0.995  # share of each channel's (detrended) power the working band keeps
HEADROOM = 2.5  # working rate >= HEADROOM * f_keep: f_keep sits at 0.8 of the working Nyquist
MIN_RATE = 64.0  # Hz: the working rate never goes below this (nor below the source rate's own)
MAX_DECIMATION = 16  # candidate rates are source / k for k up to this
FILL_BINS = (
    64  # log-spaced bands of the fill description (EEG, perfect model: 32 give 3.0 dB, 64 1.7, 128 1.1)
)
SEGMENT_S = 2.0  # Welch segment length in seconds (0.5 Hz resolution)
UP_HALF_TAPS = 40  # the upsampling filter has 2 * UP_HALF_TAPS * m + 1 taps (m: the ratio)
UP_KAISER_BETA = 10.0
MAINS = (50.0, 60.0)
MAINS_HALF_WIDTH_HZ = 2.0  # a mains line with its window leakage, either side
MAINS_PROMINENCE = 10.0  # ... and this many times above its neighbourhood's median to count


def welch_psd(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch PSD `(freqs, (channels, freqs))` of `(channels, samples)` physical data.

    Segments of `SEGMENT_S` seconds (a power of two, at most the data's length), Hann window,
    half overlap, each segment's mean removed (`vqstudio.spectra`)."""
    from vqstudio.spectra import default_nperseg
    from vqstudio.spectra import welch_psd as _welch

    f, p = _welch(x, rate, default_nperseg(x.shape[-1], rate, seconds=SEGMENT_S))
    return f, np.atleast_2d(p)


def _mains_mask(f: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Bins `(channels, freqs)` of narrow mains lines: the `MAINS_HALF_WIDTH_HZ` either side of a
    50 or 60 Hz harmonic whose peak is over `MAINS_PROMINENCE` times the median 3-8 Hz away
    (the whole width goes: a Hann window spreads a strong line over a few bins)."""
    mask = np.zeros(p.shape, dtype=bool)

    def bins(lo_hz: float, hi_hz: float) -> slice:  # f is sorted: slices, not scans of every bin
        return slice(int(np.searchsorted(f, lo_hz)), int(np.searchsorted(f, hi_hz, side="right")))

    for base in MAINS:
        for h in np.arange(base, f[-1], base):
            near = bins(h - MAINS_HALF_WIDTH_HZ, h + MAINS_HALF_WIDTH_HZ)
            below, above = bins(h - 8.0, h - 3.0), bins(h + 3.0, h + 8.0)
            if near.start >= near.stop or (below.start >= below.stop and above.start >= above.stop):
                continue
            ref = np.median(np.concatenate([p[:, below], p[:, above]], axis=1), axis=1)
            line = p[:, near].max(axis=1) > MAINS_PROMINENCE * np.maximum(ref, 1e-300)
            mask[line, near] = True
    return mask


def band_edge(f: np.ndarray, p: np.ndarray, keep: float = KEEP_FRACTION) -> np.ndarray:
    """Per channel, the frequency below which `keep` of the power lies (DC and mains lines out)."""
    p = np.array(p[:, 1:], dtype=np.float64)  # the DC bin is the mean, not signal
    f = f[1:]
    mask = _mains_mask(f, p)
    # A line's bins take the level of their unmasked neighbours: the line is not the band.
    for c, i in zip(*np.nonzero(mask), strict=True):
        lo, hi = max(0, i - 20), min(f.size, i + 21)
        ok = ~mask[c, lo:hi]
        p[c, i] = np.median(p[c, lo:hi][ok]) if ok.any() else 0.0
    total = p.sum(axis=1, keepdims=True)
    cum = np.cumsum(p, axis=1) / np.where(total > 0, total, 1.0)
    i = np.array([min(f.size - 1, int(np.searchsorted(row, keep))) for row in cum])
    return f[i]


def candidate_rates(source: float) -> list[float]:
    """Rates the working rate may take: `source / k`, k = 1..MAX_DECIMATION, highest first."""
    return [source / k for k in range(1, MAX_DECIMATION + 1)]


def choose_working_rate(
    pieces: Sequence[np.ndarray], source: float, n_fill_bins: int = FILL_BINS
) -> dict[str, Any]:
    """The working rate and fill description from training pieces `(channels, samples)`.

    `pieces` are physical data at the `source` rate (each file's training part, filtered as the
    project filters). Returns `{"rate", "output_rate", "f_keep", "fill"}`: `fill` is None when
    the working rate is the source rate, else `{"f_keep", "edges", "psd"}` with `edges` the
    `n_fill_bins + 1` band edges (Hz) and `psd` `(channels, n_fill_bins)` in physical units^2/Hz.
    """
    f, p = _pooled_psd(pieces, source)
    return choose_from_psd(f, p, source, n_fill_bins)


def choose_from_psd(
    f: np.ndarray, p: np.ndarray, source: float, n_fill_bins: int = FILL_BINS
) -> dict[str, Any]:
    """`choose_working_rate` from the pooled training spectrum `p` `(channels, freqs)` at `f`
    (the streaming preparation, `vqstudio.data.stream`, pools it one channel at a time)."""
    edge = float(np.max(band_edge(f, p)))
    need = max(MIN_RATE, HEADROOM * edge)
    rate = float(source)
    for r in candidate_rates(source)[1:]:
        if r >= need:
            rate = r
    out: dict[str, Any] = {"rate": rate, "output_rate": float(source), "f_keep": edge, "fill": None}
    if rate < source:
        nyq = source / 2
        edges = np.geomspace(max(edge, f[1]), nyq, n_fill_bins + 1)
        psd = np.empty((p.shape[0], n_fill_bins))
        for b in range(n_fill_bins):
            inside = (f >= edges[b]) & (f <= edges[b + 1])
            if not inside.any():  # a band narrower than one bin: the nearest bin
                inside = np.abs(f - np.sqrt(edges[b] * edges[b + 1])) == np.min(
                    np.abs(f - np.sqrt(edges[b] * edges[b + 1]))
                )
            psd[:, b] = p[:, inside].mean(axis=1)
        out["fill"] = {
            "f_keep": edge,
            "edges": [float(v) for v in edges],
            "psd": [[float(v) for v in row] for row in psd],
            "unit": "physical unit^2/Hz, mean over each band",
        }
    return out


def _pooled_psd(pieces: Sequence[np.ndarray], rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The Welch PSD of several pieces, averaged weighted by their lengths (short pieces skipped
    when a longer one gives the full segment length)."""
    from vqstudio.spectra import default_nperseg
    from vqstudio.spectra import welch_psd as _welch

    seg = default_nperseg(max(x.shape[-1] for x in pieces), rate, seconds=SEGMENT_S)
    acc, weight, freqs = None, 0.0, None
    for x in pieces:
        if x.shape[-1] < seg:
            continue
        freqs, p = _welch(x, rate, seg)
        acc = p * x.shape[-1] if acc is None else acc + p * x.shape[-1]
        weight += x.shape[-1]
    assert acc is not None and freqs is not None
    return freqs, acc / weight


def _upsampling_filter(m: int) -> np.ndarray:
    """The anti-imaging FIR of `resample` up by `m`: Kaiser beta 10 (about 100 dB stopband),
    80 m + 1 taps at the high rate (a transition about a sixth of the working Nyquist wide).

    resample_poly's default (beta 5, 20 m + 1 taps) leaves images about 45 dB below the band,
    far above an EEG's floor 100-250 Hz (measured: 40 dB too much power at 150 Hz)."""
    from scipy.signal import firwin

    return firwin(2 * UP_HALF_TAPS * m + 1, 1.0 / m, window=("kaiser", UP_KAISER_BETA))


def _default_filter(m: int) -> np.ndarray:
    """resample_poly's own filter for a rate change by `m` (what prep's downsampling applies)."""
    from scipy.signal import firwin

    return firwin(2 * 10 * m + 1, 1.0 / m, window=("kaiser", 5.0))


def resample(x: np.ndarray, src: float, dst: float, padtype: str = "constant") -> np.ndarray:
    """`x` (..., samples) from `src` to `dst` Hz along the last axis (polyphase), float32.

    Down: resample_poly's default filter (as prep resamples). Up: `_upsampling_filter`."""
    if abs(src - dst) < 1e-9:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    frac = Fraction(dst / src).limit_denominator(1000)
    up, down = frac.numerator, frac.denominator
    window: Any = _upsampling_filter(max(up, down)) if up > down else ("kaiser", 5.0)
    y = resample_poly(x, up, down, axis=-1, window=window, padtype=padtype)
    return np.asarray(y, dtype=np.float32)


def chain_gain(f: np.ndarray, source: float, working: float) -> np.ndarray:
    """Power gain `G(f)` at the source rate of `resample` down to `working` and back up:
    `G = |H_down(f)|^2 |H_up(f)|^2`, the two FIR filters at the source rate (DC gain 1)."""
    from scipy.signal import freqz

    frac = Fraction(working / source).limit_denominator(1000)
    m = max(frac.numerator, frac.denominator)
    if m == 1:
        return np.ones_like(f, dtype=np.float64)
    g = np.ones_like(f, dtype=np.float64)
    for h in (_default_filter(m), _upsampling_filter(m)):
        _, resp = freqz(h / h.sum(), worN=np.asarray(f, dtype=np.float64), fs=source)
        g *= np.abs(resp) ** 2
    return g


def fill_noise(
    fill: dict[str, Any], n: int, source: float, working: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise `(channels, n)` whose PSD is the stored fill times `1 - G(f)` (see the module doc).

    White Gaussian noise of unit variance has the one-sided PSD `2 / rate`; its spectrum is
    multiplied by `sqrt(target * rate / 2)`, the target interpolated log-log between the bands'
    centres (held flat beyond the first and last) and zero below `f_keep`."""
    edges = np.asarray(fill["edges"], dtype=np.float64)
    psd = np.asarray(fill["psd"], dtype=np.float64)
    centres = np.sqrt(edges[:-1] * edges[1:])
    f = np.fft.rfftfreq(n, d=1.0 / source)
    lf = np.log(np.maximum(f, 1e-9))
    gap = np.clip(1.0 - chain_gain(f, source, working), 0.0, 1.0)
    gap[f < float(fill["f_keep"])] = 0.0
    out = np.empty((psd.shape[0], n), dtype=np.float32)
    for c in range(psd.shape[0]):
        logp = np.interp(lf, np.log(centres), np.log(np.maximum(psd[c], 1e-300)))
        target = np.exp(logp) * gap
        spec = np.fft.rfft(rng.standard_normal(n)) * np.sqrt(target * source / 2.0)
        out[c] = np.fft.irfft(spec, n=n)
    return out


def add_fill(
    x: np.ndarray, fill: dict[str, Any] | None, source: float, working: float, seed: int, index: int = 0
) -> np.ndarray:
    """`x` `(channels, n)` at the source rate plus its fill noise (in place; returned).

    Deterministic: the noise of recording `index` comes from `seed` and `index` alone, so the
    same seed gives the same output whatever the batch size."""
    if fill is None:
        return x
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index), 0x5F11])
    x += fill_noise(fill, x.shape[-1], source, working, rng)
    return x
