"""Events that engine jobs yield while they run, and the stop request they honour.

Training, generation and evaluation are generators: they yield these small frozen
dataclasses and return their result. The CLI prints them; the GUI's worker turns each into a
Qt signal. Arrays in previews are copies the receiver may keep.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

__all__ = [
    "CheckpointWritten",
    "Event",
    "Job",
    "LogLine",
    "LongRun",
    "Progress",
    "ReconstructionPreview",
    "SamplePreview",
    "StopRequest",
    "Validation",
    "run_to_end",
]

StopRequest = threading.Event
"""Set from any thread; a job checks it between steps, finishes the step, checkpoints, returns."""


@dataclass(frozen=True)
class Progress:
    """Where a stage stands: steps done, time, losses of the latest step."""

    stage: str  # "prepare", "tokenizer", "prior", "generate", "evaluate"
    step: int
    total: int | None  # None when the budget is wall-clock only
    elapsed_s: float
    eta_s: float | None
    fraction: float  # 0..1 of the stage's budget (steps or time, whichever ends first)
    losses: dict[str, float] = field(default_factory=dict)
    rate: float = 0.0  # items per second (windows/s in training, signal-s per s in sampling)
    # Tokenizer stage: fraction of the first level's codes chosen in the training batches since
    # the previous loss read-out (None elsewhere); validation's usage comes only every val_every.
    codebook_used: float | None = None


@dataclass(frozen=True)
class Validation:
    """Metrics computed on held-out windows (PRD, SNR dB, LSD dB, codebook usage...)."""

    stage: str
    step: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class ReconstructionPreview:
    """A real window beside its reconstruction, in physical units, `(channels, samples)`."""

    step: int
    rate: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    real: np.ndarray
    reconstruction: np.ndarray


@dataclass(frozen=True)
class SamplePreview:
    """A generated window in physical units, `(channels, samples)`."""

    step: int
    rate: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    samples: np.ndarray
    label: str | None = None


@dataclass(frozen=True)
class CheckpointWritten:
    stage: str
    step: int
    path: str


@dataclass(frozen=True)
class LongRun:
    """A job that will run for long, said once its first part is timed: the CLI prints it, the
    app asks whether to go on (and sets the stop request if not)."""

    stage: str
    eta_s: float
    message: str


@dataclass(frozen=True)
class LogLine:
    message: str
    level: str = "info"  # "info", "warning"


Event = Progress | Validation | ReconstructionPreview | SamplePreview | CheckpointWritten | LogLine | LongRun

R = TypeVar("R")
Job = Generator[Event, None, R]


def run_to_end(job: Generator[Event, None, R]) -> R:
    """Iterates a job, discarding its events, and returns its result (tests, scripts)."""
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value
