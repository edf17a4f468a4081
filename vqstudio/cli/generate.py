"""`vqstudio generate DIR --seconds S ... --out PATH`: new synthetic recordings from a trained project.

`.edf/.bdf/.csv` with `--count N` write `NAME_1.EXT ... NAME_N.EXT` (one file `NAME.EXT` when N
is 1); `.npy` writes one float32 `(count, channels, samples)` array with `NAME.json` beside it.
Prints what it wrote and the speed in signal-seconds generated per wall-second.

`--nproc N` (or `torchrun ... -m vqstudio generate`) samples with N processes, one per GPU or
CPU processes, each its share of the recordings; rank 0 writes every file, once.
"""

from __future__ import annotations

import argparse
import sys

from vqstudio.cli.argtypes import in_range, thread_count, whole_number
from vqstudio.cli.launch import add_nproc, launch, run_in_world
from vqstudio.generation.settings import COUNT, GUIDANCE, SECONDS, STEPS, TEMPERATURE, WEIGHTS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate synthetic recordings of any length from a trained project",
        description="Sample new recordings from the prior of project DIR and decode them with its "
        "tokenizer. The output keeps the source's channels and units at the project's rate and is "
        "marked synthetic.",
    )
    p.add_argument("project", metavar="DIR", help="a trained project folder (tokenizer and prior)")
    p.add_argument(
        "--seconds",
        type=in_range(SECONDS),
        required=True,
        metavar="S",
        help=f"length of each recording ({SECONDS.describe()})",
    )
    p.add_argument(
        "--count",
        type=in_range(COUNT, whole=True),
        default=COUNT.default,
        metavar="N",
        help=f"recordings to generate ({COUNT.default:g}; at most {COUNT.high:,.0f})",
    )
    p.add_argument("--label", metavar="TEXT", help="label to generate (a conditional prior; default: drawn)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (0); same seed, same output")
    p.add_argument(
        "--steps",
        type=in_range(STEPS, whole=True),
        metavar="N",
        help=f"diffusion sampler steps per segment ({STEPS.default:g}; {STEPS.describe()})",
    )
    p.add_argument(
        "--guidance",
        type=in_range(GUIDANCE),
        metavar="G",
        help=f"classifier-free guidance scale ({GUIDANCE.default:g} with labels; {GUIDANCE.describe()})",
    )
    p.add_argument(
        "--temperature",
        type=in_range(TEMPERATURE),
        default=TEMPERATURE.default,
        metavar="T",
        help="autoregressive sampling temperature",
    )
    p.add_argument(
        "--top-k",
        type=whole_number(1),
        metavar="K",
        help="autoregressive: sample among the K likeliest codes",
    )
    p.add_argument(
        "--weights",
        choices=WEIGHTS,
        default=WEIGHTS[0],
        help="the checkpoints that sample: each stage's best by held-out loss (default), or its latest",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="output file: .edf, .bdf, .csv or .npy")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        metavar="N|auto",
        # Not timed here yet: a count that follows the load would change the numerics, and the
        # same seed promises the same output.
        help="CPU threads (auto: OMP_NUM_THREADS when set, else every core; give 1 on a busy machine)",
    )
    add_nproc(
        p,
        "generate with N processes on this machine (one per GPU, or CPU processes), each sampling its "
        "share of the --count recordings; the same as torchrun --nproc-per-node N -m vqstudio generate ...",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import threading

    from vqstudio.cli.exit_codes import EXIT_OK
    from vqstudio.cli.progress import ProgressPrinter, run_job
    from vqstudio.distributed import world_from_env
    from vqstudio.events import Progress
    from vqstudio.generation.export import check_outputs, write_generated
    from vqstudio.generation.sampling import GenerateSettings, generate
    from vqstudio.io.write_guard import protecting
    from vqstudio.project import Project
    from vqstudio.project.lock import lock_outputs

    world = world_from_env()
    if args.nproc > 1 and not world.distributed:
        check_outputs(args.out, args.count)  # said once, before any process starts
        return launch(args, "generation", lambda: "no recording was written")
    project = Project.open(args.project)
    # Rank 0 alone checks and writes the outputs (a refusal ends the others through the launcher).
    outputs = (
        lock_outputs(check_outputs(args.out, args.count), "vqstudio generate")
        if world.is_main
        else contextlib.nullcontext([])
    )
    with (
        protecting(project.source_paths, "a recording this project was trained on"),
        # Outputs inside a project (its samples/) wait for no one: a run that holds it is named.
        outputs as notes,
    ):
        for note in notes:
            print(f"vqstudio: {note}", file=sys.stderr)
        settings = GenerateSettings(
            seconds=args.seconds,
            count=args.count,
            label=args.label,
            seed=args.seed,
            steps=args.steps,
            guidance=args.guidance,
            temperature=args.temperature,
            top_k=args.top_k,
            device=args.device,
            threads=args.threads,
            weights=args.weights,
        )
        stop = threading.Event()

        class Printer(ProgressPrinter):  # also keeps the last speed the job reported
            speed: float | None = None

            def __call__(self, event: object) -> None:
                if isinstance(event, Progress) and event.stage == "generate" and event.rate:
                    self.speed = event.rate
                super().__call__(event)

        printer = Printer()
        job = generate(project.path, settings, stop)
        recordings = run_in_world(job, stop, printer) if world.distributed else run_job(job, stop, printer)
        if not world.is_main:
            return EXIT_OK  # rank 0 writes and reports for the run
        if stop.is_set() or not recordings:
            print("vqstudio: stopped; nothing written", flush=True)
            return 130
        reports = write_generated(recordings, args.out, extra={"project": project.path, "seed": args.seed})
    for report in reports:
        print(f"written: {report.path}")
        for extra in report.extra_paths:
            print(f"written: {extra}")
        for note in report.notes:
            print(f"  note: {note}")
    seconds = args.count * args.seconds
    rate = f"{printer.speed:.0f}" if printer.speed else "?"
    print(
        f"generated {args.count} x {args.seconds:g} s = {seconds:g} s of signal; "
        f"{rate} signal-seconds per second"
    )
    return 0
