"""White-box membership scores: what the project's own models say about each window.

Two scores per window, each "higher = more likely a training window" (for `membership.py`):
- tokenizer: minus the mean squared reconstruction error of the normalised window (encode,
  quantize, decode in eval mode): a model reconstructs what it trained on better;
- prior: minus the prior's loss on the window's codes (the codes training gave it: the window
  encoded and quantized by the same tokenizer). Autoregressive: the mean negative log-likelihood
  per code (nats), exact. Diffusion: the denoising loss (mean squared error of the model's
  prediction on the normalised latents) averaged over `TIMES` fixed times spread evenly over the
  first `LOW_NOISE` of the schedule and `SEEDS` fixed noise draws, the same for every window,
  with no known prefix and no label. Later times are left out: there the noisy latent says
  little of the window, and those terms add variance and no information (on a tiny prior made to
  memorize 8 windows, with 4 draws, AUC 0.88 over the whole schedule, 0.93 over its first
  half; 2 draws cost half as much and gave 0.956 against 4 windows in tests/test_membership.py).
  A prior of another kind: its own `training_loss` on the window alone, with the same fixed
  random generator for each window, averaged over `SEEDS` draws.
Read-only: the models stay in eval mode, no gradient, no state changes. torch is imported here,
so this module is imported only when the scores are computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["SEEDS", "TIMES", "codes_of", "prior_scores", "tokenizer_scores"]

TIMES = 8  # diffusion times per window
SEEDS = 2  # noise draws per time (diffusion) or per window (another prior)
LOW_NOISE = 0.5  # diffusion times from 0 to this share of the schedule (see `_diffusion_loss`)
_BATCH = 64


def _batches(x: np.ndarray, device: Any) -> Any:
    for i in range(0, len(x), _BATCH):
        yield torch.from_numpy(np.ascontiguousarray(x[i : i + _BATCH], dtype=np.float32)).to(device)


@torch.no_grad()
def tokenizer_scores(tokenizer: Any, windows: np.ndarray) -> np.ndarray:
    """Minus the mean squared reconstruction error of each normalised `(n, channels, samples)`
    window; `(n,)` float64."""
    device = next(tokenizer.parameters()).device
    out = []
    for x in _batches(windows, device):
        recon = tokenizer(x).reconstruction.float()
        out.append(((recon - x) ** 2).mean(dim=(1, 2)).double().cpu().numpy())
    return -np.concatenate(out) if out else np.zeros(0)


@torch.no_grad()
def codes_of(tokenizer: Any, windows: np.ndarray) -> Any:
    """Code indices `(n, Q, L)` of normalised windows, as prior training encodes them."""
    device = next(tokenizer.parameters()).device
    parts = [tokenizer.quantize(tokenizer.encode(x).float())[1] for x in _batches(windows, device)]
    return torch.cat(parts)


@torch.no_grad()
def prior_scores(prior: Any, tokenizer: Any, windows: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """Minus the prior's per-window loss (see the module docstring) of normalised windows, and
    a phrase saying which loss it is; `(n,)` float64."""
    codes = codes_of(tokenizer, windows)
    if hasattr(prior, "level_logits"):  # the autoregressive prior: logits of every code
        return -_autoregressive_nll(
            prior, codes
        ), "negative log-likelihood of the window's codes (nats per code)"
    if hasattr(prior, "schedule") and hasattr(prior, "normalize"):
        what = f"denoising loss of the window's latents ({TIMES} fixed times x {SEEDS} fixed noise draws)"
        return -_diffusion_loss(prior, tokenizer, codes, seed), what
    return -_generic_loss(prior, tokenizer, codes, seed), f"the prior's training loss ({SEEDS} fixed draws)"


def _autoregressive_nll(prior: Any, codes: Any) -> np.ndarray:
    out = []
    for i in range(0, len(codes), _BATCH):
        c = codes[i : i + _BATCH]
        logits = prior(c, None, True).float()  # (B, L, Q, K): every step from the start token
        target = c.transpose(1, 2)  # (B, L, Q)
        nll = F.cross_entropy(logits.permute(0, 3, 1, 2), target, reduction="none")
        out.append(nll.mean(dim=(1, 2)).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _diffusion_loss(prior: Any, tokenizer: Any, codes: Any, seed: int) -> np.ndarray:
    schedule = prior.schedule
    device = codes.device
    # Times at the middle of TIMES equal strata of (0, t_max]: the range training draws from.
    times = (
        (torch.arange(TIMES, dtype=torch.float32, device=device) + 0.5) / TIMES * (LOW_NOISE * schedule.t_max)
    )
    out = []
    for i in range(0, len(codes), _BATCH):
        x0 = prior.normalize(tokenizer.codes_to_latents(codes[i : i + _BATCH]).float())
        b = x0.shape[0]
        total = torch.zeros(b, dtype=torch.float64, device=device)
        for s in range(SEEDS):
            # The same noise for every window (seeded per draw, not per batch): windows differ
            # only in themselves, and a window's score does not depend on the others.
            gen = torch.Generator(device=device).manual_seed(seed * 1000 + s)
            noise = torch.randn((TIMES, *x0.shape[1:]), generator=gen, device=device)
            for k in range(TIMES):
                t = times[k].expand(b)
                eps = noise[k].expand_as(x0)
                x_t = schedule.add_noise(x0, eps, t)
                pred = prior(x_t, t, None).float()
                total += ((pred - schedule.target(x0, eps, t)) ** 2).mean(dim=(1, 2)).double()
        out.append((total / (SEEDS * TIMES)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _generic_loss(prior: Any, tokenizer: Any, codes: Any, seed: int) -> np.ndarray:
    out = np.zeros(len(codes))
    for i in range(len(codes)):
        for s in range(SEEDS):
            gen = torch.Generator(device=codes.device).manual_seed(seed * 1000 + s)
            loss = prior.training_loss(codes[i : i + 1], None, gen, tokenizer=tokenizer, mid_stream=False)
            out[i] += float(loss) / SEEDS
    return out
