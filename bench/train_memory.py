"""Peak memory of `vqstudio train` per sample of its input, beside the estimate it checks first.

    .venv/bin/python bench/train_memory.py --seconds 20000 --channels 2 --rate 1000

Writes a recording of that size (a 10 Hz sine in white noise) into a temporary folder, trains
one tokenizer step on it in a child process and reads the child's peak resident memory. The
figure to compare is bytes per channel-sample against `vqstudio.data.prep.PREP_BYTES_PER_SAMPLE`,
the constant the check before training uses. Prints one JSON line. `--smoke`: 2 minutes of 2
channels at 64 Hz.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
from cli_runs import VQSTUDIO, peak_memory

from vqstudio.data.prep import PREP_BYTES_PER_SAMPLE
from vqstudio.io import write_recording
from vqstudio.recording import Recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20000.0)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000.0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, seconds=120.0, channels=smoke.CHANNELS, rate=smoke.RATE)
    n = int(args.seconds * args.rate)
    rng = np.random.default_rng(0)
    sine = 30 * np.sin(2 * np.pi * 10 * np.arange(n) / args.rate)
    x = np.stack([(sine + rng.normal(0, 5, n)).astype(np.float32) for _ in range(args.channels)])
    labels = [f"ch{i + 1}" for i in range(args.channels)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.edf")
        write_recording(Recording.from_array(x, args.rate, labels, "uV"), path)
        del x, sine
        small = os.path.join(folder, "small.edf")
        write_recording(
            Recording.from_array(
                np.zeros((args.channels, 1)) + rng.normal(0, 5, (args.channels, 60 * int(args.rate))),
                args.rate,
                labels,
                "uV",
            ),
            small,
        )
        common = ["--preset", "small", "--tokenizer-steps", "1", "--prior-steps", "0", "--device", "cpu"]
        base, _ = peak_memory([*VQSTUDIO, "train", small, "--project", os.path.join(folder, "p0"), *common])
        peak, wall = peak_memory([*VQSTUDIO, "train", path, "--project", os.path.join(folder, "p1"), *common])
    samples = n * args.channels
    line = {
        "bench": "train_memory",
        "channel_samples": samples,
        "peak_mb": round(peak / 1e6, 1),
        "baseline_mb": round(base / 1e6, 1),
        "bytes_per_sample": round((peak - base) / samples, 1),
        "estimate_bytes_per_sample": PREP_BYTES_PER_SAMPLE,
        "wall_s": round(wall, 1),
        "load_avg": os.getloadavg()[0],
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))


if __name__ == "__main__":
    main()
