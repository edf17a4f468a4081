"""Metrics comparing a set of synthetic windows with a set of real ones.

Windows are `(windows, channels, samples)` arrays in physical units at one rate. "Real" means
held-out real windows (never seen in training); "train" the windows the model was trained on.
The two sets are unpaired: every metric compares distributions (set averages, pooled samples,
classifiers, nearest neighbours), never window i with window i. Each function returns a
`MetricResult` whose `definition` is the one-line version of its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from vqstudio import distributed
from vqstudio.errors import FormatError
from vqstudio.evaluation.classifier import LogisticRegression, binomial_se, stratified_folds, wilson_interval
from vqstudio.evaluation.memorization import (
    ALPHA,
    EXACT_COPY,
    MARGIN,
    MIN_HELD_OUT,
    memorization_test,
    shape_distances,
)
from vqstudio.evaluation.reconstruction_metrics import DYNAMIC_RANGE_DB, lsd_between_psds
from vqstudio.evaluation.report import MetricResult
from vqstudio.spectra import welch_psd

__all__ = [
    "EEG_BANDS",
    "amplitude_wasserstein",
    "autocorrelation_distance",
    "band_power_errors",
    "cnn_classifier_accuracy",
    "correlation_matrix_distance",
    "feature_classifier_accuracy",
    "frechet_distance",
    "mean_psd",
    "memorization",
    "psd_distance",
    "train_synthetic_test_real",
    "window_chunks",
]

EEG_BANDS: tuple[tuple[str, float, float], ...] = (
    ("delta", 0.5, 4.0),
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 13.0),
    ("beta", 13.0, 30.0),
    ("gamma", 30.0, 80.0),
)
_TSTR_TITLE = "Train-on-synthetic/test-on-real accuracy"


def _per_channel(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values, strict=True)}


def window_chunks(windows: np.ndarray, bytes_per_value: int = 32) -> list[slice]:
    """Slices of about 64 MB of working memory each, so large sets are processed piecewise
    (an FFT of a float64 window padded to twice its length needs ~32 bytes per sample)."""
    per_window = max(1, int(np.prod(windows.shape[1:])) * bytes_per_value)
    step = max(1, (64 << 20) // per_window)
    return [slice(i, i + step) for i in range(0, len(windows), step)]


def mean_psd(windows: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD of every window (`vqstudio.spectra.welch_psd`: Hann, ~2 s segments,
    50 % overlap) averaged over windows: `(freqs, (channels, freqs))` in units^2/Hz."""
    total, freqs = 0.0, np.zeros(0)
    for part in window_chunks(windows):
        freqs, psd = welch_psd(windows[part], rate)
        total = total + psd.sum(axis=0)
    return freqs, total / len(windows)


def psd_distance(
    freqs: np.ndarray,
    psd_real: np.ndarray,
    psd_syn: np.ndarray,
    rate: float,
    names: Sequence[str],
    band: tuple[float, float] | None = None,
) -> MetricResult:
    """Log-spectral distance between the window-averaged Welch PSDs, per channel (dB).

    LSD_c = sqrt(mean over bins f in the band of (10 log10(P_real,c(f) / P_syn,c(f)))^2)
    (the band is 0.5 Hz to Nyquist unless given),
    where P_set,c is the Welch PSD averaged over all windows of the set; bins more than 60 dB
    below the real PSD's peak are compared at that floor (`reconstruction_metrics.lsd_between_psds`:
    a low-pass filter's empty stop band must not dominate). Headline: the mean of LSD_c over
    channels. Lower is better; 0 dB means identical average spectra; 3 dB means the
    spectra differ by a factor of two in power on average (RMS over frequency).
    """
    lo, hi = (0.5, rate / 2) if band is None else (float(band[0]), min(float(band[1]), rate / 2))
    mask = (freqs >= lo) & (freqs <= hi) & (freqs > 0)
    if not mask.any():
        raise FormatError(f"evaluate: no PSD bin between {lo:g} and {hi:g} Hz; choose a wider band")
    values = lsd_between_psds(psd_real[:, mask], psd_syn[:, mask])
    return MetricResult(
        key="psd_lsd",
        title=f"PSD log-spectral distance ({lo:g}-{hi:g} Hz)",  # the band read at a glance
        value=float(values.mean()),
        unit="dB",
        better="lower",
        definition=(
            f"Per channel, RMS over frequency bins from {lo:g} to {hi:g} Hz of the dB difference between "
            "the real and synthetic Welch PSDs (each averaged over its windows; bins more than 60 dB below "
            "the real peak compared at that floor); mean over channels."
        ),
        per_channel=_per_channel(names, values),
        details={
            "band_hz": [lo, hi],
            "bins": int(mask.sum()),
            "bin_width_hz": float(freqs[1]),
            "dynamic_range_db": DYNAMIC_RANGE_DB,
        },
    )


# A band scores a channel only when it holds at least this share of the channel's real power:
# below it the relative error divides by almost nothing (a respiration trace's power above 4 Hz,
# an ECG low-passed at 40 Hz in the gamma band) and one such band made a CSV's error read 4836 %.
MIN_BAND_SHARE = 0.01


def band_power_errors(
    freqs: np.ndarray, psd_real: np.ndarray, psd_syn: np.ndarray, rate: float, names: Sequence[str]
) -> MetricResult:
    """Relative error of the band powers of the synthetic set, per channel and EEG band (%).

    Band power P_b = sum of the window-averaged Welch PSD over bins f with lo <= f < hi, times
    the bin width, for delta 0.5-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-80 Hz; a band
    reaching past Nyquist is cut at Nyquist, a band starting at or above it is skipped. Error
    = 100 * (P_b,syn - P_b,real) / P_b,real (signed: positive = too much power), for the bands
    that hold at least `MIN_BAND_SHARE` (1 %) of the channel's real power; the others are not
    scored (None, and listed in `details["not_scored"]`): a relative error of almost no power says
    nothing about the signal. Headline: mean of |error| over the scored channels and bands
    (None when no band is scored). Lower is better; 0 % is perfect. The bands are EEG
    conventions; for ECG or other channels read them as plain frequency bands.
    """
    nyquist = rate / 2
    df = float(freqs[1] - freqs[0])
    bands = [(name, lo, min(hi, nyquist)) for name, lo, hi in EEG_BANDS if lo < nyquist]
    total = psd_real.sum(axis=1) * df  # each channel's real power, every frequency
    per: dict[str, dict[str, float | None]] = {n: {} for n in names}
    not_scored: dict[str, list[str]] = {}
    errors = []
    for name, lo, hi in bands:
        inside = (freqs >= lo) & ((freqs < hi) if hi < nyquist else (freqs <= hi))
        if not inside.any():
            continue
        p_real = psd_real[:, inside].sum(axis=1) * df
        p_syn = psd_syn[:, inside].sum(axis=1) * df
        scored = p_real >= MIN_BAND_SHARE * total
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(scored, 100.0 * (p_syn - p_real) / p_real, np.nan)
        for ch, e, ok in zip(names, err, scored, strict=True):
            per[ch][name] = float(e) if ok else None
            if not ok:
                not_scored.setdefault(ch, []).append(name)
        errors.append(err)
    table = np.array(errors)
    finite = np.isfinite(table)
    value = float(np.abs(table[finite]).mean()) if finite.any() else None
    details: dict[str, Any] = {
        "bands_hz": {name: [lo, hi] for name, lo, hi in bands},
        "min_band_share": MIN_BAND_SHARE,
        "not_scored": not_scored,
        "mean_abs_error_per_band": {
            name: float(np.abs(row[np.isfinite(row)]).mean()) if np.isfinite(row).any() else None
            for (name, _, _), row in zip(bands, table, strict=False)
        },
    }
    if value is None:
        details["skipped"] = (
            f"no band holds {MIN_BAND_SHARE * 100:g} % of a channel's real power "
            "(the EEG bands miss the signal)"
        )
    return MetricResult(
        key="band_power",
        title="Band-power relative error",
        value=value,
        unit="%",
        better="lower",
        definition=(
            "Per channel and band (delta 0.5-4, theta 4-8, alpha 8-13, beta 13-30, gamma 30-80 Hz, cut at "
            "Nyquist), 100*(P_syn - P_real)/P_real of the band power of the window-averaged Welch PSD, for "
            f"the bands holding at least {MIN_BAND_SHARE * 100:g} % of the channel's real power (a relative "
            "error of almost no power says nothing); headline = mean |error| over those channels and bands."
        ),
        per_channel=per,
        details=details,
    )


def _mean_autocorrelation(windows: np.ndarray, max_lag: int) -> np.ndarray:
    """(channels, max_lag + 1): biased ACF of each mean-removed window, normalised to 1 at lag 0,
    averaged over windows (windows with zero variance left out)."""
    n = windows.shape[-1]
    size = 1 << int(np.ceil(np.log2(2 * n - 1)))
    total = np.zeros((windows.shape[1], max_lag + 1))
    count = np.zeros((windows.shape[1], 1))
    for part in window_chunks(windows):
        x = windows[part].astype(np.float64)
        x -= x.mean(axis=-1, keepdims=True)
        spec = np.fft.rfft(x, size, axis=-1)
        acf = np.fft.irfft(spec * np.conj(spec), size, axis=-1)[..., : max_lag + 1]
        lag0 = acf[..., :1]
        valid = lag0 > 0
        total += np.where(valid, acf / np.where(valid, lag0, 1.0), 0.0).sum(axis=0)
        count += valid.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count


def autocorrelation_distance(
    real: np.ndarray, syn: np.ndarray, rate: float, names: Sequence[str], max_lag_s: float = 1.0
) -> MetricResult:
    """RMS difference between the window-averaged autocorrelation functions, per channel.

    For each window and channel the ACF r(k) = sum_t x_t x_{t+k} / sum_t x_t^2 of the
    mean-removed window (biased estimator), averaged over the windows of each set;
    D_c = sqrt(mean over lags k = 1..K of (r_real,c(k) - r_syn,c(k))^2), K = min(max_lag_s * rate,
    samples / 2). Headline: mean of D_c over channels. Unitless, 0 to 2; lower is better.
    Captures rhythm and smoothness (an alpha rhythm shows as a 100 ms oscillation in r(k)).
    """
    max_lag = int(max(1, min(round(max_lag_s * rate), real.shape[-1] // 2)))
    a, b = _mean_autocorrelation(real, max_lag), _mean_autocorrelation(syn, max_lag)
    values = np.sqrt(np.mean((a[:, 1:] - b[:, 1:]) ** 2, axis=1))
    return MetricResult(
        key="autocorrelation",
        title="Autocorrelation distance",
        value=float(np.nanmean(values)),
        unit="",
        better="lower",
        definition=(
            f"Per channel, RMS over lags 1..{max_lag} samples ({max_lag / rate:g} s) of the difference "
            "between the window-averaged normalised autocorrelation functions; mean over channels (0 to 2)."
        ),
        per_channel=_per_channel(names, values),
        details={"max_lag_samples": max_lag, "max_lag_s": max_lag / rate},
    )


def _mean_correlation(windows: np.ndarray) -> np.ndarray:
    """(channels, channels): Pearson correlation matrix of each window, averaged over windows
    (a pair is left out of the windows where either channel is flat)."""
    c = windows.shape[1]
    total, count = np.zeros((c, c)), np.zeros((c, c))
    for part in window_chunks(windows, bytes_per_value=16):
        x = windows[part].astype(np.float64)
        x -= x.mean(axis=-1, keepdims=True)
        norm = np.sqrt((x**2).sum(axis=-1))
        valid = norm > 0
        z = x / np.where(valid, norm, 1.0)[..., None]
        corr = np.matmul(z, z.transpose(0, 2, 1))
        both = valid[:, :, None] & valid[:, None, :]
        total += np.where(both, corr, 0.0).sum(axis=0)
        count += both.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count


def correlation_matrix_distance(real: np.ndarray, syn: np.ndarray, names: Sequence[str]) -> MetricResult:
    """RMS difference between the window-averaged cross-channel correlation matrices.

    R_set = mean over the set's windows of the Pearson correlation matrix of the channels within
    each window. D = sqrt(mean over channel pairs i < j of (R_real,ij - R_syn,ij)^2); per channel
    c the same RMS over its pairs (c, j != c). Unitless, 0 to 2; lower is better. Needs two
    channels or more (None otherwise).
    """
    definition = (
        "RMS over channel pairs of the difference between the real and synthetic Pearson correlation "
        "matrices (each averaged over its windows); per channel, the RMS over that channel's pairs."
    )
    c = real.shape[1]
    if c < 2:
        skipped = {"skipped": "needs at least two channels"}
        return MetricResult(
            "correlation",
            "Cross-channel correlation distance",
            None,
            "",
            "lower",
            definition,
            details=skipped,
        )
    diff = _mean_correlation(real) - _mean_correlation(syn)
    iu = np.triu_indices(c, 1)
    off = ~np.eye(c, dtype=bool)
    per = np.sqrt(np.array([np.nanmean(diff[i, off[i]] ** 2) for i in range(c)]))
    return MetricResult(
        key="correlation",
        title="Cross-channel correlation distance",
        value=float(np.sqrt(np.nanmean(diff[iu] ** 2))),
        unit="",
        better="lower",
        definition=definition,
        per_channel=_per_channel(names, per),
        details={"pairs": len(iu[0])},
    )


def amplitude_wasserstein(
    real: np.ndarray,
    syn: np.ndarray,
    names: Sequence[str],
    units: Sequence[str] | None,
    rng: np.random.Generator,
    max_values: int = 100_000,
) -> MetricResult:
    """Wasserstein-1 distance between the amplitude distributions, per channel.

    For channel c, all samples of all windows of each set are pooled (a seeded random subset of
    `max_values` when larger) and W_c = scipy.stats.wasserstein_distance(real_c, syn_c): the
    area between the two empirical CDFs, in the channel's physical unit. Normalised:
    W_c / std(real_c), in real standard deviations. Headline: mean of the normalised W_c over
    channels. Lower is better; 0 means identical amplitude histograms. Blind to time order.
    """
    physical, normalised = [], []
    for c in range(real.shape[1]):
        a, b = real[:, c].ravel(), syn[:, c].ravel()
        if a.size > max_values:
            a = rng.choice(a, max_values, replace=False)
        if b.size > max_values:
            b = rng.choice(b, max_values, replace=False)
        w = float(wasserstein_distance(a, b))
        physical.append(w)
        s = float(np.std(a))
        normalised.append(w / s if s > 0 else np.inf)
    per = {
        n: {"physical": p, "normalised": q, "unit": (units[i] if units else "")}
        for i, (n, p, q) in enumerate(zip(names, physical, normalised, strict=True))
    }
    return MetricResult(
        key="wasserstein",
        title="Amplitude Wasserstein distance",
        value=float(np.mean(normalised)),
        unit="real std",
        better="lower",
        definition=(
            "Per channel, Wasserstein-1 distance between the pooled sample values of the real and synthetic "
            "sets (physical units), divided by the real channel's standard deviation; mean over channels."
        ),
        per_channel=per,
        details={"max_values_per_channel": max_values},
    )


_CHANCE_NOTE = "50 % = indistinguishable (best), 100 % = always told apart"
_MIN_CLASSIFIER_WINDOWS = 4  # per set


def _accuracy_result(
    key: str, title: str, definition: str, accuracy: float | None, details: dict[str, Any]
) -> MetricResult:
    """A real-vs-synthetic classifier's result: accuracy in %, 50 % (chance) best; None: skipped."""
    value = None if accuracy is None else 100.0 * accuracy
    return MetricResult(key, title, value, "%", "chance", definition, details=details)


def _too_few_windows(n: int) -> dict[str, Any] | None:
    """The `skipped` details when a classifier has fewer than its minimum of windows per set."""
    if n >= _MIN_CLASSIFIER_WINDOWS:
        return None
    return {"skipped": f"needs at least {_MIN_CLASSIFIER_WINDOWS} windows in each set (has {n})"}


def feature_classifier_accuracy(
    f_real: np.ndarray, f_syn: np.ndarray, rng: np.random.Generator, folds: int = 5
) -> MetricResult:
    """Accuracy (%) of a logistic regression telling real from synthetic windows by their features.

    Both sets are cut to the same size n (seeded random subset of the larger), so chance is
    exactly 50 %. A logistic regression (`classifier.py`) on the fixed window features
    (`features.py`) is trained by stratified k-fold cross-validation (k = 5, fewer when the sets
    are small): every window is predicted once, by a model that did not see it. Accuracy =
    100 x correct / 2n, with its binomial standard error sqrt(p(1-p)/2n) and 95 % Wilson
    interval. 50 % = the classifier cannot tell (best), 100 % = it always can. A weaker test
    than the CNN (`cnn_classifier_accuracy`): features average waveform shape away.
    """
    title = "Real-vs-synthetic accuracy, logistic regression on features"
    definition = (
        "Cross-validated accuracy of an L2 logistic regression on fixed spectral/statistical/correlation "
        f"window features telling real from synthetic windows (balanced sets); {_CHANCE_NOTE}."
    )
    n = min(len(f_real), len(f_syn))
    skipped = _too_few_windows(n)
    if skipped is not None:
        return _accuracy_result("feature_accuracy", title, definition, None, skipped)
    a = f_real[rng.choice(len(f_real), n, replace=False)]
    b = f_syn[rng.choice(len(f_syn), n, replace=False)]
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    k = int(min(folds, n))
    fold = stratified_folds(y, k, rng)
    predicted = np.empty_like(y)
    for i in range(k):
        test = fold == i
        model = LogisticRegression().fit(x[~test], y[~test])
        predicted[test] = model.predict(x[test])
    accuracy = float((predicted == y).mean())
    low, high = wilson_interval(accuracy, 2 * n)
    return _accuracy_result(
        "feature_accuracy",
        title,
        definition,
        accuracy,
        {
            "accuracy": accuracy,
            "accuracy_se": binomial_se(accuracy, 2 * n),
            "accuracy_ci95": [low, high],
            "windows_per_class": n,
            "folds": k,
            "classifier": "L2 multinomial logistic regression (numpy, Newton), alpha=0.05, z-scored features",
        },
    )


def cnn_classifier_accuracy(real: np.ndarray, syn: np.ndarray, *, seed: int, purge: int = 1) -> MetricResult:
    """Accuracy (%) of a small 1D CNN telling real from synthetic windows (`cnn.py`).

    Three strided convolutions on the samples (each channel z-scored with the training fold's
    mean and std), trained per fold of a blocked k-fold split (contiguous blocks; `purge`
    neighbours of the test block left out of training, so overlapping windows never sit on both
    sides); accuracy = 100 x correct out-of-fold predictions / 2n on balanced sets, with the 95 %
    Wilson interval over the pooled predictions. 50 % = indistinguishable (best), 100 % = always
    told apart. Seeded and deterministic.
    """
    from vqstudio.evaluation.cnn import cnn_accuracy

    title = "Real-vs-synthetic accuracy, 1D CNN"
    definition = (
        "Accuracy of a 3-layer 1D CNN on z-scored windows telling real from synthetic ones, by blocked "
        f"k-fold cross-validation on balanced sets (95 % Wilson interval in details); {_CHANCE_NOTE}."
    )
    n = min(len(real), len(syn))
    skipped = _too_few_windows(n)
    if skipped is not None:
        return _accuracy_result("cnn_accuracy", title, definition, None, skipped)
    r = cnn_accuracy(real, syn, seed=seed, purge=purge)
    return _accuracy_result(
        "cnn_accuracy",
        title,
        definition,
        r.accuracy,
        {
            "accuracy": r.accuracy,
            "accuracy_ci95": list(r.ci95),
            "windows_per_class": r.windows_per_class,
            "folds": r.folds,
            "purged_neighbours": purge,
            "epochs": r.epochs,
            "seconds": r.seconds,
        },
    )


def _sym_sqrt(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(a)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of two Gaussian fits.

    Tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a S_b. With
    A, B the centred embeddings, S_a S_b = A'A B'B / ((n_a - 1)(n_b - 1)), whose nonzero
    eigenvalues are the squared singular values of A B'. So the trace is the sum of the singular
    values of A B' (n_b x n_a), scaled: exact, symmetric, and cheap when there are fewer
    windows than features; otherwise the same spectrum comes from S_a^(1/2) S_b S_a^(1/2).
    """
    ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
    na, nb, d = len(a), len(b), a.shape[1]
    mean_term = float(((a.mean(axis=0) - b.mean(axis=0)) ** 2).sum())
    trace_a, trace_b = float((ca**2).sum() / (na - 1)), float((cb**2).sum() / (nb - 1))
    if min(na, nb) <= d:
        singular = np.linalg.svd(ca @ cb.T, compute_uv=False)
        trace_root = float(singular.sum() / np.sqrt((na - 1) * (nb - 1)))
    else:
        cov_a, cov_b = ca.T @ ca / (na - 1), cb.T @ cb / (nb - 1)
        values, vectors = np.linalg.eigh(cov_a)
        root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        middle = root_a @ cov_b @ root_a
        trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())
    return max(mean_term + trace_a + trace_b - 2.0 * trace_root, 0.0)


def frechet_distance(
    e_real: np.ndarray, e_syn: np.ndarray, rng: np.random.Generator, *, standardise: bool, source: str
) -> MetricResult:
    """Fréchet distance between Gaussians fitted to window embeddings (Context-FID in spirit).

    FD = ||mu_r - mu_s||^2 + Tr(S_r + S_s - 2 (S_r S_s)^(1/2)), with mu and S the mean and
    covariance of the embeddings of each set. Embeddings are the fixed features of
    `features.py`, z-scored with the real set's mean and std (so FD is in squared real-std units
    summed over features), or those of a caller's `embed` function, used as they are. Lower is
    better; 0 = same Gaussian. FD is biased upwards with few windows (the covariances are
    noisy; it is only stable with many more windows than dimensions), so
    `details.real_split_half` gives FD between two random halves of the real set: a rough
    floor for this many windows (rough: the halves are smaller, so it overstates the floor).
    """
    e_real, e_syn = np.asarray(e_real, dtype=np.float64), np.asarray(e_syn, dtype=np.float64)
    if standardise:
        mean, std = e_real.mean(axis=0), e_real.std(axis=0)
        std[std < 1e-12] = 1.0
        e_real, e_syn = (e_real - mean) / std, (e_syn - mean) / std
    details: dict[str, object] = {
        "embedding": source,
        "dimensions": int(e_real.shape[1]),
        "windows": {"real": len(e_real), "synthetic": len(e_syn)},
    }
    if len(e_real) >= 4:
        order = rng.permutation(len(e_real))
        half = len(order) // 2
        details["real_split_half"] = _frechet(e_real[order[:half]], e_real[order[half:]])
    value = _frechet(e_real, e_syn) if len(e_real) >= 2 and len(e_syn) >= 2 else None
    return MetricResult(
        key="frechet",
        title="Fréchet embedding distance",
        value=value,
        unit="",
        better="lower",
        definition=(
            "||mu_r - mu_s||^2 + Tr(S_r + S_s - 2 (S_r S_s)^(1/2)) between Gaussian fits of window "
            f"embeddings ({source}); see details.real_split_half for the finite-sample floor."
        ),
        details=details,
    )


def _accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> float:
    model = LogisticRegression().fit(train_x, train_y)
    return float((model.predict(test_x) == test_y).mean())


def train_synthetic_test_real(
    f_real: np.ndarray,
    real_labels: np.ndarray | None,
    f_syn: np.ndarray,
    syn_labels: np.ndarray | None,
    f_train: np.ndarray | None,
    train_labels: np.ndarray | None,
    rng: np.random.Generator,
) -> MetricResult:
    """Train-on-synthetic/test-on-real (TSTR) accuracy, beside train-on-real/test-on-real (TRTR).

    The same classifier (logistic regression on the fixed features) is trained on the labelled
    synthetic windows and tested on the labelled held-out real windows: accuracy = fraction
    of real windows whose label it predicts, with binomial standard error sqrt(p(1-p)/n_real).
    TRTR trains it on the labelled training windows instead (or, without training labels, by
    5-fold cross-validation on the real windows) and tests on the same real windows. Higher is
    better; TSTR close to TRTR means the synthetic data carries the label information real data
    does. `details.chance` is the share of the most common real label.
    """
    definition = (
        "Accuracy on held-out real windows of a logistic regression trained on labelled synthetic windows "
        "(TSTR), beside the same classifier trained on real training windows (TRTR), each with binomial SE "
        "and 95 % Wilson interval."
    )
    if real_labels is None or syn_labels is None:
        skipped = {"skipped": "needs labels for the real and the synthetic windows"}
        return MetricResult("tstr", _TSTR_TITLE, None, "", "higher", definition, details=skipped)
    real_y = np.asarray([str(v) for v in real_labels])
    syn_y = np.asarray([str(v) for v in syn_labels])
    n = real_y.size
    values, counts = np.unique(real_y, return_counts=True)
    details: dict[str, object] = {
        "real_windows": n,
        "labels": {str(v): int(c) for v, c in zip(values, counts, strict=True)},
        "chance": float(counts.max() / n),
    }
    tstr = _accuracy(f_syn, syn_y, f_real, real_y)
    details["tstr_se"] = binomial_se(tstr, n)
    details["tstr_ci95"] = wilson_interval(tstr, n)
    if f_train is not None and train_labels is not None:
        trtr = _accuracy(f_train, np.asarray([str(v) for v in train_labels]), f_real, real_y)
        details["trtr_method"] = "trained on the training windows"
    else:
        k = int(min(5, counts.min())) if counts.min() >= 2 else 0
        if k >= 2:
            fold = stratified_folds(real_y, k, rng)
            hits = 0
            for i in range(k):
                model = LogisticRegression().fit(f_real[fold != i], real_y[fold != i])
                hits += int((model.predict(f_real[fold == i]) == real_y[fold == i]).sum())
            trtr = hits / n
            details["trtr_method"] = f"{k}-fold cross-validation on the real windows"
        else:
            trtr = None
            details["trtr_method"] = "not computed: some real label has fewer than 2 windows"
    details["trtr_accuracy"] = trtr
    details["trtr_se"] = None if trtr is None else binomial_se(trtr, n)
    details["trtr_ci95"] = None if trtr is None else wilson_interval(trtr, n)
    return MetricResult(
        key="tstr",
        title=_TSTR_TITLE,
        value=tstr,
        unit="",
        better="higher",
        definition=definition,
        details=details,
    )


def _standardiser(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of the training windows (over windows and samples), float32,
    accumulated in float64 chunk by chunk."""
    total = np.zeros(train.shape[1])
    squares = np.zeros(train.shape[1])
    for part in window_chunks(train, bytes_per_value=8):
        x = train[part].astype(np.float64)
        total += x.sum(axis=(0, 2))
        squares += (x * x).sum(axis=(0, 2))
    count = train.shape[0] * train.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std[std <= 0] = 1.0
    return mean[:, None].astype(np.float32), std[:, None].astype(np.float32)


def memorization(
    real: np.ndarray,
    syn: np.ndarray,
    train: np.ndarray,
    rng: np.random.Generator,
    max_queries: int = 200,
    train_signal: np.ndarray | None = None,
) -> tuple[MetricResult, np.ndarray, np.ndarray]:
    """Are synthetic windows copies, possibly shifted in time, of the training data?

    d = the shape distance of `memorization.py` from a window to the nearest stretch of the
    training signal at ANY time shift: sqrt(2 (1 - rho)), rho the correlation of the two
    windows after z-scoring each channel with the training mean and std (0 = copy, ~1.4 =
    unrelated). `train_signal` `(channels, samples)` is the continuous training data in
    physical units; without it the training windows are joined end to end. At most
    `max_queries` seeded random windows of each set are searched. Headline: the ratio
    median(d_syn) / median(d_real) over held-out real windows (about 1 for data as novel as fresh
    data, 0 for copies). Verdict ("yes" / "no" / "not enough held-out data"), calibrated on the
    held-out distances: see `memorization.memorization_test`.
    """

    def pick(x: np.ndarray) -> np.ndarray:
        return x if len(x) <= max_queries else x[np.sort(rng.choice(len(x), max_queries, replace=False))]

    signal = (
        np.concatenate(list(np.asarray(train)), axis=1) if train_signal is None else np.asarray(train_signal)
    )
    mean, std = _standardiser(signal[None])
    z_signal = (signal - mean) / std
    # Each query's search is its own: the processes of a distributed evaluation share them.
    d_syn = distributed.spread(lambda q: shape_distances(q, z_signal), (pick(syn) - mean) / std)
    d_real = distributed.spread(lambda q: shape_distances(q, z_signal), (pick(real) - mean) / std)
    med_syn, med_real = float(np.median(d_syn)), float(np.median(d_real))
    ratio = med_syn / med_real if med_real > 0 else (1.0 if med_syn == 0 else np.inf)
    test = memorization_test(d_syn, d_real)
    result = MetricResult(
        key="memorization",
        title="Memorization: NN-distance ratio synthetic/real",
        value=float(ratio),
        unit="",
        better="check",
        definition=(
            "Shape distance sqrt(2(1-rho)) from each window to the nearest training stretch at any time "
            "shift (0 = copy, ~1.4 = unrelated); headline = median over synthetic windows / median over "
            "held-out real windows (1 = as novel as fresh data). Flagged when a synthetic window is an "
            f"exact copy (d < {EXACT_COPY}) or near copies (d < {MARGIN} x the 5th percentile of the "
            "held-out distances) are more common than among held-out windows (binomial p < "
            f"{ALPHA}); needs {MIN_HELD_OUT} held-out windows."
        ),
        details={
            "flag": test.verdict == "yes",
            "verdict": test.verdict,
            "reason": test.reason,
            "median_nn_synthetic": med_syn,
            "median_nn_real": med_real,
            "copy_threshold": test.threshold,
            "near_copies": test.near_copies,
            "exact_copies": test.exact_copies,
            "copy_fraction": test.share,
            "copy_fraction_expected": test.expected_share,
            "copy_p_value": test.p_value,
            "queries": {"synthetic": len(d_syn), "real": len(d_real)},
            "train_samples": int(signal.shape[1]),
        },
    )
    return result, d_syn, d_real


EmbedFn = Callable[[np.ndarray], np.ndarray]
