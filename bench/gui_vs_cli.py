"""Training speed in the desktop app against the command line, on the same recording and machine;
prints one JSON line.

    python bench/gui_vs_cli.py [--seconds 30] [--window 4] [--data PATH] [--runs cli,gui,...] [--smoke]

Each run trains the tokenizer alone (`--prior-steps 0`) for `--seconds` of wall-clock budget on
the CPU. Steps per second come from the project's history (loss read-outs: step and elapsed
time), so start-up is not counted. Runs, one after the other:
- `cli`: `vqstudio train FILE --project DIR --minutes M --prior-steps 0 --device cpu`
  (every core, normal priority); `cli_1t`: the same with OMP_NUM_THREADS=1;
- `gui`: the app's Train button (offscreen window), with the app's threads and priority;
- `gui_nice0`: the same threads at normal priority;
- `gui_1t`: the app as it was (every core but one, normal priority).
The GUI runs also report how late a 20 ms timer in the window fired (p95 and max, ms): how
responsive the window stayed. The machine's load average is part of the line: a shared
machine's other work slows every run. `--runs` picks some of them. `--smoke`: `cli` and `gui_1t`,
a 2-second budget each, on a tiny recording it writes into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke  # noqa: E402
from cli_runs import threads_used  # noqa: E402

CLI_RUNS = {"cli": {}, "cli_1t": {"OMP_NUM_THREADS": "1"}}  # name: environment
GUI_RUNS = {"gui": (None, None), "gui_nice0": (None, 0), "gui_1t": (1, 0)}  # name: (threads, nice)

GUI_RUN = r"""
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
import ui.mainwindow, ui.worker
if {threads!r}:
    ui.mainwindow.gui_threads = lambda: {threads!r}
if {nice!r} is not None:
    ui.worker.LOW_PRIORITY_NICE = {nice!r}
w = ui.mainwindow.MainWindow()
w.show()
assert w.load_path({data!r})
panel = w.training
panel.extra_settings = {{"prior_steps": 0}}
panel.window_s.setValue({window})
panel.minutes.setValue({minutes})
panel.device.addItem("cpu", "cpu"); panel.device.setCurrentIndex(panel.device.findData("cpu"))
panel.use_folder({project!r})
late, last = [], [time.monotonic()]
def tick():
    now = time.monotonic(); late.append((now - last[0]) * 1000 - 20); last[0] = now
timer = QTimer(); timer.setInterval(20); timer.timeout.connect(tick); timer.start()
w.actions["train"].trigger()
job = w.jobs["train"]
failed = []
job.finished.connect(app.quit); job.failed.connect(lambda e, tb: (failed.append(tb), app.quit()))
app.exec()
import shiboken6
shiboken6.delete(w)  # before the QApplication goes (see ui/app.py)
if failed:
    sys.exit("the app's training failed: " + failed[0])
late = sorted(late[10:]) or [0.0]
print(json.dumps({{"p95_ms": round(late[int(0.95 * (len(late) - 1))], 1), "max_ms": round(late[-1], 1)}}))
"""


def steps_per_s(project: str) -> float:
    """Steps per second between the first and the last loss read-out of the project's history."""
    from vqstudio.project import Project

    logs = [r for r in Project.open(project).history("tokenizer") if "losses" in r]
    if len(logs) < 2 or logs[-1]["time_s"] <= logs[0]["time_s"]:
        return 0.0
    return (logs[-1]["step"] - logs[0]["step"]) / (logs[-1]["time_s"] - logs[0]["time_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training budget of each run")
    parser.add_argument("--window", type=float, default=4.0, help="window in seconds (the app's default)")
    parser.add_argument("--data", help="a recording (default: the demo recording)")
    parser.add_argument("--runs", default=",".join([*CLI_RUNS, *GUI_RUNS]), help="runs, separated by commas")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    tmp = smoke.scratch_folder("vqstudio-bench-")  # removed when the bench exits
    if args.smoke:
        data = args.data or smoke.write_recordings(tmp, count=1)[0]
        smoke.apply_smoke(parser, args, seconds=2.0, window=smoke.WINDOW_S, data=data, runs="cli,gui_1t")
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in CLI_RUNS and r not in GUI_RUNS]
    if unknown or not runs:
        parser.error(f"unknown runs {unknown}; known: {', '.join([*CLI_RUNS, *GUI_RUNS])}")
    data = args.data
    if not data:
        from vqstudio.data.simulate import demo_file

        data = demo_file(tmp)
    minutes = args.seconds / 60
    out: dict[str, object] = {"cores": os.cpu_count(), "seconds": args.seconds, "window_s": args.window}
    out["load_before"] = os.getloadavg()[0]
    command = [sys.executable, "-m", "vqstudio", "train", data, "--project", "", "--minutes", f"{minutes:g}"]
    command += ["--prior-steps", "0", "--device", "cpu", "--window", f"{args.window:g}"]
    out["cli_command"] = " ".join(["vqstudio", *command[3:6], "DIR", *command[7:]])
    for name, env in CLI_RUNS.items():
        if name not in runs:
            continue
        command[6] = os.path.join(tmp, name)
        run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
        if run.returncode:
            sys.exit(f"{name} failed ({run.returncode}): {run.stderr[-2000:]}")
        out[f"{name}_steps_per_s"] = round(steps_per_s(command[6]), 2)
        out[f"{name}_threads"] = threads_used(command[6])
    for name, (threads, nice) in GUI_RUNS.items():
        if name not in runs:
            continue
        project = os.path.join(tmp, name)
        code = GUI_RUN.format(
            root=ROOT,
            threads=threads,
            nice=nice,
            data=data,
            window=args.window,
            minutes=minutes,
            project=project,
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        if run.returncode:
            sys.exit(f"{name} failed ({run.returncode}): {run.stderr[-2000:]}")
        out[f"{name}_steps_per_s"] = round(steps_per_s(project), 2)
        out[f"{name}_threads"] = threads_used(project)
        out[f"{name}_timer_late"] = json.loads(run.stdout.strip().splitlines()[-1])
    out["load_after"] = os.getloadavg()[0]
    if args.smoke:
        out["smoke"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()
