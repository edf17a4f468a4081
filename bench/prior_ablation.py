"""Prior ablation: which prior settings draw the most realistic recordings from one tokenizer.

    python bench/prior_ablation.py PROJECT --out DIR [--variants a,b,...] [--minutes M | --steps N]
        [--seconds S] [--count N] [--threads N] [--seed N] [--beats] [--cnn] [--smoke]

PROJECT is a project with a trained tokenizer (`vqstudio train ... --prior-steps 0`, or any
trained project: its prior is not used). For each variant (`VARIANTS`: today's defaults with a
few settings changed), the same seed trains a new prior for `--minutes` of wall time with the
app's own step (`make_optimizer`, `optimizer_step`, the stage's learning-rate schedule and batch
size), samples `--count` recordings of `--seconds` with the app's sampling (`iter_sample`),
decodes them as `generate` does, and compares them with the project's training signal
(physical units):
- `psd_lsd_db`: the evaluation's PSD log-spectral distance (4 s windows);
- `std_ratio`: synthetic over real standard deviation, per channel;
- `--beats` (channel 0 is an ECG lead): `beats_per_min` and `longest_pause_s`, beside the real
  figures: QRS complexes found as peaks of the 5-30 Hz band's energy above a threshold taken
  from the real signal, so a prior that draws no beats shows 0;
- `--cnn`: the evaluation's 1D CNN real-vs-synthetic accuracy (50 % best), against held-out windows.
Each variant is sampled with its last weights (`live`) and with their power-function average
(`average`, `training.weight_average`; the stage does not use it yet). Prints one JSON line;
the first 30 s of each sample set go to `--out` as .npy. Timed figures need an idle machine.
`--steps N` trains each prior for N steps instead of `--minutes`. `--smoke`: a few steps of three
variants, with --beats and --cnn, on a tiny project it trains in a temporary folder (PROJECT and
--out optional).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

# name -> (prior kind, config overrides, stage overrides). Stage overrides: "average" (False:
# sample the live weights only), "optim" (OptimConfig fields), "batch" (windows per step),
# "samples" ({name: SampleOptions fields}, each sampled from the one trained model), "snap"
# (False: decode the diffusion prior's latents without moving them to their nearest codes).
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "diffusion": ("diffusion", {}, {}),
    # The default before issue 11's measurements: no shift, 4 blocks, learning rate 1e-3.
    "diffusion_before": ("diffusion", {"shift": 1.0, "depth": 4}, {"optim": {"lr": 1e-3}}),
    "diffusion_shift1": ("diffusion", {"shift": 1.0}, {}),
    "diffusion_shift8": ("diffusion", {"shift": 8.0}, {}),
    "diffusion_depth2": ("diffusion", {"depth": 2}, {}),
    "diffusion_depth4": ("diffusion", {"depth": 4}, {}),
    "diffusion_lr1e-3": ("diffusion", {}, {"optim": {"lr": 1e-3}}),
    "diffusion_lr4e-3": ("diffusion", {}, {"optim": {"lr": 4e-3}}),
    "diffusion_batch16": ("diffusion", {}, {"batch": 16}),
    "diffusion_eps": ("diffusion", {"prediction": "eps"}, {}),
    "diffusion_patch1": ("diffusion", {"patch": 1}, {}),
    "diffusion_nosnap": ("diffusion", {}, {"snap": False}),
    # Over a per-channel codec: a wider denoiser, and the one shared output layer (no head per
    # channel, as before issue 20's `_ChannelHead`).
    "diffusion_wide": ("diffusion", {"width": 256}, {}),
    "diffusion_sharedhead": ("diffusion", {"channels": 0}, {}),
    "diffusion_steps": (
        "diffusion",
        {},
        {"samples": {"steps10": {"steps": 10}, "steps20": {}, "steps50": {"steps": 50}}},
    ),
    "autoregressive": ("autoregressive", {}, {}),
    "autoregressive_lr1e-3": ("autoregressive", {}, {"optim": {"lr": 1e-3}}),
    "autoregressive_temperatures": (
        "autoregressive",
        {},
        {"samples": {"t1": {}, "t0.9": {"temperature": 0.9}, "t0.8": {"temperature": 0.8}}},
    ),
}


def qrs_times(x: np.ndarray, rate: float, threshold: float | None) -> tuple[np.ndarray, float]:
    """(QRS times (s), the threshold used) of one lead: peaks of the 5-30 Hz band's smoothed energy above
    `threshold` (None: 0.3 x the 90th percentile of this signal's; QRS complexes fill more than
    a tenth of the samples, artefact bursts less), at least 0.25 s apart."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    sos = butter(2, [5.0, min(30.0, rate / 2.5)], btype="band", fs=rate, output="sos")
    energy = sosfiltfilt(sos, x.astype(np.float64)) ** 2
    k = max(1, round(0.05 * rate))
    energy = np.convolve(energy, np.ones(k) / k, mode="same")
    if threshold is None:
        threshold = 0.3 * float(np.percentile(energy, 90))
    peaks, _ = find_peaks(energy, height=threshold, distance=max(1, round(0.25 * rate)))
    return peaks / rate, threshold


def beat_figures(signals: list[np.ndarray], rate: float, threshold: float | None) -> dict[str, float]:
    times = [qrs_times(s, rate, threshold)[0] for s in signals]
    minutes = sum(s.size for s in signals) / rate / 60
    gaps = [np.diff(np.r_[0.0, t, s.size / rate]) for t, s in zip(times, signals, strict=True)]
    return {
        "beats_per_min": round(sum(t.size for t in times) / minutes, 1),
        "longest_pause_s": round(float(max(g.max() for g in gaps)), 2),
    }


def _windows(signal: np.ndarray, window: int) -> np.ndarray:
    n = signal.shape[-1] // window
    return signal[:, : n * window].reshape(signal.shape[0], n, window).transpose(1, 0, 2)


def _figures(syn: np.ndarray, reference: dict[str, Any], rate: float, window: int, args) -> dict[str, Any]:
    """The realism figures of synthetic recordings `(count, C, samples)` in physical units."""
    from vqstudio.evaluation.metrics import cnn_classifier_accuracy, mean_psd, psd_distance

    names = reference["names"]
    syn_w = np.concatenate([_windows(r, window) for r in syn])
    f, p_syn = mean_psd(syn_w, rate)
    out: dict[str, Any] = {
        "psd_lsd_db": round(psd_distance(f, reference["psd"], p_syn, rate, names).value, 2),
        "std_ratio": [round(float(s), 2) for s in syn.std(axis=(0, 2)) / reference["std"]],
    }
    if reference["beats"] is not None:
        out |= beat_figures([r[0] for r in syn], rate, reference["beat_threshold"])
    if args.cnn:
        held_out = reference["held_out"]
        out["cnn_accuracy"] = round(cnn_classifier_accuracy(held_out, syn_w, seed=args.seed).value or 0, 1)
    return out


def _reference(prepared, args) -> dict[str, Any]:
    """What synthetic recordings are compared with: the training signal in physical units."""
    from vqstudio.evaluation.metrics import mean_psd

    train = prepared.physical(prepared.train.data)
    windows = _windows(train, prepared.window)
    _, psd = mean_psd(windows, prepared.rate)
    ref: dict[str, Any] = {
        "names": prepared.labels,
        "psd": psd,
        "std": train.std(axis=1),
        "held_out": prepared.physical(prepared.windows("val")) if args.cnn else None,
        "beats": None,
        "beat_threshold": None,
    }
    if args.beats:
        _, threshold = qrs_times(train[0], prepared.rate, None)
        ref["beat_threshold"] = threshold
        ref["beats"] = beat_figures([train[0]], prepared.rate, threshold)
    return ref


def _progress(step: int, elapsed_s: float, args: argparse.Namespace) -> float:
    """How far a prior's training is through its budget (1: done): `--steps`, else `--minutes`."""
    return step / args.steps if args.steps else elapsed_s / (args.minutes * 60)


def run_variant(name: str, prepared, tokenizer, codes, reference, args) -> dict[str, Any]:
    import torch

    from vqstudio.events import run_to_end
    from vqstudio.priors.config import SampleOptions, preset
    from vqstudio.priors.continuation import decode_latents, iter_sample
    from vqstudio.priors.registry import prior_kind
    from vqstudio.priors.store import build_prior
    from vqstudio.training.lr_schedule import lr_at
    from vqstudio.training.optim import make_optimizer, optimizer_step, set_lr
    from vqstudio.training.prior_stage import CPU_BATCH_SIZE
    from vqstudio.training.settings import PRIOR_OPTIM
    from vqstudio.training.validation import eval_mode
    from vqstudio.training.weight_average import WeightAverage

    kind, overrides, stage = VARIANTS[name]
    torch.manual_seed(args.seed + 10)
    config = prior_kind(kind).config.for_tokenizer(tokenizer.cfg, 0, preset("small", kind))
    model = build_prior(dataclasses.replace(config, **overrides))
    model.prepare_training(tokenizer, codes)
    optim = dataclasses.replace(PRIOR_OPTIM, **stage.get("optim", {}))
    optimizer = make_optimizer(model, optim)
    average = WeightAverage(model) if stage.get("average", True) else None
    data_gen = torch.Generator().manual_seed(args.seed + 11)
    noise_gen = torch.Generator().manual_seed(args.seed + 12)
    start, step = time.monotonic(), 0
    model.train()
    while (progress := _progress(step, time.monotonic() - start, args)) < 1:
        set_lr(
            optimizer,
            lr_at(step, progress, optim.lr, optim.warmup_steps, optim.min_lr_ratio, optim.warmup_fraction),
        )
        rows = torch.randint(codes.shape[0], (stage.get("batch", CPU_BATCH_SIZE),), generator=data_gen)
        loss = model.training_loss(
            codes[rows], None, noise_gen, tokenizer=tokenizer, mid_stream=bool(step % 2)
        )
        optimizer_step(model, optimizer, loss, optim.grad_clip)
        if average is not None:
            average.update(model, step + 1)
        step += 1
    minutes = (time.monotonic() - start) / 60 if args.steps else args.minutes
    figures: dict[str, Any] = {"steps": step, "steps_per_min": round(step / minutes, 1)}
    length = round(args.seconds * prepared.rate / tokenizer.cfg.downsample)
    n_samples = round(args.seconds * prepared.rate)
    labels = torch.full((args.count,), model.null_label, dtype=torch.long)
    weights = {"live": model} | ({"average": average.averaged(model)} if average is not None else {})
    for which, m in weights.items():
        for how, sample in stage.get("samples", {"": {}}).items():
            key = f"{which}_{how}" if how else which
            gen = torch.Generator().manual_seed(args.seed)
            t0 = time.monotonic()
            with eval_mode(m):
                opts = SampleOptions(**sample)
                if stage.get("snap", True):
                    z = run_to_end(iter_sample(m, tokenizer, length, labels, gen, opts))
                else:  # the diffusion prior's latents as sampled, not moved to their nearest codes
                    z = run_to_end(m.sample_steps(length, labels, gen, opts))
                x = decode_latents(tokenizer, z, n_samples).numpy()
            sample_s = time.monotonic() - t0
            syn = prepared.physical(x)
            figures[key] = _figures(syn, reference, prepared.rate, prepared.window, args) | {
                "realtime_x": round(args.seconds * args.count / sample_s, 1)
            }
            np.save(
                os.path.join(args.out, f"{name}-{key}.npy"),
                syn[:, :, : min(n_samples, round(30 * prepared.rate))],
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", help="a project folder with a trained tokenizer")
    parser.add_argument("--out", help="folder for the first 30 s of each variant's samples (required)")
    parser.add_argument("--variants", default="diffusion,autoregressive")
    parser.add_argument("--minutes", type=float, default=3.0, help="prior training wall time per variant")
    parser.add_argument("--steps", type=int, help="prior training steps per variant instead of --minutes")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beats", action="store_true", help="channel 0 is an ECG lead: count its beats")
    parser.add_argument("--cnn", action="store_true", help="also the 1D CNN accuracy (slower)")
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        project = args.project or smoke.tiny_project()
        out = args.out or os.path.join(smoke.scratch_folder(), "out")
        variants = "diffusion,diffusion_nosnap,autoregressive"
        small = {"variants": variants, "steps": 3, "seconds": 4.0, "count": 1, "threads": 1}
        smoke.apply_smoke(parser, args, project=project, out=out, beats=True, cnn=True, **small)
    if not args.project or not args.out:
        parser.error("give PROJECT and --out DIR, or --smoke")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")

    import torch

    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project
    from vqstudio.training.prior_stage import encode_codes

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    project = Project.open(args.project)
    prepared = prepare_from_project(project)
    tokenizer = project.load_tokenizer(torch.device("cpu")).eval()
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    codes = encode_codes(tokenizer, prepared, "train")
    reference = _reference(prepared, args)
    result: dict[str, Any] = {
        "project": os.path.abspath(args.project),
        "minutes": None if args.steps else args.minutes,
        **({"steps": args.steps} if args.steps else {}),
        "threads": args.threads,
        "load_average": list(os.getloadavg()),
        "real": {"beats": reference["beats"]} if reference["beats"] else {},
        "variants": {},
    }
    for name in names:
        result["variants"][name] = run_variant(name, prepared, tokenizer, codes, reference, args)
        print(json.dumps({name: result["variants"][name]}), file=sys.stderr, flush=True)
    if args.smoke:
        result["smoke"] = True
    print(json.dumps(result))


if __name__ == "__main__":
    main()
