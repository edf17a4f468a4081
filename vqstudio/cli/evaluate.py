"""`vqstudio evaluate DIR [--real FILE...] [--rate HZ] --synthetic FILE... [--json PATH] [--plots DIR]
[--band LO,HI] [--no-references] [--seed N]`.

Compares synthetic recordings with the project's held-out split (or `--real` recordings) and
prints a table of every metric, then the membership-inference figures; the JSON report and PNG
plots go to the paths given, or to `DIR/reports/` by default. `--band` limits the PSD
log-spectral distance to a frequency band.

`--nproc N` (or `torchrun ... -m vqstudio evaluate`) shares the per-window work (the nearest-
stretch searches, the membership attacks' scores, the flat-stretch checks) among N CPU
processes; rank 0 writes the report and prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from vqstudio.cli.argtypes import frequency_band
from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED
from vqstudio.cli.launch import add_nproc, launch, run_in_world


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="how close and how private synthetic recordings are",
        description=(
            "Compare synthetic recordings with real ones: spectra, band powers, autocorrelation, "
            "cross-channel correlation, amplitude distributions, real-vs-synthetic classifier accuracy "
            "(a 1D CNN and a logistic regression on features: 50 % = indistinguishable), a Fréchet "
            "distance, train-on-synthetic/test-on-real accuracy (labelled projects), a memorization "
            "check, and membership inference (how well an attacker tells the training windows from "
            "held-out ones: AUC 0.5 = nothing learned). Real data defaults to the project's held-out split."
        ),
    )
    p.add_argument("project", metavar="DIR", help="the project folder")
    p.add_argument("--synthetic", nargs="+", required=True, metavar="FILE", help="synthetic recordings")
    p.add_argument("--real", nargs="+", metavar="FILE", help="real recordings (default: held-out split)")
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate of CSV files without a time column")
    p.add_argument("--json", metavar="PATH", help="write the report here (default DIR/reports/report.json)")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots here (default DIR/reports/plots)")
    p.add_argument(
        "--references",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "score the references beside the synthetic set, so each number can be read: one held-out "
            "half against the other, the held-out windows through the tokenizer (reconstruction) and "
            "a phase-randomized surrogate (default: on; --no-references skips them)"
        ),
    )
    p.add_argument(
        "--band",
        type=frequency_band,
        metavar="LO,HI",
        help=(
            "limit the PSD log-spectral distance to LO-HI Hz, e.g. 0.5,45 (default: 0.5 Hz to Nyquist; "
            "HI above Nyquist is cut there). Narrow it for a recording low-passed or notched before it "
            "reached you: its stop band is not signal, and would otherwise dominate the distance"
        ),
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    add_nproc(
        p,
        "share the per-window work (nearest-stretch searches, membership scores) among N CPU "
        "processes; the same as torchrun --nproc-per-node N -m vqstudio evaluate ...",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import contextlib

    from vqstudio.cli.progress import run_job
    from vqstudio.distributed import world_from_env
    from vqstudio.evaluation.assessment import assess
    from vqstudio.evaluation.membership_table import format_membership
    from vqstudio.evaluation.table import comparison_rows, format_table
    from vqstudio.io.write_guard import protecting
    from vqstudio.project import Project
    from vqstudio.project.lock import lock_outputs
    from vqstudio.project.privacy import describe_privacy

    world = world_from_env()
    project = Project.open(args.project)
    if args.nproc > 1 and not world.distributed:
        _check_outputs(args, project)  # said once, before any process starts
        return launch(args, "evaluation", lambda: "no report was written")
    inputs = [*args.synthetic, *(args.real or [])]
    with (
        protecting(inputs, "an input of this evaluation"),
        protecting(project.source_paths, "a recording this project was trained on"),
    ):
        # Checked before the evaluation runs, so a bad --json or --plots costs nothing.
        json_path, plots_dir = _check_outputs(args, project) if world.is_main else (None, None)
        stop = threading.Event()
        job = assess(
            project.path,
            args.synthetic,
            real_paths=args.real,
            rate=args.rate,
            json_path=json_path,
            plots_dir=plots_dir,
            references=args.references,
            band=args.band,
            seed=args.seed,
            stop=stop,
        )
        # Reports inside a project (its reports/) wait for no one: a run that holds it is named.
        # Rank 0 alone writes them; the other processes only compute their shares.
        outputs = (
            lock_outputs([json_path, os.path.join(plots_dir, "psd.png")], "vqstudio evaluate")
            if json_path and plots_dir
            else contextlib.nullcontext([])
        )
        with outputs as notes:
            for note in notes:
                print(f"vqstudio: {note}", file=sys.stderr)
            result = run_in_world(job, stop) if world.distributed else run_job(job, stop)
    if not world.is_main:
        return EXIT_OK  # rank 0 prints and writes for the run
    data = result.to_dict()
    print(format_table(*comparison_rows(data)))
    print()
    print(format_membership(data.get("membership")))
    print(describe_privacy(data.get("differential_privacy")))
    print(f"report: {result.json_path}")
    for path in result.plots:
        print(f"plot: {path}")
    return EXIT_STOPPED if stop.is_set() else EXIT_OK


def _check_outputs(args: argparse.Namespace, project: Any) -> tuple[str, str]:
    """The report's and the plots' paths (`DIR/reports/` unless given), each checked now."""
    from vqstudio.evaluation.plots import check_plots_folder
    from vqstudio.io.write_guard import check_target

    reports_dir = project.output_dir("reports") if not (args.json and args.plots) else ""
    json_path = args.json or os.path.join(reports_dir, "report.json")
    plots_dir = args.plots or os.path.join(reports_dir, "plots")
    check_target(json_path)
    check_plots_folder(plots_dir)
    return json_path, plots_dir
