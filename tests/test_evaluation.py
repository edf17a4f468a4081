"""Evaluation of synthetic windows: known-good, known-bad and copied sets get the right verdicts."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from vqstudio.data.simulate import simulate
from vqstudio.errors import FormatError
from vqstudio.evaluation import (
    EvaluationReport,
    evaluate_windows,
    evaluate_windows_job,
    phase_randomized_surrogate,
    save_plots,
)
from vqstudio.evaluation.classifier import LogisticRegression
from vqstudio.evaluation.metrics import band_power_errors, mean_psd, psd_distance
from vqstudio.events import Progress

RATE = 128.0
WINDOW = 256  # 2 s


def _windows(x: np.ndarray) -> np.ndarray:
    k = x.shape[1] // WINDOW
    return x[:, : k * WINDOW].reshape(x.shape[0], k, WINDOW).transpose(1, 0, 2).copy()


@pytest.fixture(scope="module")
def data() -> dict:
    """Simulated demo data: the first 160 s train; the last 80 s held out, split into two
    interleaved halves (`real` and `other`: fresh data from the same source)."""
    rec = simulate(240.0, rate=RATE, seed=5)
    x = rec.to_array()
    train = _windows(x[:, : int(160 * RATE)])
    held = _windows(x[:, int(160 * RATE) :])
    other = held[1::2]
    rng = np.random.default_rng(1)
    mean, std = other.mean(axis=(0, 2)), other.std(axis=(0, 2))
    noise = (rng.standard_normal(other.shape) * std[:, None] + mean[:, None]).astype(np.float32)
    return {
        "train": train,
        "real": held[0::2],
        "other": other,
        "noise": noise,
        "names": rec.labels,
        "units": [c.unit for c in rec.channels],
    }


@pytest.fixture(scope="module")
def reports(data: dict) -> dict[str, EvaluationReport]:
    def run(synthetic: np.ndarray) -> EvaluationReport:
        return evaluate_windows(
            data["real"], synthetic, data["train"], RATE, data["names"], units=data["units"]
        )

    return {"other": run(data["other"]), "noise": run(data["noise"]), "copy": run(data["train"][:30])}


def test_copy_of_the_training_windows_is_flagged(reports: dict[str, EvaluationReport]) -> None:
    copy = reports["copy"].metrics["memorization"]
    assert reports["copy"].memorization_flag and reports["copy"].memorization_verdict == "yes"
    assert copy.value is not None and copy.value < 0.05
    assert copy.details["copy_fraction"] == 1.0
    assert copy.details["median_nn_real"] > 0.5
    # Fresh real data and noise are not flagged; fresh data sits at ratio ~1.
    assert not reports["other"].memorization_flag and not reports["noise"].memorization_flag
    assert 0.8 < reports["other"].value("memorization") < 1.25


def test_a_partial_copy_is_flagged_though_the_median_looks_fresh(data: dict) -> None:
    # 8 of 20 synthetic windows copied: the median distance barely moves, the copy share does.
    synthetic = np.concatenate([data["train"][10:18], data["other"][:12]])
    report = evaluate_windows(data["real"], synthetic, data["train"], RATE, data["names"])
    memo = report.metrics["memorization"]
    assert memo.value > 0.5 and 0.4 <= memo.details["copy_fraction"] <= 0.5
    assert memo.details["copy_p_value"] < 0.01 and report.memorization_flag


def test_held_out_real_data_beats_white_noise_on_every_metric(reports: dict[str, EvaluationReport]) -> None:
    good, bad = reports["other"], reports["noise"]
    compared = []
    for key, metric in good.metrics.items():
        if metric.better not in ("lower", "higher", "chance") or metric.value is None:
            continue
        noise_value = bad.metrics[key].value
        assert noise_value is not None, key
        if metric.better == "chance":  # an accuracy: the nearer 50 %, the better
            assert abs(metric.value - 50) < abs(noise_value - 50), (key, metric.value, noise_value)
        elif metric.better == "lower":
            assert metric.value < noise_value, (key, metric.value, noise_value)
        else:
            assert metric.value > noise_value, (key, metric.value, noise_value)
        compared.append(key)
    expected = {"psd_lsd", "band_power", "autocorrelation", "correlation", "wasserstein"}
    assert set(compared) >= expected | {"cnn_accuracy", "feature_accuracy", "frechet"}
    # Noise is trivially detectable (accuracy in %); fresh real data is not.
    assert bad.value("cnn_accuracy") > 85 and bad.value("feature_accuracy") > 90  # 20 windows each
    assert good.value("cnn_accuracy") < 80 and good.value("feature_accuracy") < 80


def test_report_is_json_with_definitions_and_table_rows(reports: dict[str, EvaluationReport]) -> None:
    report = reports["other"]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["windows"] == {"real": 20, "synthetic": 20, "train": 80}
    assert data["channels"] == report.channel_names
    for key, metric in data["metrics"].items():
        assert metric["definition"] and metric["better"] in ("lower", "higher", "chance", "check"), key
    assert set(data["metrics"]["psd_lsd"]["per_channel"]) == set(report.channel_names)
    assert data["metrics"]["band_power"]["per_channel"]["O1"]["alpha"] == pytest.approx(
        report.metrics["band_power"].per_channel["O1"]["alpha"]
    )
    assert data["metrics"]["tstr"]["value"] is None  # no labels given
    rows = report.summary_rows()
    assert ("Memorization flag", "no", "") in rows
    titles = [r[0] for r in rows]
    assert "PSD log-spectral distance (0.5-64 Hz)" in titles and all(len(r) == 3 for r in rows)


def test_plots_are_written_from_a_worker_thread(
    reports: dict[str, EvaluationReport], data: dict, tmp_path
) -> None:
    paths: list[str] = []
    worker = threading.Thread(
        target=lambda: paths.extend(
            save_plots(
                reports["copy"],
                data["real"],
                data["train"][:30],
                str(tmp_path / "plots"),
                units=data["units"],
            )
        )
    )
    worker.start()
    worker.join(60)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["examples.png", "nearest_neighbours.png", "psd.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")] == []


def test_surrogate_keeps_the_spectrum_and_cross_channel_phase_not_the_samples(data: dict) -> None:
    x = data["train"][:40]
    s = phase_randomized_surrogate(x, np.random.default_rng(7))
    assert s.shape == x.shape and s.dtype == x.dtype
    assert np.array_equal(s, phase_randomized_surrogate(x, np.random.default_rng(7)))
    # Same amplitude spectrum, bin for bin (so the same periodogram and mean).
    ax, asur = np.abs(np.fft.rfft(x.astype(np.float64))), np.abs(np.fft.rfft(s.astype(np.float64)))
    assert np.allclose(ax, asur, rtol=1e-4, atol=1e-4 * ax.max())
    # The Welch PSD averaged over windows (Hann-windowed, so not bin-exact) within about 1 dB.
    freqs, p_x = mean_psd(x, RATE)
    _, p_s = mean_psd(s, RATE)
    assert psd_distance(freqs, p_x, p_s, RATE, data["names"]).value < 1.5
    assert np.median(np.abs(10 * np.log10(p_x[:, 1:] / p_s[:, 1:]))) < 1.0
    # Different samples: nearly uncorrelated with the original, window by window.
    r = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(x[:, 0], s[:, 0], strict=True)]
    assert np.median(np.abs(r)) < 0.5
    # Shared phases keep every cross-spectrum, so each window's channel correlation matrix.
    for a, b in zip(x[:5], s[:5], strict=True):
        assert np.allclose(np.corrcoef(a), np.corrcoef(b), atol=1e-4)


def test_train_on_synthetic_test_on_real_with_two_labels() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(WINDOW) / RATE

    def toy(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array(["slow", "fast"] * (n // 2))
        freq = np.where(labels == "slow", 6.0, 11.0)[:, None, None]
        phase = rng.uniform(0, 2 * np.pi, (n, 2, 1))
        x = 10 * np.sin(2 * np.pi * freq * t + phase) + 8 * rng.standard_normal((n, 2, WINDOW))
        return x.astype(np.float32), labels

    (real, real_y), (syn, syn_y), (train, train_y) = toy(30), toy(30), toy(40)
    report = evaluate_windows(
        real, syn, train, RATE, ["A", "B"], real_labels=real_y, synthetic_labels=syn_y, train_labels=train_y
    )
    tstr = report.metrics["tstr"]
    assert tstr.value is not None and tstr.value > 0.8
    assert tstr.details["chance"] == 0.5
    assert tstr.details["trtr_accuracy"] > 0.8 and 0 <= tstr.details["tstr_se"] < 0.1
    low, high = tstr.details["tstr_ci95"]
    assert 0.5 < low < tstr.value <= high <= 1.0  # 30 test windows: an interval, even at 100 %
    # Labels that carry no information train a classifier that fails on real data.
    swapped = evaluate_windows(
        real, syn, train, RATE, ["A", "B"], real_labels=real_y, synthetic_labels=syn_y[::-1].copy()
    )
    assert swapped.value("tstr") < 0.3
    assert "cross-validation" in swapped.metrics["tstr"].details["trtr_method"]


def test_band_powers_cut_and_skip_at_nyquist() -> None:
    freqs = np.linspace(0, 25, 51)  # rate 50 Hz: Nyquist 25
    flat = np.ones((1, freqs.size))
    result = band_power_errors(freqs, flat, 2 * flat, 50.0, ["Cz"])
    assert set(result.per_channel["Cz"]) == {"delta", "theta", "alpha", "beta"}  # gamma skipped
    assert result.details["bands_hz"]["beta"] == [13.0, 25.0]
    assert result.value == pytest.approx(100.0)  # twice the power everywhere: +100 %


def test_embedding_callable_and_progress_events(data: dict) -> None:
    def channel_means(windows: np.ndarray) -> np.ndarray:
        return windows.std(axis=-1)

    job = evaluate_windows_job(
        data["real"], data["other"], data["train"], RATE, data["names"], embed=channel_means
    )
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            report = done.value
            break
    assert all(isinstance(e, Progress) and e.stage == "evaluate" for e in events)
    assert events[-1].fraction == 1.0 and len(events) >= 5
    frechet = report.metrics["frechet"]
    assert frechet.details["embedding"] == "channel_means" and frechet.details["dimensions"] == 11
    assert frechet.value is not None and frechet.value >= 0


def test_a_stop_request_ends_early_with_what_was_computed(data: dict) -> None:
    stop = threading.Event()
    job = evaluate_windows_job(data["real"], data["other"], data["train"], RATE, data["names"], stop=stop)
    next(job)
    stop.set()
    with pytest.raises(StopIteration) as done:
        while True:
            next(job)
    report = done.value.value
    assert "psd_lsd" in report.metrics and "memorization" not in report.metrics


def test_bad_input_is_refused_with_one_line(data: dict) -> None:
    real, names = data["real"], data["names"]
    with pytest.raises(FormatError, match="synthetic windows are 10 channels"):
        evaluate_windows(real, real[:, :10], real, RATE, names)
    bad = real.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(FormatError, match="NaN"):
        evaluate_windows(real, bad, real, RATE, names)
    with pytest.raises(FormatError, match="channel names"):
        evaluate_windows(real, real, real, RATE, names[:3])
    with pytest.raises(FormatError, match="labels"):
        evaluate_windows(real, real, real, RATE, names, real_labels=["a"], synthetic_labels=["a"])


def test_logistic_regression_is_deterministic_and_separates_three_classes() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["T0", "T1", "T2"]), 40)
    x = rng.standard_normal((120, 12)) + 3.0 * (y[:, None] == np.array(["T0", "T1", "T2"] + [""] * 9))
    a, b = LogisticRegression().fit(x, y), LogisticRegression().fit(x, y)
    assert np.array_equal(a.coef_, b.coef_)
    assert (a.predict(x) == y).mean() > 0.95
    assert np.allclose(a.predict_proba(x).sum(axis=1), 1.0)


def test_the_psd_band_can_be_limited(data: dict) -> None:
    report = evaluate_windows(
        data["real"], data["other"], data["train"], RATE, data["names"], band=(1.0, 40.0)
    )
    assert report.metrics["psd_lsd"].details["band_hz"] == [1.0, 40.0]
    with pytest.raises(FormatError, match="no PSD bin"):
        evaluate_windows(data["real"], data["other"], data["train"], RATE, data["names"], band=(70.0, 90.0))


def test_assess_checks_the_psd_band_against_nyquist() -> None:
    from vqstudio.evaluation.assessment import check_band

    assert check_band(None, 128.0) is None
    assert check_band((0.5, 45), 128.0) == (0.5, 45.0)
    assert check_band((0.5, 1000.0), 128.0) == (0.5, 1000.0)  # cut at Nyquist by psd_distance
    for bad, says in (((64.0, 70.0), "Nyquist"), ((-1.0, 10.0), "0 <= LO < HI"), ((10.0, 10.0), "LO < HI")):
        with pytest.raises(FormatError, match=says):
            check_band(bad, 128.0)
