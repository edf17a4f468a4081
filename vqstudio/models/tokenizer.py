"""The VQ-VAE tokenizer: a 1D convolutional encoder, a residual vector quantizer, a decoder.

A window x of shape (B, C, T) (per-channel normalised) becomes a latent z (B, D, L) with
L = T / downsample, then code indices (B, Q, L), and back. The model is fully
convolutional with zero padding and no normalisation across time, so it also runs on
inputs longer than the training window, and segments decoded with `decoder_context`
latent steps of margin on each side join exactly.

Sizes are named presets (data, in `PRESETS`); `choose_preset` picks one from the amount of
data and the device.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from vqstudio.models.critic import Critic
from vqstudio.models.losses import TIME_LOSSES, stft_loss, time_loss
from vqstudio.models.quantizer import ResidualQuantizer

__all__ = [
    "LIMITS",
    "MAX_WEIGHTS",
    "PRESETS",
    "Decoder",
    "Encoder",
    "Tokenizer",
    "TokenizerConfig",
    "TokenizerOutput",
    "choose_preset",
    "preset_config",
    "without_critic",
]

# Residual units per stage use these dilations in turn (WaveNet / EnCodec style), so a few
# units cover a wide receptive field at each resolution.
UPSAMPLING = ("transposed", "linear")
_DILATIONS = (1, 3, 9, 27)

# Bounds (lowest, highest) of each whole-number setting. The highest lie far above every preset
# (large: hidden 96, max_width 512, latent_dim 128, 1,024 codes) and every montage, and low enough
# that a damaged or hand-edited config is refused, naming the setting, before anything is built:
# a codebook of 2**36 codes would ask for 2 TB.
LIMITS: dict[str, tuple[int, int]] = {
    "channels": (1, 65_536),  # EDF and BDF headers hold at most 9,999 signals
    "window": (1, 2**30),  # samples: above 600 s at 1 MHz, the longest window `train` accepts
    "hidden": (1, 8192),
    "max_width": (1, 8192),
    "res_units": (1, 64),
    "kernel": (1, 255),
    "latent_dim": (1, 8192),
    "code_dim": (1, 8192),
    "codebook_size": (1, 2**20),
    "n_quantizers": (1, 256),
    "critic_start": (0, 10**12),  # optimizer steps
    "critic_width": (1, 8192),
}
# The tuple settings: (lowest, highest) of each entry, and most entries. 30 strides of 2 already
# downsample more than the longest window; FFT sizes and periods are in samples.
TUPLE_LIMITS: dict[str, tuple[int, int, int]] = {
    "strides": (2, 8, 30),
    "stft_ffts": (2, 2**20, 64),
    "critic_periods": (1, 2**20, 64),
    "critic_ffts": (2, 2**20, 64),
}
REAL_SETTINGS = (
    "quantizer_dropout",
    "commitment_weight",
    "ema_decay",
    "dead_code_fraction",
    "time_weight",
    "stft_weight",
    "stft_floor",
    "critic_weight",
    "feature_weight",
)
# Weights and buffers a tokenizer may hold in all (4 GiB of float32): 75 times the large preset
# on 64 channels (14 M), so only a damaged config meets it, each setting within its limit.
MAX_WEIGHTS = 2**30


def _conv(inputs: int, outputs: int, kernel: int) -> int:
    """Weights and biases of a convolution (1D or 2D: `kernel` is the kernel's size in all)."""
    return inputs * outputs * kernel + outputs


def _check_whole(name: str, value: Any, low: int, high: int) -> None:
    """`ValueError` naming the setting unless `value` is a whole number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"tokenizer setting {name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"tokenizer setting {name} must be between {low} and {high:,}, got {value:,}")


def _whole_tuple(name: str, values: Any) -> tuple[int, ...]:
    """`values` (a list from JSON, or a tuple) as a tuple of whole numbers within `TUPLE_LIMITS`."""
    low, high, most = TUPLE_LIMITS[name]
    if not isinstance(values, list | tuple) or len(values) > most:
        raise ValueError(f"tokenizer setting {name} must be a list of at most {most} whole numbers")
    for v in values:
        _check_whole(name, v, low, high)
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class TokenizerConfig:
    """Every setting of a tokenizer; `dataclasses.asdict` gives JSON, `TokenizerConfig(**d)` rebuilds it.

    channels, window: recording channels C and training window length T in samples.
    hidden, max_width: width of the full-rate stage; it doubles at each downsampling stage
        up to max_width.
    strides: downsampling factor of each stage (each 2, 4 or 8); downsample = their product.
    res_units, kernel: residual units per stage and their kernel size.
    latent_dim: channels D of the latent z; code_dim: the small space codes are looked up in.
    codebook_size: codes per quantizer K; n_quantizers: Q (1 = plain VQ, >1 = residual VQ).
    quantizer_dropout: with residual VQ, the fraction of training windows that keep only the
        first n ~ U{1..Q} stages (SoundStream's quantizer dropout; 0 = off).
    commitment_weight, ema_decay, dead_code_fraction: quantizer training (see quantizer.py).
    time_loss ("l1", "l2", "l1+l2"), time_weight, stft_weight, stft_ffts, stft_floor: the loss
        (stft_floor: magnitude floor of the log term, relative to a white unit-variance signal).
    upsample: how the decoder goes up a stage: "transposed" (a strided transposed conv; its
        kernel overlap leaves a periodic imprint at the code rate and its harmonics) or
        "linear" (linear interpolation, then a conv: no imprint). Projects from before this
        setting existed are "transposed".
    critic_weight, feature_weight: weights of the adversarial (hinge) and feature-matching
        losses of the critic (`vqstudio.models.critic`); both 0 = no critic.
    critic_start: optimizer steps of plain training before the critic joins in.
    critic_periods, critic_ffts, critic_width: its period and spectrogram discriminators and
        their width.
    """

    channels: int
    window: int
    hidden: int = 32
    max_width: int = 256
    strides: tuple[int, ...] = (2, 2, 2)
    res_units: int = 2
    kernel: int = 3
    latent_dim: int = 64
    code_dim: int = 8
    codebook_size: int = 512
    n_quantizers: int = 1
    quantizer_dropout: float = 0.0
    commitment_weight: float = 0.25
    ema_decay: float = 0.99
    dead_code_fraction: float = 0.03
    time_loss: str = "l1+l2"
    time_weight: float = 1.0
    stft_weight: float = 0.3
    stft_ffts: tuple[int, ...] = field(default=(16, 32, 64, 128, 256))
    stft_floor: float = 0.03
    upsample: str = "transposed"
    critic_weight: float = 0.0
    feature_weight: float = 0.0
    critic_start: int = 0
    critic_periods: tuple[int, ...] = field(default=(2, 3, 5, 7, 11))
    critic_ffts: tuple[int, ...] = field(default=(32, 64, 128))
    critic_width: int = 16

    def __post_init__(self) -> None:
        """Refuses (`ValueError` naming the setting) a setting of the wrong type or beyond `LIMITS`,
        and settings that together exceed `MAX_WEIGHTS`: before any module is built."""
        # JSON turns tuples into lists; accept them so TokenizerConfig(**json_dict) works.
        for name in TUPLE_LIMITS:
            object.__setattr__(self, name, _whole_tuple(name, getattr(self, name)))
        for name, (low, high) in LIMITS.items():
            _check_whole(name, getattr(self, name), low, high)
        for name in REAL_SETTINGS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"tokenizer setting {name} must be a finite number, got {value!r}")
        self._check_choices()
        self._check_size()

    def _check_choices(self) -> None:
        """The settings that must be one of a few values or lie in a range."""
        if not self.strides or any(s not in (2, 4, 8) for s in self.strides):
            raise ValueError(f"tokenizer strides must each be 2, 4 or 8, got {list(self.strides)}")
        if self.kernel % 2 == 0:
            raise ValueError(f"tokenizer kernel must be odd, got {self.kernel}")
        if self.window % self.downsample:
            raise ValueError(
                f"window of {self.window} samples is not a multiple of the tokenizer's "
                f"downsampling x{self.downsample}; choose a window divisible by {self.downsample}"
            )
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"tokenizer upsample {self.upsample!r} is not one of {', '.join(UPSAMPLING)}")
        if self.time_loss not in TIME_LOSSES:
            raise ValueError(f"time loss {self.time_loss!r} is not one of {', '.join(TIME_LOSSES)}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be between 0 and 1, got {self.ema_decay}")
        if self.stft_floor <= 0:
            raise ValueError(f"stft_floor must be positive, got {self.stft_floor}")
        if not 0.0 <= self.quantizer_dropout <= 1.0:
            raise ValueError(f"quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        if not 0.0 <= self.dead_code_fraction < 1.0:
            raise ValueError(f"dead_code_fraction must be in [0, 1), got {self.dead_code_fraction}")
        for name in ("critic_weight", "feature_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"tokenizer setting {name} must be 0 or more, got {getattr(self, name)}")
        if self.has_critic and not (self.critic_periods or self.critic_ffts):
            raise ValueError("a tokenizer critic needs at least one period or FFT size")

    def _check_size(self) -> None:
        """Refuses settings each within its limit that together make a model too large to build."""
        count = self.weight_count(with_critic=self.has_critic)
        if count > MAX_WEIGHTS:
            raise ValueError(
                f"tokenizer settings describe {count:,} weights, more than the {MAX_WEIGHTS:,} a "
                "tokenizer may have (hidden, max_width, res_units, kernel, latent_dim, codebook_size "
                "and n_quantizers set its size)"
            )

    def weight_count(self, with_critic: bool = False) -> int:
        """The number of values in `Tokenizer(self, with_critic=...).state_dict()` (weights and
        buffers), computed without building it, so a config is measured before it allocates."""
        w, d, c = self.widths, self.latent_dim, self.channels
        res = [self.res_units * (_conv(v, v, self.kernel) + _conv(v, v, 1)) for v in w]
        up = [2 * s + 1 if self.upsample == "linear" else 2 * s for s in self.strides]
        encoder = _conv(c, w[0], 7) + res[-1] + _conv(w[-1], d, 3)
        decoder = _conv(d, w[-1], 7) + res[-1] + _conv(w[0], c, 7)
        for i, s in enumerate(self.strides):
            encoder += res[i] + _conv(w[i], w[i + 1], 2 * s)
            decoder += res[i] + _conv(w[i + 1], w[i], up[i])
        k, q, e = self.codebook_size, self.n_quantizers, self.code_dim
        # per level: projections in and out, then codebook, ema_sum (K x code_dim), ema_size, ema_usage
        quantizer = q * (_conv(d, e, 1) + _conv(e, d, 1) + 2 * k * e + 2 * k)
        total = encoder + quantizer + decoder
        return total + (self._critic_weight_count() if with_critic and self.has_critic else 0)

    def _critic_weight_count(self) -> int:
        """Values of the critic's state dict (`vqstudio.models.critic.Critic`)."""
        c, v = self.channels, self.critic_width
        period = _conv(c, v, 5) + _conv(v, 2 * v, 5) + _conv(2 * v, 4 * v, 5) + _conv(4 * v, 1, 3)
        spectrogram = _conv(2 * c, v, 27) + 2 * _conv(v, v, 27) + _conv(v, v, 9) + _conv(v, 1, 9)
        return len(self.critic_periods) * period + len(self.critic_ffts) * spectrogram

    @property
    def has_critic(self) -> bool:
        """Whether the decoder trains against a critic (either of its losses has a weight)."""
        return self.critic_weight > 0 or self.feature_weight > 0

    @property
    def downsample(self) -> int:
        """Samples per latent step: the product of the strides."""
        return math.prod(self.strides)

    @property
    def latent_length(self) -> int:
        """Latent steps L of one training window."""
        return self.window // self.downsample

    @property
    def widths(self) -> tuple[int, ...]:
        """Channel width at each resolution, full rate first (len(strides) + 1 entries)."""
        return tuple(min(self.hidden * 2**i, self.max_width) for i in range(len(self.strides) + 1))


# Presets as data: only the fields that differ from TokenizerConfig's defaults. The loss and
# quantizer defaults (x8, one quantizer, L1+L2, STFT weight 0.3, log floor 0.03) were chosen
# with bench/ablation.py on ECG (a103l) and 21-channel EEG (Subject02_2): x16 lost ~0.4 dB
# SNR on both; STFT weight 1.0 stopped time-domain learning; a -60 dB floor collapsed the
# EEG codebook (2 % of codes used); residual VQ helped ECG, hurt EEG.
# small: CPU-friendly (2 cores); medium and large: GPU.
# Linear upsampling: decoding code sequences it never saw (a prior's samples), a transposed-conv
# decoder put 11-20 dB peaks at the code rate; linear + conv none (tests/test_tokenizer_model.py).
# Measured and not adopted, 2-core CPU: 4 residual levels before a diffusion prior (bench/realism.py,
# 8 min: ECG a103l PSD distance 6.4 -> 5.7 dB and 97 -> 105 beats/min, but the 3-minute demo's
# ECG fell from 53 to 38 beats/min in two seeds; the autoregressive prior fell to 44); 4 levels
# with quantizer dropout 0.5 (ECG: diffusion 6.5 dB and 103 beats/min, autoregressive 7.4 dB and
# 57 beats/min, against 6.4 / 97 and 5.9 / 105 with one level); the critic
# (bench/tokenizer_budget.py, 4 min, 19-channel EEG, a subject left out: the reconstruction's PSD
# distance in 0.5-45 Hz rose from 2.5 dB to 3.0-4.6 dB, its cross-channel correlation distance fell
# from 0.28 to 0.15-0.17).
PRESETS: dict[str, dict[str, Any]] = {
    "small": {
        "hidden": 32,
        "max_width": 128,
        "strides": (2, 2, 2),
        "res_units": 1,
        "codebook_size": 256,
        "upsample": "linear",
    },
    "medium": {
        "hidden": 64,
        "max_width": 256,
        "strides": (2, 2, 2),
        "res_units": 2,
        "codebook_size": 512,
        "upsample": "linear",
    },
    "large": {
        "hidden": 96,
        "max_width": 512,
        "strides": (2, 2, 2),
        "res_units": 3,
        "latent_dim": 128,
        "codebook_size": 1024,
        "upsample": "linear",
    },
}


def preset_config(name: str, channels: int, window: int, **overrides: Any) -> TokenizerConfig:
    """The TokenizerConfig of preset `name` for C channels and T-sample windows, with overrides."""
    if name not in PRESETS:
        raise ValueError(f"tokenizer preset {name!r} is not one of {', '.join(PRESETS)}")
    settings = {**PRESETS[name], **overrides}
    known = {f.name for f in fields(TokenizerConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown tokenizer settings: {', '.join(unknown)}")
    return TokenizerConfig(channels=channels, window=window, **settings)


def choose_preset(n_windows: int, device: str) -> str:
    """Pick a preset from the number of training windows and the device type ("cpu", "cuda", "mps").

    On CPU always "small" (larger models do not train at a useful rate on a few cores).
    On a GPU: "small" below 2,000 windows (a bigger model would only memorise them),
    "medium" up to 50,000, "large" above.
    """
    kind = str(device).split(":")[0]
    if kind == "cpu" or n_windows < 2_000:
        return "small"
    if n_windows <= 50_000:
        return "medium"
    return "large"


def _init_conv(module: nn.Module) -> None:
    """He-normal weights for the SiLU that follows, zero biases.

    PyTorch's default conv init shrinks the signal at every layer; through a few dozen
    layers the first ~100 steps then learn nothing (measured: relative error stuck at 1.0
    for 120 steps on ECG, versus 0.44 after 20 steps with this init). The fan of a
    transposed conv counts the inputs that reach one output: in_channels x kernel / stride.
    """
    if isinstance(module, nn.ConvTranspose1d):
        fan = module.in_channels * module.kernel_size[0] / module.stride[0]
    elif isinstance(module, nn.Conv1d):
        fan = module.in_channels // module.groups * module.kernel_size[0]
    else:
        return
    nn.init.normal_(module.weight, std=math.sqrt(2.0 / fan))
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class ResUnit(nn.Module):
    """x + conv1x1(act(conv_k,dilated(act(x)))): a residual unit at one resolution."""

    def __init__(self, width: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.mix = nn.Conv1d(width, width, 1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.act(self.conv(self.act(x))))


def _res_stack(width: int, cfg: TokenizerConfig) -> list[nn.Module]:
    return [ResUnit(width, cfg.kernel, _DILATIONS[i % len(_DILATIONS)]) for i in range(cfg.res_units)]


class Encoder(nn.Module):
    """(B, C, T) -> (B, latent_dim, T / downsample): residual units, then a strided conv, per stage."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv1d(cfg.channels, w[0], 7, padding=3)]
        for i, s in enumerate(cfg.strides):
            layers += _res_stack(w[i], cfg)
            # kernel 2s, stride s, padding s/2: exactly T/s outputs for T divisible by s.
            layers += [nn.SiLU(), nn.Conv1d(w[i], w[i + 1], 2 * s, stride=s, padding=s // 2)]
        layers += [*_res_stack(w[-1], cfg), nn.SiLU(), nn.Conv1d(w[-1], cfg.latent_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _upsampler(cfg: TokenizerConfig, width_in: int, width_out: int, s: int) -> list[nn.Module]:
    """One decoder stage's way up by `s` (see `TokenizerConfig.upsample`)."""
    if cfg.upsample == "linear":
        return [
            nn.Upsample(scale_factor=s, mode="linear"),
            nn.Conv1d(width_in, width_out, 2 * s + 1, padding=s),
        ]
    return [nn.ConvTranspose1d(width_in, width_out, 2 * s, stride=s, padding=s // 2)]


class Decoder(nn.Module):
    """(B, latent_dim, L) -> (B, C, L * downsample): the encoder's mirror, going up by transposed
    convs or by linear interpolation and a conv (`TokenizerConfig.upsample`)."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv1d(cfg.latent_dim, w[-1], 7, padding=3), *_res_stack(w[-1], cfg)]
        for i in reversed(range(len(cfg.strides))):
            s = cfg.strides[i]
            layers += [nn.SiLU(), *_upsampler(cfg, w[i + 1], w[i], s)]
            layers += _res_stack(w[i], cfg)
        layers += [nn.SiLU(), nn.Conv1d(w[0], cfg.channels, 7, padding=3)]
        self.net = nn.Sequential(*layers)
        self.context = self._context(cfg.downsample)

    def _context(self, downsample: int) -> int:
        """Exact margin, in latent steps, that the output samples of one latent step depend on.

        Walks the layers from the output back to the input, mapping the interval of
        positions that the samples of latent step `a` read at each layer.
        """
        a = 1000  # any step far from the edges: the layers are shift-equivariant
        lo, hi = a * downsample, (a + 1) * downsample - 1
        for layer in reversed(self.net):
            if isinstance(layer, ResUnit):
                layer = layer.conv  # the 1x1 mix and the skip do not widen the interval
            if isinstance(layer, nn.ConvTranspose1d):
                (s,), (k,), (p,) = layer.stride, layer.kernel_size, layer.padding
                # output o = i*s - p + j for j in [0, k): i ranges over ceil((o+p-k+1)/s)..floor((o+p)/s)
                lo, hi = -((-(lo + p - k + 1)) // s), (hi + p) // s
            elif isinstance(layer, nn.Upsample):
                s = int(layer.scale_factor)
                # output o interpolates inputs floor((o + 0.5) / s - 0.5) and the one after it
                lo, hi = math.floor((lo + 0.5) / s - 0.5), math.floor((hi + 0.5) / s - 0.5) + 1
            elif isinstance(layer, nn.Conv1d):
                (d,), (k,), (p,) = layer.dilation, layer.kernel_size, layer.padding
                lo, hi = lo - p, hi - p + d * (k - 1)
        return max(a - lo, hi - a)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass
class TokenizerOutput:
    """One forward pass: reconstruction (B, C, T), indices (B, Q, L) int64, loss (scalar to
    backprop), losses (scalar components: time, stft, commit, total), z (B, D, L) before
    quantization, encodings (Q, B*L, code_dim) for `Tokenizer.update_codebook`."""

    reconstruction: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    losses: dict[str, torch.Tensor]
    z: torch.Tensor
    encodings: torch.Tensor


def without_critic(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A tokenizer's state dict less the critic's weights (what encoding and decoding need)."""
    return {k: v for k, v in state.items() if not k.startswith("critic.")}


class Tokenizer(nn.Module):
    """Encoder + residual quantizer + decoder, with the losses of its training (and the critic of
    its decoder when the config has one)."""

    def __init__(self, cfg: TokenizerConfig, *, with_critic: bool = True) -> None:
        """`with_critic=False` builds what encoding and decoding need, without the critic that
        trains beside a decoder (`published_state` holds no critic either)."""
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualQuantizer(
            cfg.latent_dim,
            cfg.code_dim,
            cfg.codebook_size,
            cfg.n_quantizers,
            cfg.ema_decay,
            cfg.dead_code_fraction,
            cfg.quantizer_dropout,
        )
        self.decoder = Decoder(cfg)
        self.encoder.apply(_init_conv)
        self.decoder.apply(_init_conv)
        # The critic is part of the model so that a checkpoint resumes it with the rest; it
        # only trains (generating never runs it).
        self.critic = (
            Critic(cfg.channels, cfg.critic_periods, cfg.critic_ffts, cfg.critic_width)
            if cfg.has_critic and with_critic
            else None
        )

    def published_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the critic's weights: what generating needs. Training resumes
        from the full state (the critic included) kept in the project's state file."""
        return without_critic(self.state_dict())

    @property
    def decoder_context(self) -> int:
        """Latent steps of context the decoder needs on each side of a segment: decoding
        z[..., a - m : b + m] with m = decoder_context gives exactly the samples of
        a..b that decoding all of z gives."""
        return self.decoder.context

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.cfg.channels:
            raise ValueError(
                f"tokenizer input must be (batch, {self.cfg.channels} channels, samples), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[-1] % self.cfg.downsample:
            raise ValueError(
                f"input of {x.shape[-1]} samples is not a multiple of the downsampling x{self.cfg.downsample}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, latent_dim, T / downsample), continuous, before quantization."""
        self._check(x)
        return self.encoder(x)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, L) -> (z_q (B, D, L) float32, indices (B, Q, L)); pure, no state change."""
        result = self.quantizer(z)
        return result.z_q, result.indices

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """(B, D, L) quantized latent -> (B, C, L * downsample) signal."""
        return self.decoder(z_q)

    def codes_to_latents(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, Q, L) indices -> (B, D, L) quantized latent."""
        return self.quantizer.codes_to_latents(indices)

    def latents_to_codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, L) latent -> (B, Q, L) indices of the nearest codes (exact inverse for Q = 1)."""
        return self.quantizer.latents_to_codes(z)

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        """Encode, quantize, decode and compute the loss; changes no state."""
        self._check(x)
        cfg = self.cfg
        z = self.encoder(x)
        q = self.quantizer(z)
        x_hat = self.decoder(q.z_q)
        l_time = time_loss(x, x_hat, cfg.time_loss)
        # The STFT term exists when it is weighted and one FFT size fits the window: a window
        # shorter than every size has no spectrum to compare, and a loss that is not computed
        # is not reported (a curve of zeros drew "All-NaN slice" warnings on a log axis).
        has_stft = cfg.stft_weight > 0 and min(cfg.stft_ffts) <= x.shape[-1]
        if has_stft:
            sc, logmag = stft_loss(x, x_hat, cfg.stft_ffts, cfg.stft_floor)
            l_stft = sc + logmag
        else:
            l_stft = l_time.new_zeros(())
        total = cfg.time_weight * l_time + cfg.stft_weight * l_stft + cfg.commitment_weight * q.commit
        losses = {"time": l_time.detach()}
        if has_stft:
            losses["stft"] = l_stft.detach()
        losses.update(commit=q.commit.detach(), total=total.detach())
        return TokenizerOutput(x_hat, q.indices, total, losses, z, q.encodings)

    @torch.no_grad()
    def init_codebook(self, z_batches: torch.Tensor) -> None:
        """k-means initialisation of the codebooks from encoder outputs (N, D, L) of the first batches."""
        self.quantizer.init_codebook(z_batches)

    @torch.no_grad()
    def update_codebook(self, out: TokenizerOutput) -> None:
        """EMA codebook update and dead-code restart from a forward pass; call after the optimizer step."""
        self.quantizer.update(out.encodings, out.indices)

    def codebook_usage(self) -> dict[str, float]:
        """perplexity, used_fraction, dead_codes from the EMA cluster sizes (ResidualQuantizer.usage)."""
        return self.quantizer.usage()
