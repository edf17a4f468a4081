"""A running average of a model's weights, for sampling: the power-function EMA of EDM2.

Why: a generative model's last weights carry the noise of its last few hundred steps; an
exponential moving average of them samples better (DDPM, EDM, every latent diffusion model
since). A fixed decay (0.999) suits a run of known, long length; a time-budgeted run on a CPU
may take 500 steps or 50,000. The power-function average of Karras et al. (2024, "Analyzing and
Improving the Training Dynamics of Diffusion Models") has no fixed horizon: at step t it weighs
step s by about (s / t)^gamma, so it always averages the same *fraction* of the run, given by
its relative width `sigma_rel` (the standard deviation of that profile over t).

Not yet used by the prior stage: `bench/prior_ablation.py` samples every variant with the live
and the averaged weights, and at the ~1,000 steps a CPU budget buys the average did not win
(ECG a103l, 11 pairs: PSD distance 0.1 dB lower on average, lower in 8; beats per minute within
7 of the live weights', as often fewer as more). It is kept for that bench and for the GPU
runs, with many more steps, where it is expected to pay.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = ["DEFAULT_WIDTH", "WeightAverage", "gamma_of_width"]

DEFAULT_WIDTH = 0.10  # sigma_rel: the last ~10 % of the run counts most (EDM2 finds 0.05-0.15 best)


def gamma_of_width(sigma_rel: float) -> float:
    """The exponent gamma whose power-function profile has relative width `sigma_rel`
    (EDM2 eq. 3: sigma_rel^2 = (gamma + 1) / ((gamma + 2)^2 (gamma + 3)))."""
    if not 0.0 < sigma_rel < 0.28:  # gamma > 0 needs sigma_rel below sqrt(1/12) ~ 0.289
        raise ValueError(f"the average's relative width must lie in (0, 0.28), not {sigma_rel}")
    t = sigma_rel**-2
    return float(np.roots([1.0, 7.0, 16.0 - t, 12.0 - t]).real.max())


class WeightAverage:
    """The averaged parameters of one model (float32, on the model's device).

    `update(model, step)` after each optimizer step (`step` counts the steps taken, from 1);
    `averaged(model)` is a copy of the model carrying the average (buffers from the model).
    """

    def __init__(self, model: nn.Module, sigma_rel: float = DEFAULT_WIDTH) -> None:
        self.sigma_rel = sigma_rel
        self.gamma = gamma_of_width(sigma_rel)
        self.names = [name for name, _ in model.named_parameters()]
        self.params = [p.detach().float().clone() for p in model.parameters()]

    def decay(self, step: int) -> float:
        """beta(t) = (1 - 1/t)^(gamma + 1): 0 at the first step (the average starts as a copy)."""
        return (1.0 - 1.0 / max(1, step)) ** (self.gamma + 1.0)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Folds the model's current weights in, after optimizer step number `step`."""
        live = [p.detach().float() for p in model.parameters()]
        torch._foreach_lerp_(self.params, live, 1.0 - self.decay(step))

    @torch.no_grad()
    def averaged(self, model: nn.Module) -> nn.Module:
        """A copy of `model` (same buffers, eval/train mode kept) holding the averaged weights."""
        out = copy.deepcopy(model)
        for p, a in zip(out.parameters(), self.params, strict=True):
            p.copy_(a.to(p.dtype))
            p.requires_grad_(False)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights by parameter name (what a checkpoint stores)."""
        return dict(zip(self.names, self.params, strict=True))

    @torch.no_grad()
    def load_state_dict(self, weights: dict[str, torch.Tensor]) -> None:
        """Restores the averaged weights; `KeyError`/`ValueError` when they are not this model's."""
        missing = set(self.names) - set(weights)
        if missing:
            raise KeyError(f"the weight average lacks {sorted(missing)[:3]}")
        for name, p in zip(self.names, self.params, strict=True):
            if weights[name].shape != p.shape:
                raise ValueError(
                    f"the weight average's {name} is {tuple(weights[name].shape)}, not {tuple(p.shape)}"
                )
            p.copy_(weights[name])
