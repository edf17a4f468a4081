"""A simulated 19-channel 10-20 EEG for the montage, spectrum and scalp-map tests (no person).

Labels as clinical systems write them ('EEG Fp1-REF', with the old T3/T4/T5/T6 names), a
spatially smooth 1/f-like background, an alpha rhythm strongest over the back of the head,
blinks at the front, and an ECG lead in mV that no montage or map may use.
"""

from __future__ import annotations

import numpy as np

from ui.view_positions import POSITIONS, electrode_name
from vqstudio.recording import Annotation, Channel, Recording

__all__ = ["ELECTRODES", "make_1020"]

ELECTRODES = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz",
    "C4", "T4", "T5", "P3", "Pz", "P4", "T6", "O1", "O2",
)  # fmt: skip


def _smooth_noise(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Brownian-ish noise, high-passed by a leaky sum: more power at low frequencies."""
    white = rng.standard_normal(n)
    out = np.empty(n)
    acc = 0.0
    for k in range(n):  # a leaky integrator (a 1 Hz corner) keeps it from wandering off
        acc = acc * (1 - 2 * np.pi * 1.0 / rate) + white[k]
        out[k] = acc
    return out / out.std()


def make_1020(
    seconds: float = 30.0,
    rate: float = 200.0,
    seed: int = 0,
    electrodes: tuple[str, ...] = ELECTRODES,
    ecg: bool = True,
) -> Recording:
    """The 10-20 EEG of the module's docstring, `seconds` long at `rate` Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    xy = np.array([POSITIONS[electrode_name(e) or e] for e in electrodes])
    dist2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    mix = np.linalg.cholesky(np.exp(-dist2 / (2 * 0.35**2)) + 0.05 * np.eye(len(electrodes)))
    sources = np.stack([_smooth_noise(rng, n, rate) for _ in electrodes])
    background = 12.0 * (mix @ sources)
    back = np.clip(-xy[:, 1], 0, None)  # 0 at the front, up to 0.8 at the back
    alpha = (
        25 * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 2 * np.pi)) * (1 + 0.3 * np.sin(2 * np.pi * 0.2 * t))
    )
    blinks = np.zeros(n)
    for onset in np.arange(2.0, seconds, 6.0):
        blinks += 150 * np.exp(-(((t - onset) / 0.12) ** 2))
    front = np.clip(xy[:, 1] - 0.3, 0, None) * 2
    data = background + back[:, None] * alpha[None, :] / 0.8 + front[:, None] * blinks[None, :]
    channels = [
        Channel.from_samples(f"EEG {e}-REF", row, rate, "uV") for e, row in zip(electrodes, data, strict=True)
    ]
    if ecg:
        beat = np.zeros(n)
        for onset in np.arange(0.3, seconds, 0.85):
            beat += np.exp(-(((t - onset) / 0.012) ** 2)) - 0.2 * np.exp(-(((t - onset - 0.25) / 0.05) ** 2))
        channels.append(Channel.from_samples("ECG", beat + 0.02 * rng.standard_normal(n), rate, "mV"))
    notes = [Annotation(2.0, 0.0, "blink"), Annotation(10.0, 8.0, "eyes closed")]
    return Recording(channels, notes)
