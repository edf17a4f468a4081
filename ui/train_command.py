"""The Train tab's run as a `vqstudio train` command line, for an "all N GPUs" run: the app's
settings (`TrainSettings` fields, as `TrainingPanel.settings_kwargs` gives them) as the
command's options, and the recordings as files the processes can read.

A setting the command line cannot take is refused with a one-line reason in the app's words (an
`InputFileError`, shown as "Training could not start"), never dropped: the processes would
train something other than what the form says. A recording with no unchanged file on disk
(held in memory, or with annotation edits not saved) is handed over as an EDF copy
(`vqstudio.io.write_recording`) in a folder of the app's, never in a user's file or the project.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Generator, Mapping, Sequence
from typing import Any

from vqstudio.errors import InputFileError
from vqstudio.events import LogLine
from vqstudio.recording import Recording, file_sha256

__all__ = ["handed_files", "train_arguments", "train_command"]

# Settings the processes get otherwise: the device is the run's (`--device`), the inputs are
# `handed_files`, and `--nproc` is the run's number of processes.
_GIVEN_ELSEWHERE = ("device", "inputs")


def _number(value: float) -> str:
    """A number as the command line takes it (`repr`: every digit kept, 2.0 as 2.0)."""
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def train_arguments(options: Mapping[str, Any], resume: bool, processes: int) -> list[str]:
    """`vqstudio train` options for `options` (`TrainSettings` fields), less the files,
    `--project`, `--nproc`, `--device` and `--events` (the caller adds them). `InputFileError`
    names a setting the command line cannot take. With `resume` the project keeps its own data
    and model settings (as `train(resume=True)` does), so only the budget and the stage go."""
    left = {k: v for k, v in options.items() if k not in _GIVEN_ELSEWHERE}
    take = left.pop
    args: list[str] = []
    channels = take("channels", None)
    if channels and not resume:
        odd = [c for c in channels if "," in c]
        if odd:
            raise InputFileError(
                f"channel {odd[0]!r} has a comma in its label, which the training processes cannot "
                "be given (they take the channels as a list separated by commas); train on one GPU"
            )
        args.append("--channels=" + ",".join(channels))
    settings = {
        "resample": ("--resample", _number),
        "window_s": ("--window", _number),
        "preset": ("--preset", str),
        "prior": ("--prior", str),
        "rate": ("--rate", _number),
        "dp_epsilon": ("--dp-epsilon", _number),
        "dp_delta": ("--dp-delta", _number),
    }
    for key, (flag, text) in settings.items():
        value = take(key, None)
        if value is not None and not resume:
            args.append(f"{flag}={text(value)}")
    per_channel, from_scratch = take("per_channel", False), take("from_scratch", False)
    labels, unit = take("labels", "none"), take("dp_unit", "window")
    seed = take("seed", 0)
    if not resume:
        args += ["--codec=per-channel"] if per_channel else []
        args += ["--from-scratch"] if from_scratch else []
        args += [f"--labels={labels}"] if labels != "none" else []
        args += [f"--dp-unit={unit}"] if unit != "window" else []
        args.append(f"--seed={int(seed)}")
    args += _budget(take("minutes", None), take("tokenizer_steps", None), take("prior_steps", None))
    stage = take("resume_stage", "auto")
    if resume and stage != "auto":
        args.append(f"--stage={stage}")
    checkpoint_s = take("checkpoint_every_s", None)
    if checkpoint_s is not None:
        args.append(f"--checkpoint-minutes={_number(checkpoint_s / 60)}")
    if take("stream", False):
        args.append("--stream")
    threads = take("threads", None)
    if threads is not None:
        # The app's threads shared among the processes, as `--nproc` shares the cores itself.
        args.append(f"--threads={max(1, int(threads) // processes)}")
    unmapped = sorted(k for k, v in left.items() if v is not None)
    if unmapped:
        raise InputFileError(
            f"the setting {unmapped[0]} cannot be given to the training processes (vqstudio train "
            "has no option for it); train on one GPU"
        )
    return args


def train_command(
    files: Sequence[str],
    project_dir: str,
    processes: int,
    device: str,
    arguments: Sequence[str],
    resume: bool,
    events_path: str,
) -> list[str]:
    """The whole command: `vqstudio train FILES --project P --nproc N --device D` with the
    `arguments` of `train_arguments`, rank 0's events appended to `events_path`. Run as this
    installation runs its command line (`python -m vqstudio`, or the frozen app's `vqstudio`)."""
    from vqstudio.cli.launch import command_line

    argv = [*command_line(), "train", *files, "--project", os.path.abspath(project_dir)]
    argv += ["--nproc", str(processes), f"--device={device}", *arguments]
    return [*argv, *(["--resume"] if resume else []), "--events", events_path]


def _budget(minutes: float | None, tokenizer_steps: int | None, prior_steps: int | None) -> list[str]:
    """The time budget or the step counts: the command line takes one or the other."""
    if minutes is not None and tokenizer_steps is not None:
        raise InputFileError(
            "a time budget and a number of tokenizer steps together cannot be given to the training "
            "processes (they take one or the other); train on one GPU"
        )
    args = [f"--minutes={_number(minutes)}"] if minutes is not None else []
    args += [f"--tokenizer-steps={int(tokenizer_steps)}"] if tokenizer_steps is not None else []
    args += [f"--prior-steps={int(prior_steps)}"] if prior_steps is not None else []
    return args


def _on_disk(recording: Recording, path: str | None) -> bool:
    """Whether `path` holds `recording` as it is in memory: the file is there and (when its
    sha256 was taken on reading) has not changed since."""
    if not path or not os.path.isfile(path):
        return False
    known = recording.known_sha256
    return known is None or file_sha256(path) == known


def _copy_name(recording: Recording) -> str:
    """Where in the copies' folder a copy of `recording` goes: a folder named by its samples and
    annotations (the same content, the same file, so another run on it or its resume finds it)
    holding it under its own file name (what `--labels files` takes as its label)."""
    digest = hashlib.sha256()
    for channel in recording.channels:
        digest.update(f"{channel.label}|{channel.unit}|{channel.rate!r}".encode())
        digest.update(channel.samples.tobytes())
    for a in recording.annotations:
        digest.update(f"{a.onset!r}|{a.duration!r}|{a.text}".encode())
    stem = os.path.splitext(recording.source.name)[0] if recording.source and recording.source.path else ""
    return os.path.join(digest.hexdigest()[:16], f"{stem or 'recording'}.edf")


def handed_files(
    recordings: Sequence[Recording],
    paths: Sequence[str],
    edited: Collection[Recording],
    folder: str,
    resume: bool = False,
) -> Generator[LogLine, None, list[str]]:
    """The files the processes read for `recordings` (with their `paths`, "" for none): each
    recording's own file when it holds the recording unchanged, else an EDF copy written into
    `folder` (kept there when it exists already: the same content gets the same file, so a
    project trained on a copy resumes on it). `edited` are recordings with annotation edits no
    file holds. A `resume` writes no new copy: the project was trained on other bytes, so it
    would refuse it. Runs in the job's thread (hashing and writing take a while); yields a line
    per copy."""
    from vqstudio.io import write_recording

    files = []
    for i, recording in enumerate(recordings):
        path = paths[i] if i < len(paths) else ""
        if not any(recording is e for e in edited) and _on_disk(recording, path):
            files.append(os.path.abspath(path))
            continue
        copy = os.path.join(folder, _copy_name(recording))
        what = "is held in memory" if not path else "differs from its file (edited in the app)"
        if not os.path.isfile(copy):
            if resume:
                raise InputFileError(
                    f"{os.path.basename(path) or 'a recording of this project'} {what}, so the "
                    "training processes cannot read it; resume on one GPU"
                )
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            # Trimmed to whole data records rather than padded: no invented samples to train on.
            write_recording(recording, copy, fit="trim")
        yield LogLine(
            f"{os.path.basename(path) or 'the recording'} {what}: the processes read a copy, {copy}"
        )
        files.append(copy)
    return files
