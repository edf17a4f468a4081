"""Frozen entry point of `vqstudio`: the command line (vqstudio.cli.main)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # First thing in a frozen program: a child process started by multiprocessing (spawn) runs this
    # executable again, and freeze_support makes it run the child's task instead of the command.
    multiprocessing.freeze_support()
    from vqstudio.cli import main

    sys.exit(main())
