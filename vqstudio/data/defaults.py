"""The choices a new project starts from when the user makes none: which channels, how long a window.

A recording often mixes the signal with housekeeping: a Sleep-EDF PSG holds its EEG and EOG at
100 Hz beside respiration, EMG, temperature and an event marker at 1 Hz. The default channels are
the ones at the rate that carries the signal: channel groups of one rate are ranked by whether
their rate can hold a window at all, then by how many channels are named as electrophysiology
(EEG, ECG, EOG, EMG, ExG, 10-20 electrode names), then by their number and rate; inside the
chosen group, housekeeping channels (status, trigger, event, marker, temperature, accelerometer,
timestamps) are left out when others remain.

The default window is 4 s, longer where the rate is so low that 4 s hold too few samples for the
model (a prior needs at least `MIN_LATENT_STEPS` latent steps), shorter where a recording is too
short to give several windows. When nothing fits, `fit_window` refuses with one line naming what
to change. Both the train job (`vqstudio.data.prep.prepare`) and the app's Train tab ask here,
so the app pre-ticks what the engine would choose.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from vqstudio.errors import LimitError
from vqstudio.ranges import Range
from vqstudio.recording import Channel, Recording

__all__ = [
    "DEFAULT_WINDOW_S",
    "MIN_LATENT_STEPS",
    "SLOW_RATE_HZ",
    "DefaultChoice",
    "default_channels",
    "default_choice",
    "fit_window",
    "is_housekeeping",
    "is_signal_name",
    "min_window_samples",
    "signal_channels",
]

DEFAULT_WINDOW_S = 4.0  # seconds: two alpha cycles and a few heartbeats at any usual rate
# The fewest latent steps a window may give: the diffusion prior's segment and the autoregressive
# prior's context both need two (one step has no "next" to learn).
MIN_LATENT_STEPS = 2
# Channel groups slower than this carry housekeeping (1 Hz temperature, event markers), not a
# waveform a window of seconds could hold.
SLOW_RATE_HZ = 8.0
# The default window leaves a short recording's training part at least this many windows.
MIN_DEFAULT_WINDOWS = 3
HELD_OUT_FRACTION = 0.1  # `PrepConfig.val_fraction`'s default: the training part is the rest
# What `--held-out` may ask: more held out gives the evaluation (membership inference above all,
# which needs 150 held-out windows to read a figure) more windows, and training fewer.
HELD_OUT = Range(0.02, 0.5, HELD_OUT_FRACTION)

_SIGNAL = re.compile(r"\b(eeg|ecg|ekg|eog|emg|exg|ieeg|seeg|ecog)\b")
# 10-20 and 10-10 electrode names (Fp1, Fz, C3, Oz, T10, ...), bipolar pairs (Fpz-Cz) included.
_ELECTRODE = re.compile(r"^(fp|af|f|fc|ft|c|cp|tp|t|p|po|o|i|a|m)(\d{1,2}|z)$")
_HOUSEKEEPING = re.compile(
    r"(status|trigger|\btrig\b|event|marker|annotation|temp|accel|\bacc[ _-]?[xyz]?\b|timestamp|"
    r"time ?stamp|sample ?index|battery|\blight\b|\bposition\b|\bbody\b)"
)


@dataclass(frozen=True)
class DefaultChoice:
    """What a new project on these recordings trains on unless the user says otherwise."""

    channels: tuple[str, ...]
    rate: float  # the chosen channels' rate (Hz)
    window_s: float


def signal_channels(rec: Recording) -> list[Channel]:
    """The channels that hold samples (readers already leave out EDF annotation signals)."""
    return [c for c in rec.channels if c.n_samples > 0 and c.rate > 0 and "annotation" not in c.name.lower()]


def is_signal_name(label: str) -> bool:
    """Whether a label names electrophysiology: 'EEG Fpz-Cz', 'ECG II', 'EXG Channel 0', 'Fc5.'."""
    text = label.strip().lower().rstrip(".")
    if _SIGNAL.search(text):
        return True
    return any(_ELECTRODE.match(part) for part in re.split(r"[-\s/]+", text) if part)


def is_housekeeping(label: str) -> bool:
    """Whether a label names a channel that records the recorder, not the body."""
    return bool(_HOUSEKEEPING.search(label.strip().lower()))


def min_window_samples(multiple: int) -> int:
    """The fewest samples a window may hold when its length is a multiple of `multiple` (the
    tokenizer's downsampling): `MIN_LATENT_STEPS` latent steps."""
    return MIN_LATENT_STEPS * multiple


def _group_rank(rate: float, channels: list[Channel]) -> tuple[bool, int, int, float]:
    named = sum(is_signal_name(c.name) for c in channels)
    kept = sum(not is_housekeeping(c.name) for c in channels)
    return (rate >= SLOW_RATE_HZ, named, kept, rate)


def default_channels(rec: Recording) -> list[str]:
    """The channels a new project on `rec` trains on by default (see the module docstring);
    empty when `rec` holds no signal channel."""
    groups: dict[float, list[Channel]] = defaultdict(list)
    for c in signal_channels(rec):
        groups[c.rate].append(c)
    if not groups:
        return []
    rate = max(groups, key=lambda r: _group_rank(r, groups[r]))
    chosen = groups[rate]
    body = [c for c in chosen if not is_housekeeping(c.name)]
    return [c.name for c in (body or chosen)]


def fit_window(
    rate: float,
    train_seconds: float,
    multiple: int,
    asked: float | None = None,
    *,
    limits: Range | None = None,
    what: str = "the recording",
) -> float:
    """The window (s) at `rate` Hz for training parts of at least `train_seconds` s.

    `asked` (the user's) is kept when it holds at least `min_window_samples(multiple)` samples;
    otherwise `LimitError` says how long it must be and what to change. With nothing asked: 4 s,
    lengthened to the minimum at a low rate, shortened (down to that minimum and `limits.low`)
    so a short recording gives `MIN_DEFAULT_WINDOWS`; `LimitError` when even the minimum does not
    fit in `limits.high` or in the recording (`what` names it)."""
    need = min_window_samples(multiple)
    shortest = need / rate
    if asked is not None:
        if round(asked * rate / multiple) * multiple < need:
            raise LimitError(
                f"a {asked:g} s window at {rate:g} Hz holds {asked * rate:.3g} samples, fewer than the "
                f"{need} the model needs; give a window of at least {_up(shortest):g} s (--window), or "
                "choose channels of a higher rate"
            )
        return float(asked)
    low = limits.low if limits is not None else 0.0
    high = limits.high if limits is not None else math.inf
    if shortest > high:
        raise LimitError(
            f"channels at {rate:g} Hz are too slow to train on: a window must hold {need} samples "
            f"({_up(shortest):g} s), longer than the longest window ({high:g} s); choose channels of a "
            "higher rate, or resample them (--resample)"
        )
    if shortest > train_seconds:
        raise LimitError(
            f"{what} is too short for channels at {rate:g} Hz: a window must hold {need} samples "
            f"({_up(shortest):g} s) but the training part is {train_seconds:.3g} s; choose channels of a "
            "higher rate or give longer recordings"
        )
    window = min(max(DEFAULT_WINDOW_S, shortest), high)
    if window * MIN_DEFAULT_WINDOWS > train_seconds:
        window = max(train_seconds / MIN_DEFAULT_WINDOWS, shortest, low)
    return float(_up(window))


def _up(seconds: float) -> float:
    """Seconds rounded up to what a person types (3 significant digits)."""
    if seconds <= 0:
        return seconds
    scale = 10 ** (math.floor(math.log10(seconds)) - 2)
    return math.ceil(seconds / scale - 1e-9) * scale


def default_choice(
    recordings: Sequence[Recording],
    multiple: int,
    channels: Sequence[str] | None = None,
    *,
    limits: Range | None = None,
) -> DefaultChoice:
    """The channels (`channels`, or the defaults of the first recording) and the window a new
    project on `recordings` starts from; `LimitError` when no window fits (see `fit_window`)."""
    first = recordings[0]
    names = tuple(channels) if channels else tuple(default_channels(first))
    if not names:
        return DefaultChoice((), 0.0, DEFAULT_WINDOW_S)
    rates = [first.channel(n).rate for n in names]
    rate = max(rates)
    # The shortest file's training part, in the chosen channels.
    seconds = min(max(rec.channel(n).duration for n in names) for rec in recordings)
    window = fit_window(
        rate, seconds * (1 - HELD_OUT_FRACTION), multiple, limits=limits, what=_describe(recordings)
    )
    return DefaultChoice(names, rate, window)


def _describe(recordings: Sequence[Recording]) -> str:
    if len(recordings) == 1 and recordings[0].source is not None:
        return recordings[0].source.name
    return "the shortest recording"
