"""The `vqstudio` command: argument parsing and one module per subcommand.

The engine never imports this package. Each subcommand module (`info`, `train`, `generate`,
`reconstruct`, `evaluate`, `demo`) has `add_parser(subparsers)` and `run(args) -> int`, and
imports heavy engine parts (torch) inside `run`, so `vqstudio --version` starts fast.
"""

from vqstudio.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
