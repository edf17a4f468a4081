"""`vqstudio train FILE... --project DIR`: prepare the data, train the tokenizer, then the prior.

`--nproc N` (or `torchrun`) trains with N processes, each on its share of every batch
(`vqstudio.cli.launch`, `vqstudio.distributed`); a stop writes a checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from vqstudio.cli.argtypes import in_range, thread_count
from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED
from vqstudio.cli.launch import add_nproc, launch, run_in_world
from vqstudio.data.defaults import HELD_OUT
from vqstudio.data.prep import RATE_HZ, WINDOW_S
from vqstudio.priors.registry import PRIOR_NAMES
from vqstudio.training.privacy_settings import DP_EPSILON, DP_UNITS
from vqstudio.training.settings import (
    CHECKPOINT_MINUTES,
    CODECS,
    MINUTES,
    RESUME_STAGES,
    STEPS,
    TOKENIZER_PRESETS,
)

__all__ = ["add_parser", "run"]


def _channels(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("give channel labels separated by commas")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a tokenizer and a prior on recordings",
        description="Prepare recordings, train the VQ-VAE tokenizer, then the prior; write a project folder.",
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="EDF, EDF+, BDF or CSV recordings, or folders of them (every recording directly inside)",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="read the windows from a cache on disk (the project's cache/) as training needs them, "
        "never all in memory (chosen by itself when the data would take over half the memory)",
    )
    p.add_argument("--project", required=True, metavar="DIR", help="project folder to create (or resume)")
    p.add_argument(
        "--rate", type=in_range(RATE_HZ), metavar="HZ", help="sample rate of CSV files without time"
    )
    p.add_argument("--channels", type=_channels, metavar="A,B,...", help="channel labels to train on")
    p.add_argument(
        "--resample",
        type=in_range(RATE_HZ),
        metavar="HZ",
        help="the project's rate (default: a working rate from the spectrum; output keeps the source rate)",
    )
    p.add_argument(
        "--window",
        type=in_range(WINDOW_S),
        default=None,
        metavar="SECONDS",
        help=f"window length ({WINDOW_S.describe()}; default {WINDOW_S.default:g}, longer for channels "
        "under 8 Hz, shorter for recordings under 15 s)",
    )
    p.add_argument(
        "--held-out",
        type=in_range(HELD_OUT),
        default=None,
        metavar="F",
        help=f"the share of each recording, at its end, held out of training for validation and "
        f"evaluation ({HELD_OUT.describe()}; default {HELD_OUT.default:g}); more gives the "
        "membership-inference figures more windows to read",
    )
    p.add_argument("--preset", choices=TOKENIZER_PRESETS, help="tokenizer size (default: from data)")
    p.add_argument(
        "--codec",
        choices=CODECS,
        default=CODECS[0],
        help="shared: one tokenizer over the channels together (default); per-channel: the same "
        "network encodes each channel, so its weights fit any montage and channel count; it starts "
        "from the codec shipped with VQ Studio (pretrained on public recordings) and fine-tunes it",
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="with --codec per-channel: start the codec from random weights, not the shipped ones",
    )
    p.add_argument("--prior", choices=PRIOR_NAMES, default=PRIOR_NAMES[0], help="stage-2 model")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--minutes",
        type=in_range(MINUTES),
        metavar="M",
        help=f"wall-clock budget, both stages ({MINUTES.default:g} when no steps are given)",
    )
    budget.add_argument(
        "--tokenizer-steps", type=in_range(STEPS, whole=True), metavar="N", help="tokenizer optimizer steps"
    )
    p.add_argument(
        "--prior-steps",
        type=in_range(STEPS, whole=True),
        metavar="N",
        help="prior steps (0: tokenizer alone)",
    )
    p.add_argument(
        "--checkpoint-minutes",
        type=in_range(CHECKPOINT_MINUTES),
        default=CHECKPOINT_MINUTES.default,
        metavar="M",
        help=f"write a checkpoint at least this often ({CHECKPOINT_MINUTES.default:g}); "
        "a kill loses at most this much",
    )
    p.add_argument("--labels", choices=("annotations", "files"), help="condition the prior on labels")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        metavar="N|auto",
        help="CPU threads (auto: the fastest count, timed now and again; OMP_NUM_THREADS when set)",
    )
    add_nproc(
        p,
        "train with N processes on this machine (one per GPU, or CPU processes with gloo), each on "
        "its share of every batch; the same as torchrun --nproc-per-node N -m vqstudio train ...",
    )
    p.add_argument(
        "--dp-epsilon",
        type=in_range(DP_EPSILON),
        metavar="E",
        help="train both stages with differential privacy (DP-SGD, Opacus) to at most this epsilon "
        f"({DP_EPSILON.describe()}; 1-10 is usual, smaller is more private and noisier); see the "
        "README's Differential privacy",
    )
    p.add_argument(
        "--dp-delta",
        type=float,
        metavar="D",
        help="with --dp-epsilon: delta (default 1 / the number of privacy units)",
    )
    p.add_argument(
        "--dp-unit",
        choices=DP_UNITS,
        default=DP_UNITS[0],
        help="with --dp-epsilon: what one unit of privacy is: a training window (default), or a "
        "recording (each file, for projects of many recordings)",
    )
    p.add_argument("--resume", action="store_true", help="continue the project in --project")
    # The app's "all N GPUs" run: rank 0 also appends each event to FILE (vqstudio.event_stream),
    # which the app tails for its live plots. Not for users, so not in --help.
    p.add_argument("--events", metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument(
        "--stage",
        choices=RESUME_STAGES[1:],
        help="with --resume: the stage to continue (tokenizer, prior, or both: the tokenizer, then the "
        "prior); --minutes M gives it M more minutes (shared as a new run shares them, for both), "
        "--tokenizer-steps/--prior-steps N its total of steps, neither as much again as before "
        "(default: the run goes on as planned)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vqstudio.cli.progress import run_job
    from vqstudio.errors import InputFileError
    from vqstudio.io.write_guard import protecting
    from vqstudio.training import TrainSettings, train

    if not args.inputs and not args.resume:
        raise InputFileError("no input recordings given; name one or more EDF/BDF/CSV files")
    if args.resume and (args.dp_epsilon is not None or args.dp_delta is not None):
        raise InputFileError(
            "--dp-epsilon and --dp-delta are chosen when a project is made; --resume keeps its privacy"
        )
    if args.resume and args.held_out is not None:
        raise InputFileError("--held-out is chosen when a project is made; --resume keeps its split")
    if args.stage and not args.resume:
        raise InputFileError(f"--stage {args.stage} chooses what a resume continues; add --resume")
    from vqstudio.distributed import world_from_env

    world = world_from_env()
    if args.nproc > 1 and not world.distributed:
        if args.dp_epsilon is not None:  # said once here rather than by every process
            from vqstudio.errors import ProjectError
            from vqstudio.training.job import PRIVATE_IN_ONE_PROCESS

            raise ProjectError(PRIVATE_IN_ONE_PROCESS)
        from vqstudio.training.job import kept_checkpoint

        return launch(args, "training", lambda: kept_checkpoint(args.project))
    from vqstudio.io.folders import expand_inputs

    inputs = expand_inputs(args.inputs)  # a folder: the recordings in it
    streaming = {"stream": True} if args.stream else {}
    held_out = {"val_fraction": args.held_out} if args.held_out is not None else {}
    try:
        settings = TrainSettings(
            inputs=tuple(inputs),
            channels=args.channels,
            rate=args.rate,
            resample=args.resample,
            window_s=args.window,
            preset=args.preset,
            per_channel=args.codec == "per-channel",
            from_scratch=args.from_scratch,
            prior=args.prior,
            minutes=args.minutes,
            tokenizer_steps=args.tokenizer_steps,
            prior_steps=args.prior_steps,
            labels=args.labels or "none",
            device=args.device,
            seed=args.seed,
            threads=args.threads,
            checkpoint_every_s=args.checkpoint_minutes * 60,
            resume_stage=args.stage or "auto",
            dp_epsilon=args.dp_epsilon,
            dp_delta=args.dp_delta,
            dp_unit=args.dp_unit,
            **streaming,
            **held_out,
        )
    except ValueError as e:
        raise InputFileError(str(e)) from e
    stop = threading.Event()
    with protecting(inputs):
        job = train(settings, args.project, stop, resume=args.resume)
        if args.events and world.is_main:  # rank 0's events stand for the run
            from vqstudio.event_stream import recorded

            job = recorded(job, args.events)
        result = run_in_world(job, stop) if world.distributed else run_job(job, stop)
    if not world.is_main:
        # Rank 0 reports for the run, and its exit code is the run's: a launcher takes any other
        # code as a failure and ends the processes still running (rank 0 printing its results).
        return EXIT_OK
    print(f"project: {os.path.abspath(args.project)}")
    print(f"tokenizer steps: {result.tokenizer_step}")
    for key, value in result.metrics.items():
        if not key.startswith("ema_"):
            print(f"{key}: {value:.4g}")
    if result.prior_step:
        print(f"prior steps: {result.prior_step}")
        for key, value in result.prior_metrics.items():
            if isinstance(value, int | float):
                print(f"prior {key}: {value:.4g}")
    print(f"elapsed: {result.elapsed_s:.1f} s")
    _print_privacy(args.project)
    if result.stopped:
        print("vqstudio: stopped; checkpoint written (continue with --resume)", file=sys.stderr)
        return EXIT_STOPPED
    return EXIT_OK


def _print_privacy(project_dir: str) -> None:
    """The privacy a private run spent (nothing for a run without differential privacy)."""
    from vqstudio.project import Project
    from vqstudio.project.privacy import describe_privacy

    if Project.exists(project_dir):
        privacy = Project.open(project_dir).record.privacy
        if privacy:
            print(describe_privacy(dict(privacy)))
