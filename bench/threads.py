"""Tokenizer steps per minute with 1 thread, 2 threads and "auto" (timed), on the machine as it is
and beside one busy process; prints one JSON line.

    python bench/threads.py [--seconds 40] [--counts 1,2,auto] [--busy none,python] [--smoke]

Each run is the app's own training (`vqstudio.training.train`, tokenizer only, CPU) on the
simulated demo recording for `--seconds` of budget; steps per minute count the stage's whole
time (validation and checkpoints too, as a user sees it). `busy=python` runs a
`while True: pass` process beside it, started before and killed after each run. Each figure
comes with `os.getloadavg()` taken when its run ended (other people's work on a shared machine
shows there), and the "auto" runs with the tuner's log lines (its choice and any change).
`--smoke`: one run, 1 thread beside a busy process, a second's budget, on a tiny recording.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
import torch

from vqstudio.data.simulate import simulate
from vqstudio.events import LogLine
from vqstudio.threads import available_cores
from vqstudio.training import TrainSettings, train


def one_run(recording, threads: int | None, seconds: float) -> dict:
    settings = TrainSettings(device="cpu", threads=threads, prior_steps=0, minutes=seconds / 60, window_s=4.0)
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        job = train(settings, os.path.join(folder, "p"), threading.Event(), recordings=[recording])
        t0 = time.monotonic()
        try:
            while True:
                event = next(job)
                if isinstance(event, LogLine) and "thread" in event.message:
                    lines.append(event.message)
        except StopIteration as done:
            result = done.value
    wall = time.monotonic() - t0
    return {
        "threads": "auto" if threads is None else threads,
        "steps": result.tokenizer_step,
        "steps_per_min": round(60 * result.tokenizer_step / wall, 1),
        "threads_at_end": torch.get_num_threads(),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        **({"log": lines} if lines else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="training budget of each run")
    parser.add_argument("--counts", default="1,2,auto")
    parser.add_argument("--busy", default="none,python", help="none: the machine as it is; python: a spinner")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args(argv)
    smoke.apply_smoke(parser, args, seconds=1.0, counts="1", busy="python")
    os.environ.pop("OMP_NUM_THREADS", None)  # auto means timed, not the environment's count
    recording = smoke.recording("threads") if args.smoke else simulate(seconds=300.0)
    runs = []
    for busy in args.busy.split(","):
        for count in args.counts.split(","):
            threads = None if count == "auto" else int(count)
            torch.set_num_threads(available_cores())
            spinner = None
            if busy == "python":
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(1.0)
            try:
                runs.append({"busy": busy, **one_run(recording, threads, args.seconds)})
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    line = {
        "bench": "threads",
        "cores": available_cores(),
        "seconds_per_run": args.seconds,
        "torch": torch.__version__,
        "runs": runs,
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
