"""The built-in demo recording: SIMULATED EEG and ECG, made by this module, not measured.

VQ Studio may not ship recordings it did not make, so the demo is synthesised here from a
seed. Nothing in it comes from a person. What it contains (see `simulate`):

- 10 scalp EEG channels (Fp1, Fp2, F3, F4, C3, C4, P3, P4, O1, O2; uV): a 1/f ("pink-ish")
  background, spatially correlated by a Gaussian kernel of the distance between approximate
  10-20 electrode positions, about 12 uV RMS; alpha activity (one narrowband process per
  hemisphere, peak near 10 Hz) strongest on O1/O2, weaker on P3/P4 and faint frontally,
  waxing and waning on its own and about three times stronger while the eyes are closed;
  eye blinks (about 150-250 uV on Fp1/Fp2, fast rise and slower fall, attenuated with distance
  from the eyes) only while the eyes are open.
- 1 ECG channel (lead-II-like, mV): each beat a sum of five Gaussian waves P, Q, R, S, T as in
  McSharry et al.'s ECGSYN (IEEE TBME 2003), placed at R peaks obtained by integrating an
  instantaneous heart rate with heart-rate variability: a Mayer-wave (LF, about 0.1 Hz)
  component and a respiratory sinus arrhythmia (HF, the breathing frequency, about 0.25 Hz);
  the T wave moves with the RR interval (Bazett), breathing also modulates the R amplitude
  and adds baseline wander.
- Annotations: alternating "eyes open" / "eyes closed" stretches (25-45 s each) and one
  zero-duration "blink" marker at each blink peak.

Every channel is band-limited in the frequency domain by zero-phase Butterworth magnitude
responses that match its `prefilter` field. Same arguments, same arrays (numpy's PCG64).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from vqstudio.recording import Annotation, Channel, Recording, Source

__all__ = ["DEMO_DESCRIPTION", "EEG_LABELS", "simulate"]

DEMO_DESCRIPTION = (
    "The built-in demo is a simulated recording made by VQ Studio itself (no person was "
    "recorded): 5 minutes at 256 Hz of 10 scalp EEG channels (Fp1 to O2, in uV) and one ECG "
    "channel (mV). The EEG has a spatially correlated 1/f background, alpha bursts near 10 Hz "
    "over the back of the head that grow when the eyes are closed, and large slow eye blinks on "
    "the frontal channels; the ECG has P-QRS-T beats with a realistic shape and a heart rate "
    "that varies with breathing and slower rhythms. Annotations mark the eyes-open and "
    "eyes-closed stretches and each blink, so it can also be used to try conditional generation."
)

EEG_LABELS = ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2")

# Approximate 10-20 positions on a unit disc seen from above (x: left-right, y: back-front).
_POSITIONS = np.array(
    [
        (-0.31, 0.95),
        (0.31, 0.95),
        (-0.42, 0.52),
        (0.42, 0.52),
        (-0.55, 0.0),
        (0.55, 0.0),
        (-0.42, -0.52),
        (0.42, -0.52),
        (-0.31, -0.95),
        (0.31, -0.95),
    ]
)
# Share of the alpha source each channel sees (posterior dominant) and its hemisphere.
_ALPHA_GAIN = np.array([0.08, 0.08, 0.15, 0.15, 0.35, 0.35, 0.7, 0.7, 1.0, 1.0])
_LEFT = np.array([True, False] * 5)
# Share of the blink potential each channel sees (falls off with distance from the eyes).
_BLINK_GAIN = np.array([1.0, 1.0, 0.45, 0.45, 0.15, 0.15, 0.06, 0.06, 0.03, 0.03])


@dataclass(frozen=True)
class _Wave:
    """One ECGSYN-style Gaussian: offset from the R peak (s, at RR = 1 s), width (s), height (mV)."""

    offset: float
    width: float
    height: float
    scales_with_rr: bool  # the T wave follows the QT interval, which grows with sqrt(RR)


_ECG_WAVES = (
    _Wave(-0.20, 0.025, 0.12, False),  # P
    _Wave(-0.035, 0.010, -0.12, False),  # Q
    _Wave(0.0, 0.011, 1.10, False),  # R
    _Wave(0.035, 0.011, -0.25, False),  # S
    _Wave(0.30, 0.055, 0.30, True),  # T
)


def _narrowband(rng: np.random.Generator, n: int, rate: float, centre: float, width: float) -> np.ndarray:
    """Gaussian noise whose spectrum is a Gaussian bump at `centre` Hz: an oscillation that
    waxes and wanes on a time scale of about 1/width seconds. Unit standard deviation."""
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spectrum *= np.exp(-0.5 * ((freqs - centre) / width) ** 2)
    x = np.fft.irfft(spectrum, n)
    return x / max(float(x.std()), 1e-12)


def _butterworth_gain(freqs: np.ndarray, high_pass: float, low_pass: float, order: int = 2) -> np.ndarray:
    """Magnitude of a Butterworth high-pass times low-pass; applied with zero phase."""
    f = np.maximum(freqs, 1e-9)
    hp = 1.0 / np.sqrt(1.0 + (high_pass / f) ** (2 * order))
    lp = 1.0 / np.sqrt(1.0 + (f / low_pass) ** (2 * order))
    gain = hp * lp
    gain[freqs == 0] = 0.0
    return gain


def _filter(x: np.ndarray, rate: float, high_pass: float, low_pass: float) -> np.ndarray:
    n = x.shape[-1]
    gain = _butterworth_gain(np.fft.rfftfreq(n, 1.0 / rate), high_pass, low_pass)
    return np.fft.irfft(np.fft.rfft(x, axis=-1) * gain, n, axis=-1)


def _eye_states(rng: np.random.Generator, seconds: float) -> list[tuple[float, float, bool]]:
    """Alternating (start, stop, eyes_closed) stretches of 25-45 s, starting with eyes open."""
    stretches, t, closed = [], 0.0, False
    while t < seconds:
        stop = min(seconds, t + float(rng.uniform(25.0, 45.0)))
        stretches.append((t, stop, closed))
        t, closed = stop, not closed
    return stretches


def _closed_envelope(stretches: list[tuple[float, float, bool]], t: np.ndarray) -> np.ndarray:
    """1 while the eyes are closed, 0 while open, with 1 s logistic transitions."""
    env = np.zeros_like(t)
    for start, stop, closed in stretches:
        if closed:
            env += expit((t - start) / 0.2) - expit((t - stop) / 0.2)
    return np.clip(env, 0.0, 1.0)


def _background(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Spatially correlated 1/f background, (channels, n), unit RMS per channel before scaling."""
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    # Power ~ 1/(f^2 + knee^2)^(beta/2): 1/f^beta above the knee, flat below (finite variance).
    beta, knee = 1.8, 1.0
    amplitude = (freqs**2 + knee**2) ** (-beta / 4.0)
    sources = []
    for _ in range(len(EEG_LABELS)):
        spec = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * amplitude
        s = np.fft.irfft(spec, n)
        sources.append(s / s.std())
    dist2 = ((_POSITIONS[:, None, :] - _POSITIONS[None, :, :]) ** 2).sum(-1)
    cov = np.exp(-dist2 / (2 * 0.45**2)) + 0.08 * np.eye(len(EEG_LABELS))
    cov /= np.sqrt(np.outer(np.diag(cov), np.diag(cov)))  # unit variance per channel
    return np.linalg.cholesky(cov) @ np.asarray(sources)


def _blinks(
    rng: np.random.Generator, stretches: list[tuple[float, float, bool]], n: int, rate: float
) -> tuple[np.ndarray, list[float]]:
    """Blink potential at the eyes (uV, length n) and blink peak times: eyes open only."""
    trace = np.zeros(n)
    peaks: list[float] = []
    for start, stop, closed in stretches:
        if closed:
            continue
        t = start + float(rng.exponential(3.5))
        while t < stop - 1.0:
            if t > 0.5:
                peaks.append(t)
            t += 1.2 + float(rng.exponential(3.0))
    # Fast rise (~0.1 s), slower fall (~0.25 s): a gamma-like pulse normalised to peak 1.
    for peak in peaks:
        height = float(rng.uniform(150.0, 250.0))
        lo, hi = max(0, int((peak - 0.4) * rate)), min(n, int((peak + 0.8) * rate))
        tt = np.arange(lo, hi) / rate - (peak - 0.12)
        pulse = np.where(tt > 0, (tt / 0.12) ** 2 * np.exp(2.0 * (1.0 - tt / 0.12)), 0.0)
        trace[lo:hi] += height * pulse
    return trace, peaks


def _ecg(rng: np.random.Generator, n: int, rate: float, respiration: np.ndarray) -> np.ndarray:
    """Lead-II-like ECG in mV, length n, with LF and HF (respiratory) heart-rate variability."""
    pad = int(2 * rate)  # beats just outside the recording still leave their P or T wave in it
    m = n + 2 * pad
    resp = np.pad(respiration, pad, mode="edge")
    mean_hr = float(rng.uniform(62.0, 74.0))
    lf = _narrowband(rng, m, rate, 0.1, 0.01)
    hr = mean_hr + 2.5 * lf + 2.0 * resp  # bpm; heart rate rises with inspiration (RSA)
    phase = float(rng.uniform()) + np.cumsum(hr / 60.0) / rate
    beat = np.floor(phase)
    crossings = np.nonzero(np.diff(beat) > 0)[0]
    # Interpolate each integer crossing of the phase to a sub-sample R-peak time.
    frac = (beat[crossings + 1] - phase[crossings]) / (phase[crossings + 1] - phase[crossings])
    r_times = (crossings + frac) / rate - pad / rate
    rr = np.diff(r_times, prepend=r_times[0] - 60.0 / mean_hr)
    r_amp = 1.0 + 0.06 * resp[np.clip((r_times * rate).astype(int) + pad, 0, m - 1)]
    r_amp *= 1.0 + 0.02 * rng.standard_normal(r_times.size)

    t = np.arange(n) / rate
    # Each sample gets the waves of the beat before it and the beat after it; at heart rates
    # below ~120 bpm no third beat reaches it.
    nxt = np.clip(np.searchsorted(r_times, t), 1, r_times.size - 1)
    ecg = np.zeros(n)
    for k in (nxt - 1, nxt):
        dt = t - r_times[k]
        for w in _ECG_WAVES:
            offset = w.offset * np.sqrt(rr[k]) if w.scales_with_rr else w.offset
            ecg += w.height * r_amp[k] * np.exp(-0.5 * ((dt - offset) / w.width) ** 2)
    ecg += 0.05 * respiration  # baseline wander with breathing
    ecg += 0.008 * rng.standard_normal(n)  # electrode and muscle noise
    return ecg


def _range_with_headroom(x: np.ndarray, headroom: float = 0.1) -> tuple[float, float]:
    """Data range widened by `headroom` of its span each side, rounded outward to a round step."""
    lo, hi = float(x.min()), float(x.max())
    span = max(hi - lo, 1e-6)
    step = 10.0 ** np.floor(np.log10(span)) / 10.0
    lo, hi = lo - headroom * span, hi + headroom * span
    return float(np.floor(lo / step) * step), float(np.ceil(hi / step) * step)


def simulate(seconds: float = 300.0, rate: float = 256.0, seed: int = 0) -> Recording:
    """A SIMULATED recording: 10 EEG channels (uV) and one ECG channel (mV) at `rate` Hz.

    See the module docstring for what it contains. Deterministic: the same arguments give the
    same arrays. Physical ranges are the data's with 10 % headroom, rounded outward.
    """
    if seconds <= 0 or rate < 64:
        raise ValueError(f"simulate needs seconds > 0 and rate >= 64 Hz (got {seconds}, {rate})")
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    stretches = _eye_states(rng, n / rate)
    closed = _closed_envelope(stretches, t)

    eeg = 12.0 * _background(rng, n, rate)
    alpha_freq = float(rng.uniform(9.5, 10.5))
    common = _narrowband(rng, n, rate, alpha_freq, 0.6)
    left = 0.7 * common + 0.3 * _narrowband(rng, n, rate, alpha_freq, 0.6)
    right = 0.7 * common + 0.3 * _narrowband(rng, n, rate, alpha_freq, 0.6)
    alpha_gain = 6.0 + 14.0 * closed  # uV RMS at O1/O2: eyes open vs closed
    eeg += _ALPHA_GAIN[:, None] * np.where(_LEFT[:, None], left, right) * alpha_gain
    blink, blink_peaks = _blinks(rng, stretches, n, rate)
    eeg += _BLINK_GAIN[:, None] * blink
    eeg_lp = min(70.0, 0.4 * rate)
    eeg = _filter(eeg, rate, 0.16, eeg_lp)

    respiration = _narrowband(rng, n, rate, float(rng.uniform(0.22, 0.28)), 0.01)
    ecg_lp = min(100.0, 0.4 * rate)
    ecg = _filter(_ecg(rng, n, rate, respiration), rate, 0.05, ecg_lp)

    channels = [
        Channel.from_samples(
            label,
            row,
            rate,
            "uV",
            _range_with_headroom(row),
            transducer="AgAgCl cup electrode (simulated)",
            prefilter=f"HP:0.16Hz LP:{eeg_lp:g}Hz",
        )
        for label, row in zip(EEG_LABELS, eeg, strict=True)
    ]
    channels.append(
        Channel.from_samples(
            "ECG",
            ecg,
            rate,
            "mV",
            _range_with_headroom(ecg),
            transducer="AgAgCl electrode, lead II (simulated)",
            prefilter=f"HP:0.05Hz LP:{ecg_lp:g}Hz",
        )
    )
    annotations = [
        Annotation(round(start, 3), round(stop - start, 3), "eyes closed" if shut else "eyes open")
        for start, stop, shut in stretches
    ]
    annotations += [Annotation(round(p, 3), 0.0, "blink") for p in blink_peaks]
    annotations.sort(key=lambda a: (a.onset, a.text))
    return Recording(
        channels=channels,
        annotations=annotations,
        source=Source("<built-in demo>", "simulated"),
        recording_info="VQ Studio built-in demo (simulated)",
    )


def demo_file(folder: str, seconds: float = 300.0, rate: float = 256.0, seed: int = 0) -> str:
    """The demo recording as an EDF+ file in `folder`, written (atomically) unless already there.

    A project trained on a file can be reopened, resumed and evaluated later (its held-out
    split is re-read from the file); one trained on an in-memory recording cannot.
    """
    from vqstudio.io import write_recording

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"vqstudio-demo-{seconds:g}s-{rate:g}Hz-seed{seed}.edf")
    if not os.path.isfile(path):
        write_recording(simulate(seconds, rate, seed), path)
    return path
