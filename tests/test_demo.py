"""The built-in demo recording: deterministic, plausible EEG and ECG physiology."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from scipy.signal import find_peaks, welch

from vqstudio.data.simulate import DEMO_DESCRIPTION, EEG_LABELS, simulate
from vqstudio.recording import Recording


@pytest.fixture(scope="module")
def demo() -> Recording:
    return simulate()


def _band_power(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    f, p = welch(x, fs=rate, nperseg=int(2 * rate))
    return float(p[(f >= lo) & (f <= hi)].sum() * (f[1] - f[0]))


def test_same_seed_same_arrays_other_seed_other_arrays() -> None:
    a, b, c = simulate(20.0, seed=3), simulate(20.0, seed=3), simulate(20.0, seed=4)
    assert np.array_equal(a.to_array(), b.to_array())
    assert a.annotations == b.annotations
    assert not np.allclose(a.to_array(), c.to_array())


def test_shape_rates_units_and_header_fields(demo: Recording) -> None:
    assert demo.labels == [*EEG_LABELS, "ECG"]
    assert all(c.rate == 256.0 for c in demo.channels)
    assert all(c.n_samples == 300 * 256 for c in demo.channels)
    assert [c.unit for c in demo.channels] == ["uV"] * 10 + ["mV"]
    assert demo.source is not None and demo.source.format == "simulated"
    assert demo.source.path == "<built-in demo>"
    assert "simulated" in DEMO_DESCRIPTION
    for c in demo.channels:
        x = c.samples
        assert x.dtype == np.float32 and np.isfinite(x).all()
        # The range holds every sample with headroom on both sides.
        assert c.physical_min < x.min() and x.max() < c.physical_max
        assert c.prefilter.startswith("HP:") and c.transducer
    # EEG amplitudes of tens of uV; ECG R peaks around 1 mV.
    eeg_rms = demo.to_array(list(EEG_LABELS)).std(axis=1)
    assert ((eeg_rms > 5) & (eeg_rms < 60)).all(), eeg_rms
    ecg = demo.channel("ECG").samples
    assert 0.5 < ecg.max() < 2.5


def test_annotations_mark_eye_states_and_blinks(demo: Recording) -> None:
    texts = {a.text for a in demo.annotations}
    assert {"eyes open", "eyes closed", "blink"} <= texts
    stretches = [a for a in demo.annotations if a.text.startswith("eyes")]
    assert sum(a.duration for a in stretches) == pytest.approx(300.0, abs=0.01)
    assert sum(a.text == "blink" for a in demo.annotations) >= 10


def test_alpha_is_posterior_and_stronger_with_eyes_closed(demo: Recording) -> None:
    rate = 256.0
    for name in ("O1", "O2"):
        x = demo.channel(name).samples
        f, p = welch(x, fs=rate, nperseg=512)
        above_4 = f >= 4
        peak = f[above_4][np.argmax(p[above_4])]
        assert 8.0 <= peak <= 12.0, (name, peak)
        assert _band_power(x, rate, 8, 12) > 5 * _band_power(demo.channel("Fp1").samples, rate, 8, 12)
    o1 = demo.channel("O1").samples
    closed = [a for a in demo.annotations if a.text == "eyes closed"]
    opened = [a for a in demo.annotations if a.text == "eyes open"]

    def alpha_in(stretches: list) -> float:
        parts = [o1[int((a.onset + 2) * rate) : int((a.end - 2) * rate)] for a in stretches]
        return float(np.mean([_band_power(s, rate, 8, 12) for s in parts if s.size > 4 * rate]))

    assert alpha_in(closed) > 2 * alpha_in(opened)


def test_blinks_are_frontal(demo: Recording) -> None:
    rate = 256
    fp1, o1 = demo.channel("Fp1").samples, demo.channel("O1").samples
    peaks = [round(a.onset * rate) for a in demo.annotations if a.text == "blink"]
    fp1_at = np.array([fp1[p] - np.median(fp1[p - rate : p - rate // 2]) for p in peaks])
    o1_at = np.array([o1[p] - np.median(o1[p - rate : p - rate // 2]) for p in peaks])
    assert np.median(fp1_at) > 100.0  # uV above the preceding baseline
    assert np.median(np.abs(fp1_at)) > 5 * np.median(np.abs(o1_at))


def test_ecg_heart_rate_and_variability(demo: Recording) -> None:
    rate = 256.0
    ecg = demo.channel("ECG").samples
    peaks, _ = find_peaks(ecg, height=0.5 * ecg.max(), distance=int(0.3 * rate))
    rr = np.diff(peaks) / rate
    heart_rate = 60.0 / rr.mean()
    assert 50.0 < heart_rate < 90.0
    assert rr.size > 200
    sdnn_ms = 1000 * rr.std()
    assert 10.0 < sdnn_ms < 150.0  # nonzero, but a resting adult's, not noise
    # Beat shape: a negative S wave follows each R peak within 60 ms.
    s_depth = np.array([ecg[p : p + int(0.06 * rate)].min() for p in peaks[1:-1]])
    assert np.median(s_depth) < -0.1


def test_five_minutes_is_fast() -> None:
    simulate(10.0)  # warm-up (first-call imports)
    # CPU time, not wall time: the test machine is shared, and load must not fail this test.
    start = time.process_time()
    simulate()
    assert time.process_time() - start < 1.0


def test_demo_file_is_written_once_and_reads_back(tmp_path):
    from vqstudio.data.simulate import demo_file
    from vqstudio.io import read_recording

    path = demo_file(str(tmp_path / "data"), seconds=20)
    stamp = os.path.getmtime(path)
    assert demo_file(str(tmp_path / "data"), seconds=20) == path
    assert os.path.getmtime(path) == stamp
    rec = read_recording(path)
    assert rec.labels == simulate(seconds=20).labels
    assert abs(rec.duration - 20) < 1e-6
