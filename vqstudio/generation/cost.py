"""What a generate request will cost, known before any of it is spent: the memory of the batch
sampled at once, of the output and of its writing, and the batch size that keeps it bounded.

The estimate follows what `generation.sampling` allocates (see `sampling_bytes_per_item`);
`bench/generate_memory.py` measures the peak beside it. The batch size depends only on the
request and the model, never on the machine, so the same seed gives the same recordings
wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vqstudio.priors.limits import code_levels, latent_rows

__all__ = [
    "LONG_REQUEST_S",
    "SAMPLE_BATCH_BYTES",
    "GenerateCost",
    "generate_cost",
    "sampling_bytes_per_item",
]

FLOAT = 4  # bytes: every array is float32
# Working memory of one sampled batch: any --count runs in batches of at most this much.
SAMPLE_BATCH_BYTES = 512 * 2**20
# A request longer than this says so before it goes on (the CLI prints it, the app asks).
LONG_REQUEST_S = 3600.0
DECODE_CHUNK = 512  # latent steps decoded at once (`priors.continuation.decode_latents`)
# Activations of the decoder alive at once, in units of its widest stage: each residual unit's
# input, its convolution and its sum, and the upsampler's interpolation.
DECODER_LIVE = 12
# The output of a recording at full length lives in: the decoded pieces and their join, the
# physical copy, and a resampled copy at the output rate when the project has a working rate.
OUTPUT_COPIES = 3
# Writing one EDF/BDF recording holds its samples as float64 twice and its int32 digital values.
EDF_WRITE_COPIES = 5


def _widest_per_sample(tokenizer_cfg: Any) -> float:
    """The decoder's widest activation in floats per output sample: its stages' widths over
    their downsampling, times the channels for a per-channel codec (each channel is decoded as
    its own sequence); a tokenizer that states no stages: its output channels."""
    widths, strides = getattr(tokenizer_cfg, "widths", None), getattr(tokenizer_cfg, "strides", None)
    if widths is None or strides is None:
        return float(tokenizer_cfg.channels)
    widest, factor = 0.0, 1
    for width, stride in zip(widths, (*strides, 1), strict=True):
        widest = max(widest, width / factor)
        factor *= stride
    return widest * (tokenizer_cfg.channels if getattr(tokenizer_cfg, "per_channel", False) else 1)


def _decoder_bytes(tokenizer_cfg: Any, latent_length: int) -> float:
    """Peak activations of the decoder on one chunk of latents, for one recording."""
    steps = min(latent_length, DECODE_CHUNK + 2 * 64)  # the margin is the decoder's context
    samples = steps * tokenizer_cfg.downsample
    return DECODER_LIVE * _widest_per_sample(tokenizer_cfg) * samples * FLOAT


def _prior_bytes(prior_cfg: Any, guided: bool) -> float:
    """Working memory of the prior while it samples one recording: what its config says
    (`PriorConfig.sampling_floats`: one segment of a diffusion prior, one step of an
    autoregressive one)."""
    return prior_cfg.sampling_floats(guided) * FLOAT


def sampling_bytes_per_item(
    tokenizer_cfg: Any, prior_cfg: Any, latent_length: int, work_samples: int, out_samples: int, guided: bool
) -> float:
    """Memory one recording of the batch takes while it is sampled and decoded: the prior's
    working memory, its latents at full length (sampled, denormalised, snapped, joined), the
    decoder's activations on one chunk, and its samples at full length (`OUTPUT_COPIES`)."""
    latents = 4 * latent_rows(tokenizer_cfg) * latent_length * FLOAT
    codes = code_levels(tokenizer_cfg) * latent_length * 8  # int64 indices
    samples = OUTPUT_COPIES * tokenizer_cfg.channels * max(work_samples, out_samples) * FLOAT
    return (
        _prior_bytes(prior_cfg, guided)
        + latents
        + codes
        + _decoder_bytes(tokenizer_cfg, latent_length)
        + samples
    )


@dataclass(frozen=True)
class GenerateCost:
    """The memory a generate request needs: one batch sampled at once, then the whole output and
    the copy that writing it makes."""

    batch: int  # recordings sampled together
    batch_bytes: float
    output_bytes: float
    writing_bytes: float

    @property
    def total_bytes(self) -> float:
        return self.batch_bytes + self.output_bytes + self.writing_bytes


def generate_cost(
    tokenizer_cfg: Any,
    prior_cfg: Any,
    count: int,
    latent_length: int,
    work_samples: int,
    out_samples: int,
    guided: bool,
    batch: int | None = None,
) -> GenerateCost:
    """The cost of `count` recordings of `out_samples` samples per channel; `batch` fixes the
    batch size (None: as many as `SAMPLE_BATCH_BYTES` holds, at least one)."""
    per_item = sampling_bytes_per_item(
        tokenizer_cfg, prior_cfg, latent_length, work_samples, out_samples, guided
    )
    if batch is None:
        batch = int(max(1, min(count, SAMPLE_BATCH_BYTES // max(per_item, 1.0))))
    one = tokenizer_cfg.channels * out_samples * FLOAT
    # Writing: a .npy batch is stacked once; an EDF/BDF file holds copies of one recording.
    writing = max(count * one, EDF_WRITE_COPIES * one)
    return GenerateCost(batch, batch * per_item, count * one, writing)
