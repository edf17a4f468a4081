"""Where the app turns what the user chose into engine calls, as the command line does in its
subcommands: train (`training_job`; on all GPUs `processes_training_job`, the command line in
processes of its own), generate and keep in the project (`generation_job`), write generated
recordings elsewhere (`export_generated`), evaluate (`evaluation_job`). The window's panels
hand their choices here; the self-test (`ui.selftest`) runs the same functions.

The job factories return a function of the stop request (a `JobFunction`, what `ui.worker.Job`
runs in its thread) that yields the engine's events and returns its result; the self-test drains
that generator in its own thread. Engine modules that need torch are imported inside the job, in
the worker thread, never in the GUI thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Generator, Sequence
from typing import TYPE_CHECKING, Any

from vqstudio.events import LogLine
from vqstudio.recording import Recording
from vqstudio.threads import fixed_threads

if TYPE_CHECKING:
    from vqstudio.io import WriteReport

__all__ = [
    "JobFunction",
    "demo_job",
    "devices_job",
    "evaluation_job",
    "export_generated",
    "free_cores",
    "generation_job",
    "gui_threads",
    "job_threads",
    "processes_training_job",
    "training_job",
    "warm_up_job",
]

JobFunction = Callable[[threading.Event], Generator[Any, None, Any]]
SMALL_MACHINE_CORES = 4  # up to this many cores the GUI trains on all of them (at a lower priority)


def gui_threads(cores: int | None = None) -> int:
    """CPU threads the GUI's engine jobs use. On a small machine every core: leaving one of two
    idle halves the speed, and the job's lower priority keeps the window responsive instead. On
    a larger one, every core but one, left for the window. OMP_NUM_THREADS, when the user set
    it (the usual way to share a busy machine, where fewer threads can be faster), wins."""
    fixed = fixed_threads(None)
    if fixed is not None:
        return fixed
    cores = cores or os.cpu_count() or 1
    return cores if cores <= SMALL_MACHINE_CORES else cores - 1


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all CPUs from /proc/stat (Linux), or None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0.0), sum(fields[:8])


def free_cores(sample_s: float = 0.3, cores: int | None = None) -> float | None:
    """How many cores other work left idle over the next `sample_s` seconds (Linux), or None."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(sample_s)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1]) * (cores or os.cpu_count() or 1)


def job_threads(wanted: int | None, free: float | None) -> int | None:
    """The threads an engine job runs on: `wanted`, but no more than the cores left idle (at
    least one). On a busy machine every extra thread costs dearly: measured on 2 cores with
    other work running, two threads trained 13 times slower than one (bench/gui_vs_cli.py),
    since each parallel step waits for the thread the scheduler left out."""
    if wanted is None or free is None:
        return wanted
    return max(1, min(wanted, int(free + 0.5)))


def demo_job(folder: str) -> JobFunction:
    """A job opening the demo recording, simulated once into an EDF+ file in `folder` (so a
    project trained on it can be reopened and evaluated, like one trained on any file)."""

    def job(stop: threading.Event) -> Generator[Any, None, tuple[Recording, str]]:
        yield LogLine("simulating the demo recording")
        from vqstudio.data.simulate import demo_file
        from vqstudio.io import read_recording

        path = demo_file(folder)
        return read_recording(path), path

    return job


def devices_job(stop: threading.Event) -> Generator[Any, None, list[tuple[str, str]]]:
    """Loads torch (in the worker thread) and lists the compute devices present, as
    (value, text) pairs, 'auto' first."""
    yield LogLine("loading torch")
    from vqstudio.device import list_devices

    choices = [(name, f"{name}: {text}") for name, text in list_devices()]
    cores = os.cpu_count() or 1
    choices[-1] = ("cpu", f"cpu: {cores} cores (up to {gui_threads(cores)} used)")
    auto = choices[0][1].split(":", 1)[1].strip()
    import vqstudio.training  # noqa: F401 (imported here so the GUI thread never waits on it)

    return [("auto", f"auto ({choices[0][0]}: {auto})"), *choices]


# Engine modules the Train, Generate and Report tabs import when first built, and how a
# recording is read; scipy.stats (through the evaluation) alone takes about a second.
WARM_UP_MODULES = (
    "vqstudio.io",
    "vqstudio.project",
    "vqstudio.data.prep",
    "vqstudio.priors.registry",
    "vqstudio.generation.settings",
    "vqstudio.evaluation.table",
)


def warm_up_job(stop: threading.Event) -> Generator[Any, None, list[str]]:
    """Imports `WARM_UP_MODULES` in the worker thread after the window has shown, so neither
    start-up nor the first click on a tab waits on them; returns the modules imported."""
    import importlib

    done = []
    for name in WARM_UP_MODULES:
        if stop.is_set():
            break
        yield LogLine(f"importing {name}")
        importlib.import_module(name)
        done.append(name)
    return done


def training_job(
    options: dict[str, Any], project_dir: str, resume: bool, recordings: Sequence[Recording] | None
) -> JobFunction:
    """A training job: `options` are `TrainSettings` fields; `recordings` the open ones to train
    on (None: the project's own stored source files, when resuming)."""

    def job(stop: threading.Event) -> Generator[Any, None, Any]:
        from vqstudio.training import TrainSettings, train

        threads = job_threads(options.get("threads"), free_cores())
        if threads != options.get("threads"):
            yield LogLine(
                f"other work keeps the CPU busy: training on {threads} of {options['threads']} threads"
            )
        settings = TrainSettings(**{**options, "threads": threads})
        recs = list(recordings) if recordings is not None else None
        return (yield from train(settings, project_dir, stop, resume=resume, recordings=recs))

    return job


def processes_training_job(
    options: dict[str, Any],
    project_dir: str,
    resume: bool,
    recordings: Sequence[Recording],
    paths: Sequence[str],
    processes: int,
    edited: Collection[Recording] = (),
    copies_folder: str | None = None,
) -> JobFunction:
    """The Train tab's "all N GPUs" run: the same training as `training_job`, as
    `vqstudio train --nproc processes` in processes of its own (one per GPU, at
    `options["device"]`), its rank 0's events read back for the live plots (`ui.process_job`).
    `recordings` with their `paths` ("" for none) are what it trains on; those no unchanged file
    holds (in memory, `edited`) go as EDF copies into `copies_folder` (default: the run's
    temporary folder, removed at the end with the events file). Returns the engine's
    `TrainResult`, read from the project the processes wrote."""

    def job(stop: threading.Event) -> Generator[Any, None, Any]:
        import shutil
        import tempfile

        from ui.process_job import run_command
        from ui.train_command import handed_files, train_arguments, train_command

        args = train_arguments(options, resume, processes)  # a refusal before anything is written
        folder = tempfile.mkdtemp(prefix="vqstudio-train-")
        try:
            files = yield from handed_files(recordings, paths, edited, copies_folder or folder, resume)
            events = os.path.join(folder, "events.jsonl")
            device = options.get("device") or "auto"
            argv = train_command(files, project_dir, processes, device, args, resume, events)
            yield LogLine(f"training with {processes} processes, each on its share of every batch")
            code = yield from run_command(argv, events, os.path.join(folder, "stderr.txt"), stop)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _trained(project_dir, stopped=code != 0)

    return job


def _trained(project_dir: str, stopped: bool) -> Any:
    """How a run in other processes ended, as `train` returns it (`TrainResult`), from the
    project they wrote."""
    from vqstudio.errors import ProjectError
    from vqstudio.project import Project
    from vqstudio.training.job import TrainResult

    if stopped and not Project.exists(project_dir):
        raise ProjectError("stopped before the training processes made the project: nothing was trained")
    project = Project.open(project_dir)
    tok, prior = project.stage("tokenizer"), project.stage("prior")
    return TrainResult(
        project=project.path,
        stopped=stopped,
        tokenizer_step=tok.step,
        prior_step=prior.step,
        elapsed_s=tok.elapsed_s + prior.elapsed_s,
        metrics=dict(tok.metrics),
        prior_metrics=dict(prior.metrics),
    )


def generation_job(project_dir: str, options: dict[str, Any]) -> JobFunction:
    """A generation job: samples with `GenerateSettings(**options)` and keeps the recordings in
    the project's samples/ (as `vqstudio generate` does) so Evaluate can read them; returns
    (recordings, paths)."""

    def job(stop: threading.Event) -> Generator[Any, None, tuple[list[Recording], list[str]]]:
        from vqstudio.generation.export import unused_output, write_generated
        from vqstudio.generation.sampling import GenerateSettings, generate
        from vqstudio.io.write_guard import protecting
        from vqstudio.project import Project
        from vqstudio.project.lock import ProjectLock

        threads = job_threads(options.get("threads"), free_cores())
        # The samples go into the project: no other run may hold it (a command-line training).
        with ProjectLock(project_dir, "vqstudio-gui generate") as note:
            if note:
                yield LogLine(note, "warning")
            recs = yield from generate(project_dir, GenerateSettings(**{**options, "threads": threads}), stop)
            paths: list[str] = []
            if recs:
                project = Project.open(project_dir)
                folder = project.output_dir("samples")
                named = os.path.join(folder, f"gui_{time.strftime('%Y%m%d-%H%M%S')}.edf")
                out = unused_output(named, len(recs))
                with protecting(project.source_paths, "a recording this project was trained on"):
                    paths = [report.path for report in write_generated(recs, out)]
                yield LogLine(f"saved {len(paths)} recording(s) in {folder}")
        return list(recs), paths

    return job


def evaluation_job(
    project_dir: str,
    synthetic_paths: Sequence[str],
    real_paths: Sequence[str] | None = None,
    band: tuple[float, float] | None = None,
) -> JobFunction:
    """The `vqstudio evaluate` job (`vqstudio.evaluation.assessment.assess`) on the generated
    files, against `real_paths` or else (None or empty) the project's held-out split, with every
    reference and the PSD distance limited to `band` (Hz; None: 0.5 Hz to Nyquist). The JSON
    report and the plots go to the project's reports/; returns the `Assessment`."""
    synthetic = list(synthetic_paths)
    real = list(real_paths) if real_paths else None
    reports = os.path.join(project_dir, "reports")

    def job(stop: threading.Event) -> Generator[Any, None, Any]:
        from vqstudio.evaluation.assessment import assess
        from vqstudio.project.lock import ProjectLock

        # The report goes into the project: no other run may hold it (a command-line training).
        with ProjectLock(project_dir, "vqstudio-gui evaluate") as note:
            if note:
                yield LogLine(note, "warning")
            os.makedirs(reports, exist_ok=True)
            return (
                yield from assess(
                    project_dir,
                    synthetic,
                    real_paths=real,
                    json_path=os.path.join(reports, "report.json"),
                    plots_dir=os.path.join(reports, "plots"),
                    references=True,
                    band=band,
                    stop=stop,
                )
            )

    return job


def export_generated(
    recordings: Sequence[Recording], out: str, open_files: Sequence[str], project_dir: str | None
) -> list[WriteReport]:
    """File > Export synthetic: writes `recordings` through the engine's writer (`out` as
    `vqstudio generate --out` takes it: NAME.EXT, or NAME_1.EXT... for several), never over a
    recording open in the app (`open_files`) or one the project in `project_dir` was trained on.
    Runs where it is called (the writes are quick); raises the engine's `VQStudioError` (an
    `OutputError` naming the file it refused, a `ProjectError` for a damaged project)."""
    from vqstudio.generation.export import write_generated
    from vqstudio.io.write_guard import protecting
    from vqstudio.project import Project

    sources = Project.open(project_dir).source_paths if project_dir else []
    with (
        protecting(open_files, "a recording open in VQ Studio"),
        protecting(sources, "a training recording"),
    ):
        return write_generated(recordings, out)
