"""Training throughput and memory against the number of processes and the data size; one JSON line.

    python bench/scale.py [--processes 1,2] [--files 2] [--channels 8] [--seconds 600]
                          [--steps 80] [--threads 1] [--device cpu|cuda] [--smoke]
    python bench/scale.py --data-mb 200,400 [--channels 64] [--file-minutes 30] [--in-memory-mb 100]
                          [--processes 1] [--steps 20]

Writes `--files` EDF recordings of `--channels` channels x `--seconds` at 256 Hz, then, for each
count N of `--processes`, trains the tokenizer alone for `--steps` steps with
`vqstudio train --nproc N` (gloo on a CPU, NCCL on GPUs), each process with `--threads` CPU
threads (1 by default: on a 2-core machine others share, two threads in one process beside a
busy one trained 12x slower than one, which is no measure of the processes). Windows/s is
read from the run's history (rank 0 logs the steps and their time): steps between the first and
the last loss read-out x the batch of every process, so the start-up
(reading, preparing, k-means) is left out. Peak memory is the largest resident size of any
process of the run. The load average before each run is given: on a machine others share, the
figures move with it. Without `--data-mb` the data are held in memory by every process, so peak
memory grows with `--seconds`.

The data-size axis (`--data-mb`, the issue's aim is 4096 with 64 channels at 256 Hz): for each size
a folder of EDF files of `--file-minutes` each, `--channels` channels at 256 Hz (16-bit samples:
the size is the files' bytes), built one file at a time in a temporary folder; then
`vqstudio train FOLDER --stream` (the windows from the project's cache on disk, never all in
memory) for each count of `--processes`, and, for sizes up to `--in-memory-mb`, the same run with
the windows in memory for comparison. Each run: peak resident memory of the largest process
against the data size, the cache's bytes on disk, wall time (the streaming preparation included)
and windows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def sizes(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes in MB like 200,400, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return values


def write_data(folder: str, files: int, channels: int, seconds: float) -> list[str]:
    from vqstudio.io import write_recording

    paths = []
    for i in range(1, files + 1):
        path = os.path.join(folder, f"scale-{i}.edf")
        write_recording(smoke.recording(f"scale-{i}", channels, seconds, RATE), path)
        paths.append(path)
    return paths


def write_set(folder: str, megabytes: float, channels: int, file_minutes: float) -> tuple[list[str], float]:
    """A folder of EDF files holding about `megabytes` of samples (16-bit): files of `file_minutes`,
    the last one shorter; each its own EEG-like signal (sines 4-32 Hz in noise), written one at a
    time so the bench holds one file. Returns the paths and the seconds of recording per channel."""
    import numpy as np

    from vqstudio.io import write_recording
    from vqstudio.recording import Recording

    total_s = megabytes * 1e6 / (channels * RATE * 2)
    paths, done, i = [], 0.0, 0
    labels = [f"E{c + 1}" for c in range(channels)]
    freqs = 4.0 + 1.5 * (np.arange(channels) % 20)
    while done < total_s - 1:
        i += 1
        seconds = min(file_minutes * 60, total_s - done)
        n = int(seconds * RATE)
        rng = np.random.default_rng(i)
        t = np.arange(n, dtype=np.float32) / np.float32(RATE)
        x = rng.normal(0, 5, (channels, n)).astype(np.float32)
        for c in range(channels):
            x[c] += (20 * np.sin(2 * np.pi * freqs[c] * t)).astype(np.float32)
        path = os.path.join(folder, f"rec-{i:04d}.edf")
        write_recording(Recording.from_array(x, RATE, labels, "uV"), path)
        del x, t
        paths.append(path)
        done += n / RATE
    return paths, done


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def size_axis(args: argparse.Namespace, folder: str, cores: int) -> None:
    """The data-size axis (module docstring): one JSON line."""
    runs = []
    for mb in args.data_mb:
        data = os.path.join(folder, f"data-{mb:g}MB")
        os.makedirs(data)
        paths, seconds = write_set(data, mb, args.channels, args.file_minutes)
        edf_bytes = folder_bytes(data)
        modes = ["stream"] + (["memory"] if mb <= args.in_memory_mb else [])
        for n in args.processes:
            for mode in modes:
                project = os.path.join(folder, f"P-{mb:g}-{n}-{mode}")
                command = [
                    *VQSTUDIO,
                    "train",
                    data,
                    "--project",
                    project,
                    "--window",
                    "2",
                    "--preset",
                    "small",
                ]
                command += [
                    "--device",
                    args.device,
                    "--tokenizer-steps",
                    str(args.steps),
                    "--prior-steps",
                    "0",
                ]
                command += ["--nproc", str(n), "--threads", str(args.threads)]
                command += ["--stream"] if mode == "stream" else []
                load = os.getloadavg()
                peak, wall = peak_memory(command)
                rate, batch, _step = windows_per_s(project, n)
                cache = os.path.join(project, "cache")
                runs.append(
                    {
                        "data_mb": round(edf_bytes / 1e6, 1),
                        "files": len(paths),
                        "hours_per_channel": round(seconds / 3600, 2),
                        "mode": mode,
                        "processes": n,
                        "peak_rss_bytes": peak,
                        "peak_rss_over_data": round(peak / edf_bytes, 3),
                        "cache_bytes": folder_bytes(cache) if os.path.isdir(cache) else 0,
                        "wall_s": round(wall, 1),
                        "windows_per_s": round(rate, 1),
                        "batch_per_process": batch,
                        "load_average_before": [round(v, 2) for v in load],
                    }
                )
                print(json.dumps(runs[-1]), file=sys.stderr)
                shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "scale",
                "axis": "data_size",
                "device": args.device,
                "cores": cores,
                "channels": args.channels,
                "rate_hz": RATE,
                "runs": runs,
                "smoke": bool(args.smoke),
            }
        )
    )


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
    parser.add_argument(
        "--data-mb", type=sizes, default=None, help="data sizes in MB (EDF bytes): the data-size axis"
    )
    parser.add_argument("--file-minutes", type=float, default=30.0, help="minutes per EDF file (--data-mb)")
    parser.add_argument(
        "--in-memory-mb", type=float, default=100.0, help="also train in memory up to this size (--data-mb)"
    )
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, channels=2, seconds=40.0, steps=4)

    folder = smoke.scratch_folder("vqstudio-scale-")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.data_mb:
        size_axis(args, folder, cores)
        return
    inputs = write_data(folder, args.files, args.channels, args.seconds)
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
