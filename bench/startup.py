"""Benchmark of start-up: the app's time to its first shown window beside a bare PySide6 +
pyqtgraph window's (a QMainWindow holding one PlotWidget), both in child processes; and the
app's time until a recording given on its command line is open in the viewer.

Each run launches `python -m ui.app` (settings in a fresh temporary home, so no recent file is
opened) and the bare window's script in turn; each child writes the wall clock when its window
is first shown (after the Show event, on the next turn of the event loop, as the app's `shown`
signal), and the time counts from just before the child was launched: interpreter start,
imports, the window's construction and its first show. The first run is a warm-up (disk
caches), not counted. The app shows its welcome page first and builds the viewer afterwards, so
a third child, `python -m ui.app FILE` (an EDF+ file of `--channels` channels, `--seconds` s at
256 Hz, written once by the bench), times its first show and the moment FILE is read and in the
viewer: the whole wait of a user who opens a file from the command line. Prints one JSON line:
the medians, the ratio of the first two, every run, what the app had imported when its window
showed, and the load average before and after (the figures mean something only on an idle
machine: other processes' work lands in every column, unevenly).

    python bench/startup.py [--runs 7] [--warmup 1] [--channels 16] [--seconds 600] [--smoke]

`--smoke`: one counted run of each, no warm-up, a 40 s file of 2 channels. Without a display,
Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

ROOT = smoke.ROOT
TIMEOUT_S = 120
FILE_RATE = 256.0  # Hz

# The bare window: what any PySide6 + pyqtgraph app pays before its window shows.
BARE = """
import sys, time
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
import pyqtgraph as pg

class Window(QMainWindow):
    def event(self, e):
        if e.type() == QEvent.Type.Show:
            QTimer.singleShot(0, self.shown)
        return super().event(e)

    def shown(self):
        with open(sys.argv[1], "w") as f:
            f.write(repr(time.time()))
        QTimer.singleShot(0, self.close)

app = QApplication(sys.argv[:1])
window = Window()
window.setCentralWidget(pg.PlotWidget())
window.resize(1280, 820)
window.show()
app.exec()
"""


def _env(home: str) -> dict[str, str]:
    """The children's environment: this checkout first, settings in a scratch home."""
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"))
    env["XDG_DATA_HOME"] = os.path.join(home, "data")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def _run(args: list[str], cwd: str, env: dict[str, str]) -> None:
    subprocess.run(args, cwd=cwd, env=env, check=True, timeout=TIMEOUT_S, capture_output=True)


def time_app(folder: str, files: list[str] | None = None) -> tuple[float, float, dict[str, Any]]:
    """Seconds from launching `python -m ui.app [FILE...]` to its first shown window and to the
    files given being open in its viewer, and the app's own facts."""
    report = os.path.join(folder, "app.json")
    env = _env(folder) | {"VQSTUDIO_GUI_STARTUP_REPORT": report, "VQSTUDIO_GUI_QUIT_AFTER_SHOW": "1"}
    start = time.time()
    _run([sys.executable, "-m", "ui.app", *(files or [])], ROOT, env)
    with open(report, encoding="utf-8") as f:
        facts = json.load(f)
    if files and len(facts.get("opened", [])) != len(files):
        raise SystemExit(f"the app did not open {files}: it opened {facts.get('opened')}")
    return float(facts["shown_at_epoch"]) - start, float(facts["opened_at_epoch"]) - start, facts


def time_bare(folder: str) -> float:
    """Seconds from launching the bare PySide6 + pyqtgraph window to its first show."""
    out = os.path.join(folder, "bare.txt")
    start = time.time()
    _run([sys.executable, "-c", BARE, out], folder, _env(folder))
    with open(out, encoding="utf-8") as f:
        return float(f.read()) - start


def write_file(folder: str, channels: int, seconds: float) -> str:
    """The recording the app opens at start: sines in noise (bench/smoke.py), as EDF+."""
    from vqstudio.io import write_recording

    path = os.path.join(folder, "startup.edf")
    write_recording(smoke.recording("startup", channels, seconds, FILE_RATE), path)
    return path


def measure(path: str, runs: int, warmup: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each column's counted runs (seconds), and the app's facts from its last plain start."""
    columns: dict[str, list[float]] = {"app": [], "bare": [], "file_shown": [], "file_opened": []}
    facts: dict[str, Any] = {}
    for run in range(warmup + runs):
        # Interleaved, so a burst of other work falls on every column alike.
        with tempfile.TemporaryDirectory(prefix="vqstudio-startup-") as folder:
            bare = time_bare(folder)
            app, _, facts = time_app(folder)
            file_shown, file_opened, _ = time_app(folder, [path])
        if run >= warmup:
            for name, value in zip(columns, (app, bare, file_shown, file_opened), strict=True):
                columns[name].append(round(value, 3))
    return columns, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs of each first")
    parser.add_argument("--channels", type=int, default=16, help="channels of the file opened at start")
    parser.add_argument("--seconds", type=float, default=600.0, help="seconds of the file opened at start")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, runs=1, warmup=0, channels=smoke.CHANNELS, seconds=smoke.SECONDS)

    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="vqstudio-startup-") as data:
        columns, facts = measure(write_file(data, args.channels, args.seconds), args.runs, args.warmup)
    median = {name: statistics.median(values) for name, values in columns.items()}
    line: dict[str, Any] = {
        "bench": "startup",
        "app_shown_s": round(median["app"], 3),
        "bare_shown_s": round(median["bare"], 3),
        "ratio": round(median["app"] / median["bare"], 2),
        "app_with_file_shown_s": round(median["file_shown"], 3),
        "app_with_file_opened_s": round(median["file_opened"], 3),
        "file": f"EDF+, {args.channels} channels, {args.seconds:g} s at {FILE_RATE:g} Hz",
        "runs_s": columns,
        "torch_imported_at_show": facts.get("torch_imported"),
        "modules_at_show": facts.get("modules"),
        "packages_at_show": [p for p in facts.get("packages", []) if p not in sys.stdlib_module_names],
        "load_average_before": load_before,
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "platform": _env(ROOT).get("QT_QPA_PLATFORM", "default"),
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))


if __name__ == "__main__":
    main()
