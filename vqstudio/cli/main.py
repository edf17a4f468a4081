"""The `vqstudio` command: parses arguments, runs engine jobs in the main thread, prints results.

Each subcommand lives in `vqstudio/cli/<name>.py` with `add_parser(subparsers)` and a
`run(args) -> int` that the parser stores as `args.run`. Exit codes: `vqstudio.cli.exit_codes`.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from vqstudio import __version__
from vqstudio.cli import demo, evaluate, generate, info, reconstruct, train
from vqstudio.cli.exit_codes import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_STOPPED
from vqstudio.errors import user_error

# Order shown in --help.
COMMANDS = (info, train, generate, reconstruct, evaluate, demo)


class Parser(argparse.ArgumentParser):
    """argparse with the project's exit code and one-line message for bad arguments."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="vqstudio",
        description="Synthesize biosignal recordings (EEG, ECG, PSG) with a VQ-VAE tokenizer and a prior.",
    )
    parser.add_argument("--version", action="version", version=f"vqstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _said_by_rank_0(error: Exception | None) -> bool:
    """Whether rank 0 of this run, on this machine, already says `error` in this terminal or log:
    its refusal passed on (`MainRefused`), or bad input, which every process of a run meets
    alike (the same files and options). A limit or a device is each process's own: it says it."""
    from vqstudio.distributed import MainRefused, world_from_env
    from vqstudio.errors import ChannelError, FormatError, InputFileError, OutputError, ProjectError

    if isinstance(error, MainRefused):
        return error.said_here
    world = world_from_env()
    shared = (InputFileError, FormatError, ChannelError, OutputError, ProjectError)
    return world.distributed and not world.is_main and world.beside_main and isinstance(error, shared)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given: `train --nproc` passes it on
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("vqstudio: stopped", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as e:
        said = user_error(e)
        if _said_by_rank_0(said):
            return EXIT_BAD_INPUT
        if said is not None:
            print(f"vqstudio: {said}", file=sys.stderr)
            return EXIT_BAD_INPUT
        traceback.print_exc()  # an internal error: with the traceback a bug report needs
        print("vqstudio: internal error (the lines above belong in a bug report)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
