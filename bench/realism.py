"""Realism on real data within a fixed CPU budget: train, generate, evaluate, for each prior.

For each prior (diffusion, autoregressive) the benchmark runs what a user runs, as
subprocesses of the `vqstudio` command: `train ... --minutes M --device cpu`, `generate`, then
`evaluate` with every reference. It prints one JSON line: per prior, every metric's headline
value for the synthetic set beside held-out real (one held-out half against the other),
reconstruction (held-out windows through the tokenizer) and the phase-randomized surrogate,
the classifier accuracies' intervals, the memorization verdicts, the windows left out as flat,
and the training and generation figures (steps, wall time). Data stays where it is: give the
paths; nothing is copied. `--band LO,HI` limits the PSD log-spectral distance to that band
(`vqstudio evaluate --band`), for a recording low-passed or notched before it reached you; the
JSON gives the band asked for (`band_hz`, null: 0.5 Hz to Nyquist) and, per prior, the one the
report used (`psd_band_hz`).

    python bench/realism.py FILE... --out DIR [--real FILE...] [--minutes M | --steps TOK,PRIOR]
        [--priors diffusion,autoregressive] [--channels A,B] [--window S] [--seconds S]
        [--count N] [--band LO,HI] [--codec shared|per-channel] [--seed N] [--smoke]

`--steps TOK,PRIOR` trains each stage for that many steps instead of `--minutes`. `--smoke`: the
diffusion prior alone, a few steps, two short recordings generated, on two tiny recordings it
writes into a temporary folder (FILE and --out optional).

ECG (its own held-out split, the last 10 % of the recording):
    python bench/realism.py ../shared/data/challenge2015/a103l_ecg.csv --minutes 8 --out /tmp/ecg
EEG, one eegmat subject left out of training and used as the real reference; eegmat is
filtered before it was published (its EDF headers: HP:0.5Hz LP:45Hz RF:50Hz), so its PSD
distance is taken from 0.5 to 45 Hz:
    python bench/realism.py ../shared/data/eegmat/Subject02_2.edf ../shared/data/eegmat/Subject04_2.edf \\
        --real ../shared/data/eegmat/Subject31_1.edf --channels "EEG Fp1,EEG Fp2,...,EEG Pz" \\
        --band 0.5,45 --minutes 8 --out /tmp/eeg
(eegmat: Zyma et al., PhysioNet 2018, doi:10.13026/C2JQ1P; Challenge 2015: Clifford et al.,
PhysioNet; both ODC-By 1.0. See ../shared/data/README.md.)

Timed figures need an idle machine: run nothing else beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke  # noqa: E402
from cli_runs import evaluate, generated_paths, run_vqstudio, step_pair, training_figures  # noqa: E402

from vqstudio.cli.argtypes import frequency_band  # noqa: E402  (the repository root, added above)

COLUMNS = ("synthetic", "held_out_half", "reconstruction", "surrogate")


def _headlines(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """Every metric's headline value, the classifiers' 95 % intervals, the memorization verdict
    and the flat windows left out, from one report's JSON."""
    if report is None:
        return None
    metrics = report.get("metrics", {})
    out: dict[str, Any] = {key: m.get("value") for key, m in metrics.items()}
    for key in ("cnn_accuracy", "feature_accuracy"):
        ci = (metrics.get(key) or {}).get("details", {}).get("accuracy_ci95")
        if ci:
            out[f"{key}_ci95"] = [round(100 * v, 1) for v in ci]
    out["memorization_verdict"] = report.get("memorization_verdict")
    out["excluded_flat"] = report.get("excluded_flat")
    out["windows"] = report.get("windows")
    return out


def run_prior(prior: str, args: argparse.Namespace) -> dict[str, Any]:
    project = os.path.join(args.out, f"project-{prior}")
    train = ["train", *args.files, "--project", project, "--prior", prior]
    if args.steps:
        train += ["--tokenizer-steps", str(args.steps[0]), "--prior-steps", str(args.steps[1])]
    else:
        train += ["--minutes", str(args.minutes)]
    train += ["--device", "cpu", "--seed", str(args.seed), "--window", str(args.window)]
    if args.channels:
        train += ["--channels", args.channels]
    if args.codec:
        train += ["--codec", args.codec]
    train_s = run_vqstudio(*train)
    synthetic = os.path.join(args.out, f"{prior}.edf")
    gen = ["generate", project, "--seconds", str(args.seconds), "--count", str(args.count)]
    generate_s = run_vqstudio(*gen, "--device", "cpu", "--seed", str(args.seed), "--out", synthetic)
    report, evaluate_s = evaluate(
        project,
        generated_paths(synthetic, args.count),
        os.path.join(args.out, f"report-{prior}.json"),
        os.path.join(args.out, f"plots-{prior}"),
        real=args.real,
        band=args.band,
        seed=args.seed,
    )
    references = report.get("references", {})
    figures: dict[str, Any] = {
        "train_s": round(train_s, 1),
        "generate_s": round(generate_s, 1),
        "signal_s_per_wall_s": round(args.seconds * args.count / generate_s, 2),
        "evaluate_s": round(evaluate_s, 1),
        "training": training_figures(project),
    }
    for column in COLUMNS:
        figures[column] = _headlines(report if column == "synthetic" else references.get(column))
    figures["reference_notes"] = report.get("reference_notes")
    figures["psd_band_hz"] = report.get("psd_band_hz")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="training recordings (paths; nothing is copied)")
    parser.add_argument("--real", nargs="+", help="real recordings left out of training to compare with")
    parser.add_argument("--out", help="folder for projects, samples and reports (required)")
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per prior")
    parser.add_argument(
        "--steps",
        type=step_pair,
        metavar="TOK,PRIOR",
        help="training steps of each stage instead of --minutes",
    )
    parser.add_argument("--priors", default="diffusion,autoregressive", help="priors, separated by commas")
    parser.add_argument("--channels", help="channel labels separated by commas (default: the engine's)")
    parser.add_argument("--window", type=float, default=4.0, help="window length in seconds")
    parser.add_argument(
        "--codec",
        choices=("shared", "per-channel"),
        help="the tokenizer (`vqstudio train --codec`; default: train's)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated recording")
    parser.add_argument("--count", type=int, default=4, help="recordings generated per prior")
    parser.add_argument(
        "--band",
        type=frequency_band,
        metavar="LO,HI",
        help="limit the PSD distance to LO-HI Hz, e.g. 0.5,45 (default: 0.5 Hz to Nyquist)",
    )
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke.scratch_folder()
        files = args.files or smoke.write_recordings(folder)
        out = args.out or os.path.join(folder, "out")
        steps = (smoke.TOKENIZER_STEPS, smoke.PRIOR_STEPS)
        small = {"priors": "diffusion", "window": smoke.WINDOW_S, "seconds": 4.0, "count": 2}
        smoke.apply_smoke(parser, args, files=files, out=out, steps=steps, **small)
    if not args.files or not args.out:
        parser.error("give the training recordings (FILE...) and --out DIR, or --smoke")
    priors = [p.strip() for p in args.priors.split(",") if p.strip()]
    unknown = [p for p in priors if p not in ("diffusion", "autoregressive")]
    if unknown or not priors:
        parser.error(f"--priors takes diffusion and/or autoregressive, got {args.priors!r}")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    os.makedirs(args.out, exist_ok=True)
    figures: dict[str, Any] = {
        "files": [os.path.abspath(f) for f in args.files],
        "real": [os.path.abspath(f) for f in args.real] if args.real else "held-out split",
        "minutes": None if args.steps else args.minutes,
        **({"steps": list(args.steps)} if args.steps else {}),
        "codec": args.codec or "default",
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "seed": args.seed,
        "band_hz": list(args.band) if args.band else None,
        "priors": {prior: run_prior(prior, args) for prior in priors},
    }
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures, default=lambda v: None))


if __name__ == "__main__":
    main()
