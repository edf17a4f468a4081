"""Sleep-EDF-like files made by the tests: a PSG and its hypnogram (an annotation-only EDF+).

The PSG has Sleep-EDF's layout (EEG Fpz-Cz, EEG Pz-Oz and EOG horizontal at 100 Hz; respiration,
EMG, temperature and an event marker at 1 Hz). The hypnogram is written byte by byte as
PhysioNet's `*-Hypnogram.edf` files are: one 'EDF Annotations' signal, one data record whose
duration is 0, the stages as TALs with onset and duration. No recording of a person is used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from vqstudio.io import write_recording
from vqstudio.recording import Channel, Recording

__all__ = ["PSG_START", "STAGES", "write_hypnogram", "write_psg"]

PSG_START = dt.datetime(1989, 3, 24, 16, 13, 0)
# (onset s, duration s, text): a short night, as Sleep-EDF writes its stages.
STAGES: tuple[tuple[float, float, str], ...] = (
    (0.0, 60.0, "Sleep stage W"),
    (60.0, 30.0, "Sleep stage 1"),
    (90.0, 90.0, "Sleep stage 2"),
    (180.0, 60.0, "Sleep stage 3"),
    (240.0, 30.0, "Sleep stage R"),
    (270.0, 30.0, "Movement time"),
    (300.0, 120.0, "Sleep stage ?"),  # runs past the PSG's end, as the real files' last stage does
)


def write_psg(path: str, seconds: float = 300.0, seed: int = 0, start: dt.datetime = PSG_START) -> Recording:
    """A Sleep-EDF-like PSG at `path` (EDF+ through the app's writer); returns what was written."""
    rng = np.random.default_rng(seed)
    n100, n1 = int(seconds * 100), int(seconds)
    t = np.arange(n100) / 100.0
    alpha = 15 * np.sin(2 * np.pi * 10 * t) * (t < 60)  # eyes-closed wake at the start
    delta = 40 * np.sin(2 * np.pi * 1.5 * t) * ((t >= 180) & (t < 240))  # deep sleep
    channels = [
        Channel.from_samples("EEG Fpz-Cz", alpha + delta + 8 * rng.standard_normal(n100), 100, "uV"),
        Channel.from_samples("EEG Pz-Oz", 1.5 * alpha + delta + 6 * rng.standard_normal(n100), 100, "uV"),
        Channel.from_samples("EOG horizontal", 30 * rng.standard_normal(n100), 100, "uV"),
        Channel.from_samples("Resp oro-nasal", 200 * np.sin(2 * np.pi * np.arange(n1) / 4.0), 1, ""),
        Channel.from_samples("EMG submental", 5 + rng.random(n1), 1, "uV"),
        Channel.from_samples("Temp rectal", 37 + 0.01 * rng.standard_normal(n1), 1, "DegC"),
        Channel.from_samples("Event marker", np.zeros(n1), 1, ""),
    ]
    rec = Recording(channels, start=start)
    write_recording(rec, path)
    return rec


def _field(text: str, width: int) -> bytes:
    return text.encode("latin-1").ljust(width)[:width]


def write_hypnogram(
    path: str, stages: Sequence[tuple[float, float, str]] = STAGES, start: dt.datetime = PSG_START
) -> None:
    """An annotation-only EDF+ file as Sleep-EDF's hypnograms: 1 record of duration 0."""
    tals = b"+0\x14\x14\x00"  # the record's time-keeping TAL
    for onset, duration, text in stages:
        tals += f"+{onset:g}\x15{duration:g}\x14{text}\x14\x00".encode()
    samples = (len(tals) + 1) // 2 + 8
    data = tals.ljust(2 * samples, b"\x00")
    header = b"".join(
        [
            _field("0", 8),
            _field("X F X Female_33yr", 80),
            _field(
                f"Startdate {start:%d}-{start:%b}-{start:%Y}".upper().replace("STARTDATE", "Startdate")
                + " X X X",
                80,
            ),
            _field(f"{start:%d.%m.%y}", 8),
            _field(f"{start:%H.%M.%S}", 8),
            _field("512", 8),
            _field("EDF+C", 44),
            _field("1", 8),
            _field("0", 8),  # Sleep-EDF's hypnograms say 0 s per data record
            _field("1", 4),
        ]
    )
    signal = b"".join(
        [
            _field("EDF Annotations", 16),
            _field("", 80),
            _field("", 8),
            _field("-1", 8),
            _field("1", 8),
            _field("-32768", 8),
            _field("32767", 8),
            _field("", 80),
            _field(str(samples), 8),
            _field("", 32),
        ]
    )
    assert len(header) == 256 and len(signal) == 256
    with open(path, "wb") as f:
        f.write(header + signal + data)
