"""Diffusion sampler steps against quality and speed, on one trained project.

For each step count, `vqstudio generate --steps N` draws the same recordings (same seed) from the project's
prior, and `vqstudio evaluate --no-references` scores them against the held-out split (or
`--real`). Prints one JSON line: per step count, the generation wall time and speed
(signal-seconds per second), the PSD distance, band-power error, correlation distance, CNN
accuracy and, with `--beats`, the beats per minute and longest pause of lead 0 (the QRS detector
of bench/prior_ablation.py, its threshold from the project's training recording).

    python bench/sampler_steps.py PROJECT --out DIR [--steps 10,20,40,80]
        [--real FILE...] [--band LO,HI] [--seconds S] [--count N] [--beats] [--seed N] [--smoke]

Timed figures need an idle machine: run nothing else beside it. `--smoke`: one step count, two
short recordings each, with --beats, from a tiny project it trains in a temporary folder
(PROJECT and --out optional).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke  # noqa: E402
from cli_runs import generated_paths, run_vqstudio, synthetic_metrics  # noqa: E402
from prior_ablation import beat_figures, qrs_times  # noqa: E402

from vqstudio.cli.argtypes import frequency_band  # noqa: E402

KEEP = ("psd_lsd", "band_power", "correlation", "autocorrelation", "cnn_accuracy")


def _lead0(paths: list[str]) -> tuple[list[np.ndarray], float]:
    from vqstudio.io import read_recording

    signals, rate = [], 0.0
    for path in paths:
        channel = read_recording(path).channels[0]
        signals.append(np.asarray(channel.read(0, channel.n_samples), dtype=np.float64))
        rate = channel.rate
    return signals, rate


def _threshold(project_dir: str) -> float:
    """The QRS energy threshold of the project's first training recording (its first 90 %)."""
    from vqstudio.project import Project

    source = Project.open(project_dir).source_paths[0]
    (signal,), rate = _lead0([source])
    return qrs_times(signal[: int(0.9 * signal.size)], rate, None)[1]


def run_steps(steps: int, args: argparse.Namespace, threshold: float | None) -> dict[str, Any]:
    out = os.path.join(args.out, f"steps-{steps}")
    os.makedirs(out)
    synthetic = os.path.join(out, "synthetic.edf")
    gen = ["generate", args.project, "--seconds", str(args.seconds), "--count", str(args.count)]
    gen += ["--steps", str(steps), "--seed", str(args.seed), "--device", "cpu", "--out", synthetic]
    wall = run_vqstudio(*gen)
    paths = generated_paths(synthetic, args.count)
    metrics = synthetic_metrics(args.project, paths, out, real=args.real, band=args.band, seed=args.seed)
    row: dict[str, Any] = {
        "steps": steps,
        "generate_s": round(wall, 1),
        "signal_s_per_wall_s": round(args.seconds * args.count / wall, 1),
        **{k: metrics[k]["value"] for k in KEEP if k in metrics},
    }
    if threshold is not None:
        signals, rate = _lead0(paths)
        row.update(beat_figures(signals, rate, threshold))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", help="a trained project with a diffusion prior")
    parser.add_argument("--out", help="folder for the samples and reports (required)")
    parser.add_argument("--steps", default="10,20,40,80", help="step counts, separated by commas")
    parser.add_argument("--real", nargs="+", help="real recordings to compare with (default: held-out split)")
    parser.add_argument("--band", type=frequency_band, metavar="LO,HI", help="PSD distance band (Hz)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--beats", action="store_true", help="count the QRS complexes of lead 0 (ECG)")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        project = args.project or smoke.tiny_project()
        out = args.out or os.path.join(smoke.scratch_folder(), "out")
        small = {"steps": "4", "seconds": 4.0, "count": 2, "beats": True}
        smoke.apply_smoke(parser, args, project=project, out=out, **small)
    if not args.project or not args.out:
        parser.error("give PROJECT and --out DIR, or --smoke")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    os.makedirs(args.out, exist_ok=True)
    threshold = _threshold(args.project) if args.beats else None
    figures: dict[str, Any] = {
        "bench": "sampler_steps",
        "project": os.path.abspath(args.project),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "steps": {},
    }
    for steps in (int(s) for s in args.steps.split(",") if s.strip()):
        figures["steps"][steps] = run_steps(steps, args, threshold)
        print(f"{steps} steps: {json.dumps(figures['steps'][steps])}", file=sys.stderr, flush=True)
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
