"""Defaults that suit the recording (issue 21, item 1): the channels at the rate that carries the
signal, a window that fits the rate and length, and a clear refusal before training starts when
nothing fits. A property test over channel subsets and rates of the five kinds of recordings
(tests/kinds.py): every choice trains a couple of steps or is refused with a `VQStudioError`,
never an internal error, and a refused run leaves no project folder behind."""

from __future__ import annotations

import os
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests import kinds
from tests.guards import refused
from tests.tiny import tiny_cli_args
from vqstudio.cli import main
from vqstudio.data.defaults import default_channels, default_choice, fit_window, is_signal_name
from vqstudio.data.prep import PrepConfig, choose_channels, prepare
from vqstudio.errors import LimitError, VQStudioError
from vqstudio.events import run_to_end
from vqstudio.io import read_recording
from vqstudio.project import Project
from vqstudio.training import TrainSettings, train

PSG_SIGNAL = ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"]
PSG_SLOW = ["Resp oro-nasal", "EMG submental", "Temp rectal", "Event marker"]


def test_psg_defaults_are_the_eeg_and_eog_at_100_hz(tmp_path):
    rec = read_recording(kinds.psg(str(tmp_path)))
    assert default_channels(rec) == PSG_SIGNAL
    assert choose_channels([rec], None) == PSG_SIGNAL
    choice = default_choice([rec], PrepConfig().multiple)
    assert choice.channels == tuple(PSG_SIGNAL) and choice.rate == 100.0 and choice.window_s == 4.0


def test_housekeeping_left_out_and_signal_names_known(tmp_path):
    rec = read_recording(kinds.openbci_bdf(str(tmp_path), accel_rate=250.0))
    assert default_channels(rec) == [f"EXG Channel {i}" for i in range(8)]  # not the accelerometer
    for label in ("EEG Fpz-Cz", "Fc5.", "ECG", "EXG Channel 3", "Fp1-F7", "EOG horizontal"):
        assert is_signal_name(label), label
    for label in ("Temp rectal", "Event marker", "Resp oro-nasal", "Accel Channel 0"):
        assert not is_signal_name(label), label


def test_window_fits_slow_channels_and_short_recordings():
    assert fit_window(100.0, 540.0, 8) == 4.0
    assert fit_window(1.0, 540.0, 8) == 16.0  # 2 latent steps of 8 samples at 1 Hz
    assert fit_window(64.0, 6.0, 8) == 2.0  # a third of a 6 s training part
    with pytest.raises(LimitError, match="at least 16 s"):
        fit_window(1.0, 540.0, 8, asked=4.0)
    with pytest.raises(LimitError, match="too short"):
        fit_window(1.0, 10.0, 8)


def test_psg_trains_from_its_defaults(tmp_path, capsys):
    """The crash of issue 21: the 1 Hz channels were chosen, and the prior died with
    "seg_len 1 must be positive" after the tokenizer had trained."""
    path = kinds.psg(str(tmp_path))
    project = tmp_path / "project"
    assert main(["train", path, "--project", str(project), *tiny_cli_args()]) == 0
    opened = Project.open(str(project))
    assert opened.channel_labels == PSG_SIGNAL and opened.rate == 100.0
    assert opened.has_prior


def test_slow_channels_with_a_short_window_are_refused_before_training(tmp_path, capsys):
    path = kinds.psg(str(tmp_path))
    project = tmp_path / "project"
    args = ["train", path, "--project", str(project), "--channels", ",".join(PSG_SLOW[:2])]
    line = refused(capsys, [*args, *tiny_cli_args()], path)  # tiny_cli_args asks for a 2 s window
    assert "2 s window at 1 Hz" in line and "--window" in line and "higher rate" in line
    assert not project.exists()  # no half-built folder
    # Without a window asked for, the engine fits one: 16 s at 1 Hz.
    tiny = tiny_cli_args()
    at = tiny.index("--window")
    no_window = tiny[:at] + tiny[at + 2 :]
    assert main([*args, *no_window]) == 0
    assert Project.open(str(project)).prep_config.window_s == 16.0


def test_too_slow_channels_are_refused(tmp_path, capsys):
    path = kinds.psg(str(tmp_path), slow_rate=0.2, seconds=1200.0)
    project = tmp_path / "project"
    line = refused(
        capsys,
        ["train", path, "--project", str(project), "--channels", "Temp rectal", "--device", "cpu"],
        path,
    )
    assert "too slow" in line and "higher rate" in line
    assert not project.exists()


# ----------------------------------------------------------------------------- any choice


def _rates(kind: str) -> st.SearchStrategy[dict]:
    """Keyword arguments of the kind's maker: its rates (and the PSG's slow rate)."""
    if kind == "eeg64":
        return st.fixed_dictionaries({"rate": st.sampled_from([128.0, 160.0])})
    if kind == "psg":
        return st.fixed_dictionaries(
            {
                "rate": st.sampled_from([50.0, 100.0]),
                "slow_rate": st.sampled_from([0.5, 1.0, 10.0]),
                "seconds": st.just(200.0),
            }
        )
    if kind == "eeg_ecg_62s":
        return st.fixed_dictionaries({"rate": st.sampled_from([128.0, 256.0])})
    if kind == "openbci_bdf":
        return st.fixed_dictionaries({"rate": st.just(250.0), "accel_rate": st.sampled_from([25.0, 250.0])})
    return st.fixed_dictionaries({"rate": st.sampled_from([100.0, 250.0]), "seconds": st.just(40.0)})


@st.composite
def _choices(draw: st.DrawFn) -> tuple[str, dict, int, float | None, float | None]:
    kind = draw(st.sampled_from(sorted(kinds.KINDS)))
    return (
        kind,
        draw(_rates(kind)),
        draw(st.integers(0, 2**16)),  # which channels: a seed of the subset (0: the defaults)
        draw(st.sampled_from([None, None, 1.0, 8.0])),  # the window asked for (None: fitted)
        draw(st.sampled_from([None, None, 64.0])),  # --resample
    )


def _subset(labels: list[str], seed: int | tuple[str, ...]) -> tuple[str, ...] | None:
    """None (the defaults) for seed 0, else a non-empty subset of at most 8 channels (or the
    channels named, for the examples pinned below)."""
    if isinstance(seed, tuple):
        return seed
    if seed == 0:
        return None
    import random

    r = random.Random(seed)
    return tuple(r.sample(labels, r.randint(1, min(8, len(labels)))))


@settings(
    max_examples=16,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_choices())
# The housekeeping channels alone, which once reached the prior with one latent step.
@example(("psg", {"rate": 100.0, "slow_rate": 1.0, "seconds": 200.0}, tuple(PSG_SLOW), None, None))
@example(("psg", {"rate": 100.0, "slow_rate": 1.0, "seconds": 200.0}, ("Event marker",), None, None))
@example(("openbci_bdf", {"rate": 250.0, "accel_rate": 25.0}, ("Accel Channel 0",), None, None))
@example(("csv", {"rate": 250.0, "seconds": 40.0}, ("Resp",), 8.0, None))
def test_any_channel_choice_trains_or_is_refused(choice):
    kind, rates, seed, window, resample = choice
    with tempfile.TemporaryDirectory() as folder:
        path = kinds.KINDS[kind](folder, **rates)
        labels = [c.name for c in read_recording(path).channels]
        channels = _subset(labels, seed)
        project = os.path.join(folder, "project")
        options = {
            "window_s": window,
            "channels": channels,
            "resample": resample,
            "tokenizer_steps": 2,
            "prior_steps": 2,
            "device": "cpu",
            "threads": 1,
            "preset": "small",
            "batch_size": 4,
        }
        try:
            settings_ = TrainSettings((path,), **options)
            result = run_to_end(train(settings_, project, threading.Event()))
        except VQStudioError as error:
            assert str(error) and "\n" not in str(error)
            assert not os.path.exists(project), f"{error}: left {os.listdir(project)}"
            return
        assert result.tokenizer_step == 2 and result.prior_step == 2, (kind, rates, channels)
        prepared = prepare([read_recording(path)], Project.open(project).prep_config)
        assert prepared.window >= 16


def test_a_loss_that_is_not_computed_is_not_reported():
    """A window shorter than every STFT size has no spectral loss: it is left out of the losses
    (a curve of zeros on the app's log axis raised 40 "All-NaN slice" warnings after a PSG run)."""
    import torch

    from vqstudio.models.tokenizer import Tokenizer, preset_config

    short = Tokenizer(preset_config("small", channels=2, window=8))
    assert set(short(torch.randn(3, 2, 8)).losses) == {"time", "commit", "total"}
    long = Tokenizer(preset_config("small", channels=2, window=64))
    assert set(long(torch.randn(3, 2, 64)).losses) == {"time", "stft", "commit", "total"}


def test_models_that_cannot_be_built_are_refused_before_the_project_is_made(tmp_path):
    """Both models' configs are checked before the tokenizer trains (the prior used to fail after)."""
    import torch

    from vqstudio.training.job import _check_models_fit

    rec = read_recording(kinds.psg(str(tmp_path)))
    config = PrepConfig(channels=tuple(PSG_SLOW[:2]), window_s=4.0, multiple=8)
    prepared = prepare([rec], config)  # a stored project's way: no minimum, 8 samples
    assert prepared.window == 8
    with pytest.raises(LimitError, match="cannot be built for windows of 8 samples x 2 channels"):
        _check_models_fit(prepared, TrainSettings(preset="small"), torch.device("cpu"))
    _check_models_fit(prepared, TrainSettings(preset="small", prior_steps=0), torch.device("cpu"))
