"""Running one command as several processes: `--nproc N`, and a process that `torchrun` started.

`--nproc N` starts the same command as N processes through `torch.distributed.run`'s own entry
point (a frozen app cannot run `python -m torch.distributed.run`); each of them, like a process
started by `torchrun` itself, does its share (`vqstudio.distributed`). In such a process a
SIGTERM (the launcher passing on a Ctrl-C or a scheduler's end of the job) stops the run as a
first Ctrl-C does; only rank 0 prints the results. `vqstudio train` and `vqstudio generate` use it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vqstudio.cli.argtypes import in_range
from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED
from vqstudio.ranges import Range

if TYPE_CHECKING:
    from vqstudio.cli.progress import ProgressPrinter

__all__ = [
    "add_nproc",
    "command_line",
    "launch",
    "launch_outcome",
    "run_in_world",
    "without_nproc",
    "worker_command",
]

NPROC = Range(1, 1024, 1)
# Repeated signals within this many seconds of the first are one request: a launcher passes on
# the Ctrl-C each worker also received from the terminal.
SIGNAL_GRACE_S = 5.0


def command_line(frozen: bool | None = None, executable: str | None = None) -> list[str]:
    """How this installation runs `vqstudio ...` as a new process: `python -m vqstudio`, or in a
    frozen app (PyInstaller) the `vqstudio` executable beside the running one (the app's
    `vqstudio-gui` runs the desktop app, not the command line)."""
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    executable = executable or sys.executable
    if not frozen:
        return [executable, "-m", "vqstudio"]
    name = "vqstudio.exe" if executable.lower().endswith(".exe") else "vqstudio"
    return [os.path.join(os.path.dirname(os.path.abspath(executable)), name)]


def add_nproc(p: argparse.ArgumentParser, help: str) -> None:
    """The `--nproc N` option (`help` says what each process does)."""
    p.add_argument("--nproc", type=in_range(NPROC, whole=True), default=1, metavar="N", help=help)


def run_in_world(job: Any, stop: threading.Event, printer: ProgressPrinter | None = None) -> Any:
    """`run_job` for one process of several: SIGINT and SIGTERM both set `stop` (the launcher
    answers a Ctrl-C, and SLURM the end of a job, with SIGTERM to every process, which then
    still has its shutdown time to checkpoint); repeats within `SIGNAL_GRACE_S` are the same
    request, a later one quits at once (as does any before the process joined its group). The
    handlers stay until the process ends: once one rank ends, the launcher sends SIGTERM to
    those still leaving, which would count as killed."""
    from vqstudio import distributed
    from vqstudio.cli.progress import ProgressPrinter

    first: list[float] = []

    def handler(signum: int, frame: Any) -> None:
        now = time.monotonic()
        # Before the group forms (a process waiting for one that refused and ended) there is
        # nothing to finish: end now, not after the launcher's shutdown time and a SIGKILL.
        if not distributed.has_joined() or (first and now - first[0] > SIGNAL_GRACE_S):
            raise KeyboardInterrupt
        if not first:
            first.append(now)
            stop.set()
            print(
                f"\nvqstudio: {signal.Signals(signum).name}: stopping every process after this step",
                file=sys.stderr,
                flush=True,
            )

    printer = printer or ProgressPrinter()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    try:
        while True:
            try:
                event = next(job)
            except StopIteration as done:
                return done.value
            printer(event)
    finally:
        printer.close()


def without_nproc(argv: list[str]) -> list[str]:
    """The command's arguments less `--nproc N` (each worker is one process)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def worker_command(argv: list[str], frozen: bool, argv0: str) -> list[str]:
    """What `torch.distributed.run` starts for each process: this command less `--nproc`, as
    `python -m vqstudio ...`, or in a frozen app (PyInstaller, no `-m`) its own executable under
    the name that runs the command line (`--no-python`)."""
    import shutil

    argv = without_nproc(argv)
    if frozen:
        return ["--no-python", shutil.which(argv0) or os.path.abspath(argv0), *argv]
    return ["-m", "vqstudio", *argv]


def launch_outcome(failures: dict[int, tuple[int, int]]) -> tuple[int, tuple[int, int, str] | None]:
    """The command's exit code from the processes that failed (`{rank: (exit code, pid)}`, as
    the launcher reports them), and the rank, pid and signal of a process that was killed (None
    when each said why itself: bad input, a lost peer, a stop)."""
    from vqstudio.cli.exit_codes import EXIT_BAD_INPUT, EXIT_INTERNAL

    codes = {code for code, _ in failures.values()}
    # A SIGTERM or SIGINT that ended a process came from the launcher, once another process had
    # ended (a process that is training takes them as a stop): a consequence, not a cause.
    passed_on = {-signal.SIGTERM, -signal.SIGINT}
    if EXIT_STOPPED in codes and codes <= {EXIT_STOPPED, *passed_on}:
        return EXIT_STOPPED, None
    killed = {rank: f for rank, f in failures.items() if f[0] < 0 and f[0] not in passed_on}
    if not killed and not codes - passed_on:  # only passed-on signals: whoever was killed first
        killed = {rank: f for rank, f in failures.items() if f[0] < 0}
    if not killed:  # each process said why itself (one line on stderr)
        said = codes - passed_on <= {EXIT_BAD_INPUT, EXIT_STOPPED}
        return (EXIT_BAD_INPUT if said else EXIT_INTERNAL), None
    rank, (code, pid) = min(killed.items())
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return EXIT_INTERNAL, (rank, pid, name)


def launch(args: argparse.Namespace, what: str, kept: Callable[[], str]) -> int:
    """Starts `args.nproc` processes of this same command through `torch.distributed.run` (a
    rendezvous on a free local port) and waits for them; returns the command's exit code. A
    process that failed or was killed is one line naming its rank, what the run was (`what`:
    "training", "generation") and what is kept (`kept()`: the last checkpoint, the files written)."""
    import logging
    import shutil
    import tempfile

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as run_processes

    from vqstudio.device import resolve_device
    from vqstudio.errors import DeviceError
    from vqstudio.threads import available_cores

    # Said once here rather than by every process: what the processes would run on.
    device = resolve_device(getattr(args, "device", "cpu"))  # evaluate: the CPU (gloo)
    if device.type == "mps":
        raise DeviceError("--nproc runs on CUDA GPUs or CPUs, not Apple's MPS; use --device cpu")
    if device.type == "cuda":
        import torch

        if args.nproc > torch.cuda.device_count():
            raise DeviceError(
                f"--nproc {args.nproc} asks for one process per GPU, but this machine has "
                f"{torch.cuda.device_count()}; use --nproc {torch.cuda.device_count()} or --device cpu"
            )
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    worker = worker_command(argv, bool(getattr(sys, "frozen", False)), sys.argv[0])
    if "OMP_NUM_THREADS" not in os.environ and getattr(args, "threads", None) is None:
        # The processes share this machine's cores (torchrun would give each one thread).
        os.environ["OMP_NUM_THREADS"] = str(max(1, available_cores() // args.nproc))
    # Time for every process to finish its step and for rank 0 to write its checkpoint once the
    # launcher passes on a Ctrl-C (torch's default is 30 s).
    os.environ.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "120")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # our own line says it
    # The launcher's own logs (its default folder would stay behind in the temporary folder).
    logs = tempfile.mkdtemp(prefix="vqstudio-launch-")
    options = ["--nproc-per-node", str(args.nproc), "--rdzv-backend", "c10d", "--log-dir", logs]
    options += ["--rdzv-endpoint", "localhost:0"]  # a free port of this machine
    try:
        run_processes(parse_args([*options, *worker]))
    except SignalException:
        return EXIT_STOPPED
    except ChildFailedError as e:
        code, killed = launch_outcome({r: (f.exitcode, f.pid) for r, f in e.failures.items()})
        if killed is not None:
            rank, pid, name = killed
            print(
                f"vqstudio: {what} process rank {rank} (pid {pid}) was killed by {name}; the run "
                f"stopped; {kept()}",
                file=sys.stderr,
            )
        return code
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    return EXIT_OK
