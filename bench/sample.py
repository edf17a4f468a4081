"""Sampling speed of both priors: signal-seconds generated per wall-second. Prints one JSON line.

Builds its own project in a temporary folder with the engine's training job
(`vqstudio.training.train`): a simulated 8-channel 256 Hz recording, prepared into 4 s windows
at its own rate, a tokenizer of the preset a user of that device gets and a prior of each kind,
trained for one step each (speed does not depend on the weights, only on their shapes).
Then times `vqstudio.generation.sampling.generate` end to end (prior sampling with the default sampler and
steps, code snapping, chunked decoding, denormalisation), after one warm-up run.
`--smoke`: the same on a tiny 2-channel 64 Hz recording, 2 s windows, a few seconds generated.

    python bench/sample.py [--device cpu|cuda] [--seconds S] [--count N] [--threads N] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vqstudio.recording import Recording

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke


def simulated_recording() -> Recording:
    """8 channels of a 10 Hz sine in noise, 256 Hz, 120 s."""
    from vqstudio.recording import Recording

    rate, seconds, channels = 256.0, 120, 8
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    x = 20 * np.sin(2 * np.pi * 10 * t)[None] + rng.normal(0, 5, (channels, t.size))
    return Recording.from_array(x, rate, [f"EEG{i + 1}" for i in range(channels)], "uV")


def build_project(
    folder: str,
    recording: Recording,
    window_s: float,
    device: str,
    prior_kind: str,
    preset: str,
    threads: int | None,
) -> None:
    """A project of `recording` trained by the engine's own job for one step of each stage (the
    tokenizer and the prior of `preset`, at the recording's rate)."""
    from vqstudio.events import run_to_end
    from vqstudio.training import TrainSettings, train

    settings = TrainSettings(
        window_s=window_s,
        working_rate=False,
        preset=preset,
        prior=prior_kind,
        tokenizer_steps=1,
        prior_steps=1,
        device=device,
        threads=threads,
    )
    run_to_end(train(settings, folder, threading.Event(), recordings=[recording]))


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
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, seconds=4.0, count=2, threads=1)
    import torch

    cpu = args.device == "cpu"
    seconds = args.seconds or (60.0 if cpu else 120.0)
    count = args.count or (16 if cpu else 1024)
    preset = "small" if cpu else "medium"
    recording = smoke.recording("sample") if args.smoke else simulated_recording()
    window_s = smoke.WINDOW_S if args.smoke else 4.0
    result: dict[str, object] = {
        "device": args.device if cpu else torch.cuda.get_device_name(0),
        "threads": torch.get_num_threads() if args.threads is None else args.threads,
        "recording": f"{len(recording.channels)} channels, {recording.channels[0].rate:g} Hz",
        "seconds_per_recording": seconds,
        "count": count,
        "prior_preset": preset,
        "weights": "one training step of each model (speed depends on shapes only)",
        "sampler": "dpm++2m, 20 steps per diffusion segment; autoregressive temperature 1, no top-k",
    }
    for kind in ("diffusion", "autoregressive"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, kind)
            build_project(folder, recording, window_s, args.device, kind, preset, args.threads)
            result[f"{kind}_signal_s_per_s"] = round(
                time_generate(folder, seconds, count, args.device, args.threads), 1
            )
    if args.smoke:
        result["smoke"] = True
    print(json.dumps(result))


if __name__ == "__main__":
    main()
