"""Tokenizer throughput: windows/s for a full training step and for encoding; prints one JSON line.

    python bench/train.py [--device cpu|cuda] [--preset small] [--channels 2 --window 1024]
                          [--batch N] [--seconds S] [--data PATH ...] [--compile] [--smoke]

A training step is the app's own (`vqstudio.training.tokenizer_stage.tokenizer_step`: forward
with bf16 autocast on CUDA, backward, gradient clipping, the AdamW step of the tokenizer's
optimizer config, the codebook update). Encoding is encoder + quantizer
to indices under inference mode. Without --data the windows are random normal noise made on
the device; with --data, windows cut from the recordings (first C channels of the most
common rate, normalised per channel) are moved to the device once. No host
synchronisation inside the timed region except the final one. With --compile the model's
forward goes through `torch.compile` (inductor; on CPU it needs a C++ compiler) and
`train_warmup_s` includes the compilation. Measured on the 2-core CPU (small preset, 19 x 496, batch
8, torch 2.13): 86 ms a step eager, 99 ms compiled after 66 s of compiling, so the app does
not compile. `--smoke`: a fraction of a second of each on windows of a tiny recording it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.training.optim import make_optimizer
from vqstudio.training.settings import TOKENIZER_OPTIM
from vqstudio.training.tokenizer_stage import tokenizer_step
from vqstudio.training.validation import autocast


def load_windows(paths: list[str], channels: int, window: int) -> tuple[np.ndarray, list[str], float]:
    """Non-overlapping (N, C, T) float32 windows from recordings, normalised per channel and file.

    Takes the first `channels` channels at the most common rate of each file; returns the
    windows, the labels used, and the rate.
    """
    from vqstudio.io import read_recording

    out, labels, rate = [], [], 0.0
    for path in paths:
        rec = read_recording(path)
        rate = Counter(ch.rate for ch in rec.channels).most_common(1)[0][0]
        chosen = [ch for ch in rec.channels if ch.rate == rate][:channels]
        if len(chosen) < channels:
            raise SystemExit(f"{path}: only {len(chosen)} channels at {rate} Hz, asked for {channels}")
        data = np.stack([ch.samples for ch in chosen]).astype(np.float64)
        data = (data - data.mean(1, keepdims=True)) / np.maximum(data.std(1, keepdims=True), 1e-12)
        n = data.shape[1] // window
        out.append(data[:, : n * window].reshape(channels, n, window).transpose(1, 0, 2))
        labels = [ch.label for ch in chosen]
    return np.concatenate(out).astype(np.float32), labels, float(rate)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    overrides = {}
    if args.strides:
        overrides["strides"] = tuple(int(s) for s in args.strides.split(","))
    if args.n_quantizers:
        overrides["n_quantizers"] = args.n_quantizers
    cfg = preset_config(args.preset, channels=args.channels, window=args.window, **overrides)
    model = Tokenizer(cfg).to(device)
    params = sum(p.numel() for p in model.parameters())
    batch = args.batch or (256 if device.type == "cuda" else 32)
    use_bf16 = device.type == "cuda"  # what `autocast` does on each device

    if args.data:
        windows, _, _ = load_windows(args.data, args.channels, args.window)
        pool = torch.from_numpy(windows).to(device)
        source = f"{len(args.data)} files, {len(windows)} windows"
    else:
        pool = torch.randn(max(8 * batch, batch), args.channels, args.window, device=device)
        source = "random normal"
    if pool.shape[0] < batch:
        pool = pool.repeat((batch + pool.shape[0] - 1) // pool.shape[0], 1, 1)
    n_batches = pool.shape[0] // batch
    batches = [pool[i * batch : (i + 1) * batch] for i in range(n_batches)]

    opt = make_optimizer(model, TOKENIZER_OPTIM)
    if args.compile:
        model.compile()

    with torch.no_grad(), autocast(device):
        model.init_codebook(torch.cat([model.encode(b) for b in batches[:4]]))

    def train_step(x: torch.Tensor) -> None:
        tokenizer_step(model, opt, x, TOKENIZER_OPTIM.grad_clip, device)

    def encode_step(x: torch.Tensor) -> None:
        with torch.inference_mode(), autocast(device):
            model.quantize(model.encode(x))

    warmups: list[float] = []

    def timed(step, seconds: float, warmup: int) -> tuple[float, int]:
        start = time.perf_counter()
        for i in range(warmup):
            step(batches[i % n_batches])
        sync(device)
        warmups.append(time.perf_counter() - start)
        # Calibrate on a few steps, then time a fixed count (no sync inside the loop).
        start = time.perf_counter()
        for i in range(3):
            step(batches[i % n_batches])
        sync(device)
        per_step = (time.perf_counter() - start) / 3
        steps = max(3, int(seconds / max(per_step, 1e-6)))
        start = time.perf_counter()
        for i in range(steps):
            step(batches[i % n_batches])
        sync(device)
        return steps * batch / (time.perf_counter() - start), steps

    model.train()
    train_rate, train_steps = timed(train_step, args.seconds, args.warmup)
    model.eval()
    encode_rate, encode_steps = timed(encode_step, args.seconds / 2, args.warmup)
    usage = model.codebook_usage()
    return {
        "bench": "tokenizer_train",
        "preset": args.preset,
        "channels": args.channels,
        "window": args.window,
        "downsample": cfg.downsample,
        "n_quantizers": cfg.n_quantizers,
        "codebook_size": cfg.codebook_size,
        "params": params,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "dtype": "bfloat16" if use_bf16 else "float32",
        "batch": batch,
        "data": source,
        "train_windows_per_s": round(train_rate, 1),
        "train_steps_timed": train_steps,
        "train_ms_per_step": round(1000 * batch / train_rate, 2),
        "compiled": args.compile,
        "train_warmup_s": round(warmups[0], 2),
        "encode_warmup_s": round(warmups[1], 2),
        "encode_windows_per_s": round(encode_rate, 1),
        "encode_steps_timed": encode_steps,
        "codebook_used_fraction": round(usage["used_fraction"], 3),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--preset", default="small")
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=0, help="default 32 on CPU, 256 on CUDA")
    parser.add_argument("--strides", default="", help="override, e.g. 2,2,4")
    parser.add_argument("--n-quantizers", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed training seconds")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--data", nargs="*", default=[])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        data = [] if args.data else smoke.write_recordings(smoke.scratch_folder(), count=1)
        smoke.apply_smoke(parser, args, seconds=0.3, batch=4, window=256, warmup=1, threads=1, data=data)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = bench(args)
    if args.smoke:
        result["smoke"] = True
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
