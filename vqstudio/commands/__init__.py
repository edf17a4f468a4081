"""Subcommands of `vqstudio`, one module each (see `vqstudio.cli`)."""
