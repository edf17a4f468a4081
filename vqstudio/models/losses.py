"""Reconstruction losses of the tokenizer: time domain and multi-resolution STFT.

Both run in float32 whatever the surrounding autocast says: the STFT and the log of small
magnitudes are where bf16 loses the detail these losses exist to keep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["TIME_LOSSES", "stft_loss", "time_loss"]

TIME_LOSSES = ("l1", "l2", "l1+l2")

# Floor of the normalised STFT magnitude in the log term, relative to a white unit-variance
# signal, so near-empty bins (above a recording's anti-alias filter) do not dominate the loss.
# This is `stft_loss`'s default (-60 dB); the tokenizer passes its config's `stft_floor`
# (0.03, about -30 dB: a -60 dB floor collapsed an EEG codebook in bench/ablation.py).
_LOG_FLOOR = 1e-3


def time_loss(x: torch.Tensor, x_hat: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean sample-wise error: `l1` = mean |x - x̂|, `l2` = mean (x - x̂)², `l1+l2` their sum."""
    x, x_hat = x.float(), x_hat.float()
    if kind == "l1":
        return F.l1_loss(x_hat, x)
    if kind == "l2":
        return F.mse_loss(x_hat, x)
    if kind == "l1+l2":
        return F.l1_loss(x_hat, x) + F.mse_loss(x_hat, x)
    raise ValueError(f"time loss {kind!r} is not one of {', '.join(TIME_LOSSES)}")


def _magnitude(x: torch.Tensor, n_fft: int, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(x, n_fft=n_fft, hop_length=n_fft // 4, window=window, center=True, return_complex=True)
    # Scale so a white unit-variance signal has magnitude ~1 in every bin, whatever n_fft;
    # the epsilon keeps the gradient of |S| finite where S = 0.
    power = spec.real.square() + spec.imag.square()
    return torch.sqrt(power / window.square().sum() + 1e-12)


def stft_loss(
    x: torch.Tensor, x_hat: torch.Tensor, ffts: tuple[int, ...], floor: float = _LOG_FLOOR
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-resolution STFT loss of (B, C, T) signals; returns (spectral convergence, log magnitude).

    For each FFT size n (Hann window, hop n/4) with magnitudes S of x and Ŝ of x̂:
    spectral convergence = ||S - Ŝ||_F / ||S||_F (per signal, then averaged),
    log magnitude = mean |log(S + f) - log(Ŝ + f)| with floor f (default 1e-3, -60 dB).
    Each term is averaged over the resolutions; sizes larger than T are skipped.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        flat = x.float().reshape(-1, x.shape[-1])
        flat_hat = x_hat.float().reshape(-1, x_hat.shape[-1])
        sizes = [n for n in ffts if n <= x.shape[-1]]
        if not sizes:
            zero = flat.new_zeros(())
            return zero, zero
        sc_total = flat.new_zeros(())
        log_total = flat.new_zeros(())
        for n_fft in sizes:
            window = torch.hann_window(n_fft, device=flat.device, dtype=flat.dtype)
            mag = _magnitude(flat, n_fft, window)
            mag_hat = _magnitude(flat_hat, n_fft, window)
            diff = torch.linalg.vector_norm(mag - mag_hat, dim=(-2, -1))
            ref = torch.linalg.vector_norm(mag, dim=(-2, -1)).clamp_min(1e-6)
            sc_total = sc_total + (diff / ref).mean()
            log_total = log_total + F.l1_loss(torch.log(mag_hat + floor), torch.log(mag + floor))
        return sc_total / len(sizes), log_total / len(sizes)
