"""How good the generated recordings are: train a project within a time budget, generate, evaluate.

Trains the tokenizer and a prior on real recordings with the engine's own `train` job, generates
synthetic recordings (one set per label for a conditional project), and evaluates them with the
`evaluate` command's `assess` job against the held-out split, beside the two references it
computes the same way: one held-out half against the other (the best achievable) and a
phase-randomized surrogate of the training windows (a same-spectrum baseline). Prints one JSON
line: every metric's headline value for the synthetic set and the references, the memorization
flag, train-on-synthetic/test-on-real beside train-on-real/test-on-real, and training figures.

    python bench/prior_quality.py FILE... --out DIR [--prior diffusion|autoregressive]
        [--minutes M | --steps TOK,PRIOR] [--labels none|annotations|files] [--val-fraction F]
        [--channels A,B] [--seconds S] [--count N] [--window SECONDS] [--threads N] [--smoke]

`--steps TOK,PRIOR` trains each stage for that many steps instead of `--minutes`. `--smoke`: a
few steps on two tiny recordings it writes into a temporary folder, a label per file, two short
recordings generated per label (FILE and --out optional).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
from cli_runs import step_pair


def _headlines(report) -> dict:
    return {key: m.value for key, m in report.metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="training recordings")
    parser.add_argument("--out", help="folder for the project, samples and report (required)")
    parser.add_argument("--prior", default="diffusion", choices=("diffusion", "autoregressive"))
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--steps",
        type=step_pair,
        metavar="TOK,PRIOR",
        help="training steps of each stage instead of --minutes",
    )
    parser.add_argument("--labels", default="none", choices=("none", "annotations", "files"))
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--channels", help="labels separated by commas (default: the engine's choice)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated recording")
    parser.add_argument("--count", type=int, default=4, help="recordings generated (per label)")
    parser.add_argument("--window", type=float, default=4.0, help="window length in seconds")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke.scratch_folder()
        files = args.files or smoke.write_recordings(folder)
        out = args.out or os.path.join(folder, "out")
        steps = (smoke.TOKENIZER_STEPS, smoke.PRIOR_STEPS)
        small = {"labels": "files", "window": smoke.WINDOW_S, "seconds": 4.0, "count": 2, "threads": 1}
        smoke.apply_smoke(parser, args, files=files, out=out, steps=steps, **small)
    if not args.files or not args.out:
        parser.error("give the training recordings (FILE...) and --out DIR, or --smoke")

    from vqstudio.evaluation.assessment import assess
    from vqstudio.events import run_to_end
    from vqstudio.generation.sampling import GenerateSettings, generate
    from vqstudio.io import write_recording
    from vqstudio.priors.store import load_prior
    from vqstudio.project import Project
    from vqstudio.training import TrainSettings, train

    os.makedirs(args.out, exist_ok=True)
    project_dir = os.path.join(args.out, f"project-{args.prior}")
    settings = TrainSettings(
        inputs=tuple(args.files),
        channels=tuple(args.channels.split(",")) if args.channels else None,
        window_s=args.window,
        prior=args.prior,
        minutes=None if args.steps else args.minutes,
        tokenizer_steps=args.steps[0] if args.steps else None,
        prior_steps=args.steps[1] if args.steps else None,
        labels=args.labels,
        device="cpu",
        seed=args.seed,
        threads=args.threads,
        val_fraction=args.val_fraction,
    )
    stop = threading.Event()
    t0 = time.perf_counter()
    result = run_to_end(train(settings, project_dir, stop))
    train_s = time.perf_counter() - t0

    labels = load_prior(Project.open(project_dir).prior_path).label_names or [None]  # what generate takes
    synthetic_paths, generated_s, t0 = [], 0.0, time.perf_counter()
    for label in labels:
        gen = GenerateSettings(
            seconds=args.seconds,
            count=args.count,
            label=label,
            seed=args.seed,
            device="cpu",
            threads=args.threads,
        )
        for i, rec in enumerate(run_to_end(generate(project_dir, gen, stop))):
            path = os.path.join(args.out, f"{args.prior}-{label or 'synthetic'}-{i + 1}.edf")
            write_recording(rec, path)
            synthetic_paths.append(path)
            generated_s += args.seconds
    generate_s = time.perf_counter() - t0

    assessment = run_to_end(
        assess(
            project_dir,
            synthetic_paths,
            json_path=os.path.join(args.out, f"report-{args.prior}.json"),
            plots_dir=os.path.join(args.out, f"plots-{args.prior}"),
            references=True,
            seed=args.seed,
        )
    )
    report = assessment.report
    tstr = report.metrics.get("tstr")
    figures = {
        "files": [os.path.basename(f) for f in args.files],
        "prior": args.prior,
        "labels": args.labels,
        "minutes": None if args.steps else args.minutes,
        "tokenizer_steps": result.tokenizer_step,
        "prior_steps": result.prior_step,
        "train_s": round(train_s, 1),
        "tokenizer_validation": result.metrics,
        "signal_s_per_wall_s": round(generated_s / generate_s, 2),
        "windows": {"real": report.n_real, "synthetic": report.n_synthetic, "train": report.n_train},
        "synthetic": _headlines(report),
        "held_out_half": _headlines(assessment.references["held_out_half"])
        if "held_out_half" in assessment.references
        else None,
        "surrogate": _headlines(assessment.references["surrogate"]),
        "memorization_flag": report.memorization_flag,
        "surrogate_memorization_flag": assessment.references["surrogate"].memorization_flag,
        "tstr": tstr.details if tstr is not None and tstr.value is not None else None,
    }
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures, default=lambda v: None))


if __name__ == "__main__":
    main()
