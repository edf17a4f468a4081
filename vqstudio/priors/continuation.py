"""Recordings of any length from any prior, decoded without seams; knows no prior class.

Sampling: `iter_sample` asks the prior for its own any-length sampling (`sample_steps`) and for
the tokenizer's latents of what it drew (`to_latents`); see `config.PriorModel`. A prior that
samples a fixed-length segment at a time lays its segments out with `segment_starts`.

Decoding: the whole latent sequence is decoded in chunks, each with `decoder_context` latent
steps of margin on both sides that are decoded and thrown away, so every output sample sees the
same latents it would see in one long decode: no border exists.
"""

from __future__ import annotations

import contextlib
import math

import torch

from vqstudio.priors.config import PriorModel, SampleOptions, Steps

__all__ = [
    "decode_latents",
    "default_overlap",
    "iter_sample",
    "sampling_autocast",
    "segment_starts",
    "snap_to_codes",
]


def sampling_autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 on CUDA (tensor cores); float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def iter_sample(
    model: PriorModel,
    tokenizer: torch.nn.Module,
    length: int,
    labels: torch.Tensor,
    generator: torch.Generator,
    options: SampleOptions,
) -> Steps:
    """Quantized latents `(B, D, length)` from any prior (see `priors.registry`), one row per
    entry of `labels` (`model.config.n_labels` for none): the prior's own sampling, then its way
    to the tokenizer's latents. Yields (done, total) as it goes; returns the latents."""
    sampled = yield from model.sample_steps(length, labels, generator, options)
    with torch.no_grad():
        return model.to_latents(tokenizer, sampled)


def default_overlap(seg_len: int) -> int:
    """Latent steps each segment shares with the one before it (1/8 of a segment)."""
    return max(1, seg_len // 8)


def segment_starts(length: int, seg_len: int, overlap: int) -> list[int]:
    """Where each segment starts in a sequence of `length` latent steps.

    Segment i covers `[start_i, start_i + seg_len)`; its first `overlap` steps (i > 0) are the
    known end of segment i - 1, so new latents begin at `start_i + overlap` (the borders).
    """
    if length <= seg_len:
        return [0]
    n = 1 + math.ceil((length - seg_len) / (seg_len - overlap))
    return [i * (seg_len - overlap) for i in range(n)]


SNAP_CHUNK = 4096  # latent steps snapped to their codes at once (bounds memory on long recordings)


@torch.no_grad()
def snap_to_codes(tokenizer: torch.nn.Module, latents: torch.Tensor, chunk: int = SNAP_CHUNK) -> torch.Tensor:
    """Latents `(B, D, L)` moved to their nearest codebook vectors (what the decoder was trained
    on), `chunk` latent steps at a time: the distances to every code take K floats per step."""
    pieces = [
        tokenizer.codes_to_latents(tokenizer.latents_to_codes(part.float()))
        for part in latents.split(chunk, dim=2)
    ]
    return torch.cat(pieces, dim=2)


@torch.no_grad()
def decode_latents(
    tokenizer: torch.nn.Module,
    latents: torch.Tensor,
    n_samples: int,
    chunk: int = 512,
    margin: int | None = None,
    noise_seed: int | None = None,
) -> torch.Tensor:
    """Signal `(B, C, n_samples)` from quantized latents `(B, D, L)`, decoded in chunks with margins.

    Each chunk of `chunk` latent steps is decoded with `margin` extra steps each side (the
    decoder's context), which are cut off; memory stays bounded for any length and chunks join
    exactly where the decoder's receptive field fits in the margin. A decoder that injects noise
    (`decoder_noise`) is told each chunk's offset and `noise_seed` (None: its eval default):
    its noise is fixed by the seed and the position in the whole sequence, so it joins too.
    """
    ds = int(tokenizer.cfg.downsample)
    if margin is None:
        margin = int(getattr(tokenizer, "decoder_context", 16))
    noisy = bool(getattr(tokenizer.cfg, "decoder_noise", False))
    length = latents.shape[2]
    pieces = []
    for c in range(0, length, chunk):
        lo, hi = max(0, c - margin), min(length, c + chunk + margin)
        with sampling_autocast(latents.device):
            if noisy:
                x = tokenizer.decode(latents[:, :, lo:hi], noise_seed=noise_seed, offset=lo)
            else:
                x = tokenizer.decode(latents[:, :, lo:hi])
        a = (c - lo) * ds
        pieces.append(x[:, :, a : a + (min(length, c + chunk) - c) * ds].float())
    return torch.cat(pieces, dim=2)[:, :, :n_samples]
