"""Validation of the tokenizer on held-out windows: reconstruction figures and codebook usage.

Figures are computed in physical units on a fixed set of held-out windows (see
`vqstudio.evaluation.reconstruction_metrics` for each formula): PRD (%), SNR (dB), log-spectral
distance (dB), and codebook usage of the codes chosen for those windows (perplexity, fraction
used, dead codes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from vqstudio.data.prep import PreparedData
from vqstudio.evaluation import reconstruction_metrics as metrics

__all__ = ["autocast", "eval_mode", "reconstruct_windows", "validate", "validation_index"]


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing elsewhere (CPU bf16 is slower than float32 on most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """`model` in eval mode for the block; its mode before is restored, exception or not."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def validation_index(prepared: PreparedData, count: int) -> tuple[str, np.ndarray]:
    """Which windows validation uses: up to `count` held-out windows spread evenly over the
    split (the training windows only when nothing is held out)."""
    split = "val" if len(prepared.val) else "train"
    n = len(prepared.val) if split == "val" else len(prepared.train)
    index = np.unique(np.linspace(0, n - 1, num=min(count, n)).round().astype(np.int64))
    return split, index


@torch.no_grad()
def reconstruct_windows(
    model: torch.nn.Module, x: torch.Tensor, batch: int = 32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reconstruction, indices and mean loss of normalised windows `x` (N, C, T), in batches."""
    device = next(model.parameters()).device
    recs, idxs, loss = [], [], torch.zeros((), device=device)
    for i in range(0, x.shape[0], batch):
        xb = x[i : i + batch].to(device)
        with autocast(device):
            out = model(xb)
        recs.append(out.reconstruction.float())
        idxs.append(out.indices)
        loss += out.loss.float() * xb.shape[0]
    return torch.cat(recs), torch.cat(idxs), loss / x.shape[0]


def validate(model: torch.nn.Module, prepared: PreparedData, x: np.ndarray, codebook_size: int) -> dict:
    """Figures for normalised windows `x` (N, C, T): prd_percent, snr_db, lsd_db, val_loss,
    perplexity, usage_fraction, dead_codes (codes of the first quantizer level), and the EMA
    usage the model tracks (`ema_*`)."""
    with eval_mode(model):
        rec, idx, loss = reconstruct_windows(model, torch.from_numpy(x))
    real = prepared.physical(x)
    fake = prepared.physical(rec.cpu().numpy())
    out = metrics.reconstruction_metrics(real, fake, prepared.rate)
    out["val_loss"] = float(loss)
    # Codes are (N, C*Q, L) channel-major for a per-channel codec: level q of every channel
    # counts as level q (a shared tokenizer's Q rows are its levels).
    levels = int(getattr(getattr(model, "cfg", None), "n_quantizers", idx.shape[1]))
    by_level = idx.reshape(idx.shape[0], -1, levels, idx.shape[-1]).transpose(0, 2).reshape(levels, -1)
    counts = np.stack([np.bincount(level, minlength=codebook_size) for level in by_level.cpu().numpy()])
    usage = metrics.codebook_usage(counts[0])
    out.update(
        perplexity=usage["perplexity"], usage_fraction=usage["usage_fraction"], dead_codes=usage["dead_codes"]
    )
    if counts.shape[0] > 1:
        levels = [metrics.codebook_usage(c)["usage_fraction"] for c in counts]
        out["usage_fraction_all_levels"] = float(np.mean(levels))
    with contextlib.suppress(AttributeError):
        for k, v in model.codebook_usage().items():
            out[f"ema_{k}"] = float(v)
    return {k: float(v) for k, v in out.items()}
