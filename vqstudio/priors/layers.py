"""Transformer pieces shared by the priors: sinusoidal embeddings, rotary positions, blocks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MLP", "Rotary", "sinusoidal"]


def sinusoidal(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of a 1D tensor of positions or times, `(N, dim)`."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    angles = values.float()[:, None] * freqs[None, :]
    out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    return F.pad(out, (0, dim - 2 * half))


class MLP(nn.Sequential):
    def __init__(self, width: int, hidden: int) -> None:
        # exact (erf) GELU: several times faster than the tanh form on CPU
        super().__init__(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


class Rotary(nn.Module):
    """Rotary position embedding (Su et al.): attention then depends on relative positions only,

    so a key cached at absolute position p stays valid while the context window slides.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.head_dim = head_dim
        # a plain attribute, not a buffer: `module.to(bfloat16)` must not round the frequencies
        self.inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self._on: dict[torch.device, torch.Tensor] = {}

    def cos_sin(self, start: int, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        # float64 angles: positions of long recordings reach 1e5 and float32 would lose the phase
        inv = self._on.get(device)
        if inv is None:
            inv = self._on[device] = self.inv_freq.to(device)
        pos = torch.arange(start, start + length, dtype=torch.float64, device=device)
        angles = pos[:, None] * inv[None, :]
        return torch.cos(angles).float(), torch.sin(angles).float()

    @staticmethod
    def apply(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotates `x` `(B, H, T, hd)` by the angles of its positions."""
        x1, x2 = x[..., 0::2], x[..., 1::2]
        c, s = cos.to(x.dtype), sin.to(x.dtype)
        out = torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)
        return out.flatten(-2)
