"""`vqstudio-gui [FILE...] [--demo] [--self-test]`: starts the desktop app.

The window is shown first, with the welcome page; the viewer is built, the files given opened,
and torch loaded in a worker thread (device detection) afterwards, so the window appears in
well under a second (bench/startup.py). With the environment variable
VQSTUDIO_GUI_STARTUP_REPORT set to a path, the app writes there, as JSON, the seconds from start
to the first show, the wall clock then and once the files given are open, and what was imported
by the first show (torch, the top-level packages, the app's and the engine's modules:
tests/ui/test_startup.py, tests/ui/test_startup_lazy.py and bench/startup.py read it), and quits
when VQSTUDIO_GUI_QUIT_AFTER_SHOW is also set.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402 (the clock starts before anything is imported)
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

__all__ = ["main"]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vqstudio-gui", description="VQ Studio desktop app")
    parser.add_argument("files", nargs="*", help="recordings to open (EDF, EDF+, BDF, CSV)")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo recording at start")
    parser.add_argument("--self-test", action="store_true", help="run the end-to-end self-test and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args, _qt_args = parser.parse_known_args(list(argv))
    return args


def _shown_facts() -> dict[str, object]:
    """What the start-up test and bench check, taken the moment the window is first shown."""
    names = list(sys.modules)
    return {
        "shown_after_s": round(time.perf_counter() - _T0, 3),
        "shown_at_epoch": time.time(),  # the bench times from the child's launch, as the bare window's
        "torch_imported": "torch" in sys.modules,
        "modules": len(names),
        "packages": sorted({n.split(".")[0] for n in names if not n.startswith("_")}),
        "app_modules": sorted(n for n in names if n.split(".")[0] in ("ui", "vqstudio")),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the app; returns its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parse(argv)
    if args.version:
        from vqstudio import __version__

        print(f"vqstudio-gui {__version__}")
        return 0
    if args.self_test:
        if not os.environ.get("DISPLAY"):  # the self-test also runs on machines with no screen
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from ui.selftest import run_self_test

        return run_self_test()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("VQ Studio")
    app.setOrganizationName("VQStudio")
    app.setDesktopFileName("vqstudio")

    from ui.errors import install_excepthook
    from ui.mainwindow import MainWindow

    install_excepthook()
    window = MainWindow()
    report = os.environ.get("VQSTUDIO_GUI_STARTUP_REPORT")

    def on_shown() -> None:
        facts = _shown_facts()
        for path in args.files:
            window.load_path(path)
        if args.demo:
            window.open_demo()
        if report:
            facts["opened"] = [f.title for f in window.session.files]
            facts["opened_at_epoch"] = time.time()  # the files given are read and in the viewer
            with open(report, "w", encoding="utf-8") as f:
                json.dump(facts, f)
        if os.environ.get("VQSTUDIO_GUI_QUIT_AFTER_SHOW"):
            QTimer.singleShot(0, window.close)
            return
        window.start_background()

    window.shown.connect(on_shown)
    window.show()
    code = int(app.exec())
    import shiboken6

    from ui.worker import join_detached

    join_detached()  # the window is gone already: a thread still loading torch ends unseen
    # The window's plots go before the QApplication: left to the interpreter's teardown, in any
    # order, they crashed the exit now and then (SIGSEGV after a training run).
    shiboken6.delete(window)
    return code


if __name__ == "__main__":
    sys.exit(main())
