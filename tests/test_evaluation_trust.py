"""An evaluation the user can trust: the CNN discriminator's chance level and ceiling, the
calibrated memorization verdict (held-out never flags; copies and shifted copies always do; too
little held-out data says so), flat stretches kept out, and the comparison table's cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from vqstudio.data.flat import flat_mask, flat_windows
from vqstudio.evaluation import evaluate_windows
from vqstudio.evaluation.cnn import blocked_folds, cnn_accuracy
from vqstudio.evaluation.memorization import NOT_ENOUGH
from vqstudio.evaluation.metrics import memorization
from vqstudio.evaluation.table import comparison_rows, format_table

RATE = 128.0
WINDOW = 256


def _ar_signal(rng: np.random.Generator, channels: int, samples: int) -> np.ndarray:
    """A stationary AR(2) process (a damped 13 Hz resonance at 128 Hz) with correlated channels."""
    e = rng.standard_normal((channels, samples + 500))
    e[1:] += 0.6 * e[:1]
    return lfilter([1.0], [1.0, -1.2, 0.8], e, axis=1)[:, 500:] * 20.0


def _windows(x: np.ndarray, hop: int = WINDOW) -> np.ndarray:
    starts = range(0, x.shape[1] - WINDOW + 1, hop)
    return np.stack([x[:, a : a + WINDOW] for a in starts]).astype(np.float32)


@pytest.fixture(scope="module")
def process() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    train = _ar_signal(rng, 3, 200 * WINDOW)
    held = _ar_signal(rng, 3, 60 * WINDOW)
    return {"train": train, "held": held, "rng_seed": np.array(3)}


def test_blocked_folds_are_contiguous() -> None:
    folds = blocked_folds(10, 4)
    assert list(folds) == sorted(folds) and set(folds) == {0, 1, 2, 3}


def test_cnn_is_at_chance_on_one_stationary_process_and_certain_on_white_noise(process) -> None:
    windows = _windows(process["held"], WINDOW // 2)  # overlapping, as the evaluation cuts them
    half = len(windows) // 2
    first, second = windows[:half], windows[half + 1 :]
    same = cnn_accuracy(first, second, seed=0)
    low, high = same.ci95
    assert 0.35 <= same.accuracy <= 0.65 and low < 0.5 < high, same
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(second.shape) * second.std()).astype(np.float32)
    different = cnn_accuracy(first, noise, seed=0)
    assert different.accuracy >= 0.95, different
    assert cnn_accuracy(first, second, seed=0).accuracy == same.accuracy  # deterministic
    assert same.seconds < 60


def test_memorization_never_flags_held_out_data(process) -> None:
    rng = np.random.default_rng(0)
    held = _windows(process["held"], WINDOW // 2)
    half = len(held) // 2
    for seed in range(3):
        rng = np.random.default_rng(seed)
        result, _, _ = memorization(
            held[:half], held[half + 1 :], held[:2], rng, train_signal=process["train"]
        )
        assert result.details["verdict"] == "no", result.details


def test_memorization_flags_copies_and_time_shifted_copies(process) -> None:
    train = process["train"]
    held = _windows(process["held"], WINDOW // 2)
    rng = np.random.default_rng(1)
    copies = _windows(train[:, : 20 * WINDOW])
    # Shifted by arbitrary numbers of samples: none of them starts where a training window does.
    offsets = rng.integers(0, train.shape[1] - WINDOW, 20) | 1
    shifted = np.stack([train[:, a : a + WINDOW] for a in offsets]).astype(np.float32)
    for synthetic in (copies, shifted, np.concatenate([shifted[:6], held[-14:]])):
        result, d_syn, _ = memorization(held[:40], synthetic, copies, rng, train_signal=train)
        assert result.details["verdict"] == "yes", result.details
        assert d_syn.min() < 0.05


def test_memorization_says_when_there_is_too_little_held_out_data(process) -> None:
    held = _windows(process["held"])
    rng = np.random.default_rng(2)
    result, _, _ = memorization(held[:4], held[10:30], held[:2], rng, train_signal=process["train"])
    assert result.details["verdict"] == NOT_ENOUGH and not result.details["flag"]
    assert "held-out" in result.details["reason"]
    report = evaluate_windows(held[:4], held[10:30], _windows(process["train"]), RATE, ["A", "B", "C"])
    assert report.memorization_verdict == NOT_ENOUGH and not report.memorization_flag
    rows = dict((t, v) for t, v, _ in report.summary_rows())
    assert rows["Memorization flag"] == NOT_ENOUGH


def test_flat_detector_finds_a_constant_stretch_at_a_large_offset() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4000)) * 30.0
    x[1, 1000:1300] = -187500.0  # a channel pinned at a huge constant (float32-exact)
    mask = flat_mask(x.astype(np.float32), 160.0)
    assert mask[1, 1000:1300].all() and mask[1].sum() <= 302 and not mask[0].any()
    y = np.clip(rng.standard_normal(4000) * 30.0 + np.r_[np.zeros(2000), np.full(2000, 200.0)], None, 150.0)
    assert flat_mask(y, 160.0).sum() > 500  # saturated at its rail for most of the second half
    assert not flat_mask(rng.standard_normal(4000), 160.0).any()


def test_flat_windows_are_left_out_of_the_evaluation_and_counted(process) -> None:
    held = _windows(process["held"])
    real = held[:30].copy()
    real[[3, 7], 1, 40:200] = -187500.0
    synthetic = held[30:].copy()
    synthetic[5, 0] = synthetic[5, 0, 0]  # a whole flat channel
    assert flat_windows(real, RATE).sum() == 2
    report = evaluate_windows(real, synthetic, _windows(process["train"]), RATE, ["A", "B", "C"])
    assert report.excluded_flat == {"real": 2, "synthetic": 1, "train": 0}
    assert report.n_real == 28 and report.n_synthetic == len(synthetic) - 1
    assert report.to_dict()["excluded_flat"]["real"] == 2
    # The stretch at -187500 would otherwise dominate every amplitude figure.
    assert report.value("wasserstein") < 1.0


def test_comparison_table_reads_without_the_docs(process) -> None:
    held = _windows(process["held"])
    report = evaluate_windows(held[:30], held[30:], _windows(process["train"]), RATE, ["A", "B", "C"])
    assessment = report.to_dict()
    assessment["references"] = {"held_out_half": report.to_dict()}
    assessment["reference_notes"] = {"reconstruction": "the project has no trained tokenizer yet"}
    columns, rows = comparison_rows(assessment)
    assert columns == ["synthetic", "held-out real", "reconstruction", "surrogate"]
    by_key = {r.key: r for r in rows}
    cnn = by_key["cnn_accuracy"]
    assert "50 % = indistinguishable" in cnn.tooltip and cnn.definition in cnn.tooltip
    assert cnn.cells[0].text.endswith("]") and "%" in cnn.cells[0].text  # accuracy [interval]
    assert by_key["psd_lsd"].direction == "lower is better"
    assert by_key["tstr"].cells[0].text == "n/a" and "labels" in by_key["tstr"].cells[0].note
    assert by_key["psd_lsd"].cells[2].note == "the project has no trained tokenizer yet"
    assert "references were not asked for" in by_key["psd_lsd"].cells[3].note
    assert by_key["memorization_verdict"].cells[0].text == "no"
    text = format_table(columns, rows)
    assert "n/a[1]" in text and "[1] n/a:" in text and "held-out real" in text


def test_a_training_signal_too_long_to_search_whole_is_searched_in_a_seeded_selection(tmp_path, monkeypatch):
    """A streamed project's hours: the memorization check reads a bounded random selection of
    stretches from the cache on disk, the same for the same seed, and says how much it searched."""
    from types import SimpleNamespace

    from vqstudio.evaluation import assessment

    channels, window = 4, 50
    data = np.lib.format.open_memmap(tmp_path / "train.npy", "w+", np.float32, (channels, 400_000))
    data[:] = np.arange(400_000, dtype=np.float32)[None] / 1000.0  # every stretch its own values
    data.flush()
    train = np.load(tmp_path / "train.npy", mmap_mode="r")
    prepared = SimpleNamespace(
        train=SimpleNamespace(data=train), window=window, rate=100.0, physical=lambda x: 2.0 * x + 1.0
    )
    whole, said = assessment._searched_signal(prepared, np.random.default_rng(0))
    assert said == "" and whole.shape == (channels, 400_000) and whole[0, 10] == 2.0 * 0.01 + 1.0
    monkeypatch.setattr(assessment, "MAX_SEARCHED", 100_000)
    part, said = assessment._searched_signal(prepared, np.random.default_rng(0))
    block = assessment.SEARCH_BLOCK_WINDOWS * window
    assert part.shape == (channels, (100_000 // (channels * block)) * block)  # within the bound
    assert channels * part.shape[1] <= 100_000
    starts = (part[0, ::block] - 1.0) / 2.0 * 1000.0  # where each stretch began in the signal
    assert np.all(np.diff(starts) > 0) and np.allclose(starts % block, 0)  # whole stretches, in order
    again, _ = assessment._searched_signal(prepared, np.random.default_rng(0))
    assert np.array_equal(part, again)
    assert said.startswith("the memorization check searches 0.0") and "of the 1.11 h" in said
    assert "a copy of the rest is not looked for" in said
