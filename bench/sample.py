"""Sampling speed of both priors: signal-seconds generated per wall-second. Prints one JSON line.

Builds its own project in a temporary folder: a simulated 8-channel 256 Hz recording, prepared
into 4 s windows, with an UNTRAINED tokenizer (the preset a user of that device gets) and an
untrained prior of each kind (speed does not depend on the weights, only on their shapes).
Then times `vqstudio.generation.sampling.generate` end to end (prior sampling with the default sampler and
steps, code snapping, chunked decoding, denormalisation), after one warm-up run.

    python bench/sample.py [--device cpu|cuda] [--seconds S] [--count N] [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_project(folder: str, device: str, prior_kind: str, preset: str) -> None:
    import torch

    from vqstudio.data.prep import PrepConfig, prepare
    from vqstudio.models.tokenizer import Tokenizer, preset_config
    from vqstudio.priors.store import build_prior, save_prior
    from vqstudio.project import Project
    from vqstudio.project.checkpoint import save_weights
    from vqstudio.recording import Recording
    from vqstudio.training.prior_stage import prior_config

    rate, seconds, channels = 256.0, 120, 8
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    x = 20 * np.sin(2 * np.pi * 10 * t)[None] + rng.normal(0, 5, (channels, t.size))
    rec = Recording.from_array(x, rate, [f"EEG{i + 1}" for i in range(channels)], "uV")
    prepared = prepare([rec], PrepConfig(window_s=4.0))
    project = Project.create(
        folder, {"prep": prepared.config.to_json(), "data": prepared.describe(), "seed": 0}
    )
    tok_preset = "small" if device == "cpu" else "medium"
    cfg = preset_config(tok_preset, channels=prepared.n_channels, window=prepared.window)
    tokenizer = Tokenizer(cfg)
    save_weights(project.tokenizer_path, tokenizer.state_dict(), "tokenizer", dataclasses.asdict(cfg), 0)
    prior = build_prior(prior_config(prior_kind, tokenizer, 0, preset))
    save_prior(project.prior_path, prior, 0, [], [])
    torch.manual_seed(0)


def time_generate(folder: str, seconds: float, count: int, device: str, threads: int | None) -> float:
    """Signal-seconds per wall-second of one `generate` run (after a short warm-up)."""
    from vqstudio.events import run_to_end
    from vqstudio.generation.sampling import GenerateSettings, generate

    warm = GenerateSettings(seconds=8, count=count, seed=1, device=device, threads=threads, as_array=True)
    run_to_end(generate(folder, warm))
    settings = dataclasses.replace(warm, seconds=seconds, seed=0)
    t0 = time.perf_counter()
    out = run_to_end(generate(folder, settings))
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    assert out.shape[0] == count and np.isfinite(out).all()
    return count * seconds / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per recording")
    parser.add_argument("--count", type=int, default=None, help="recordings generated together")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core)")
    args = parser.parse_args()
    import torch

    cpu = args.device == "cpu"
    seconds = args.seconds or (60.0 if cpu else 120.0)
    count = args.count or (16 if cpu else 1024)
    preset = "small" if cpu else "medium"
    result: dict[str, object] = {
        "device": args.device if cpu else torch.cuda.get_device_name(0),
        "threads": torch.get_num_threads() if args.threads is None else args.threads,
        "recording": "8 channels, 256 Hz",
        "seconds_per_recording": seconds,
        "count": count,
        "prior_preset": preset,
        "weights": "untrained (speed depends on shapes only)",
        "sampler": "dpm++2m, 20 steps per diffusion segment; autoregressive temperature 1, no top-k",
    }
    for kind in ("diffusion", "autoregressive"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, kind)
            build_project(folder, args.device, kind, preset)
            result[f"{kind}_signal_s_per_s"] = round(
                time_generate(folder, seconds, count, args.device, args.threads), 1
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
