"""Recordings of any length from either prior, batched over recordings, and decoded without seams.

Diffusion: the latent sequence is made of segments of the denoiser's length; each segment after
the first starts with `overlap` latent steps copied from the end of the one before, given to the
denoiser as known (its conditioning input) and imposed on every x_0 prediction (inpainting), so
the new part continues the old one. Autoregressive: tokens are drawn one step at a time with a
key/value cache that slides over the last `context` steps.

Decoding: the whole latent sequence is snapped to the nearest codes and decoded in chunks, each
with `decoder_context` latent steps of margin on both sides that are decoded and thrown away, so
every output sample sees the same latents it would see in one long decode: no border exists.
"""

from __future__ import annotations

import contextlib
import math

import torch

from vqstudio.events import run_to_end
from vqstudio.priors.autoregressive import AutoregressivePrior, KVCache
from vqstudio.priors.config import SampleOptions, Steps
from vqstudio.priors.diffusion import DiffusionDenoiser
from vqstudio.priors.samplers import SAMPLERS

__all__ = [
    "decode_latents",
    "default_overlap",
    "iter_codes",
    "iter_latents",
    "iter_sample",
    "sample_codes",
    "sample_latents",
    "segment_starts",
    "snap_to_codes",
]


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 on CUDA (tensor cores); float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def iter_sample(
    model: torch.nn.Module,
    tokenizer: torch.nn.Module,
    length: int,
    labels: torch.Tensor,
    generator: torch.Generator,
    options: SampleOptions,
) -> Steps:
    """Quantized latents `(B, D, length)` from any prior (see `priors.registry`), one row per
    entry of `labels` (`model.null_label` for none): the prior's own sampling, then its way to
    the tokenizer's latents. Yields (done, total) as it goes; returns the latents."""
    sampled = yield from model.sample_steps(length, labels, generator, options)
    with torch.no_grad():
        return model.to_latents(tokenizer, sampled)


def sample_latents(*args, **kwargs) -> torch.Tensor:
    """`iter_latents` run to the end."""
    return run_to_end(iter_latents(*args, **kwargs))


def sample_codes(*args, **kwargs) -> torch.Tensor:
    """`iter_codes` run to the end."""
    return run_to_end(iter_codes(*args, **kwargs))


def default_overlap(seg_len: int) -> int:
    """Latent steps each diffusion segment shares with the one before it (1/8 of a segment)."""
    return max(1, seg_len // 8)


def segment_starts(length: int, seg_len: int, overlap: int) -> list[int]:
    """Where each diffusion segment starts in a sequence of `length` latent steps.

    Segment i covers `[start_i, start_i + seg_len)`; its first `overlap` steps (i > 0) are the
    known end of segment i - 1, so new latents begin at `start_i + overlap` (the borders).
    """
    if length <= seg_len:
        return [0]
    n = 1 + math.ceil((length - seg_len) / (seg_len - overlap))
    return [i * (seg_len - overlap) for i in range(n)]


def iter_latents(
    model: DiffusionDenoiser,
    length: int,
    labels: torch.Tensor | None,
    steps: int,
    guidance: float,
    generator: torch.Generator,
    sampler: str = "dpm++2m",
    overlap: int | None = None,
) -> Steps:
    """Latents `(B, D, length)` (denormalised, not yet snapped), one row per entry of `labels`.

    `labels` holds label indices, `model.null_label` for unconditional rows; `guidance` > 1
    pushes conditional rows away from the unconditional prediction (classifier-free guidance).
    A generator: yields (segments done, segments) after each segment, returns the latents.
    """
    if labels is None:
        raise ValueError("labels must be given (null labels for unconditional sampling)")
    cfg = model.config
    device = model.latent_mean.device
    b, d, seg = labels.shape[0], cfg.latent_dim, cfg.seg_len
    overlap = default_overlap(seg) if overlap is None else overlap
    if not 0 < overlap < seg:
        raise ValueError(f"overlap {overlap} must lie between 1 and {seg - 1}")
    schedule = model.schedule
    run = SAMPLERS[sampler]
    labels = labels.to(device)
    guided = model.label is not None and guidance != 1.0 and bool((labels != model.null_label).any())
    nulls = torch.full_like(labels, model.null_label)

    starts = segment_starts(length, seg, overlap)
    n_segments = len(starts)
    out = torch.empty(b, d, max(length, starts[-1] + seg), device=device)
    known = torch.zeros(b, d, seg, device=device)
    mask = torch.zeros(1, 1, seg, device=device)
    for i, start in enumerate(starts):
        if i:
            known[:, :, :overlap] = out[:, :, start : start + overlap]
            mask[:, :, :overlap] = 1.0
        k_in, m_in = (known, mask.expand(b, 1, seg)) if i else (None, None)

        def denoise(x_t: torch.Tensor, t: torch.Tensor, k=k_in, m=m_in) -> torch.Tensor:
            with _autocast(device):
                if not guided:
                    return model(x_t, t, labels, k, m).float()
                both = model(
                    torch.cat([x_t, x_t]),
                    torch.cat([t, t]),
                    torch.cat([labels, nulls]),
                    None if k is None else torch.cat([k, k]),
                    None if m is None else torch.cat([m, m]),
                )
            cond, uncond = both.float().chunk(2)
            return uncond + guidance * (cond - uncond)

        with torch.no_grad():
            x0 = run(denoise, schedule, (b, d, seg), steps, generator, device, k_in, m_in)
        out[:, :, start : start + seg] = x0
        yield i + 1, n_segments
    return model.denormalize(out[:, :, :length])


def _filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    logits = logits.float() / max(temperature, 1e-5)
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def iter_codes(
    model: AutoregressivePrior,
    length: int,
    labels: torch.Tensor,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator,
    guidance: float = 1.0,
) -> Steps:
    """Code indices `(B, Q, length)` drawn step by step with a sliding key/value cache.

    A generator: yields (steps done, length) now and then, returns the codes.
    """
    cfg = model.config
    device = model.bos.device
    b, q = labels.shape[0], cfg.n_quantizers
    labels = labels.to(device)
    guided = model.label is not None and guidance != 1.0 and bool((labels != model.null_label).any())
    lab = torch.cat([labels, torch.full_like(labels, model.null_label)]) if guided else labels
    cache = KVCache(cfg.depth, cfg.context)
    out = torch.empty(b, q, length, dtype=torch.long, device=device)
    with torch.no_grad():
        x = model.embed(torch.empty(lab.shape[0], q, 0, dtype=torch.long, device=device), lab, bos=True)
    report = max(1, length // 20)
    for i in range(length):
        with torch.no_grad():  # per step: a context must not span a yield
            h = model.hidden(x, cache)[:, -1]  # (rows, W)
            step = torch.empty(b, 0, dtype=torch.long, device=device)
            for _ in range(q):
                logits = model.level_logits(h, torch.cat([step, step]) if guided else step)
                if guided:
                    cond, uncond = logits.float().chunk(2)
                    logits = uncond + guidance * (cond - uncond)
                probs = torch.softmax(_filter_logits(logits, temperature, top_k), dim=-1)
                step = torch.cat([step, torch.multinomial(probs, 1, generator=generator)], dim=1)
            out[:, :, i] = step
            x = model.embed((torch.cat([step, step]) if guided else step)[:, :, None], lab, bos=False)
        if (i + 1) % report == 0 or i + 1 == length:
            yield i + 1, length
    return out


def snap_to_codes(tokenizer: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Latents moved to their nearest codebook vectors (what the decoder was trained on)."""
    return tokenizer.codes_to_latents(tokenizer.latents_to_codes(latents))


@torch.no_grad()
def decode_latents(
    tokenizer: torch.nn.Module,
    latents: torch.Tensor,
    n_samples: int,
    chunk: int = 512,
    margin: int | None = None,
) -> torch.Tensor:
    """Signal `(B, C, n_samples)` from quantized latents `(B, D, L)`, decoded in chunks with margins.

    Each chunk of `chunk` latent steps is decoded with `margin` extra steps each side (the
    decoder's context), which are cut off; memory stays bounded for any length and chunks join
    exactly where the decoder's receptive field fits in the margin.
    """
    ds = int(tokenizer.cfg.downsample)
    if margin is None:
        margin = int(getattr(tokenizer, "decoder_context", 16))
    length = latents.shape[2]
    pieces = []
    for c in range(0, length, chunk):
        lo, hi = max(0, c - margin), min(length, c + chunk + margin)
        with _autocast(latents.device):
            x = tokenizer.decode(latents[:, :, lo:hi])
        a = (c - lo) * ds
        pieces.append(x[:, :, a : a + (min(length, c + chunk) - c) * ds].float())
    return torch.cat(pieces, dim=2)[:, :, :n_samples]
