"""`vqstudio demo [--out DIR] [--minutes M]`: the whole pipeline on the built-in demo recording.

Simulates the demo recording (documented in `vqstudio.data.simulate`), writes it as EDF+, trains a
project on it within the time budget (tokenizer, then the default diffusion prior), generates
two synthetic minutes, writes them as EDF+, and evaluates them against the held-out split.
Everything lands in DIR (default `vqstudio-demo`); a project already trained there is reused.
"""

from __future__ import annotations

import argparse
import os
import threading

from vqstudio.cli.argtypes import number
from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="simulate the demo recording, train on it, generate, evaluate",
        description=(
            "Run the whole pipeline on the built-in, simulated demo recording (10 EEG channels "
            "and one ECG channel, 5 minutes at 256 Hz): write it as EDF+, train a project, "
            "generate synthetic recordings and evaluate them."
        ),
    )
    p.add_argument(
        "--out", default="vqstudio-demo", metavar="DIR", help="output folder (default vqstudio-demo)"
    )
    p.add_argument(
        "--minutes", type=number(), default=3.0, metavar="M", help="training budget, both stages (default 3)"
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vqstudio.cli.info import render
    from vqstudio.cli.progress import run_job
    from vqstudio.data.simulate import simulate
    from vqstudio.evaluation.assessment import assess
    from vqstudio.evaluation.membership_table import format_membership
    from vqstudio.generation.sampling import GenerateSettings, generate
    from vqstudio.io import summary, write_recording
    from vqstudio.project import Project
    from vqstudio.training import TrainSettings, train

    os.makedirs(args.out, exist_ok=True)
    recording_path = os.path.join(args.out, "demo.edf")
    project_dir = os.path.join(args.out, "project")
    stop = threading.Event()

    demo = simulate(seed=args.seed)
    if not os.path.exists(recording_path):
        write_recording(demo, recording_path)
    print(render(summary(demo)))
    print(f"written: {recording_path}")

    if Project.exists(project_dir) and Project.open(project_dir).has_prior:
        print(f"reusing the trained project in {project_dir}")
    else:
        settings = TrainSettings(
            inputs=(recording_path,), minutes=args.minutes, device=args.device, seed=args.seed
        )
        resume = Project.exists(project_dir)
        result = run_job(train(settings, project_dir, stop, resume=resume), stop)
        print(
            f"trained {project_dir}: tokenizer {result.tokenizer_step} steps, prior {result.prior_step} steps"
        )
        if result.stopped:
            return EXIT_STOPPED

    synthetic_path = os.path.join(args.out, "synthetic.edf")
    recordings = run_job(
        generate(project_dir, GenerateSettings(seconds=120, seed=args.seed, device=args.device), stop), stop
    )
    if stop.is_set():
        return EXIT_STOPPED
    write_recording(recordings[0], synthetic_path)
    print(f"written: {synthetic_path}")

    reports = os.path.join(args.out, "report")
    result = run_job(
        assess(
            project_dir,
            [synthetic_path],
            json_path=os.path.join(reports, "report.json"),
            plots_dir=reports,
            seed=args.seed,
            stop=stop,
        ),
        stop,
    )
    for title, value, unit in result.report.summary_rows():
        shown = f"{value:.4g}" if isinstance(value, float) else ("n/a" if value is None else value)
        print(f"  {title}: {shown} {unit}")
    print()
    print(format_membership(result.to_dict().get("membership")))  # what an attacker would learn
    print(f"report: {result.json_path}")
    return EXIT_STOPPED if stop.is_set() else EXIT_OK
