"""What the benches that drive the `vqstudio` command share: running it, the evaluate call, and
what a trained project records of its run.

The command runs from the repository root of this checkout (so a bench run from a git worktree
measures that worktree's code), with its output on stderr: the benches keep stdout for their one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


VQSTUDIO = (sys.executable, "-m", "vqstudio")  # the command, as this checkout's code (run from ROOT)


def step_pair(text: str) -> tuple[int, int]:
    """The type of a `--steps TOK,PRIOR` option: two step counts (tokenizer, prior), each at least 1."""
    try:
        tok, prior = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TOK,PRIOR (two whole numbers), got {text!r}") from None
    if tok < 1 or prior < 1:
        raise argparse.ArgumentTypeError(f"both step counts must be at least 1, got {text!r}")
    return tok, prior


def peak_memory(argv: Sequence[str]) -> tuple[int, float]:
    """Peak resident memory (bytes) of a child process running `argv` (from the repository root),
    read by a grandparent that runs nothing else (so the peak is the child's), and its wall time.
    Exits if it fails."""
    code = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    kb, code_ = out.stdout.split()
    if code_ != "0":
        sys.exit(f"{' '.join(argv[:2])} failed (exit {code_})")
    return int(kb) * 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def run_vqstudio(*args: str) -> float:
    """Runs `python -m vqstudio ARGS`; its wall time in seconds. Exits with its message if it fails."""
    start = time.perf_counter()
    done = subprocess.run([*VQSTUDIO, *args], cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if done.returncode != 0:
        sys.exit(f"vqstudio {args[0]} failed (exit {done.returncode}); see above")
    return time.perf_counter() - start


def generated_paths(out: str, count: int) -> list[str]:
    """The files `vqstudio generate --out OUT --count N` writes (OUT itself when N is 1)."""
    stem, ext = os.path.splitext(out)
    return [out] if count == 1 else [f"{stem}_{i}{ext}" for i in range(1, count + 1)]


def evaluate(
    project: str,
    synthetic: Sequence[str],
    report_path: str,
    plots_dir: str,
    *,
    real: Sequence[str] | None = None,
    band: tuple[float, float] | None = None,
    references: bool = True,
    seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """`vqstudio evaluate`, its JSON report to `report_path`; (the report, its wall time)."""
    command = ["evaluate", project, "--synthetic", *synthetic, "--json", report_path]
    command += ["--plots", plots_dir, "--seed", str(seed)]
    if real:
        command += ["--real", *real]
    if band:
        command += ["--band", f"{band[0]!r},{band[1]!r}"]
    if not references:
        command.append("--no-references")
    wall = run_vqstudio(*command)
    with open(report_path, encoding="utf-8") as f:
        return json.load(f), wall


def synthetic_metrics(
    project: str,
    synthetic: Sequence[str],
    out: str,
    *,
    real: Sequence[str] | None = None,
    band: tuple[float, float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """`vqstudio evaluate --no-references` into OUT/report.json and OUT/plots; the report's metrics."""
    report, _ = evaluate(
        project,
        synthetic,
        os.path.join(out, "report.json"),
        os.path.join(out, "plots"),
        real=real,
        band=band,
        references=False,
        seed=seed,
    )
    return report["metrics"]


# What a trained project records of its run, through its typed record (`vqstudio.project`).


def training_figures(project_dir: str) -> dict[str, Any]:
    """What the project records of its training run: device, CPU threads asked for (None: timed),
    budget and tokenizer preset, and per stage its step, elapsed seconds, batch size and last
    validation figures."""
    from vqstudio.project import Project

    record = Project.open(project_dir).record
    out: dict[str, Any] = {
        "device": record.device,
        "threads": record.settings.threads,
        "budget": record.budget.to_json() if record.budget is not None else None,
        "preset": record.settings.preset,
    }
    for stage, p in record.progress.items():
        out[stage] = {
            "step": p.step,
            "elapsed_s": p.elapsed_s,
            "batch_size": p.batch_size,
            "metrics": dict(p.metrics),
        }
    return out


def threads_used(project_dir: str) -> int | None:
    """The CPU threads the project's run asked for, as its record keeps them (None: timed)."""
    from vqstudio.project import Project

    return Project.open(project_dir).record.settings.threads
