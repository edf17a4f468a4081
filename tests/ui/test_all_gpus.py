"""The Train tab's "all N GPUs" (issue 22): offered only where there are several GPUs; the form's
settings become `vqstudio train` options (one that cannot is refused in one line); a recording
held in memory goes to the processes as an EDF copy; a run in processes of its own draws rank
0's events and ends with a trained project; Stop ends it with a checkpoint (exit 130); a failed
command's last stderr line is the error.

The processes' device is the panel's `processes_device`: the runs here take the same path on two
CPU processes (gloo) that a machine with GPUs takes on its GPUs (NCCL)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from tests.ui.conftest import make_recording, save_screenshot
from ui import gpu_choice
from ui.process_job import ProcessFailed, run_command
from ui.train_command import handed_files, train_arguments, train_command
from vqstudio.errors import InputFileError
from vqstudio.events import LogLine, Progress

CPU = [("auto", "auto (cpu: 2 cores)"), ("cpu", "cpu: 2 cores")]
TWO_GPUS = [("auto", "auto (cuda: GPU A)"), ("cuda", "cuda: GPU A"), ("cuda:1", "cuda: GPU B"), CPU[1]]


def _drain(job):
    """A generator's events and its return value."""
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            return events, done.value


def test_the_choice_is_offered_only_with_several_gpus(window, monkeypatch):
    panel = window.training
    window._on_devices(CPU)  # what the app's device detection hands the tabs
    assert panel.gpus.isHidden() and panel.processes() == 1
    window._on_devices(TWO_GPUS)  # the GPUs are counted from that list: no torch here
    assert not panel.gpus.isHidden() and panel.gpus.text() == "all 2 GPUs"
    assert not panel.gpus.isChecked() and panel.processes() == 1  # one GPU stays the default
    assert panel.settings_kwargs()["device"] == "auto"
    panel.gpus.setChecked(True)
    assert panel.processes() == 2 and not panel.device.isEnabled()
    assert panel.settings_kwargs()["device"] == "cuda"
    monkeypatch.setattr(gpu_choice, "gpu_count", lambda devices: 4)
    window._on_devices(TWO_GPUS)
    assert panel.gpus.text() == "all 4 GPUs" and panel.processes() == 4
    window.open_recording(make_recording(), "EEG")
    window.panels.show("train")
    save_screenshot(window, "train_all_gpus")
    monkeypatch.setattr(gpu_choice, "gpu_count", lambda devices: 1)
    panel.set_devices(TWO_GPUS)
    assert panel.gpus.isHidden() and not panel.gpus.isChecked() and panel.device.isEnabled()


def test_the_form_s_settings_are_the_command_s_options():
    from vqstudio.cli.main import build_parser

    options = {
        "channels": ("C3", "C4"),
        "resample": 128.0,
        "window_s": 2.5,
        "preset": "small",
        "per_channel": True,
        "from_scratch": True,
        "prior": "autoregressive",
        "labels": "annotations",
        "device": "cuda",
        "minutes": 1.5,
        "seed": 7,
        "resume_stage": "auto",
        "dp_epsilon": None,
        "threads": 4,
        "inputs": ("a.edf",),
        "prior_steps": 0,
    }
    argv = train_command(["/d/a.edf"], "P", 2, "cuda", train_arguments(options, False, 2), False, "/t/ev")
    assert argv[:3] == [sys.executable, "-m", "vqstudio"]  # as this installation runs its CLI
    args = build_parser().parse_args(argv[3:])
    assert (args.inputs, args.project, args.nproc, args.device) == (
        ["/d/a.edf"],
        os.path.abspath("P"),
        2,
        "cuda",
    )
    assert args.events == "/t/ev" and not args.resume
    assert args.channels == ("C3", "C4") and args.resample == 128.0 and args.window == 2.5
    assert (args.preset, args.codec, args.from_scratch, args.prior) == (
        "small",
        "per-channel",
        True,
        "autoregressive",
    )
    assert (args.labels, args.minutes, args.seed, args.prior_steps) == ("annotations", 1.5, 7, 0)
    assert args.threads == 2  # the app's threads shared by the processes
    # A resume keeps the project's own data and model settings: only the budget and the stage go.
    resumed = train_arguments({**options, "resume_stage": "prior"}, True, 2)
    assert resumed == ["--minutes=1.5", "--prior-steps=0", "--stage=prior", "--threads=2"]
    # Settings the command line has no option for are refused, never dropped.
    with pytest.raises(InputFileError, match="batch_size cannot be given"):
        train_arguments({**options, "batch_size": 8}, False, 2)
    with pytest.raises(InputFileError, match="time budget and a number of tokenizer steps"):
        train_arguments({**options, "tokenizer_steps": 5}, False, 2)
    with pytest.raises(InputFileError, match="comma"):
        train_arguments({**options, "channels": ("A,B",)}, False, 2)


def test_a_recording_held_in_memory_goes_as_an_edf_copy(tmp_path):
    from vqstudio.io import read_recording, write_recording

    memory = make_recording(channels=2, seconds=20.0, rate=64.0)
    on_disk = str(tmp_path / "b.edf")
    write_recording(make_recording(channels=2, seconds=20.0, rate=64.0, seed=1), on_disk)
    disk = read_recording(on_disk)
    copies = str(tmp_path / "copies")
    said, files = _drain(handed_files([memory, disk], ["", on_disk], (), copies))
    assert files[1] == on_disk and files[0].startswith(copies) and files[0].endswith("recording.edf")
    assert len(said) == 1 and isinstance(said[0], LogLine) and "held in memory" in said[0].message
    copy = read_recording(files[0])
    assert copy.labels == memory.labels and [a.text for a in copy.annotations] == ["eyes closed", "blink"]
    # The same content, the same copy (a project trained on it resumes on it); edited: copied too.
    again = _drain(handed_files([memory, disk], ["", on_disk], [disk], copies))[1]
    assert again[0] == files[0] and again[1].startswith(copies) and again[1].endswith("b.edf")
    assert _drain(handed_files([memory], [""], (), copies, resume=True))[1] == files[:1]
    with pytest.raises(InputFileError, match="resume on one GPU"):
        _drain(handed_files([make_recording(seed=5)], [""], (), copies, resume=True))


def test_a_failed_command_s_last_line_is_the_error(tmp_path):
    script = "import sys; print('step 1\\rstep 2', file=sys.stderr); sys.exit(2)"
    script = script.replace("step 2", "step 2\\nvqstudio: no such file x.edf")
    events, stderr = str(tmp_path / "events.jsonl"), str(tmp_path / "stderr.txt")
    with pytest.raises(ProcessFailed, match=r"^no such file x\.edf$") as failed:
        _drain(run_command([sys.executable, "-c", script], events, stderr, threading.Event()))
    assert failed.value.exit_code == 2


def _all_cpu_processes(window, tmp_path, minutes: float):
    """The Train tab set for a tiny "all 2 GPUs" run, its processes on the CPU."""
    panel = window.training
    window.open_recording(make_recording(channels=2, seconds=40.0, rate=64.0), "in memory")
    panel.set_devices(TWO_GPUS)
    panel.gpus.setChecked(True)
    panel.processes_device = "cpu"
    panel.extra_settings = {"prior_steps": 0}
    panel.preset.setCurrentIndex(panel.preset.findData("small"))
    panel.window_s.setValue(2.0)
    panel.minutes.setValue(minutes)
    panel.folder.setText(str(tmp_path / "project"))
    return panel


def test_a_setting_the_processes_cannot_take_is_refused_before_they_start(window, qtbot, tmp_path, dialogs):
    panel = _all_cpu_processes(window, tmp_path, minutes=1.0)
    panel.extra_settings = {"batch_size": 8}
    window.actions["train"].trigger()
    job = window.jobs["train"]
    with qtbot.waitSignal(job.failed, timeout=30_000):
        pass
    assert dialogs and dialogs[-1][1] == "Training could not start", dialogs
    assert "batch_size cannot be given to the training processes" in dialogs[-1][2]
    assert not (tmp_path / "project").exists()


@pytest.mark.slow
def test_a_private_run_on_all_gpus_shows_the_command_s_refusal(window, qtbot, tmp_path, dialogs):
    panel = _all_cpu_processes(window, tmp_path, minutes=1.0)
    panel.privacy.setValue(2.0)
    window.actions["train"].trigger()
    job = window.jobs["train"]
    with qtbot.waitSignal(job.failed, timeout=60_000):
        pass
    assert dialogs[-1][1] == "Training could not start", dialogs
    message = dialogs[-1][2]
    assert message.startswith("differentially private training") and "runs in one process" in message
    assert "untick all GPUs" in message and "--" not in message  # in the app's words
    assert not (tmp_path / "project").exists()


@pytest.mark.slow
def test_a_run_on_all_gpus_draws_rank_0_s_events_and_trains_the_project(window, qtbot, tmp_path, dialogs):
    panel = _all_cpu_processes(window, tmp_path, minutes=0.1)
    window.actions["train"].trigger()
    job = window.jobs["train"]
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    result = done.args[0]
    assert not dialogs, dialogs
    assert not result.stopped and result.tokenizer_step >= 1
    project = tmp_path / "project"
    assert (project / "project.json").is_file() and (project / "tokenizer.safetensors").is_file()
    assert window.session.project_dir == str(project)
    # The live view got the processes' events: progress, loss points, the preview, the log.
    assert "done" in panel.progress.format()
    assert panel.run_started and panel.loss_curve_names and panel.preview.step >= 0
    log = panel.log_pane.toPlainText()
    assert "2 processes (gloo)" in log and "held in memory" in log


@pytest.mark.slow
def test_stop_ends_a_run_on_all_gpus_with_its_checkpoint(window, qtbot, tmp_path):
    panel = _all_cpu_processes(window, tmp_path, minutes=30.0)
    window.actions["train"].trigger()
    job = window.jobs["train"]
    progress: list[Progress] = []
    job.progress.connect(progress.append)
    qtbot.waitUntil(lambda: any(p.stage == "tokenizer" and p.step >= 2 for p in progress), timeout=120_000)
    window.actions["stop"].trigger()
    with qtbot.waitSignal(job.finished, timeout=120_000) as done:
        pass
    result = done.args[0]  # stopped: the command's exit 130 (any other exit is a failure)
    assert result.stopped and result.tokenizer_step >= 1
    assert (tmp_path / "project" / "state.safetensors").is_file()
    assert "stopped" in panel.progress.format() and "stopped; checkpoint kept" in panel.log_pane.toPlainText()
    assert window.session.job is None and window.actions["resume"].isEnabled()
