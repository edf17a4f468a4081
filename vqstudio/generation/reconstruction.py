"""Encode and decode a whole real recording with a project's trained tokenizer.

The recording goes through the project's preparation (its channels, resampled to the project's
rate, its filters, its normalisation), then through the tokenizer in long chunks, each with a
margin of one training window on both sides that is cut off afterwards. The tokenizer is fully
convolutional, so with margins wider than its receptive field the chunks join without seams.
The result is in physical units, with PRD, SNR and log-spectral distance against the input.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from vqstudio.data.prep import (
    contiguous_pieces,
    denormalize,
    filter_piece,
    load_channels,
    normalize,
)
from vqstudio.data.working_rate import add_fill, resample
from vqstudio.errors import FormatError
from vqstudio.evaluation import reconstruction_metrics as metrics
from vqstudio.project import Project
from vqstudio.recording import RECONSTRUCTION_MARK, Channel, Recording

__all__ = ["reconstruct", "reconstruct_array"]

CHUNK_WINDOWS = 16  # windows per chunk (besides the margins): bounds memory on long recordings


def reconstruct_array(
    model: Any,
    x: np.ndarray,
    window: int,
    chunk_windows: int = CHUNK_WINDOWS,
    *,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Reconstruction of a `(channels, samples)` array of any length (seamless), chunk by chunk.

    `x` is normalised, or physical when `stats` (mean, std) are given: each chunk is then
    normalised on the way in and the result is physical. Written into `out` when given (no
    second whole-length array)."""
    import torch

    ds = model.cfg.downsample
    n = x.shape[1]
    device = next(model.parameters()).device
    # The margin covers the encoder's and the decoder's reach (a window is far wider).
    margin = max(window, model.decoder_context * ds * 2)
    margin = -(-margin // ds) * ds
    chunk = max(ds, chunk_windows * window)
    out = np.empty(x.shape, dtype=np.float32) if out is None else out
    with torch.no_grad():
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            lo, hi = max(0, a - margin), min(n, b + margin)
            piece = x[:, lo:hi] if stats is None else normalize(x[:, lo:hi], *stats)
            pad = (-piece.shape[1]) % ds
            if pad:  # the model needs a multiple of its downsampling: reflect the end
                mode = "reflect" if piece.shape[1] > pad else "edge"
                piece = np.pad(piece, ((0, 0), (0, pad)), mode=mode)
            t = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32))[None].to(device)
            z = model.encode(t)
            z_q, _ = model.quantize(z)
            if getattr(model.cfg, "decoder_noise", False):  # noise fixed by position: no seam
                y = model.decode(z_q, offset=lo // ds)
            else:
                y = model.decode(z_q)
            y = y[0].float().cpu().numpy()[:, a - lo : b - lo]
            out[:, a:b] = y if stats is None else denormalize(y, *stats)
    return out


def reconstruct(
    project_dir: str | Project, recording: Recording, device: str = "cpu", fill: bool = False
) -> tuple[Recording, dict[str, float]]:
    """The recording encoded and decoded by the project's tokenizer, and how close it is.

    Returns a `Recording` with the project's channels at the project's output rate (the source
    rate when the model works at a lower working rate; `fill` then adds the stored shaped noise
    above the working band) in physical units (labels, units, transducer, prefilter and physical
    ranges of the input), the input's annotations and gaps; and `{prd_percent, snr_db, lsd_db,
    seconds}` computed at the project's (working) rate against the input after the project's
    resampling and filtering.
    """
    from vqstudio.device import resolve_device

    project = project_dir if isinstance(project_dir, Project) else Project.open(str(project_dir))
    model = project.load_tokenizer(resolve_device(device))
    config = project.prep_config
    names = project.channel_labels
    rate, window = project.rate, project.window
    mean = np.asarray(project.normalization["mean"], dtype=np.float32)
    std = np.asarray(project.normalization["std"], dtype=np.float32)

    x, chans, _ = load_channels(recording, names, rate)
    if not np.isfinite(x).all():
        raise FormatError(
            f"{recording.source.name if recording.source else 'the recording'} contains NaN values"
        )
    # One whole-length output array; the input's filtered pieces and the figures go piece by
    # piece (a 2-hour, 64-channel file would otherwise hold several float64 copies at once).
    fake = np.empty_like(x, dtype=np.float32)
    spans = contiguous_pieces(recording, x.shape[1], rate)
    figures_of = metrics.StreamedReconstructionMetrics(len(names), rate, sum(b - a for a, b, _ in spans))
    step = max(1, CHUNK_WINDOWS * window)
    for a, b, _ in spans:
        piece = filter_piece(x[:, a:b], rate, config)
        if b - a < model.cfg.downsample:
            fake[:, a:b] = piece  # too short to encode: kept as it is
        else:
            reconstruct_array(model, piece, window, stats=(mean, std), out=fake[:, a:b])
        for c in range(0, b - a, step):
            figures_of.add(piece[:, c : c + step], fake[:, a + c : min(b, a + c + step)])
        figures_of.end_stretch()
        del piece
    figures = figures_of.result()
    figures["seconds"] = sum(b - a for a, b, _ in spans) / rate
    out_rate = project.output_rate
    if out_rate != rate:
        # A working rate below the source's: the result goes back to the source rate (the
        # figures above are at the working rate, where the model is judged), with the band
        # above filled by shaped noise only when asked (it is not the recording's).
        n_out = round(x.shape[1] * out_rate / rate)
        del x
        fake = resample(fake, rate, out_rate, padtype="line")[:, :n_out]
        if fake.shape[1] < n_out:
            fake = np.pad(fake, ((0, 0), (0, n_out - fake.shape[1])), mode="edge")
        if fill and project.fill:
            add_fill(fake, project.fill, out_rate, rate, seed=0)
        rate = out_rate

    channels = []
    for name, c, row in zip(names, chans, fake, strict=True):
        lo, hi = float(c.physical_min), float(c.physical_max)
        physical_range = (lo, hi) if np.isfinite([lo, hi]).all() and hi > lo else None
        channels.append(
            Channel.from_samples(
                name,  # the project's spelling, as generate writes it
                row,
                rate,
                unit=c.unit,
                physical_range=physical_range,
                transducer=c.transducer,
                prefilter=c.prefilter,
            )
        )
    out = replace(
        recording,
        channels=channels,
        source=None,
        recording_info=RECONSTRUCTION_MARK,
        _sha256=None,
    )
    source = recording.source.name if recording.source else "a recording"
    note = f"of {source} by the tokenizer of project {os.path.basename(project.path.rstrip(os.sep))}"
    return out.marked_reconstruction(note), {k: float(v) for k, v in figures.items()}
