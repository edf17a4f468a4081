"""What differential privacy buys and costs on real data: membership attacks and realism, for
training without it and with `--dp-epsilon` E, in the same CPU budget.

For each epsilon asked ("none" is training without differential privacy) the bench runs what a
user runs, as subprocesses of the `vqstudio` command: `train ... --minutes M --device cpu
[--dp-epsilon E]`, `generate`, `evaluate` (no references: the membership attacks and the metrics
of the synthetic set). It prints one JSON line: per epsilon, the epsilon spent, the noise
multiplier and the steps of each stage, each membership attack's AUC per window with its interval
and the strongest, the PSD log-spectral distance, the band-power error and the CNN's accuracy.

    python bench/privacy.py FILE... --out DIR [--real FILE...] [--epsilons none,10,1]
        [--minutes M | --steps TOK,PRIOR] [--channels A,B] [--window S] [--held-out F] [--band LO,HI]
        [--dp-unit window|recording] [--seconds S] [--count N] [--seed N] [--smoke]

ECG (its own held-out split): python bench/privacy.py ../shared/data/challenge2015/a103l_ecg.csv
    --minutes 8 --out /tmp/privacy-ecg
EEG: the realism bench's eegmat files with --band 0.5,45 (see bench/realism.py).
`--smoke`: two tiny recordings it writes, a few steps, epsilons none and 10.
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
from cli_runs import evaluate, generated_paths, run_vqstudio, step_pair  # noqa: E402

from vqstudio.cli.argtypes import frequency_band  # noqa: E402  (the repository root, added above)


def _attacks(membership: dict[str, Any] | None) -> dict[str, Any]:
    """Each attack's window AUC and interval, and the strongest attack, from a report."""
    if not membership:
        return {}
    out: dict[str, Any] = {}
    for name, attack in (membership.get("attacks") or {}).items():
        window = attack.get("window") or {}
        out[name] = {k: window.get(k) for k in ("auc", "auc_ci95", "tpr_at_1pct_fpr", "skipped")}
    out["strongest"] = membership.get("strongest")
    return out


def _metric(report: dict[str, Any], key: str) -> float | None:
    metric = (report.get("metrics") or {}).get(key) or {}
    return metric.get("value")


def run_epsilon(epsilon: str, args: argparse.Namespace) -> dict[str, Any]:
    """Trains, generates and evaluates one project: without privacy ("none") or at `epsilon`."""
    from vqstudio.project import Project

    tag = "none" if epsilon == "none" else f"eps{epsilon}"
    project = os.path.join(args.out, f"project-{tag}")
    train = ["train", *args.files, "--project", project, "--device", "cpu", "--seed", str(args.seed)]
    train += ["--window", str(args.window)]
    if args.held_out is not None:
        train += ["--held-out", str(args.held_out)]
    if args.steps:
        train += ["--tokenizer-steps", str(args.steps[0]), "--prior-steps", str(args.steps[1])]
    else:
        train += ["--minutes", str(args.minutes)]
    if args.channels:
        train += ["--channels", args.channels]
    if epsilon != "none":
        train += ["--dp-epsilon", epsilon, "--dp-unit", args.dp_unit]
    else:
        # The private run trains at the recordings' own rate: so does its comparison.
        train += ["--resample", str(_source_rate(args.files, args.channels))]
    train_s = run_vqstudio(*train)
    synthetic = os.path.join(args.out, f"{tag}.edf")
    run_vqstudio(
        "generate", project, "--seconds", str(args.seconds), "--count", str(args.count),
        "--device", "cpu", "--seed", str(args.seed), "--out", synthetic,
    )  # fmt: skip
    report, _ = evaluate(
        project,
        generated_paths(synthetic, args.count),
        os.path.join(args.out, f"report-{tag}.json"),
        os.path.join(args.out, f"plots-{tag}"),
        real=args.real,
        band=args.band,
        references=False,
        seed=args.seed,
    )
    record = Project.open(project).record
    privacy = dict(record.privacy) if record.privacy else None
    return {
        "train_s": round(train_s, 1),
        "steps": {stage: p.step for stage, p in record.progress.items()},
        "epsilon_spent": privacy["epsilon"] if privacy else None,
        "delta": privacy["delta"] if privacy else None,
        "noise_multiplier": privacy["noise_multiplier"] if privacy else None,
        "attacks": _attacks(report.get("membership")),
        "psd_lsd_db": _metric(report, "psd_lsd"),
        "band_power_error": _metric(report, "band_power"),
        "cnn_accuracy": _metric(report, "cnn_accuracy"),
    }


def _source_rate(files: list[str], channels: str | None) -> float:
    """The rate a private run trains at: the chosen channels' own (the engine's rule)."""
    from vqstudio.data.prep import PrepConfig, prepare
    from vqstudio.io import read_recording

    wanted = tuple(channels.split(",")) if channels else None
    prepared = prepare([read_recording(f) for f in files], PrepConfig(channels=wanted))
    return prepared.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="training recordings (paths; nothing is copied)")
    parser.add_argument("--real", nargs="+", help="real recordings left out of training to compare with")
    parser.add_argument("--out", help="folder for projects, samples and reports (required)")
    parser.add_argument("--epsilons", default="none,10,1", help="epsilons, separated by commas (none: off)")
    parser.add_argument("--dp-unit", default="window", choices=("window", "recording"))
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per run")
    parser.add_argument("--steps", type=step_pair, metavar="TOK,PRIOR", help="steps instead of --minutes")
    parser.add_argument("--channels", help="channel labels separated by commas (default: the engine's)")
    parser.add_argument("--window", type=float, default=4.0, help="window length in seconds")
    parser.add_argument(
        "--held-out",
        type=float,
        help="share of each recording held out (train --held-out; the non-member candidates): more "
        "reads the attacks on more windows",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated recording")
    parser.add_argument("--count", type=int, default=4, help="recordings generated per run")
    parser.add_argument("--band", type=frequency_band, metavar="LO,HI", help="PSD distance band (Hz)")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke.scratch_folder()
        files = args.files or smoke.write_recordings(folder)
        out = args.out or os.path.join(folder, "out")
        steps = (smoke.TOKENIZER_STEPS, smoke.PRIOR_STEPS)
        small = {"window": smoke.WINDOW_S, "seconds": 4.0, "count": 2, "epsilons": "none,10"}
        smoke.apply_smoke(parser, args, files=files, out=out, steps=steps, **small)
    if not args.files or not args.out:
        parser.error("give the training recordings (FILE...) and --out DIR, or --smoke")
    epsilons = [e.strip() for e in args.epsilons.split(",") if e.strip()]
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    os.makedirs(args.out, exist_ok=True)
    figures: dict[str, Any] = {
        "bench": "privacy",
        "files": [os.path.abspath(f) for f in args.files],
        "real": [os.path.abspath(f) for f in args.real] if args.real else "held-out split",
        "minutes": None if args.steps else args.minutes,
        **({"steps": list(args.steps)} if args.steps else {}),
        "dp_unit": args.dp_unit,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "band_hz": list(args.band) if args.band else None,
        "runs": {e: run_epsilon(e, args) for e in epsilons},
    }
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures, default=lambda v: None))


if __name__ == "__main__":
    main()
