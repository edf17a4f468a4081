"""Tokenizer ablation: which defaults reconstruct real recordings best for a fixed step budget.

    python bench/ablation.py [--data FILE ...] [--steps N] [--batch B] [--variants a,b,...]
                             [--device cpu|cuda] [--save-prepared DIR | --prepared DIR] [--smoke]

Each variant is the "small" preset with a few settings changed (STFT loss on/off, x8 vs x16
downsampling, plain vs residual VQ, L1 vs L1+L2 time loss). For every recording (prepared
as `vqstudio train` prepares it: default channels, 4 s windows, split by time) and every
variant, the same seed, the same batches and the same number of steps of the app's own step
(`tokenizer_step`: AdamW, clipping, EMA codebook update; warmup over a tenth of the steps, then
cosine), then the held-out
figures of `vqstudio.training.validation.validate`: PRD (%), SNR (dB), log-spectral distance
(dB) and codebook usage. Prints one JSON line.

`--save-prepared DIR` writes the prepared (normalised, split) windows of each recording to
DIR/<name>.npz and stops; `--prepared DIR` trains from those files instead of reading
recordings (for a GPU machine that lacks the EDF readers; DIR is a scratch folder, never
part of the repository). `--smoke`: two steps of one variant on two tiny recordings it writes,
prepared, saved with `--save-prepared` and read back as `--prepared` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import smoke

from vqstudio.data.prep import ChannelInfo, PreparedData, PrepConfig, Split, prepare
from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.training.batches import WindowBatches
from vqstudio.training.optim import make_optimizer, set_lr
from vqstudio.training.settings import TOKENIZER_OPTIM
from vqstudio.training.tokenizer_stage import tokenizer_step
from vqstudio.training.validation import autocast, validate, validation_index

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
DEFAULT_FILES = [
    os.path.join(DATA, "challenge2015", "a103l_ecg.csv"),
    os.path.join(DATA, "eegmat", "Subject02_2.edf"),
]

# Every variant states all the settings it ablates, so results do not depend on the preset's
# defaults. Names: loss (l1 or l1+l2), STFT weight, STFT log floor, then x16 / rvq2 if used.
_OLD = {"time_loss": "l1", "stft_floor": 1e-3}  # the defaults before this ablation
_NEW = {"time_loss": "l1+l2", "stft_weight": 0.3, "stft_floor": 0.03}  # the defaults it chose
VARIANTS: dict[str, dict] = {
    "l1_stft1_floor.001": {**_OLD, "stft_weight": 1.0},
    "l1_stft0.3_floor.001": {**_OLD, "stft_weight": 0.3},
    "l1_stft0.1_floor.001": {**_OLD, "stft_weight": 0.1},
    "l1_nostft": {**_OLD, "stft_weight": 0.0},
    "l1_stft0.3_floor.001_x16": {**_OLD, "stft_weight": 0.3, "strides": (2, 2, 4)},
    "l1_stft0.3_floor.001_rvq2": {**_OLD, "stft_weight": 0.3, "n_quantizers": 2},
    "l1+l2_stft0.3_floor.001": {**_OLD, "stft_weight": 0.3, "time_loss": "l1+l2"},
    "l1_stft0.1_floor.03": {"time_loss": "l1", "stft_weight": 0.1, "stft_floor": 0.03},
    "l1_stft0.3_floor.03": {"time_loss": "l1", "stft_weight": 0.3, "stft_floor": 0.03},
    "l1+l2_stft0.1_floor.03": {"time_loss": "l1+l2", "stft_weight": 0.1, "stft_floor": 0.03},
    "default": dict(_NEW),  # l1+l2, STFT 0.3, floor 0.03, x8, one quantizer, linear upsampling
    "default_x16": {**_NEW, "strides": (2, 2, 4)},
    "default_rvq2": {**_NEW, "n_quantizers": 2},
    "default_transposed_up": {**_NEW, "upsample": "transposed"},  # the decoder before linear upsampling
}


def save_prepared(prepared: PreparedData, path: str) -> None:
    """The arrays `load_prepared` needs to rebuild a PreparedData, in one .npz."""
    np.savez(
        path,
        train_data=prepared.train.data,
        train_starts=prepared.train.starts,
        val_data=prepared.val.data,
        val_starts=prepared.val.starts,
        mean=prepared.mean,
        std=prepared.std,
        rate=prepared.rate,
        window=prepared.window,
        labels=np.array(prepared.labels),
    )


def load_prepared(path: str) -> PreparedData:
    """A PreparedData rebuilt from `save_prepared`'s file (enough for training and validation)."""
    f = np.load(path)
    labels = [str(v) for v in f["labels"]]
    rate = float(f["rate"])

    def split(name: str) -> Split:
        starts = f[f"{name}_starts"]
        none = np.full(starts.shape, -1, dtype=np.int64)
        return Split(f[f"{name}_data"], starts, none, np.zeros_like(none))

    channels = [ChannelInfo(label, "", "", "", float("nan"), float("nan"), rate) for label in labels]
    return PreparedData(
        PrepConfig(), channels, rate, int(f["window"]), f["mean"], f["std"], split("train"), split("val"), []
    )


def save_all_prepared(paths: list[str], folder: str, window_s: float) -> None:
    """`--save-prepared`: each recording prepared as `vqstudio train` prepares it, to FOLDER/<name>.npz."""
    from vqstudio.io import read_recording

    os.makedirs(folder, exist_ok=True)
    for path in paths:
        prepared = prepare([read_recording(path)], PrepConfig(window_s=window_s, val_fraction=0.2))
        stem = os.path.splitext(os.path.basename(path))[0]
        save_prepared(prepared, os.path.join(folder, stem + ".npz"))


def _as_train(prepared: PreparedData) -> PreparedData:
    """The same data with nothing held out, so `validation_index` spreads over training windows."""
    empty = Split(
        prepared.train.data[:, :0],
        prepared.train.starts[:0],
        prepared.train.labels[:0],
        prepared.train.files[:0],
    )
    return dataclasses.replace(prepared, val=empty)


def run_variant(prepared, overrides: dict, steps: int, batch: int, seed: int, device: torch.device) -> dict:
    """Train one variant for `steps` steps and return its held-out figures."""
    # The ablation's figures were made with a warmup over a tenth of the steps (at most 100).
    optim = dataclasses.replace(
        TOKENIZER_OPTIM,
        warmup_steps=min(TOKENIZER_OPTIM.warmup_steps, max(1, steps // 10)),
        warmup_fraction=0.0,
    )
    torch.manual_seed(seed)
    cfg = preset_config("small", channels=prepared.n_channels, window=prepared.window, **overrides)
    model = Tokenizer(cfg).to(device)
    batches = WindowBatches(prepared.train, prepared.window, device, torch.Generator().manual_seed(seed))
    opt = make_optimizer(model, optim)
    start = time.perf_counter()
    with torch.no_grad(), autocast(device):
        model.init_codebook(
            torch.cat([model.encode(batches.batch(batch)).float() for _ in range(optim.kmeans_batches)])
        )
    for step in range(steps):
        set_lr(opt, optim.lr_at(step, step / steps))
        tokenizer_step(model, opt, batches.batch(batch), optim.grad_clip, device)
    train_s = time.perf_counter() - start
    split, index = validation_index(prepared, optim.val_windows)
    figures = validate(model, prepared, prepared.windows(split, index), cfg.codebook_size)
    keep = ("prd_percent", "snr_db", "lsd_db", "usage_fraction", "perplexity", "ema_used_fraction")
    result = {k: round(figures[k], 3) for k in keep if k in figures}
    # The same figures on training windows: separates fitting from generalising to held-out time.
    _, train_index = validation_index(_as_train(prepared), optim.val_windows)
    fit = validate(model, prepared, prepared.windows("train", train_index), cfg.codebook_size)
    result.update({f"train_{k}": round(fit[k], 3) for k in ("prd_percent", "snr_db", "lsd_db")})
    result.update(
        train_s=round(train_s, 1),
        params=sum(p.numel() for p in model.parameters()),
        downsample=cfg.downsample,
        n_quantizers=cfg.n_quantizers,
        val_windows=len(index),
        val_split=split,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=DEFAULT_FILES)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    parser.add_argument("--save-prepared", default="")
    parser.add_argument("--prepared", default="")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        folder = smoke.scratch_folder()
        data = args.data if args.data != DEFAULT_FILES else smoke.write_recordings(folder)
        smoke.apply_smoke(
            parser, args, data=data, steps=2, batch=4, window_s=2.0, variants="default", threads=1
        )
        if not args.prepared:  # the smoke run goes through both halves: --save-prepared, then --prepared
            args.prepared = os.path.join(folder, "prepared")
            save_all_prepared(args.data, args.prepared, args.window_s)
    if args.save_prepared:
        save_all_prepared(args.data, args.save_prepared, args.window_s)
        return 0
    if args.prepared:
        sources = sorted(
            os.path.join(args.prepared, n) for n in os.listdir(args.prepared) if n.endswith(".npz")
        )
    else:
        sources = args.data
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for path in sources:
        if args.prepared:
            prepared = load_prepared(path)
        else:
            from vqstudio.io import read_recording

            prepared = prepare([read_recording(path)], PrepConfig(window_s=args.window_s, val_fraction=0.2))
        print(
            f"{os.path.basename(path)}: {prepared.n_channels} channels, window {prepared.window}",
            file=sys.stderr,
        )
        per = {}
        for name in names:
            per[name] = run_variant(prepared, VARIANTS[name], args.steps, args.batch, args.seed, device)
            print(f"{os.path.basename(path)} {name}: {per[name]}", file=sys.stderr, flush=True)
        results[os.path.basename(path)] = {
            "channels": prepared.n_channels,
            "rate": prepared.rate,
            "window": prepared.window,
            "train_windows": len(prepared.train),
            "variants": per,
        }
    # Mean over recordings of each figure, per variant: the numbers the defaults are chosen by.
    summary = {}
    for name in names:
        rows = [r["variants"][name] for r in results.values()]
        summary[name] = {
            k: round(sum(r[k] for r in rows) / len(rows), 3)
            for k in ("snr_db", "prd_percent", "lsd_db", "usage_fraction", "train_snr_db", "train_lsd_db")
            if all(k in r for r in rows)
        }
    line = {
        "bench": "tokenizer_ablation",
        "steps": args.steps,
        "window_s": args.window_s,
        "batch": args.batch,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seconds": round(time.perf_counter() - start, 1),
        "summary": summary,
        "recordings": results,
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
