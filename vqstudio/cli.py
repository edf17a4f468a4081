"""The `vqstudio` command: parses arguments, runs engine jobs in the main thread, prints results.

Exit codes: 0 done, 2 bad input or arguments (one line on stderr), 1 internal error,
130 stopped by Ctrl-C after the checkpoint was written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vqstudio import __version__
from vqstudio.errors import VQStudioError

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is also 2
        self.exit(EXIT_BAD_INPUT, f"vqstudio: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vqstudio", description="Synthesize biosignal recordings with a VQ-VAE and a prior.")
    parser.add_argument("--version", action="version", version=f"vqstudio {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.run(args) or 0)
    except VQStudioError as e:
        print(f"vqstudio: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
