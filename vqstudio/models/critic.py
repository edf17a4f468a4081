"""The tokenizer's critic: discriminators that judge decoded windows against real ones.

A decoder trained on sample-wise and spectral losses alone learns the conditional mean of the
signal given its codes: too smooth where the codes cannot say what happens. Neural audio codecs
(HiFi-GAN, SoundStream, EnCodec, DAC) add discriminators, and a decoder that fools them draws
plausible detail instead. Two kinds, each small enough for a CPU budget:

- `PeriodDiscriminator` (HiFi-GAN's multi-period discriminator): the window folded into rows
  of `period` samples, judged by 2D convolutions along the rows, so periodic structure (beats,
  rhythms) at that period is seen side by side;
- `SpectrogramDiscriminator` (EnCodec's multi-scale STFT discriminator): 2D convolutions over the
  real and imaginary parts of one STFT resolution, so each band's texture is judged.

Every channel of the recording is an input channel of the first convolution, so the critic
also judges how channels go together. Losses are the hinge losses of EnCodec, with feature
matching (`feature_matching`): the decoder matches the critic's inner features of the real
window, which stabilises the first steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Critic",
    "CriticOutput",
    "PeriodDiscriminator",
    "SpectrogramDiscriminator",
    "critic_loss",
    "feature_matching",
    "generator_loss",
]

# (logits, inner features) of one discriminator.
CriticOutput = tuple[torch.Tensor, list[torch.Tensor]]
_SLOPE = 0.2  # LeakyReLU slope of every discriminator (EnCodec, DAC)


def _judge(convs: nn.ModuleList, out: nn.Module, h: torch.Tensor) -> CriticOutput:
    """The convolutions in turn (each followed by a LeakyReLU, its output a feature), then the
    logits layer."""
    features = []
    for conv in convs:
        h = F.leaky_relu(conv(h), _SLOPE)
        features.append(h)
    return out(h), features


class PeriodDiscriminator(nn.Module):
    """(B, C, T) folded to (B, C, T / period, period) and judged along the rows."""

    def __init__(self, channels: int, period: int, width: int) -> None:
        super().__init__()
        self.period = period
        widths = (channels, width, 2 * width, 4 * width)
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, (5, 1), stride=(3, 1), padding=(2, 0)) for a, b in itertools.pairwise(widths)
        )
        self.out = nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> CriticOutput:
        b, c, t = x.shape
        pad = -t % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect")
        return _judge(self.convs, self.out, x.reshape(b, c, -1, self.period))


class SpectrogramDiscriminator(nn.Module):
    """The complex STFT of each channel, (B, 2C, frames, bins), judged by 2D convolutions that
    stride along frequency and dilate along time."""

    def __init__(self, channels: int, n_fft: int, width: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(2 * channels, width, (3, 9), padding=(1, 4)),
                nn.Conv2d(width, width, (3, 9), stride=(1, 2), dilation=(1, 1), padding=(1, 4)),
                nn.Conv2d(width, width, (3, 9), stride=(1, 2), dilation=(2, 1), padding=(2, 4)),
                nn.Conv2d(width, width, (3, 3), padding=(1, 1)),
            ]
        )
        self.out = nn.Conv2d(width, 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> CriticOutput:
        b, c, t = x.shape
        spec = torch.stft(
            x.float().reshape(b * c, t),
            n_fft=self.n_fft,
            hop_length=self.n_fft // 4,
            window=self.window,
            center=True,
            return_complex=True,
        )  # (B*C, bins, frames)
        h = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (B*C, 2, frames, bins)
        return _judge(self.convs, self.out, h.reshape(b, c * 2, h.shape[2], h.shape[3]))


class Critic(nn.Module):
    """A period discriminator per period and a spectrogram discriminator per FFT size."""

    def __init__(self, channels: int, periods: Sequence[int], ffts: Sequence[int], width: int) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(channels, p, width) for p in periods]
            + [SpectrogramDiscriminator(channels, n, width) for n in ffts]
        )

    def forward(self, x: torch.Tensor) -> list[CriticOutput]:
        return [d(x) for d in self.discriminators]


def critic_loss(real: Sequence[CriticOutput], fake: Sequence[CriticOutput]) -> torch.Tensor:
    """Hinge loss of the discriminators: mean relu(1 - D(real)) + mean relu(1 + D(fake)), averaged
    over the discriminators."""
    total = sum(
        F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake, strict=True)
    )
    return total / len(real)


def generator_loss(fake: Sequence[CriticOutput]) -> torch.Tensor:
    """The decoder's hinge loss: mean relu(1 - D(fake)), averaged over the discriminators."""
    return sum(F.relu(1 - f).mean() for f, _ in fake) / len(fake)


def feature_matching(real: Sequence[CriticOutput], fake: Sequence[CriticOutput]) -> torch.Tensor:
    """Mean over discriminators and layers of |f_fake - f_real| / mean |f_real| (EnCodec's
    relative feature loss); the real features are constants."""
    terms = [
        F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp_min(1e-6)
        for (_, rf), (_, ff) in zip(real, fake, strict=True)
        for r, f in zip(rf, ff, strict=True)
    ]
    return sum(terms) / len(terms)
