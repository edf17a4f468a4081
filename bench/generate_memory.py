"""The memory `vqstudio generate` estimates before it starts, beside the peak it then reaches.

    .venv/bin/python bench/generate_memory.py PROJECT --requests 2x200,2x2000,600x1,600x8

Each request runs `vqstudio generate` in a child process (`.npy` output into a temporary folder)
and reads the child's peak resident memory; the smallest request's peak is taken as the
baseline (Python, torch and the models), and the estimate (`vqstudio.generation.cost`) is
compared with what each request added to it. Prints one JSON line. `--smoke`: one small request
to a tiny project it trains in a temporary folder (PROJECT optional).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke
from cli_runs import VQSTUDIO, peak_memory

from vqstudio.generation.cost import generate_cost
from vqstudio.priors.store import load_prior
from vqstudio.project import Project


def _estimate(project: Project, seconds: float, count: int) -> float:
    """What `generate` estimates for the request (as `generation.sampling` computes it)."""
    tokenizer = project.load_tokenizer("cpu")
    prior = load_prior(project.prior_path)
    n_out = max(1, round(seconds * project.output_rate))
    n_work = (
        n_out if project.rate == project.output_rate else -(-n_out * project.rate // project.output_rate) + 48
    )
    length = -(-int(n_work) // tokenizer.cfg.downsample)
    guided = prior.conditional
    cost = generate_cost(tokenizer.cfg, prior.config, count, length, int(n_work), n_out, guided)
    return cost.total_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", nargs="?", help="a trained project (required)")
    parser.add_argument(
        "--requests", default="2x200,2x2000,600x1,600x8", help="SECONDSxCOUNT,... (generate requests)"
    )
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        smoke.apply_smoke(parser, args, project=args.project or smoke.tiny_project(), requests="4x2")
    if not args.project:
        parser.error("give PROJECT, or --smoke")
    project = Project.open(args.project)
    command = [*VQSTUDIO, "generate", os.path.abspath(args.project)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base, _ = peak_memory([*command, "--seconds", "1", "--count", "1", "--out", f"{folder}/b.npy"])
        for request in args.requests.split(","):
            seconds, count = float(request.split("x")[0]), int(request.split("x")[1])
            argv = [*command, "--seconds", f"{seconds:g}", "--count", str(count), "--out", f"{folder}/g.npy"]
            peak, wall = peak_memory(argv)
            estimate = _estimate(project, seconds, count)
            added = peak - base
            rows.append(
                {
                    "seconds": seconds,
                    "count": count,
                    "estimate_mb": round(estimate / 1e6, 1),
                    "added_mb": round(added / 1e6, 1),
                    "estimate_over_added": round(estimate / max(added, 1), 2),
                    "wall_s": round(wall, 1),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    line = {
        "bench": "generate_memory",
        "project": os.path.basename(os.path.abspath(args.project)),
        "baseline_mb": round(base / 1e6, 1),
        "load_avg": os.getloadavg()[0],
        "rows": rows,
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))


if __name__ == "__main__":
    resource.getrlimit(resource.RLIMIT_AS)  # a Unix-only bench: resource is needed
    main()
