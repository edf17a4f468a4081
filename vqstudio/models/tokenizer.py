"""The VQ-VAE tokenizer: a 1D convolutional encoder, a residual vector quantizer, a decoder.

A window x of shape (B, C, T) (per-channel normalised) becomes a latent z (B, D, L) with
L = T / downsample, then code indices (B, Q, L), and back. The model is fully
convolutional with zero padding and no normalisation across time, so it also runs on
inputs longer than the training window, and segments decoded with `decoder_context`
latent steps of margin on each side join exactly.

Two ways to treat channels (`TokenizerConfig.per_channel`):
- shared (the default, and every project before the setting): the C channels are the input
  channels of the first convolution, so the weights are made for one montage;
- per channel (a codec, EnCodec/DAC style): every channel is encoded and decoded by the same
  single-channel network, channels folded into the batch ((B, C, T) -> (B*C, 1, T)). The
  weights do not depend on C, so one set serves any montage and channel count and can be
  trained once on a corpus and shipped. Outside the model the latents are (B, C*D, L) and the
  codes (B, C*Q, L), channel-major, so a prior sees a window as it always has, through
  `prior_latent_dim` and `prior_levels`.

`decoder_noise` adds StyleGAN-style noise injection to the decoder (`NoiseInjection`): what
the codes cannot carry (texture) is drawn from noise rather than averaged away.

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
    "CODEC_FOR_SIZE",
    "LIMITS",
    "MAX_WEIGHTS",
    "NOISE_BLOCK",
    "PRESETS",
    "SIZE_PRESETS",
    "Decoder",
    "DecoderNoise",
    "Encoder",
    "NoiseInjection",
    "Tokenizer",
    "TokenizerConfig",
    "TokenizerOutput",
    "choose_preset",
    "noise_seed",
    "preset_config",
    "tokenizer_preset",
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
BOOL_SETTINGS = ("per_channel", "decoder_noise")
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
    per_channel: every channel through the same single-channel network (see the module's
        docstring); `channels` then only sets the prior's sizes, never a weight's shape.
    decoder_noise: noise injected at each decoder stage, scaled by learned per-feature gains.
    Projects from before these two settings existed have neither.
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
    per_channel: bool = False
    decoder_noise: bool = False

    def __post_init__(self) -> None:
        """Refuses (`ValueError` naming the setting) a setting of the wrong type or beyond `LIMITS`,
        and settings that together exceed `MAX_WEIGHTS`: before any module is built."""
        # JSON turns tuples into lists; accept them so TokenizerConfig(**json_dict) works.
        for name in TUPLE_LIMITS:
            object.__setattr__(self, name, _whole_tuple(name, getattr(self, name)))
        for name, (low, high) in LIMITS.items():
            _check_whole(name, getattr(self, name), low, high)
        for name in BOOL_SETTINGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"tokenizer setting {name} must be true or false, got {getattr(self, name)!r}"
                )
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
        w, d, c = self.widths, self.latent_dim, self.io_channels
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
        noise = sum(w) if self.decoder_noise else 0  # one gain per feature at each decoder stage
        total = encoder + quantizer + decoder + noise
        return total + (self._critic_weight_count() if with_critic and self.has_critic else 0)

    def _critic_weight_count(self) -> int:
        """Values of the critic's state dict (`vqstudio.models.critic.Critic`)."""
        c, v = self.io_channels, self.critic_width
        period = _conv(c, v, 5) + _conv(v, 2 * v, 5) + _conv(2 * v, 4 * v, 5) + _conv(4 * v, 1, 3)
        spectrogram = _conv(2 * c, v, 27) + 2 * _conv(v, v, 27) + _conv(v, v, 9) + _conv(v, 1, 9)
        return len(self.critic_periods) * period + len(self.critic_ffts) * spectrogram

    @property
    def has_critic(self) -> bool:
        """Whether the decoder trains against a critic (either of its losses has a weight)."""
        return self.critic_weight > 0 or self.feature_weight > 0

    @property
    def io_channels(self) -> int:
        """Input channels of the encoder, output channels of the decoder and of the critic's
        input: 1 per channel (the weights know no montage), else the recording's C."""
        return 1 if self.per_channel else self.channels

    @property
    def prior_latent_dim(self) -> int:
        """Rows of a window's latents as a prior sees them: C x latent_dim per channel, else D."""
        return self.channels * self.latent_dim if self.per_channel else self.latent_dim

    @property
    def prior_levels(self) -> int:
        """Rows of a window's codes as a prior sees them: C x n_quantizers per channel, else Q."""
        return self.channels * self.n_quantizers if self.per_channel else self.n_quantizers

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
    # Per-channel codecs (`per_channel`): one single-channel network for every channel, a small
    # latent per channel (a window of C channels gives the prior C x latent_dim rows) and residual
    # VQ deep enough for a near-transparent reconstruction (4 levels x 8 bits per 8 samples: 4
    # bits per sample). Their weights are the same for any montage, so they can be trained once
    # on a corpus and shipped: "codec" holds 0.48 M values (1.9 MB of float32), "codec-large"
    # 1.2 M (4.8 MB), both well under the 20 MB a shipped codec may take. Each channel is its own
    # sequence, so a step costs about C times a one-channel model: "codec" is the CPU's size.
    "codec": {
        "per_channel": True,
        "hidden": 16,
        "max_width": 128,
        "strides": (2, 2, 2),
        "res_units": 2,
        "latent_dim": 8,
        "code_dim": 8,
        "codebook_size": 256,
        "n_quantizers": 4,
        "upsample": "linear",
    },
    "codec-large": {
        "per_channel": True,
        "hidden": 32,
        "max_width": 160,
        "strides": (2, 2, 2),
        "res_units": 2,
        "latent_dim": 16,
        "code_dim": 8,
        "codebook_size": 1024,
        "n_quantizers": 8,
        "upsample": "linear",
    },
}
# The size presets a user names (--preset), and the per-channel preset each maps to.
SIZE_PRESETS = ("small", "medium", "large")
CODEC_FOR_SIZE = {"small": "codec", "medium": "codec-large", "large": "codec-large"}


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


def tokenizer_preset(size: str, per_channel: bool) -> str:
    """The name in `PRESETS` of a tokenizer of `size` ("small", "medium", "large"): that size
    itself for a shared tokenizer, its per-channel codec ("codec", "codec-large") otherwise."""
    if size not in CODEC_FOR_SIZE:
        raise ValueError(f"tokenizer size {size!r} is not one of {', '.join(SIZE_PRESETS)}")
    return CODEC_FOR_SIZE[size] if per_channel else size


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
    """(B, io_channels, T) -> (B, latent_dim, T / downsample): residual units, then a strided
    conv, per stage."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv1d(cfg.io_channels, w[0], 7, padding=3)]
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


# Latent steps per block of seeded decoder noise: the noise of a block is drawn from a generator
# seeded by (seed, stage, block), so any stretch of a long sequence is drawn alike whichever
# pieces it is decoded in, with memory bounded by the piece (never the whole length).
NOISE_BLOCK = 64
_MASK64 = (1 << 64) - 1


def noise_seed(*parts: int) -> int:
    """A 63-bit seed mixed from whole numbers (splitmix64 over each): a decoder-noise seed for,
    say, a generation seed and a batch, that leaves every other random stream untouched."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = (h ^ (int(part) & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & _MASK64
        h ^= h >> 29
    return h >> 1


@dataclass(frozen=True)
class DecoderNoise:
    """Where a decode's injected noise comes from.

    seed None: fresh draws from torch's global generator (training: new texture every step).
    seed given: the noise of every latent position is fixed by (seed, stage, position), drawn in
    blocks of `NOISE_BLOCK` latent steps on the device's generator, so decoding in pieces
    (`decoder_context` margins) gives what one whole decode gives: no seam, noise or not.
    offset: the latent step of the decoded latents' first step in the whole sequence.
    """

    seed: int | None = None
    offset: int = 0

    def draw(self, stage: int, rows: int, per_step: int, steps: int, like: torch.Tensor) -> torch.Tensor:
        """(rows, 1, steps * per_step) standard normal noise for decoder stage `stage`, whose
        activations have `per_step` positions per latent step, in `like`'s device and dtype."""
        if self.seed is None:
            return torch.randn(rows, 1, steps * per_step, device=like.device, dtype=like.dtype)
        first, last = self.offset // NOISE_BLOCK, (self.offset + steps - 1) // NOISE_BLOCK
        blocks = []
        for j in range(first, last + 1):
            gen = torch.Generator(device=like.device).manual_seed(noise_seed(self.seed, stage, j))
            blocks.append(torch.randn(rows, 1, NOISE_BLOCK * per_step, generator=gen, device=like.device))
        start = (self.offset - first * NOISE_BLOCK) * per_step
        return torch.cat(blocks, dim=2)[:, :, start : start + steps * per_step].to(like.dtype)


class NoiseInjection(nn.Module):
    """h + gain * noise (StyleGAN): one noise channel per position, scaled per feature by a
    learned gain that starts at 0, so the decoder begins as the plain one and learns how much
    texture to draw from noise at this resolution (`per_step` positions per latent step)."""

    def __init__(self, width: int, stage: int, per_step: int) -> None:
        super().__init__()
        self.stage, self.per_step = stage, per_step
        self.gain = nn.Parameter(torch.zeros(1, width, 1))

    def forward(self, h: torch.Tensor, noise: DecoderNoise | None) -> torch.Tensor:
        if noise is None:
            return h
        steps = h.shape[-1] // self.per_step
        return h + self.gain.to(h.dtype) * noise.draw(self.stage, h.shape[0], self.per_step, steps, h)


class Decoder(nn.Module):
    """(B, latent_dim, L) -> (B, io_channels, L * downsample): the encoder's mirror, going up by
    transposed convs or by linear interpolation and a conv (`TokenizerConfig.upsample`); with
    `decoder_noise`, noise joins each resolution before its residual units shape it."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        w = cfg.widths
        layers: list[nn.Module] = [nn.Conv1d(cfg.latent_dim, w[-1], 7, padding=3)]
        if cfg.decoder_noise:
            layers.append(NoiseInjection(w[-1], 0, 1))
        layers += _res_stack(w[-1], cfg)
        per_step = 1
        for stage, i in enumerate(reversed(range(len(cfg.strides))), start=1):
            s = cfg.strides[i]
            per_step *= s
            layers += [nn.SiLU(), *_upsampler(cfg, w[i + 1], w[i], s)]
            if cfg.decoder_noise:
                layers.append(NoiseInjection(w[i], stage, per_step))
            layers += _res_stack(w[i], cfg)
        layers += [nn.SiLU(), nn.Conv1d(w[0], cfg.io_channels, 7, padding=3)]
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

    def forward(self, z: torch.Tensor, noise: DecoderNoise | None = None) -> torch.Tensor:
        """The signal of latents z; `noise` feeds the noise injections (None: none injected)."""
        h = z
        for layer in self.net:
            h = layer(h, noise) if isinstance(layer, NoiseInjection) else layer(h)
        return h


@dataclass
class TokenizerOutput:
    """One forward pass: reconstruction (B, C, T), indices (B, prior_levels, L) int64, loss
    (scalar to backprop), losses (scalar components: time, stft, commit, total), z
    (B, prior_latent_dim, L) before quantization, encodings (Q, B*L, code_dim) for
    `Tokenizer.update_codebook` (B*C*L rows per channel)."""

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
    its decoder when the config has one).

    Per channel (`cfg.per_channel`), the public methods take and give the outside shapes
    ((B, C, T) signals, (B, C*D, L) latents, (B, C*Q, L) codes, channel-major) and fold the
    channels into the batch inside; such a tokenizer takes any number of channels C, the
    config's `channels` being only what the project's prior was sized for."""

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
        # only trains (generating never runs it). Per channel it judges one channel at a time.
        self.critic = (
            Critic(cfg.io_channels, cfg.critic_periods, cfg.critic_ffts, cfg.critic_width)
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
        a..b that decoding all of z gives (with decoder noise: given a seed and the offset)."""
        return self.decoder.context

    # --- channels in and out of the batch (per channel) ------------------------------------

    def fold_channels(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B*C, 1, T) per channel (what the networks, the losses and the critic
        see); unchanged for a shared tokenizer."""
        return x.reshape(-1, 1, x.shape[-1]) if self.cfg.per_channel else x

    def _inside(self, t: torch.Tensor, rows: int, what: str) -> torch.Tensor:
        """(B, C*rows, L) channel-major -> (B*C, rows, L) per channel; unchanged otherwise."""
        if t.dim() != 3 or (t.shape[1] % rows if self.cfg.per_channel else t.shape[1] != rows):
            many = "a multiple of " if self.cfg.per_channel else ""
            raise ValueError(f"{what} must be (batch, {many}{rows}, steps), got {tuple(t.shape)}")
        return t.reshape(-1, rows, t.shape[-1]) if self.cfg.per_channel else t

    def _outside(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*C, rows, L) -> (B, C*rows, L) channel-major per channel; unchanged otherwise."""
        return t.reshape(batch, -1, t.shape[-1]) if self.cfg.per_channel else t

    def _check(self, x: torch.Tensor) -> None:
        if self.cfg.per_channel:
            if x.dim() != 3 or x.shape[1] < 1:
                raise ValueError(f"tokenizer input must be (batch, channels, samples), got {tuple(x.shape)}")
        elif x.dim() != 3 or x.shape[1] != self.cfg.channels:
            raise ValueError(
                f"tokenizer input must be (batch, {self.cfg.channels} channels, samples), "
                f"got {tuple(x.shape)}"
            )
        if x.shape[-1] % self.cfg.downsample:
            raise ValueError(
                f"input of {x.shape[-1]} samples is not a multiple of the downsampling x{self.cfg.downsample}"
            )

    def _noise(self, seed: int | None, offset: int) -> DecoderNoise | None:
        """The decoder's noise: none without `decoder_noise`; fresh draws in training unless a
        seed is given; in eval mode seed 0 unless one is given, so decoding is repeatable."""
        if not self.cfg.decoder_noise:
            return None
        if seed is None and not self.training:
            seed = 0
        return DecoderNoise(seed, offset)

    # --- the public path ---------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) -> (B, prior_latent_dim, T / downsample), continuous, before quantization."""
        self._check(x)
        return self._outside(self.encoder(self.fold_channels(x)), x.shape[0])

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, prior_latent_dim, L) -> (z_q (B, prior_latent_dim, L) float32, indices
        (B, prior_levels, L)); pure, no state change."""
        result = self.quantizer(self._inside(z, self.cfg.latent_dim, "latents"))
        return self._outside(result.z_q, z.shape[0]), self._outside(result.indices, z.shape[0])

    def decode(self, z_q: torch.Tensor, *, noise_seed: int | None = None, offset: int = 0) -> torch.Tensor:
        """(B, prior_latent_dim, L) quantized latent -> (B, C, L * downsample) signal.

        With `decoder_noise`, `noise_seed` fixes the noise (eval mode: 0 when not given) and
        `offset` says at which latent step of the whole sequence z_q starts, so pieces decoded
        apart draw the noise one whole decode would; both are ignored otherwise."""
        inside = self._inside(z_q, self.cfg.latent_dim, "latents")
        x = self.decoder(inside, self._noise(noise_seed, offset))
        return x.reshape(z_q.shape[0], -1, x.shape[-1]) if self.cfg.per_channel else x

    def codes_to_latents(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, prior_levels, L) indices -> (B, prior_latent_dim, L) quantized latent."""
        inside = self._inside(indices, self.cfg.n_quantizers, "codes")
        return self._outside(self.quantizer.codes_to_latents(inside), indices.shape[0])

    def latents_to_codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, prior_latent_dim, L) latent -> (B, prior_levels, L) indices of the nearest codes
        (exact inverse for Q = 1)."""
        inside = self._inside(z, self.cfg.latent_dim, "latents")
        return self._outside(self.quantizer.latents_to_codes(inside), z.shape[0])

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        """Encode, quantize, decode and compute the loss; changes no state. Per channel the
        losses see (B*C, 1, T): each channel is one signal, as the critic sees it too."""
        self._check(x)
        cfg, batch = self.cfg, x.shape[0]
        x = self.fold_channels(x)
        z = self.encoder(x)
        q = self.quantizer(z)
        x_hat = self.decoder(q.z_q, self._noise(None, 0))
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
        reconstruction = x_hat.reshape(batch, -1, x_hat.shape[-1]) if cfg.per_channel else x_hat
        return TokenizerOutput(
            reconstruction,
            self._outside(q.indices, batch),
            total,
            losses,
            self._outside(z, batch),
            q.encodings,
        )

    @torch.no_grad()
    def init_codebook(self, z_batches: torch.Tensor) -> None:
        """k-means initialisation of the codebooks from encoder outputs (N, prior_latent_dim, L)
        of the first batches (`encode`'s shape)."""
        self.quantizer.init_codebook(self._inside(z_batches, self.cfg.latent_dim, "latents"))

    @torch.no_grad()
    def update_codebook(self, out: TokenizerOutput) -> None:
        """EMA codebook update and dead-code restart from a forward pass; call after the optimizer step."""
        self.quantizer.update(out.encodings, self._inside(out.indices, self.cfg.n_quantizers, "codes"))

    def codebook_usage(self) -> dict[str, float]:
        """perplexity, used_fraction, dead_codes from the EMA cluster sizes (ResidualQuantizer.usage)."""
        return self.quantizer.usage()
