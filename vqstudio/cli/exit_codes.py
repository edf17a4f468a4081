"""Exit codes of the `vqstudio` command (DESIGN.md): the contract scripts rely on."""

EXIT_OK = 0  # done
EXIT_INTERNAL = 1  # an internal error: a traceback for the bug report
EXIT_BAD_INPUT = 2  # bad input or arguments: one clear line on stderr
EXIT_STOPPED = 130  # stopped by Ctrl-C after the checkpoint was written
