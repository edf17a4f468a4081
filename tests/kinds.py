"""The five kinds of recordings a new user tried in issue 21, made by the tests (no recording of a
person): a 64-channel EEG, a Sleep-EDF-like PSG (EEG and EOG at a signal rate, respiration, EMG,
temperature and an event marker at a housekeeping rate), a 62 s EEG + ECG whose last 2 s are flat,
an OpenBCI-like BDF (EXG channels with a wandering offset, accelerometer channels) and a CSV.

Each maker writes its file with `vqstudio.io.write_recording` and returns the path.
"""

from __future__ import annotations

import os

import numpy as np

from vqstudio.io import write_recording
from vqstudio.recording import Annotation, Channel, Recording

__all__ = ["KINDS", "eeg64", "eeg_ecg_62s", "openbci_bdf", "psg", "table_csv"]

# eegmmidb-style labels, padded with dots as its EDF files have them.
_ROWS = (
    "Fc5 Fc3 Fc1 Fcz Fc2 Fc4 Fc6 C5 C3 C1 Cz C2 C4 C6 Cp5 Cp3 Cp1 Cpz Cp2 Cp4 Cp6 Fp1 Fpz Fp2 Af7",
    "Af3 Afz Af4 Af8 F7 F5 F3 F1 Fz F2 F4 F6 F8 Ft7 Ft8 T7 T8 T9 T10 Tp7 Tp8 P7 P5 P3 P1 Pz P2 P4",
    "P6 P8 Po7 Po3 Poz Po4 Po8 O1 Oz O2 Iz",
)
_TEN_TEN = [label for row in _ROWS for label in row.split(" ")]


def _eeg(rng: np.random.Generator, n: int, rate: float, alpha: float = 10.0) -> np.ndarray:
    """uV: an alpha rhythm in 1/f-ish noise (a random walk, high-passed by subtracting its trend)."""
    t = np.arange(n) / rate
    walk = np.cumsum(rng.normal(0, 1, n))
    walk -= np.convolve(walk, np.ones(64) / 64, mode="same")
    return 20 * np.sin(2 * np.pi * alpha * t + rng.uniform(0, 6)) + 3 * walk + rng.normal(0, 4, n)


def _ecg(n: int, rate: float, bpm: float = 70.0) -> np.ndarray:
    """mV: narrow R peaks (Gaussian) on a small T wave, at `bpm`."""
    t = np.arange(n) / rate
    phase = (t * bpm / 60) % 1.0
    return 1.2 * np.exp(-(((phase - 0.3) / 0.012) ** 2)) + 0.25 * np.exp(-(((phase - 0.6) / 0.06) ** 2))


def eeg64(folder: str, rate: float = 160.0, seconds: float = 30.0, seed: int = 0) -> str:
    """A 64-channel EEG (EDF+) with 10-10 labels and T0/T1 annotations."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.stack([_eeg(rng, n, rate, 8 + (i % 5)) for i in range(len(_TEN_TEN))])
    notes = [Annotation(float(k), 4.0, "T0" if k % 8 == 0 else "T1") for k in range(0, int(seconds) - 4, 4)]
    rec = Recording.from_array(x, rate, [f"{c}." for c in _TEN_TEN], "uV", annotations=notes)
    path = os.path.join(folder, "eeg64.edf")
    write_recording(rec, path)
    return path


def psg(
    folder: str, rate: float = 100.0, slow_rate: float = 1.0, seconds: float = 600.0, seed: int = 0
) -> str:
    """A Sleep-EDF-like PSG: EEG Fpz-Cz, EEG Pz-Oz and EOG horizontal at `rate`; respiration,
    EMG, rectal temperature and an event marker at `slow_rate`."""
    rng = np.random.default_rng(seed)
    n, m = int(seconds * rate), int(seconds * slow_rate)
    t_slow = np.arange(m) / slow_rate
    eog = 60 * np.sin(2 * np.pi * 0.3 * np.arange(n) / rate) + rng.normal(0, 8, n)
    marker = np.where(rng.random(m) > 0.9, 1000.0, 0.0)
    channels = [
        Channel.from_samples("EEG Fpz-Cz", _eeg(rng, n, rate), rate, "uV"),
        Channel.from_samples("EEG Pz-Oz", _eeg(rng, n, rate, 9.0), rate, "uV"),
        Channel.from_samples("EOG horizontal", eog, rate, "uV"),
        Channel.from_samples(
            "Resp oro-nasal", 300 * np.sin(2 * np.pi * 0.25 * t_slow) + rng.normal(0, 20, m), slow_rate, ""
        ),
        Channel.from_samples("EMG submental", 5 + np.abs(rng.normal(0, 2, m)), slow_rate, "uV"),
        Channel.from_samples(
            "Temp rectal", 36.8 + 0.05 * np.cumsum(rng.normal(0, 0.1, m)), slow_rate, "DegC"
        ),
        Channel.from_samples("Event marker", marker, slow_rate, ""),
    ]
    path = os.path.join(folder, "psg.edf")
    write_recording(Recording(channels, []), path)
    return path


def eeg_ecg_62s(folder: str, rate: float = 256.0, seed: int = 0, name: str = "short") -> str:
    """62 s of six EEG channels and an ECG; the last 2 s are flat on every channel (a lead off)."""
    rng = np.random.default_rng(seed)
    n = int(62 * rate)
    eeg = [_eeg(rng, n, rate, 9 + i % 3) for i in range(6)]
    ecg = _ecg(n, rate) + rng.normal(0, 0.02, n)
    x = np.stack([*eeg, ecg])
    x[:, -int(2 * rate) :] = x[:, -int(2 * rate) - 1 : -int(2 * rate)]  # held at the last value
    labels = ["Fp1", "Fp2", "C3", "C4", "O1", "O2", "ECG"]
    channels = [
        Channel.from_samples(label, row, rate, "mV" if label == "ECG" else "uV")
        for label, row in zip(labels, x, strict=True)
    ]
    path = os.path.join(folder, f"{name}.edf")
    write_recording(Recording(channels, []), path)
    return path


def openbci_bdf(
    folder: str, rate: float = 250.0, accel_rate: float = 25.0, seconds: float = 40.0, seed: int = 0
) -> str:
    """An OpenBCI-like BDF: eight 'EXG Channel N' in uV with a large wandering offset (as the
    Cyton's are before a high-pass) and three 'Accel Channel N' in g at `accel_rate`."""
    rng = np.random.default_rng(seed)
    n, m = int(seconds * rate), int(seconds * accel_rate)
    channels = []
    for i in range(8):
        offset = 40_000 + 2_000 * i + np.cumsum(rng.normal(0, 3, n))
        channels.append(Channel.from_samples(f"EXG Channel {i}", offset + _eeg(rng, n, rate), rate, "uV"))
    for i in range(3):
        g = (1.0 if i == 2 else 0.0) + np.cumsum(rng.normal(0, 0.002, m))
        channels.append(Channel.from_samples(f"Accel Channel {i}", g, accel_rate, "g"))
    path = os.path.join(folder, "openbci.bdf")
    write_recording(Recording(channels, []), path)
    return path


def table_csv(folder: str, rate: float = 250.0, seconds: float = 60.0, seed: int = 0) -> str:
    """A CSV with a time column: two ECG leads low-passed at 40 Hz (nothing above: a near-empty
    gamma band) and a respiration trace."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    sos = butter(6, 40, fs=rate, output="sos")
    lead_ii = sosfiltfilt(sos, _ecg(n, rate) + rng.normal(0, 0.01, n))
    lead_v = sosfiltfilt(sos, 0.7 * _ecg(n, rate, 70.0) + rng.normal(0, 0.01, n))
    resp = np.sin(2 * np.pi * 0.25 * np.arange(n) / rate) + rng.normal(0, 0.01, n)
    rec = Recording.from_array(np.stack([lead_ii, lead_v, resp]), rate, ["II", "V", "Resp"], ["mV", "mV", ""])
    path = os.path.join(folder, "table.csv")
    write_recording(rec, path)
    return path


KINDS = {
    "eeg64": eeg64,
    "psg": psg,
    "eeg_ecg_62s": eeg_ecg_62s,
    "openbci_bdf": openbci_bdf,
    "csv": table_csv,
}
