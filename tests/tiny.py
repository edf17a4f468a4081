"""Tiny recordings and a tiny trained project (seconds on a CPU), shared by the engine tests.

The recording: sines of 4, 7, 10... Hz in noise, 64 Hz, labelled C3, C4, Pz, Oz, in microvolts.
The project: a small tokenizer and a diffusion prior trained for a few steps on 2 s windows.
An EDF+D file with a gap, for the readers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vqstudio.events import run_to_end
from vqstudio.io import write_recording
from vqstudio.io.edf_read import EdfHeader
from vqstudio.recording import Annotation, Channel, Recording
from vqstudio.training import TrainSettings, train

RATE = 64.0
LABELS = ("C3", "C4", "Pz", "Oz")


def write_input(folder: Path | str, name: str, channels: int = 2, seconds: float = 40.0) -> str:
    """An EDF+ file `folder/name.edf` of `channels` sines in noise; its content depends on `name`."""
    rng = np.random.default_rng(len(name))
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.stack([20 * np.sin(2 * np.pi * (4 + 3 * c) * t) for c in range(channels)])
    x = x + rng.normal(0, 2, x.shape)
    path = os.path.join(os.fspath(folder), f"{name}.edf")
    write_recording(Recording.from_array(x, RATE, list(LABELS[:channels]), "uV"), path)
    return path


def train_tiny(inputs: list[str] | tuple[str, ...], folder: Path | str, **settings: Any) -> str:
    """Trains a tiny project from `inputs` into `folder` (`settings` override the defaults)."""
    base: dict[str, Any] = {
        "inputs": tuple(inputs),
        "window_s": 2.0,
        "tokenizer_steps": 4,
        "prior_steps": 2,
        "device": "cpu",
        "threads": 1,
        "preset": "small",
        "batch_size": 4,
    }
    run_to_end(train(TrainSettings(**{**base, **settings}), os.fspath(folder), threading.Event()))
    return os.fspath(folder)


def tiny_cli_args() -> list[str]:
    """The command-line options that train the same tiny project as `train_tiny`."""
    return [
        "--window",
        "2",
        "--tokenizer-steps",
        "4",
        "--prior-steps",
        "2",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--preset",
        "small",
    ]


def write_edf_plus_d(path: str) -> None:
    """An EDF+D file of one 100 Hz channel: records at 0, 1, 5, 6 s (a 3 s gap after the second),
    an annotation 'start' at 0.5 s. Written as EDF+C, then its type and time stamps patched."""
    ch = Channel.from_samples("EEG", np.arange(400, dtype=float), 100, "uV")
    write_recording(Recording([ch], [Annotation(0.5, 0, "start")]), path)
    header = EdfHeader.parse(path)
    ann = next(i for i, s in enumerate(header.signals) if s.is_annotation)
    col = sum(s.samples_per_record for s in header.signals[:ann]) * 2
    nbytes = header.signals[ann].samples_per_record * 2
    record_bytes = header.record_samples * 2
    with open(path, "r+b") as f:
        f.seek(192)
        f.write(b"EDF+D".ljust(44))
        for k, onset in enumerate([0, 1, 5, 6]):
            f.seek(header.header_bytes + k * record_bytes + col)
            tal = f"+{onset}\x14\x14\x00".encode() + (b"+0.5\x14start\x14\x00" if k == 0 else b"")
            f.write(tal.ljust(nbytes, b"\x00"))


def record_for(prepared: Any, **fields: Any) -> Any:
    """The record of a new project on `prepared` data (`fields`: other record fields)."""
    from vqstudio.project.record import DataRecord, ProjectRecord

    return ProjectRecord(prep=prepared.config, data=DataRecord.from_prepared(prepared), **fields)


def minimal_record(**data: Any) -> Any:
    """The smallest project record that opens: one channel 'II' at 250 Hz, windows of 1008
    samples, its statistics, no sources, seed 3 (`data`: other data fields)."""
    from vqstudio.project.record import ProjectRecord

    meta = {
        "seed": 3,
        "prep": {},
        "data": {
            "rate": 250.0,
            "window": 1008,
            "channels": [{"label": "II"}],
            "normalization": {"mean": [0.0], "std": [1.0]},
            "split": {"train_windows": 0, "held_out_windows": 0},
            "sources": [],
            **data,
        },
    }
    return ProjectRecord.from_json(meta, "a test record")
