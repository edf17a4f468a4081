"""`vqstudio reconstruct DIR FILE --out PATH`: encode and decode a real recording, report how close."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reconstruct",
        help="encode and decode a real recording with a trained tokenizer",
        description="Encode and decode FILE with the tokenizer of project DIR; write the result and print "
        "PRD, SNR and log-spectral distance against the input.",
    )
    p.add_argument("project", metavar="DIR", help="a trained project folder")
    p.add_argument("input", metavar="FILE", help="the recording to reconstruct")
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate of a CSV file without time")
    p.add_argument("--out", required=True, metavar="PATH", help="output file (.edf, .bdf, .csv, .npy)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vqstudio.generation.reconstruction import reconstruct
    from vqstudio.io import read_recording, write_recording
    from vqstudio.io.write_guard import check_target, protecting
    from vqstudio.project import Project
    from vqstudio.project.lock import lock_outputs

    project = Project.open(args.project)  # a bad folder is reported before the file is read
    with (
        protecting([args.input], "the input recording"),
        protecting(project.source_paths, "a recording this project was trained on"),
    ):
        check_target(args.out)  # compared as files (links, `//`, hard links), before any work
        with lock_outputs([args.out], "vqstudio reconstruct") as notes:
            for note in notes:
                print(f"vqstudio: {note}", file=sys.stderr)
            recording = read_recording(args.input, rate=args.rate)
            result, figures = reconstruct(project, recording, device=args.device)
            report = write_recording(result, args.out)
    print(f"written: {args.out}")
    for note in report.notes:
        print(f"  note: {note}")
    for key, value in figures.items():
        print(f"{key}: {value:.4g}")
    return 0
