"""Benchmark of start-up: the app's time to its first shown window beside a bare PySide6 +
pyqtgraph window's (a QMainWindow holding one PlotWidget), both in child processes.

Each run launches `python -m ui.app` (settings in a fresh temporary home, so no recent file is
opened) and the bare window's script in turn; each child writes the wall clock when its window
is first shown (after the Show event, on the next turn of the event loop, as the app's `shown`
signal), and the time counts from just before the child was launched: interpreter start,
imports, the window's construction and its first show. The first pair is a warm-up (disk
caches), not counted. Prints one JSON line: the medians, their ratio, every run, what the app
had imported when its window showed, and the load average before and after (the figures mean
something only on an idle machine: other processes' work lands in both columns, unevenly).

    python bench/startup.py [--runs 7] [--warmup 1] [--smoke]

`--smoke`: one counted run of each, no warm-up. Without a display, Qt's offscreen platform.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

ROOT = smoke.ROOT
TIMEOUT_S = 120

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


def time_app(folder: str) -> tuple[float, dict[str, object]]:
    """Seconds from launching `python -m ui.app` to its first shown window, and its own facts."""
    report = os.path.join(folder, "app.json")
    env = _env(folder) | {"VQSTUDIO_GUI_STARTUP_REPORT": report, "VQSTUDIO_GUI_QUIT_AFTER_SHOW": "1"}
    start = time.time()
    subprocess.run([sys.executable, "-m", "ui.app"], cwd=ROOT, env=env, check=True, timeout=TIMEOUT_S,
                   capture_output=True)  # fmt: skip
    with open(report, encoding="utf-8") as f:
        facts = json.load(f)
    return float(facts["shown_at_epoch"]) - start, facts


def time_bare(folder: str) -> float:
    """Seconds from launching the bare PySide6 + pyqtgraph window to its first show."""
    out = os.path.join(folder, "bare.txt")
    start = time.time()
    subprocess.run([sys.executable, "-c", BARE, out], cwd=folder, env=_env(folder), check=True,
                   timeout=TIMEOUT_S, capture_output=True)  # fmt: skip
    with open(out, encoding="utf-8") as f:
        return float(f.read()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs of each first")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, runs=1, warmup=0)

    load_before = [round(v, 2) for v in os.getloadavg()]
    app_s: list[float] = []
    bare_s: list[float] = []
    facts: dict[str, object] = {}
    for run in range(args.warmup + args.runs):
        # Interleaved, so a burst of other work falls on both columns alike.
        with tempfile.TemporaryDirectory(prefix="vqstudio-startup-") as folder:
            bare = time_bare(folder)
            app, facts = time_app(folder)
        if run >= args.warmup:
            bare_s.append(round(bare, 3))
            app_s.append(round(app, 3))
    app_median, bare_median = statistics.median(app_s), statistics.median(bare_s)
    line: dict[str, object] = {
        "bench": "startup",
        "app_shown_s": round(app_median, 3),
        "bare_shown_s": round(bare_median, 3),
        "ratio": round(app_median / bare_median, 2),
        "app_runs_s": app_s,
        "bare_runs_s": bare_s,
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
