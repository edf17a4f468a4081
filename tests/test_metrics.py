"""Reconstruction metrics against answers known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from vqstudio.evaluation.reconstruction_metrics import (
    codebook_usage,
    log_spectral_distance_db,
    prd,
    reconstruction_metrics,
    snr_db,
    welch_psd,
)

RATE = 128.0


@pytest.fixture
def batch() -> np.ndarray:
    """(windows, channels, samples): unit-power sines plus an offset, channel 1 in other units."""
    rng = np.random.default_rng(0)
    t = np.arange(512) / RATE
    x = np.sqrt(2) * np.sin(2 * np.pi * (6 + 3 * rng.random((8, 3, 1))) * t + rng.random((8, 3, 1)) * 6)
    x[:, 1] *= 1000.0  # another unit: must not change the relative metrics
    return x + 5.0 * np.array([1, 1000, 1])[None, :, None]


def test_identical_inputs_are_perfect(batch: np.ndarray) -> None:
    assert prd(batch, batch) == 0.0
    assert snr_db(batch, batch) == np.inf
    assert log_spectral_distance_db(batch, batch, RATE) == 0.0


def test_snr_and_prd_for_noise_of_known_power(batch: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    scale = np.array([1, 1000, 1])[None, :, None]
    # Signal power 1 (per channel, after centring); noise power 0.01 -> 20 dB, PRD 10 %.
    y = batch + 0.1 * scale * rng.standard_normal(batch.shape)
    assert snr_db(y, y) == np.inf
    assert snr_db(batch, y) == pytest.approx(20.0, abs=0.3)
    assert prd(batch, y) == pytest.approx(10.0, rel=0.04)
    per = snr_db(batch, y, per_channel=True)
    assert per.shape == (3,) and np.allclose(per, 20.0, atol=0.5)
    # SNR and PRD are two views of the same ratio.
    assert np.allclose(per, -20 * np.log10(prd(batch, y, per_channel=True) / 100))


def test_mean_centring_removes_the_offset_advantage(batch: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    y = batch + 0.1 * rng.standard_normal(batch.shape) * np.array([1, 1000, 1])[None, :, None]
    # Offset 5 on unit power: uncentred energy is 26x larger, PRD sqrt(26) times smaller.
    assert prd(batch, y, mean_centred=False) == pytest.approx(prd(batch, y) / np.sqrt(26), rel=0.05)
    # Predicting only the mean is 100 % PRDN and 0 dB.
    mean_only = np.broadcast_to(batch.mean(axis=-1, keepdims=True), batch.shape)
    assert prd(batch, mean_only) == pytest.approx(100.0)
    assert snr_db(batch, mean_only) == pytest.approx(0.0, abs=1e-9)


def test_lsd_of_a_uniform_gain_is_the_gain_in_db() -> None:
    batch = np.random.default_rng(5).standard_normal((3, 2, 512))
    # Scaling amplitude by 2 multiplies power by 4: every bin differs by 6.02 dB.
    assert log_spectral_distance_db(batch, 2 * batch, RATE) == pytest.approx(20 * np.log10(2), abs=1e-6)
    # Restricting the band changes nothing for a uniform gain; an empty band is refused.
    assert log_spectral_distance_db(batch, 2 * batch, RATE, band=(4, 20)) == pytest.approx(6.0206, abs=1e-3)
    with pytest.raises(ValueError, match="no Welch frequency bin"):
        log_spectral_distance_db(batch, batch, RATE, band=(200, 300))


def test_lsd_sees_a_lost_band_prd_barely_does() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 1024))
    spec = np.fft.rfft(x, axis=-1)
    freqs = np.fft.rfftfreq(1024, 1 / RATE)
    spec[..., freqs > 50] *= 0.01  # keep everything below 50 Hz, lose 14 Hz of 64 (-40 dB)
    y = np.fft.irfft(spec, 1024, axis=-1)
    band_share = (freqs > 50).mean()
    lsd = log_spectral_distance_db(x, y, RATE)
    # About 22 % of the bins are 40 dB off: sqrt(0.22 * 40^2) ~ 19 dB.
    assert lsd == pytest.approx(np.sqrt(band_share) * 40, rel=0.15)
    assert log_spectral_distance_db(x, y, RATE, band=(1, 45)) < 0.5


def test_shapes_and_errors() -> None:
    x = np.random.default_rng(4).standard_normal(256)
    assert prd(x, 0.5 * x, mean_centred=False) == pytest.approx(50.0)
    freqs, p = welch_psd(np.zeros((2, 3, 512)), RATE)
    assert p.shape == (2, 3, freqs.size) and freqs[1] == pytest.approx(0.5)  # 2 s segments
    with pytest.raises(ValueError, match="shapes differ"):
        prd(np.zeros((2, 10)), np.zeros((3, 10)))
    metrics = reconstruction_metrics(x[None], x[None] * 0.9, RATE)
    assert set(metrics) == {"prd_percent", "snr_db", "lsd_db"}
    assert metrics["snr_db"] == pytest.approx(20.0, abs=0.5)


def test_codebook_usage_known_answers() -> None:
    uniform = codebook_usage(np.full(64, 10))
    assert uniform["perplexity"] == pytest.approx(64.0)
    assert uniform["usage_fraction"] == 1.0 and uniform["dead_codes"] == 0
    one = codebook_usage(np.eye(16)[3] * 100)
    assert one["perplexity"] == pytest.approx(1.0) and one["dead_codes"] == 15
    half = np.r_[np.full(8, 5), np.zeros(8)]
    usage = codebook_usage(np.stack([half, half]))  # leading axes are summed
    assert usage["perplexity"] == pytest.approx(8.0) and usage["usage_fraction"] == 0.5
    assert usage["codebook_size"] == 16 and usage["perplexity_fraction"] == pytest.approx(0.5)
    assert codebook_usage(np.zeros(4))["perplexity"] == 0.0
    assert codebook_usage(np.array([1, 1, 5, 5]), dead_below=2)["dead_codes"] == 2
    with pytest.raises(ValueError):
        codebook_usage(np.array([-1, 2]))


def test_an_empty_stop_band_does_not_dominate_the_lsd() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 2, 1024))
    spec = np.fft.rfft(x, axis=-1)
    spec[..., np.fft.rfftfreq(1024, 1 / RATE) > 40] *= 1e-6  # a low-pass: stop band 120 dB down
    x = np.fft.irfft(spec, 1024, axis=-1)
    y = x + 1e-4 * rng.standard_normal(x.shape)  # error 80 dB below the signal, everywhere
    # Every stop-band bin differs by ~40 dB, but all of it lies > 60 dB below the peak.
    assert log_spectral_distance_db(x, y, RATE) < 0.5
    assert log_spectral_distance_db(x, y, RATE, band=(1, 38)) < 0.01


@pytest.mark.parametrize("part", [97, 1000, 4096, 10_000])
def test_streamed_reconstruction_metrics_equal_the_whole_array(part):
    """Fed in parts of any size, the streamed figures are those of the whole array."""
    from vqstudio.evaluation.reconstruction_metrics import (
        StreamedReconstructionMetrics,
        reconstruction_metrics,
    )

    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(3, 9000)), axis=1)
    y = x + rng.normal(0, 0.5, x.shape)
    streamed = StreamedReconstructionMetrics(3, 128.0, x.shape[1])
    for a in range(0, x.shape[1], part):
        streamed.add(x[:, a : a + part], y[:, a : a + part])
    got, want = streamed.result(), reconstruction_metrics(x, y, 128.0)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
