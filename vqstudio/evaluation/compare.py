"""`evaluate_windows`: every metric of `metrics.py` on one real/synthetic/train triple.

A job in the engine's sense: `evaluate_windows_job` yields `Progress` events (stage
"evaluate") between metrics and returns the `EvaluationReport`; `evaluate_windows` runs it to
the end. The CLI and the GUI's worker iterate the job; tests and scripts call the function.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from vqstudio import distributed
from vqstudio.data.flat import flat_windows
from vqstudio.errors import FormatError
from vqstudio.evaluation import metrics as m
from vqstudio.evaluation.features import window_features
from vqstudio.evaluation.report import EvaluationReport, MetricResult
from vqstudio.events import Job, Progress, StopRequest, run_to_end

__all__ = ["evaluate_windows", "evaluate_windows_job"]

_STEPS = (
    "psd",
    "autocorrelation",
    "correlation",
    "wasserstein",
    "features",
    "feature_classifier",
    "cnn",
    "frechet",
    "tstr",
    "memorization",
)


def _drop_flat(
    x: np.ndarray | None, labels: Sequence[object] | None, rate: float
) -> tuple[np.ndarray | None, Sequence[object] | None, int]:
    """The windows (and labels) without those holding a flat or saturated stretch, and how many
    were dropped (`flat.flat_windows`): such stretches are not signal, in real or synthetic data."""
    if x is None or np.asarray(x).ndim != 3:
        return x, labels, 0
    x = np.asarray(x)
    bad = distributed.spread(lambda part: flat_windows(part, rate), x) > 0  # shared by the processes
    if not bad.any():
        return x, labels, 0
    if labels is not None and len(labels) == len(x):
        labels = [v for v, b in zip(labels, bad, strict=True) if not b]
    return x[~bad], labels, int(bad.sum())


def _check(name: str, x: np.ndarray | None, shape: tuple[int, int] | None, flat: int = 0) -> np.ndarray:
    if x is None:
        raise FormatError(f"evaluate: no {name} windows given")
    x = np.asarray(x)
    if x.ndim != 3:
        raise FormatError(
            f"evaluate: {name} windows must be (windows, channels, samples); got shape {x.shape}"
        )
    if shape is not None and x.shape[1:] != shape:
        raise FormatError(
            f"evaluate: {name} windows are {x.shape[1]} channels x {x.shape[2]} samples but the real "
            f"ones are {shape[0]} x {shape[1]}; compare recordings with the same channels, rate and "
            "window length"
        )
    if len(x) < 2:
        dropped = f" ({flat} more left out for flat or saturated stretches)" if flat else ""
        raise FormatError(
            f"evaluate: need at least 2 {name} windows, got {len(x)}{dropped}; give longer recordings"
        )
    if not np.isfinite(x).all():
        raise FormatError(f"evaluate: {name} windows contain NaN or infinite values")
    return x.astype(np.float32, copy=False)


def _labels(name: str, labels: Sequence[object] | np.ndarray | None, count: int) -> np.ndarray | None:
    if labels is None:
        return None
    out = np.asarray([str(v) for v in labels])
    if out.size != count:
        raise FormatError(f"evaluate: {out.size} {name} labels for {count} {name} windows")
    return out


def evaluate_windows_job(
    real: np.ndarray,
    synthetic: np.ndarray,
    train: np.ndarray,
    rate: float,
    channel_names: list[str],
    *,
    units: Sequence[str] | None = None,
    real_labels: Sequence[object] | None = None,
    synthetic_labels: Sequence[object] | None = None,
    train_labels: Sequence[object] | None = None,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
    band: tuple[float, float] | None = None,
    seed: int = 0,
    train_signal: np.ndarray | None = None,
    hop: int | None = None,
    stop: StopRequest | None = None,
) -> Job[EvaluationReport]:
    """The evaluation as a job; see `evaluate_windows` for the arguments. A set `stop` request
    ends it after the current metric; the report then holds the metrics computed so far."""
    if rate <= 0:
        raise FormatError(f"evaluate: the rate must be positive, got {rate}")
    real, real_labels, flat_real = _drop_flat(real, real_labels, rate)
    real = _check("real", real, None, flat_real)
    shape = (real.shape[1], real.shape[2])
    synthetic, synthetic_labels, flat_syn = _drop_flat(synthetic, synthetic_labels, rate)
    synthetic = _check("synthetic", synthetic, shape, flat_syn)
    train, train_labels, flat_train = _drop_flat(train, train_labels, rate)
    train = _check("train", train, shape, flat_train)
    if len(channel_names) != shape[0]:
        raise FormatError(f"evaluate: {len(channel_names)} channel names for {shape[0]} channels")
    if units is not None and len(units) != shape[0]:
        raise FormatError(f"evaluate: {len(units)} units for {shape[0]} channels")
    names = list(channel_names)
    real_y = _labels("real", real_labels, len(real))
    syn_y = _labels("synthetic", synthetic_labels, len(synthetic))
    train_y = _labels("train", train_labels, len(train))
    rng = np.random.default_rng(seed)
    report = EvaluationReport(
        rate=float(rate),
        channel_names=names,
        samples_per_window=shape[1],
        n_real=len(real),
        n_synthetic=len(synthetic),
        n_train=len(train),
        seed=seed,
        metrics={},
        excluded_flat={"real": flat_real, "synthetic": flat_syn, "train": flat_train},
    )
    results: dict[str, MetricResult] = report.metrics
    start = time.perf_counter()
    features: dict[str, np.ndarray] = {}
    for step, name in enumerate(_STEPS):
        if stop is not None and stop.is_set():
            break
        elapsed = time.perf_counter() - start
        yield Progress("evaluate", step, len(_STEPS), elapsed, None, step / len(_STEPS), {}, 0.0)
        if name == "psd":
            freqs, p_real = m.mean_psd(real, rate)
            _, p_syn = m.mean_psd(synthetic, rate)
            report.freqs, report.psd_real, report.psd_synthetic = freqs, p_real, p_syn
            results["psd_lsd"] = m.psd_distance(freqs, p_real, p_syn, rate, names, band=band)
            results["band_power"] = m.band_power_errors(freqs, p_real, p_syn, rate, names)
        elif name == "autocorrelation":
            results["autocorrelation"] = m.autocorrelation_distance(real, synthetic, rate, names)
        elif name == "correlation":
            results["correlation"] = m.correlation_matrix_distance(real, synthetic, names)
        elif name == "wasserstein":
            results["wasserstein"] = m.amplitude_wasserstein(real, synthetic, names, units, rng)
        elif name == "features":
            features["real"] = window_features(real, rate)
            features["synthetic"] = window_features(synthetic, rate)
            if train_y is not None:
                features["train"] = window_features(train, rate)
        elif name == "feature_classifier":
            results["feature_accuracy"] = m.feature_classifier_accuracy(
                features["real"], features["synthetic"], rng
            )
        elif name == "cnn":
            purge = 1 if hop is None else max(1, -(-shape[1] // max(hop, 1)) - 1)
            results["cnn_accuracy"] = m.cnn_classifier_accuracy(real, synthetic, seed=seed, purge=purge)
        elif name == "frechet":
            if embed is None:
                e_real, e_syn, source, z = features["real"], features["synthetic"], "fixed features", True
            else:
                e_real = np.asarray(embed(real)).reshape(len(real), -1)
                e_syn = np.asarray(embed(synthetic)).reshape(len(synthetic), -1)
                source, z = getattr(embed, "__name__", "caller's embedding"), False
            results["frechet"] = m.frechet_distance(e_real, e_syn, rng, standardise=z, source=source)
        elif name == "tstr":
            results["tstr"] = m.train_synthetic_test_real(
                features["real"], real_y, features["synthetic"], syn_y, features.get("train"), train_y, rng
            )
        elif name == "memorization":
            result, report.nn_synthetic, report.nn_real = m.memorization(
                real, synthetic, train, rng, train_signal=train_signal
            )
            results["memorization"] = result
    elapsed = time.perf_counter() - start
    yield Progress("evaluate", len(_STEPS), len(_STEPS), elapsed, 0.0, 1.0, {}, 0.0)
    return report


def evaluate_windows(
    real: np.ndarray,
    synthetic: np.ndarray,
    train: np.ndarray,
    rate: float,
    channel_names: list[str],
    *,
    units: Sequence[str] | None = None,
    real_labels: Sequence[object] | None = None,
    synthetic_labels: Sequence[object] | None = None,
    train_labels: Sequence[object] | None = None,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
    band: tuple[float, float] | None = None,
    seed: int = 0,
    train_signal: np.ndarray | None = None,
    hop: int | None = None,
) -> EvaluationReport:
    """Compares synthetic windows with held-out real ones and checks for memorization.

    `real` (held-out real), `synthetic` and `train` (the model's training windows) are
    `(windows, channels, samples)` arrays in physical units at `rate` Hz with the channels of
    `channel_names` (and `units`, optional, for the report). Labels (any values, compared as
    text), when given for real and synthetic windows, enable train-on-synthetic/test-on-real;
    `train_labels` give its train-on-real reference. `embed(windows) -> (windows, d)` replaces
    the fixed features in the Fréchet distance (e.g. a trained tokenizer's encoder). `band`
    (Hz) limits the PSD log-spectral distance, e.g. to the recording's pass band; by default
    0.5 Hz to Nyquist. `train_signal` `(channels, samples)` is the continuous training data the
    memorization check searches at every time shift (default: the training windows joined).
    `hop` (samples) is the step between successive real and synthetic windows when they
    overlap, so the CNN's folds leave out every neighbour that shares samples with a test
    window. Windows holding a flat or saturated stretch (`flat.py`) are left out of every set
    and counted in `report.excluded_flat`. Every random choice (subsets, folds, the CNN's
    initialisation) comes from `seed`. Raises `FormatError` on mismatched shapes, too few
    windows, or non-finite values.
    """
    return run_to_end(
        evaluate_windows_job(
            real,
            synthetic,
            train,
            rate,
            channel_names,
            units=units,
            real_labels=real_labels,
            synthetic_labels=synthetic_labels,
            train_labels=train_labels,
            embed=embed,
            band=band,
            seed=seed,
            train_signal=train_signal,
            hop=hop,
        )
    )
