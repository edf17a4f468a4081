"""Training throughput and memory against the number of processes (torch.distributed); one JSON line.

    python bench/scale.py [--processes 1,2] [--files 2] [--channels 8] [--seconds 600]
                          [--steps 80] [--threads 1] [--device cpu|cuda] [--smoke]

Writes `--files` EDF recordings of `--channels` channels x `--seconds` at 256 Hz, then, for each
count N of `--processes`, trains the tokenizer alone for `--steps` steps with
`vqstudio train --nproc N` (gloo on a CPU, NCCL on GPUs), each process with `--threads` CPU
threads (1 by default: on a 2-core machine others share, two threads in one process beside a
busy one trained 12x slower than one, which is no measure of the processes). Windows/s is
read from the run's history (rank 0 logs the steps and their time): steps between the first and
the last loss read-out x the batch of every process, so the start-up
(reading, preparing, k-means) is left out. Peak memory is the largest resident size of any
process of the run. The load average before each run is given: on a machine others share, the
figures move with it. The data are held in memory by every process today (streaming them from
the files is a later step), so peak memory grows with `--seconds`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
from cli_runs import VQSTUDIO, peak_memory

RATE = 256.0


def counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected process counts like 1,2,4, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"process counts must be at least 1, got {text!r}")
    return values


def write_data(folder: str, files: int, channels: int, seconds: float) -> list[str]:
    from vqstudio.io import write_recording

    paths = []
    for i in range(1, files + 1):
        path = os.path.join(folder, f"scale-{i}.edf")
        write_recording(smoke.recording(f"scale-{i}", channels, seconds, RATE), path)
        paths.append(path)
    return paths


def windows_per_s(project: str, processes: int) -> tuple[float, int, int]:
    """Windows/s between the first and the last loss read-out of the tokenizer; its batch per
    process and its last step."""
    from vqstudio.project import Project

    project_ = Project.open(project)
    lines = [line for line in project_.history("tokenizer") if "losses" in line]
    batch = int(project_.stage("tokenizer").batch_size or 0)
    first, last = lines[0], lines[-1]
    seconds = last["time_s"] - first["time_s"]
    steps = last["step"] - first["step"]
    rate = steps * batch * processes / seconds if seconds > 0 and steps > 0 else 0.0
    return rate, batch, int(last["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=counts, default=[1, 2])
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each process")
    parser.add_argument("--device", default="cpu")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, channels=2, seconds=40.0, steps=4)

    folder = smoke.scratch_folder("vqstudio-scale-")
    inputs = write_data(folder, args.files, args.channels, args.seconds)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    runs = []
    for i, n in enumerate(args.processes):
        project = os.path.join(folder, f"run{i}-{n}")
        command = [*VQSTUDIO, "train", *inputs, "--project", project, "--window", "2", "--preset", "small"]
        command += ["--device", args.device, "--tokenizer-steps", str(args.steps), "--prior-steps", "0"]
        command += ["--nproc", str(n), "--threads", str(args.threads)]
        load = os.getloadavg()[0]
        peak, wall = peak_memory(command)
        rate, batch, step = windows_per_s(project, n)
        runs.append(
            {
                "processes": n,
                "threads_per_process": args.threads,
                "batch_per_process": batch,
                "steps": step,
                "windows_per_s": round(rate, 1),
                "peak_rss_bytes": peak,
                "wall_s": round(wall, 1),
                "load_average_before": round(load, 2),
            }
        )
        print(json.dumps(runs[-1]), file=sys.stderr)
    base = runs[0]["windows_per_s"] or 1.0
    print(
        json.dumps(
            {
                "bench": "scale",
                "device": args.device,
                "cores": cores,
                "data": {
                    "files": args.files,
                    "channels": args.channels,
                    "seconds": args.seconds,
                    "rate_hz": RATE,
                    "float32_bytes": int(args.files * args.channels * args.seconds * RATE * 4),
                },
                "runs": runs,
                # Each run's windows/s over the first run's (list: a count may be run twice).
                "speedup": [round(r["windows_per_s"] / base, 2) for r in runs],
                "smoke": bool(args.smoke),
            }
        )
    )


if __name__ == "__main__":
    main()
