"""Frozen entry point of VQ Studio: the desktop app (ui.app.main), or the command line
(vqstudio.cli.main) when started under the name `vqstudio` (a link to this executable)."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # First thing in a frozen program: a child process started by multiprocessing (spawn) runs this
    # executable again, and freeze_support makes it run the child's task instead of the app.
    multiprocessing.freeze_support()
    name = os.path.basename(sys.argv[0]).lower().removesuffix(".exe")
    if name == "vqstudio":
        from vqstudio.cli import main
    else:
        from ui.app import main

    sys.exit(main())
