"""Peak memory and speed of `vqstudio reconstruct` on a long many-channel recording.

Makes (or takes) a recording, trains a tokenizer for a few steps on its first minutes, then runs
`vqstudio reconstruct` in a child process and reads the child's peak resident memory. Prints one
JSON line.

    python bench/reconstruct.py --hours 2 --channels 64 --rate 160
    python bench/reconstruct.py --input long.edf
    python bench/reconstruct.py --smoke     # a minute of 2 channels at 64 Hz, in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
from cli_runs import ROOT, run_vqstudio


def _make(path: str, hours: float, channels: int, rate: float) -> None:
    from vqstudio.io import write_recording
    from vqstudio.recording import Recording

    rng = np.random.default_rng(0)
    n = int(hours * 3600 * rate)
    x = np.cumsum(rng.normal(0, 1, (channels, n)).astype(np.float32), axis=1)
    x -= np.linspace(0, 1, n, dtype=np.float32)[None] * x[:, -1:]  # no drift to the range
    write_recording(Recording.from_array(x, rate, [f"E{i}" for i in range(channels)], "uV"), path)


# The command in a child that reports its own peak resident memory (KiB on Linux) last on stderr.
_MEASURED = (
    "import resource, sys; from vqstudio.cli import main; rc = main(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="a recording (default: a simulated one)")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--rate", type=float, default=160.0)
    smoke.add_smoke_flag(ap)
    args = ap.parse_args()
    smoke.apply_smoke(ap, args, hours=1 / 60, channels=smoke.CHANNELS, rate=smoke.RATE)
    work = smoke.scratch_folder("vqs-bench-rec-")  # removed when the bench exits
    source = args.input or os.path.join(work, "long.edf")
    short = args.input or os.path.join(work, "short.edf")  # the tokenizer trains on 5 minutes
    if not args.input:
        _make(source, args.hours, args.channels, args.rate)
        _make(short, min(5 / 60, args.hours), args.channels, args.rate)
    project = os.path.join(work, "project")
    run_vqstudio("train", short, "--project", project, "--tokenizer-steps", "5", "--prior-steps", "0",
                 "--device", "cpu", "--preset", "small")  # fmt: skip
    out = os.path.join(work, "reconstructed.edf")
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, "reconstruct", project, source, "--out", out],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    wall = time.monotonic() - t0
    peak = int(done.stderr.strip().splitlines()[-1]) * 1024
    size = os.path.getsize(source)
    line = {
        "bench": "reconstruct",
        "input_bytes": size,
        "peak_rss_bytes": peak,
        "peak_over_input": round(peak / size, 2),
        "wall_s": round(wall, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))


if __name__ == "__main__":
    main()
