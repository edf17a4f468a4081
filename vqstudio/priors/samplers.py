"""Deterministic few-step samplers for the diffusion prior, as plain functions.

Each sampler takes a `denoise(x_t, t) -> model output` function (labels, guidance and the known
prefix are closed over by the caller), the schedule, the number of steps and a random generator,
and returns x_0. Samplers swap without retraining: they only need the schedule's alpha/sigma.

Inpainting (continuing a recording): `known` latents with a 0/1 `mask` over time are imposed
on every x_0 prediction, so the sampled trajectory agrees with what came before.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vqstudio.priors.config import SAMPLER_NAMES
from vqstudio.priors.noise_schedule import CosineSchedule

__all__ = ["SAMPLERS", "ddim", "dpm_solver_pp_2m", "initial_noise"]

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def initial_noise(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved (same seed, same noise)."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def _predict_x0(
    denoise: Denoise,
    schedule: CosineSchedule,
    x: torch.Tensor,
    t: torch.Tensor,
    known: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    out = denoise(x, t.expand(x.shape[0]))
    x0, _ = schedule.to_x0_eps(x, out.float(), t.expand(x.shape[0]))
    if known is not None and mask is not None:
        x0 = torch.lerp(x0, known, mask)  # mask 1 where the latents are known
    return x0


def ddim(
    denoise: Denoise,
    schedule: CosineSchedule,
    shape: tuple[int, ...],
    steps: int,
    generator: torch.Generator,
    device: torch.device,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """DDIM with eta = 0 (Song et al. 2021): x_s = alpha_s x0 + sigma_s eps, eps from x_t and x0."""
    x = initial_noise(shape, generator, device)
    times = schedule.timesteps(steps, device)
    for i in range(steps):
        t, s = times[i], times[i + 1]
        x0 = _predict_x0(denoise, schedule, x, t, known, mask)
        a_t, s_t = schedule.alpha_sigma(t)
        a_s, s_s = schedule.alpha_sigma(s)
        eps = (x - a_t * x0) / s_t
        x = a_s * x0 + s_s * eps
    return x


def dpm_solver_pp_2m(
    denoise: Denoise,
    schedule: CosineSchedule,
    shape: tuple[int, ...],
    steps: int,
    generator: torch.Generator,
    device: torch.device,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), multistep second order in x_0, first order at the ends."""
    x = initial_noise(shape, generator, device)
    times = schedule.timesteps(steps, device)
    prev_x0: torch.Tensor | None = None
    prev_h: torch.Tensor | None = None
    for i in range(steps):
        t, s = times[i], times[i + 1]
        x0 = _predict_x0(denoise, schedule, x, t, known, mask)
        if i == steps - 1:  # s = 0: sigma_s = 0, the solution is the x_0 prediction itself
            return x0
        a_s, s_s = schedule.alpha_sigma(s)
        _, s_t = schedule.alpha_sigma(t)
        h = schedule.log_snr(s) - schedule.log_snr(t)
        if prev_x0 is None or prev_h is None:
            d = x0
        else:
            r = prev_h / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
        x = (s_s / s_t) * x - a_s * torch.expm1(-h) * d
        prev_x0, prev_h = x0, h
    return x


# Named in `config.SAMPLER_NAMES` (torch-free, for the settings that check a name).
SAMPLERS: dict[str, Callable[..., torch.Tensor]] = dict(
    zip(SAMPLER_NAMES, (dpm_solver_pp_2m, ddim), strict=True)
)
