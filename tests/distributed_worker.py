"""One process of a distributed test run: `torchrun ... tests/distributed_worker.py JSON`.

Trains a tiny project through the engine's `train` with the settings the JSON names, in as many
processes as the launcher started (or one, run without a launcher). For the tests in
tests/test_distributed.py:
- `constant_lr`: both stages at a constant learning rate, losses read every step (so runs of
  different budgets, resumed or not, follow one curve);
- `audit`: a rank other than 0 notes every write it makes into the project folder (file opened
  for writing, renamed, removed) in `PROJECT.rank<R>.writes` beside the folder;
- `oom_at`: `{"rank": R, "index": I}`: rank R runs out of memory once, at tokenizer step I;
- `log_threads`: every rank notes each thread count it sets in `PROJECT.rank<R>.threads`, and
  rank 0 sees 4 cores (so it times 1 and 2 threads per process on a 2-core machine);
- `stream`: the windows prepared by streaming, from the project's window cache on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading

import torch

from vqstudio.events import run_to_end
from vqstudio.training import TrainSettings, train
from vqstudio.training.settings import PRIOR_OPTIM, TOKENIZER_OPTIM


def constant(optim):  # type: ignore[no-untyped-def]
    """`optim` at a constant learning rate, its losses read at every step."""
    return dataclasses.replace(
        optim, warmup_steps=1, warmup_fraction=0.0, min_lr_ratio=1.0, log_every=1, log_every_s=0.0
    )


def audit_writes(project: str, rank: int) -> None:
    """Notes this process's writes into `project` (Python's audit events) beside the folder."""
    folder = os.path.abspath(project) + os.sep
    notes = os.path.abspath(project) + f".rank{rank}.writes"

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], str):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            paths = [args[0]] if writing else []
        elif event in ("os.rename", "os.replace", "os.remove", "os.unlink", "os.mkdir"):
            paths = [a for a in args[:2] if isinstance(a, str)]
        else:
            return
        for path in paths:
            if os.path.abspath(path).startswith(folder) or os.path.abspath(path) + os.sep == folder:
                with open(notes, "a", encoding="utf-8") as f:  # outside the folder: not audited again
                    f.write(f"{event} {path}\n")

    sys.addaudithook(hook)


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    if spec.get("audit") and rank > 0:
        audit_writes(spec["project"], rank)
    if spec.get("log_threads"):
        real, notes = torch.set_num_threads, os.path.abspath(spec["project"]) + f".rank{rank}.threads"

        def logged(n: int) -> None:
            with open(notes, "a", encoding="utf-8") as f:
                f.write(f"{n}\n")
            real(n)

        torch.set_num_threads = logged  # type: ignore[assignment]
        if rank == 0:
            from vqstudio.training import loop

            loop.available_cores = lambda: 4  # type: ignore[assignment]
    oom = spec.get("oom_at")
    if oom and oom["rank"] == rank:
        from vqstudio.training import tokenizer_stage

        step, done = tokenizer_stage.TokenizerStage.step, []

        def failing(self, index, batch_size):  # type: ignore[no-untyped-def]
            if index == oom["index"] and not done:
                done.append(index)
                raise RuntimeError("CPU out of memory (made by the test)")
            return step(self, index, batch_size)

        tokenizer_stage.TokenizerStage.step = failing  # type: ignore[method-assign]
    settings = TrainSettings(
        inputs=tuple(spec.get("inputs", ())),
        window_s=2.0,
        tokenizer_steps=spec.get("tokenizer_steps"),
        prior_steps=spec.get("prior_steps", 0),
        minutes=spec.get("minutes"),
        prior=spec.get("prior", "autoregressive"),
        device="cpu",
        threads=spec.get("threads", 1),
        preset="small",
        batch_size=spec.get("batch_size"),
        seed=spec.get("seed", 0),
        **({"stream": True} if spec.get("stream") else {}),  # windows from the cache on disk
    )
    optims = {}
    if spec.get("constant_lr"):
        optims = {"optim": constant(TOKENIZER_OPTIM), "prior_optim": constant(PRIOR_OPTIM)}
    run_to_end(
        train(settings, spec["project"], threading.Event(), resume=spec.get("resume", False), **optims)
    )


if __name__ == "__main__":
    main()
