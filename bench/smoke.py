"""The benches' smoke mode (`--smoke`): each bench runs its whole code path in seconds on tiny
inputs it makes itself in a temporary folder, through the engine's own writers (recordings with
`vqstudio.io.write_recording`, projects with the training job `vqstudio.training.train`).
tests/test_benches.py runs every bench this way, so none breaks unseen. A smoke run's figures
measure nothing: its JSON line says `"smoke": true`.

- `add_smoke_flag`, `apply_smoke`: the flag, and the small values it gives the options left at
  their defaults (options given on the command line keep their values);
- `scratch_folder`: a temporary folder, removed when the bench exits;
- `write_recordings`: tiny EDF+ recordings (2 channels of sines in noise, 64 Hz, 40 s);
- `train_project`: a tiny project trained for a few steps on them.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vqstudio.recording import Recording

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # this checkout's engine, not another one installed

RATE = 64.0  # Hz
SECONDS = 40.0  # per recording
CHANNELS = 2
LABELS = ("C3", "C4", "Pz", "Oz")
WINDOW_S = 2.0
# Enough steps that the tiny project's prior draws signal, not a flat line (which the
# evaluation leaves out, and then refuses the set).
TOKENIZER_STEPS = 10
PRIOR_STEPS = 10


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--smoke` to a bench's parser."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run the whole bench in seconds on a tiny input it makes itself (its figures measure nothing)",
    )


def apply_smoke(parser: argparse.ArgumentParser, args: argparse.Namespace, **small: object) -> None:
    """With `--smoke`, each option named in `small` that the command line left at its default
    (or an empty list of paths) takes the small value; without it, nothing changes."""
    if not args.smoke:
        return
    for name, value in small.items():
        current = getattr(args, name)
        if current == parser.get_default(name) or current == []:
            setattr(args, name, value)


def scratch_folder(prefix: str = "vqstudio-smoke-") -> str:
    """A new temporary folder, removed (with all it holds) when the process exits."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def recording(name: str, channels: int = CHANNELS, seconds: float = SECONDS, rate: float = RATE) -> Recording:
    """A `Recording` of sines (4, 7, 10... Hz, 20 uV) in noise; its noise depends on `name`."""
    import zlib

    import numpy as np

    from vqstudio.recording import Recording

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    t = np.arange(int(seconds * rate)) / rate
    x = np.stack([20 * np.sin(2 * np.pi * (4 + 3 * c) * t) for c in range(channels)])
    x = x + rng.normal(0, 2, x.shape)
    labels = [LABELS[c] if c < len(LABELS) else f"E{c + 1}" for c in range(channels)]
    return Recording.from_array(x, rate, labels, "uV")


def write_recordings(
    folder: str, count: int = 2, channels: int = CHANNELS, seconds: float = SECONDS
) -> list[str]:
    """`count` tiny EDF+ recordings `folder/tiny-1.edf`, ... (each its own noise); their paths."""
    from vqstudio.io import write_recording

    paths = []
    for i in range(1, count + 1):
        path = os.path.join(folder, f"tiny-{i}.edf")
        write_recording(recording(f"tiny-{i}", channels, seconds), path)
        paths.append(path)
    return paths


def train_project(folder: str, inputs: list[str], *, labels: str = "none", prior: str = "diffusion") -> str:
    """Trains a tiny project into `folder` (a new one) with the engine's training job: 2 s windows,
    the small preset, a few steps of each stage on one CPU thread. Returns `folder`."""
    from vqstudio.events import run_to_end
    from vqstudio.training import TrainSettings, train

    settings = TrainSettings(
        inputs=tuple(inputs),
        window_s=WINDOW_S,
        labels=labels,
        prior=prior,
        preset="small",
        tokenizer_steps=TOKENIZER_STEPS,
        prior_steps=PRIOR_STEPS,
        device="cpu",
        threads=1,
    )
    run_to_end(train(settings, folder, threading.Event()))
    return folder


def tiny_project(labels: str = "none") -> str:
    """A tiny project trained on two tiny recordings, all in a new scratch folder; its path."""
    folder = scratch_folder()
    return train_project(os.path.join(folder, "project"), write_recordings(folder), labels=labels)
