"""Tokenizer variants within a fixed CPU budget, judged by how real their reconstructions look.

For each variant (the "small" preset with a few settings changed) the bench trains a tokenizer
alone as `vqstudio train --prior-steps 0 --minutes M` trains it (the app's training job, its
preparation, thread choice and schedule), then runs `vqstudio evaluate` with every reference
and reports the reconstruction row: the held-out windows (the project's held-out split, or the
`--real` recordings of people left out of training) encoded and decoded, against themselves.
It prints one JSON line: per variant, the reconstruction's metrics (PSD distance in the band
given, band-power error, correlation distance, CNN accuracy...), the held-out SNR and codebook
use of the last validation, and steps and speed. Data stays where it is.

    python bench/tokenizer_budget.py FILE... --out DIR [--real FILE...] [--channels A,B]
        [--minutes M | --tokenizer-steps N] [--band LO,HI] [--variants default,critic,...]
        [--threads N] [--seed N] [--smoke]

`--smoke`: one variant, a few steps, on two tiny recordings it writes into a temporary folder
(FILE and --out optional).

EEG, the aim of the realism issue (4 minutes, 19 channels, a subject left out):
    python bench/tokenizer_budget.py ../shared/data/eegmat/Subject02_2.edf \\
        ../shared/data/eegmat/Subject04_2.edf --real ../shared/data/eegmat/Subject31_1.edf \\
        --channels "EEG Fp1,...,EEG Pz" --minutes 4 --band 0.5,45 --out /tmp/tok-eeg
(eegmat: Zyma et al., PhysioNet 2018, doi:10.13026/C2JQ1P, ODC-By 1.0; see ../shared/data/README.md.)

Timed figures need an idle machine: run nothing else beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke  # noqa: E402
from cli_runs import evaluate  # noqa: E402

from vqstudio.cli.argtypes import frequency_band  # noqa: E402

# Settings each variant changes in the "small" preset. Critic weights follow DAC's balance
# (adversarial 1 : feature matching 2 against a reconstruction loss of weight ~1).
_LIGHT_CRITIC = {"critic_periods": (2, 3, 5), "critic_ffts": (64,)}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "critic": {"critic_weight": 1.0, "feature_weight": 2.0, "critic_start": 200},
    "critic_light": {"critic_weight": 1.0, "feature_weight": 2.0, "critic_start": 200, **_LIGHT_CRITIC},
    "features_light": {"critic_weight": 0.0, "feature_weight": 2.0, "critic_start": 200, **_LIGHT_CRITIC},
    "critic_light_weak": {"critic_weight": 0.3, "feature_weight": 1.0, "critic_start": 200, **_LIGHT_CRITIC},
    "rvq2": {"n_quantizers": 2},
    "rvq4": {"n_quantizers": 4},
    "rvq4_dropout": {"n_quantizers": 4, "quantizer_dropout": 0.5},
    "rvq4_x4": {"n_quantizers": 4, "strides": (2, 2)},
    "x4": {"strides": (2, 2)},
    "codes1024": {"codebook_size": 1024},
}


def train_variant(name: str, project: str, args: argparse.Namespace) -> dict[str, Any]:
    """Trains variant `name` as the app trains a tokenizer alone; its training figures."""
    from vqstudio.cli.progress import run_job
    from vqstudio.models import tokenizer
    from vqstudio.project import Project
    from vqstudio.training.job import train
    from vqstudio.training.settings import TrainSettings

    saved = dict(tokenizer.PRESETS["small"])
    tokenizer.PRESETS["small"] = {**saved, **VARIANTS[name]}
    try:
        settings = TrainSettings(
            inputs=tuple(args.files),
            channels=tuple(args.channels.split(",")) if args.channels else None,
            window_s=args.window,
            preset="small",
            minutes=None if args.tokenizer_steps else args.minutes,
            tokenizer_steps=args.tokenizer_steps,
            prior_steps=0,
            device="cpu",
            seed=args.seed,
            threads=args.threads,
        )
        result = run_job(train(settings, project), threading.Event())
    finally:
        tokenizer.PRESETS["small"] = saved
    stage = Project.open(project).stage("tokenizer")
    keep = ("snr_db", "lsd_db", "prd_percent", "usage_fraction", "perplexity")
    return {
        "steps": result.tokenizer_step,
        "train_s": round(stage.elapsed_s, 1),
        "steps_per_min": round(60 * result.tokenizer_step / max(1e-9, stage.elapsed_s), 1),
        "batch_size": stage.batch_size,
        "validation": {k: round(float(stage.metrics[k]), 3) for k in keep if k in stage.metrics},
    }


def reconstruction_row(project: str, out: str, args: argparse.Namespace) -> dict[str, Any]:
    """The evaluation's reconstruction row for the held-out windows (or `--real`)."""
    # The real recordings stand in as the synthetic set: only the references are read.
    report, _ = evaluate(
        project,
        args.real or args.files,
        os.path.join(out, "report.json"),
        os.path.join(out, "plots"),
        real=args.real,
        band=args.band,
        seed=args.seed,
    )
    row = (report.get("references") or {}).get("reconstruction")
    if row is None:
        return {"note": (report.get("reference_notes") or {}).get("reconstruction")}
    metrics = row.get("metrics", {})
    return {key: m.get("value") for key, m in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="training recordings (paths; nothing is copied)")
    parser.add_argument("--real", nargs="+", help="real recordings left out of training to reconstruct")
    parser.add_argument("--out", help="folder for projects and reports (required)")
    parser.add_argument("--minutes", type=float, default=4.0, help="tokenizer budget per variant")
    parser.add_argument(
        "--tokenizer-steps", type=int, help="a budget of training steps per variant instead of --minutes"
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: the engine's choice)")
    parser.add_argument("--channels", help="channel labels separated by commas (default: the engine's)")
    parser.add_argument("--window", type=float, default=4.0, help="window length in seconds")
    parser.add_argument("--band", type=frequency_band, metavar="LO,HI", help="PSD distance band (Hz)")
    parser.add_argument("--variants", default="default,critic_light", help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        folder = smoke.scratch_folder()
        files = args.files or smoke.write_recordings(folder)
        out = args.out or os.path.join(folder, "out")
        smoke.apply_smoke(
            parser,
            args,
            files=files,
            out=out,
            tokenizer_steps=10,
            window=2.0,
            variants="critic_light",
            threads=1,
        )
    if not args.files or not args.out:
        parser.error("give the training recordings (FILE...) and --out DIR, or --smoke")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"--out {args.out} is not empty; give a new folder")
    os.makedirs(args.out, exist_ok=True)
    figures: dict[str, Any] = {
        "bench": "tokenizer_budget",
        "files": [os.path.abspath(f) for f in args.files],
        "real": [os.path.abspath(f) for f in args.real] if args.real else "held-out split",
        "minutes": None if args.tokenizer_steps else args.minutes,
        "band_hz": list(args.band) if args.band else None,
        "cpu_count": os.cpu_count(),
        "variants": {},
    }
    if args.tokenizer_steps:
        figures["tokenizer_steps"] = args.tokenizer_steps
    for name in names:
        out = os.path.join(args.out, name)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        row = train_variant(name, os.path.join(out, "project"), args)
        row["load_average_1min_at_start"] = round(load, 2)
        row["settings"] = {k: list(v) if isinstance(v, tuple) else v for k, v in VARIANTS[name].items()}
        row["reconstruction"] = reconstruction_row(os.path.join(out, "project"), out, args)
        row["wall_s"] = round(time.perf_counter() - start, 1)
        figures["variants"][name] = row
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures, default=lambda v: None))


if __name__ == "__main__":
    main()
