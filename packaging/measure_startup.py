"""Start-up time of an installed VQ Studio, from launch to its window: prints one JSON line.

    python packaging/measure_startup.py PREFIX_OR_APPDIR [--runs 3]

Runs `vqstudio-gui` offscreen with VQSTUDIO_GUI_STARTUP_REPORT (the app writes the seconds from
its start to the window's first show, and whether torch was imported by then) and
VQSTUDIO_GUI_QUIT_AFTER_SHOW (it quits right after). Three kinds of start:

- first: the first start after install (the files were just written, so they are in the page cache);
- cold: after the bundle's files were evicted from the page cache with posix_fadvise(DONTNEED)
  (what dropping caches would do for the app's own files; system libraries stay cached);
- warm: the median of `--runs` starts right after another.

`launch_to_exit_s` is the wall clock from exec to the process's exit: the app quits right after
its window's first show, so it is the start-up to the window plus the quit. `in_app_s` is the
app's own count from the import of ui.app, which leaves out the bootloader and Python's start.
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
from pathlib import Path


def find_app(path: Path) -> Path:
    for cand in (path, path / "lib" / "vqstudio", path / "app"):
        if (cand / "vqstudio-gui").is_file():
            return cand
    raise SystemExit(f"measure_startup: no vqstudio-gui under {path}")


def evict(app: Path) -> int:
    """Drops the bundle's files from the page cache; returns the bytes advised away."""
    total = 0
    for p in app.rglob("*"):
        if p.is_file() and not p.is_symlink():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += p.stat().st_size
            finally:
                os.close(fd)
    return total


def start(app: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "startup.json"
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
            "VQSTUDIO_GUI_STARTUP_REPORT": str(report),
            "VQSTUDIO_GUI_QUIT_AFTER_SHOW": "1",
            "HOME": tmp,  # fresh settings: the first-run state a new user sees
        }
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(app / "vqstudio-gui")], env=env, capture_output=True, text=True, timeout=120
        )
        wall = time.perf_counter() - t0
        if done.returncode != 0 or not report.is_file():
            raise SystemExit(
                f"measure_startup: the app did not show its window (exit {done.returncode}):\n{done.stderr}"
            )
        data = json.loads(report.read_text())
    return {
        "launch_to_exit_s": round(wall, 3),
        "in_app_s": data["shown_after_s"],
        "torch_imported": data["torch_imported"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="install prefix, app folder, or unpacked archive")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-first", action="store_true", help="the app was started before: skip 'first'")
    args = ap.parse_args(argv)
    app = find_app(args.path.resolve())
    result: dict = {"app": str(app)}
    if not args.no_first:
        result["first"] = start(app)
    result["evicted_mb"] = round(evict(app) / 1e6, 1)
    result["cold"] = start(app)
    warm = [start(app) for _ in range(args.runs)]
    result["warm"] = {
        "launch_to_exit_s": statistics.median(w["launch_to_exit_s"] for w in warm),
        "in_app_s": statistics.median(w["in_app_s"] for w in warm),
        "torch_imported": any(w["torch_imported"] for w in warm),
        "runs": len(warm),
    }
    result["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
