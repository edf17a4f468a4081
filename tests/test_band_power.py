"""The band-power error is honest about bands the real signal barely has (issue 21, item 8): a CSV
report read 4836 % because a respiration trace holds almost no power in the EEG bands above
delta, and a relative error of almost nothing is enormous and meaningless."""

from __future__ import annotations

import numpy as np

from tests import kinds
from vqstudio.evaluation import metrics as m
from vqstudio.io import read_recording


def test_bands_without_real_power_are_not_scored(tmp_path):
    rec = read_recording(kinds.table_csv(str(tmp_path)))
    x, rate, w = rec.to_array(), 250.0, 1000
    real = np.stack([x[:, a : a + w] for a in range(0, x.shape[1] - w, w // 2)]).astype(np.float32)
    synthetic = real + np.random.default_rng(0).normal(0, 0.05, real.shape).astype(np.float32)
    freqs, p_real = m.mean_psd(real, rate)
    _, p_syn = m.mean_psd(synthetic, rate)
    result = m.band_power_errors(freqs, p_real, p_syn, rate, ["II", "V", "Resp"])
    assert result.details["not_scored"] == {"Resp": ["theta", "alpha", "beta", "gamma"]}
    assert result.per_channel["Resp"]["theta"] is None and abs(result.per_channel["Resp"]["delta"]) < 5
    # The ECG's gamma band holds its 30-40 Hz: scored, and the added noise shows there.
    assert result.per_channel["II"]["gamma"] > 50
    assert result.value < 100  # it was hundreds of % from the respiration's empty bands
    assert "1 % of the channel's real power" in result.definition


def test_no_band_scored_says_why():
    freqs = np.linspace(0, 32, 65)
    p = np.zeros((1, 65))
    p[0, 0] = 1.0  # all the power below 0.5 Hz
    result = m.band_power_errors(freqs, p, p * 2, 64.0, ["Resp"])
    assert result.value is None and "no band holds 1 %" in result.details["skipped"]
