"""`vqstudio train FILE... --project DIR`: prepare the data, train the tokenizer, then the prior."""

from __future__ import annotations

import argparse
import os
import sys

from vqstudio.cli.argtypes import in_range, thread_count
from vqstudio.cli.exit_codes import EXIT_OK, EXIT_STOPPED
from vqstudio.data.prep import RATE_HZ, WINDOW_S
from vqstudio.priors.registry import PRIOR_NAMES
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
    p.add_argument("inputs", nargs="*", metavar="FILE", help="EDF, EDF+, BDF or CSV recordings")
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
    p.add_argument("--resume", action="store_true", help="continue the project in --project")
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
    import threading

    from vqstudio.cli.progress import run_job
    from vqstudio.errors import InputFileError
    from vqstudio.io.write_guard import protecting
    from vqstudio.training import TrainSettings, train

    if not args.inputs and not args.resume:
        raise InputFileError("no input recordings given; name one or more EDF/BDF/CSV files")
    if args.stage and not args.resume:
        raise InputFileError(f"--stage {args.stage} chooses what a resume continues; add --resume")
    try:
        settings = TrainSettings(
            inputs=tuple(args.inputs),
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
        )
    except ValueError as e:
        raise InputFileError(str(e)) from e
    stop = threading.Event()
    with protecting(args.inputs):
        result = run_job(train(settings, args.project, stop, resume=args.resume), stop)
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
    if result.stopped:
        print("vqstudio: stopped; checkpoint written (continue with --resume)", file=sys.stderr)
        return EXIT_STOPPED
    return EXIT_OK
