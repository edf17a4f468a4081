"""Per-channel codec ablation: shared vs per-channel tokenizers, with and without decoder noise,
each trained for the same fixed number of steps and judged on recordings it never saw.

    python bench/codec.py --train FILE... --test FILE... [--steps N] [--batch B] [--window-s S]
                          [--channels A,B,...] [--resample HZ] [--band LO,HI] [--critic]
                          [--variants shared,per_channel,...] [--device cpu|cuda] [--threads N]
                          [--seed N] [--smoke]

The training recordings are prepared as `vqstudio train` prepares them (the channels asked for,
or the first recording's defaults, one rate, windows with a quarter-window stride); the test
recordings get the same channels, rate and window, cut into windows that do not overlap, each
recording normalised by its own statistics. A budget of steps, not minutes, so the figures do not
depend on how busy the machine is. Every variant sees the same seed, the same batches of windows
and the same schedule through the app's own step (`tokenizer_stage.tokenizer_step`: AdamW,
clipping, the EMA codebook and, with `--critic`, the critic). The test windows are then
reconstructed and compared in physical units by `vqstudio.evaluation.reconstruction_metrics`:
PSD log-spectral distance (paired Welch PSDs, dB, in `--band`), SNR and PRD; with the weights
count of what would ship (no critic), the bit rate of the codes and the training time.

Variants: "shared" (the small preset: one network over all the channels), "per_channel" (the
codec preset: one network for every channel), and each with "_noise" (decoder noise
injection). Decoder noise only draws texture when something rewards it (the STFT loss a little,
an adversary most): `--critic` adds the light critic of bench/tokenizer_budget.py to every
variant.

The issue's figure (eegmat: Zyma et al., PhysioNet 2018, doi:10.13026/C2JQ1P, ODC-By 1.0):
    python bench/codec.py --train ../shared/data/eegmat/Subject31_1.edf \\
        --test ../shared/data/eegmat/Subject02_2.edf --steps 150 --band 0.5,45

`--smoke`: two steps of every variant on tiny recordings it writes. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import smoke
import torch

from vqstudio.cli.argtypes import frequency_band
from vqstudio.data.prep import PreparedData, PrepConfig, prepare
from vqstudio.evaluation.reconstruction_metrics import reconstruction_metrics
from vqstudio.models.tokenizer import Tokenizer, TokenizerConfig, preset_config
from vqstudio.training.batches import WindowBatches
from vqstudio.training.optim import make_optimizer, set_lr
from vqstudio.training.settings import TOKENIZER_OPTIM
from vqstudio.training.tokenizer_stage import tokenizer_step
from vqstudio.training.validation import autocast, eval_mode, reconstruct_windows

# Variant: (preset, settings changed in it).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "shared": ("small", {}),
    "per_channel": ("codec", {}),
    "shared_noise": ("small", {"decoder_noise": True}),
    "per_channel_noise": ("codec", {"decoder_noise": True}),
    # Not run unless named: the shared tokenizer at the codec's depth of residual VQ (its bits
    # per sample still shared by all the channels).
    "shared_rvq4": ("small", {"n_quantizers": 4}),
}
DEFAULT_VARIANTS = ("shared", "per_channel", "shared_noise", "per_channel_noise")
# bench/tokenizer_budget.py's "critic_light", joining after a tenth of the steps.
CRITIC = {"critic_weight": 1.0, "feature_weight": 2.0, "critic_periods": (2, 3, 5), "critic_ffts": (64,)}


def read(paths: list[str]) -> list[Any]:
    """The recordings at `paths` (read by the app's readers)."""
    from vqstudio.io import read_recording

    return [read_recording(p) for p in paths]


def prepare_sets(args: argparse.Namespace) -> tuple[PreparedData, PreparedData]:
    """(training data, test data): the test recordings at the training data's channels, rate and
    window, in windows that do not overlap, nothing held out of either."""
    channels = tuple(c.strip() for c in args.channels.split(",")) if args.channels else None
    train = prepare(
        read(args.train),
        PrepConfig(
            channels=channels,
            resample=args.resample,
            window_s=args.window_s,
            val_fraction=0.0,
            working_rate=args.resample is None,
            skip_flat=True,
        ),
    )
    window_s = train.window / train.rate
    test = prepare(
        read(args.test),
        PrepConfig(
            channels=tuple(train.labels),
            resample=train.rate,
            window_s=window_s,
            stride_s=window_s,
            val_fraction=0.0,
            skip_flat=True,
        ),
    )
    if test.window != train.window:
        raise SystemExit(f"test windows of {test.window} samples, training windows of {train.window}")
    return train, test


def bits_per_sample(cfg: TokenizerConfig) -> float:
    """Bits of code per sample of one channel: the levels of one latent step over its samples
    (a shared tokenizer's codes serve all C channels at once)."""
    bits = cfg.prior_levels * math.log2(cfg.codebook_size)
    return bits / cfg.downsample / cfg.channels


def run_variant(
    name: str, train: PreparedData, test: PreparedData, args: argparse.Namespace, device: torch.device
) -> dict[str, Any]:
    """Trains variant `name` for `args.steps` steps; its figures on the test windows."""
    preset, changes = VARIANTS[name]
    critic = {**CRITIC, "critic_start": args.steps // 10} if args.critic else {}
    cfg = preset_config(preset, channels=train.n_channels, window=train.window, **changes, **critic)
    optim = dataclasses.replace(
        TOKENIZER_OPTIM, warmup_steps=min(TOKENIZER_OPTIM.warmup_steps, max(1, args.steps // 10))
    )
    torch.manual_seed(args.seed)
    model = Tokenizer(cfg).to(device)
    batches = WindowBatches(train.train, train.window, device, torch.Generator().manual_seed(args.seed))
    opt = make_optimizer(model, optim)
    start = time.perf_counter()
    with torch.no_grad(), autocast(device):
        model.init_codebook(
            torch.cat([model.encode(batches.batch(args.batch)).float() for _ in range(optim.kmeans_batches)])
        )
    for step in range(args.steps):
        set_lr(opt, optim.lr_at(step, step / args.steps))
        tokenizer_step(model, opt, batches.batch(args.batch), optim.grad_clip, device, step)
    train_s = time.perf_counter() - start
    x = test.windows("train")  # the test set's windows: all of them are its "train" split
    with eval_mode(model):
        rec, _, _ = reconstruct_windows(model, torch.from_numpy(x))
    figures = reconstruction_metrics(test.physical(x), test.physical(rec.cpu().numpy()), test.rate, args.band)
    gains = [p.abs().mean().item() for n, p in model.named_parameters() if n.endswith(".gain")]
    published = sum(v.numel() for v in model.published_state().values())
    return {
        "psd_lsd_db": round(figures["lsd_db"], 3),
        "snr_db": round(figures["snr_db"], 3),
        "prd_percent": round(figures["prd_percent"], 2),
        "weights": published,
        "weights_mb": round(published * 4 / 2**20, 2),
        "bits_per_sample": round(bits_per_sample(cfg), 3),
        "prior_latent_dim": cfg.prior_latent_dim,
        "prior_levels": cfg.prior_levels,
        "noise_gain_mean": round(float(np.mean(gains)), 4) if gains else None,
        "train_s": round(train_s, 1),
        "ms_per_step": round(1000 * train_s / max(1, args.steps), 1),
        "preset": preset,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="*", default=[], metavar="FILE", help="training recordings")
    parser.add_argument("--test", nargs="*", default=[], metavar="FILE", help="recordings to reconstruct")
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps per variant")
    parser.add_argument("--batch", type=int, default=8, help="windows per batch (all their channels)")
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--channels", help="channel labels separated by commas (default: the engine's)")
    parser.add_argument("--resample", type=float, help="the rate (default: the engine's working rate)")
    parser.add_argument("--band", type=frequency_band, metavar="LO,HI", help="PSD distance band (Hz)")
    parser.add_argument("--critic", action="store_true", help="train every variant against the light critic")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"of: {', '.join(VARIANTS)}")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        folder = smoke.scratch_folder()
        files = smoke.write_recordings(folder, count=2, channels=3)
        smoke.apply_smoke(
            parser, args, train=files[:1], test=files[1:], steps=2, batch=2, window_s=2.0, threads=1
        )
    if not args.train or not args.test:
        parser.error("give --train FILE... and --test FILE..., or --smoke")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    start = time.perf_counter()
    train, test = prepare_sets(args)
    print(
        f"{train.n_channels} channels at {train.rate:g} Hz, windows of {train.window}: "
        f"{len(train.train)} training, {len(test.train)} test",
        file=sys.stderr,
    )
    line: dict[str, Any] = {
        "bench": "codec",
        "train": [os.path.basename(p) for p in args.train],
        "test": [os.path.basename(p) for p in args.test],
        "channels": train.n_channels,
        "rate": train.rate,
        "window": train.window,
        "train_windows": len(train.train),
        "test_windows": len(test.train),
        "steps": args.steps,
        "batch": args.batch,
        "critic": args.critic,
        "band_hz": list(args.band) if args.band else None,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "variants": {},
    }
    for name in names:
        line["variants"][name] = run_variant(name, train, test, args, device)
        print(f"{name}: {json.dumps(line['variants'][name])}", file=sys.stderr, flush=True)
    line["seconds"] = round(time.perf_counter() - start, 1)
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
