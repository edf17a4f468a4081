"""The `generate` job: sample new recordings of any length from a trained project.

A generator like the other engine jobs: it yields `Progress` (stage "generate", with the rate
in signal-seconds per wall-second) and a `SamplePreview`, honours a stop request between
segments, and returns the recordings (or one float32 array) in physical units. Sampling is
batched over the `count` recordings; no Python loop runs over samples.

A project trained at a working rate (`vqstudio.data.working_rate`) decodes at that rate, then
resamples to the output (source) rate and adds, per recording, noise shaped like the source's
spectrum above the working band, drawn from the seed and the recording's index.

The same seed gives the same output on the same device and software. Each batch of recordings
draws from its own generator, seeded from (seed, its first recording): N processes give what one
process gives that samples ceil(count / N) recordings at a time.

Several processes (`torchrun` or `vqstudio generate --nproc N`, `vqstudio.distributed`): the
batches are dealt out in turn, each process samples its own, and rank 0 alone receives the whole
output (a sum over the processes of outputs that are zero outside each one's batches: exact) and
returns the recordings; the others return none.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vqstudio import __version__, distributed
from vqstudio.data.working_rate import add_fill, resample
from vqstudio.errors import DeviceError, ProjectError
from vqstudio.events import Event, LongRun, Progress, SamplePreview, StopRequest
from vqstudio.generation.settings import GenerateSettings
from vqstudio.priors.config import DEFAULT_GUIDANCE, DEFAULT_STEPS, SampleOptions
from vqstudio.recording import Annotation, Channel, Recording

__all__ = ["DEFAULT_GUIDANCE", "DEFAULT_STEPS", "GenerateSettings", "generate"]


def _label_rows(prior: Any, settings: GenerateSettings, seed: int) -> tuple[Any, list[str | None]]:
    """Label index per recording (the null label when unconditional) and its text; drawn labels
    come from `seed` alone."""
    import torch

    null = prior.config.n_labels
    if settings.label is not None:
        if not prior.conditional:
            raise ProjectError(
                f"--label {settings.label!r} given, but this project's prior was trained without labels; "
                "leave out --label (or train with --labels annotations|files)"
            )
        names = [n.strip() for n in prior.label_names]
        if settings.label.strip() not in names:
            raise ProjectError(
                f"label {settings.label!r} is not one the prior knows; choose one of: {', '.join(names)}"
            )
        index = names.index(settings.label.strip())
        return torch.full((settings.count,), index, dtype=torch.long), [
            prior.label_names[index]
        ] * settings.count
    if not prior.conditional:
        return torch.full((settings.count,), null, dtype=torch.long), [None] * settings.count
    # A conditional prior without --label: labels drawn in their training proportions.
    weights = torch.tensor([max(0, c) for c in prior.label_counts], dtype=torch.float64)
    if float(weights.sum()) <= 0:
        weights = torch.ones(null, dtype=torch.float64)
    draw = torch.Generator().manual_seed(int(seed) + 7)
    rows = torch.multinomial(weights, settings.count, replacement=True, generator=draw)
    return rows, [prior.label_names[int(i)] for i in rows]


RESAMPLE_MARGIN = 48  # working-rate samples decoded past the end: the upsampling filter reaches 40


def _to_output_rate(x: np.ndarray, rate: float, out_rate: float, n: int) -> np.ndarray:
    """`(count, channels, samples)` at the working `rate` resampled to `out_rate`, `n` samples
    (polyphase; the ends extended by a line, not zeros, so they do not droop)."""
    y = resample(x, rate, out_rate, padtype="line")[..., :n]
    if y.shape[-1] < n:  # rounding: repeat the last sample
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])], mode="edge")
    return y


def _progress(t0: float, items_done: float, settings: GenerateSettings) -> Progress:
    """Progress after `items_done` recordings' worth of sampling (a fraction of one counts)."""
    elapsed = time.monotonic() - t0
    frac = items_done / settings.count
    return Progress(
        "generate",
        int(items_done),
        settings.count,
        elapsed,
        elapsed * (1 - frac) / frac if frac > 0 else None,
        frac,
        {},
        items_done * settings.seconds / elapsed if elapsed > 0 else 0.0,
    )


def _long_run(eta_s: float, settings: GenerateSettings) -> LongRun:
    hours = eta_s / 3600
    return LongRun(
        "generate",
        eta_s,
        f"generating {settings.count} x {settings.seconds:g} s will take about {hours:.1f} hours "
        "at the speed of its first part",
    )


def _channels_for(project: Any, data: np.ndarray) -> list[list[Channel]]:
    """Channels of each generated recording: the source's header, the project's output rate, and
    the source's stated physical range (the data's when the source states none). It is kept even
    where samples go beyond it: the EDF/BDF writer then widens the range (never clips) and says
    so in a note, which it could not if the range were the data's already."""
    rate = project.output_rate
    out = []
    for r in range(data.shape[0]):
        chans = []
        for c, info in enumerate(project.channels):
            pmin, pmax = info.physical_min, info.physical_max
            stated = math.isfinite(pmin) and math.isfinite(pmax) and pmin < pmax
            chans.append(
                Channel.from_samples(
                    info.label,
                    data[r, c],
                    rate,
                    unit=info.unit,
                    physical_range=(pmin, pmax) if stated else None,
                    transducer=info.transducer,
                    prefilter=info.prefilter,
                )
            )
        out.append(chans)
    return out


@dataclass(frozen=True)
class _Plan:
    """What a request samples with: the models, each recording's label, the guidance and the cost."""

    tokenizer: Any
    prior: Any
    rows: Any  # (count,) label index per recording
    label_texts: list[str | None]
    guidance: float
    length: int  # latent steps per recording
    cost: Any  # `GenerateCost`


def _plan(project: Any, settings: GenerateSettings, device: Any, n_work: int, n_samples: int) -> _Plan:
    """Loads the models and makes every check a request can fail before any sampling: the prior
    fits the tokenizer, the label is known, the memory holds one batch and the whole output."""
    from vqstudio.generation.cost import generate_cost
    from vqstudio.priors.store import check_prior_fits, load_prior
    from vqstudio.resources import check_memory

    tokenizer = project.load_tokenizer(device, weights=settings.weights)
    prior_path = project.weights_path("prior", settings.weights)
    prior = load_prior(prior_path, device)
    check_prior_fits(prior.config, tokenizer.cfg, os.path.basename(prior_path))
    rows, label_texts = _label_rows(prior, settings, settings.seed)
    guidance = settings.guidance
    if guidance is None:
        guidance = prior.model.default_guidance if prior.conditional else 1.0
    guided = prior.conditional and guidance != 1.0
    length = math.ceil(n_work / tokenizer.cfg.downsample)
    cost = generate_cost(
        tokenizer.cfg, prior.config, settings.count, length, n_work, n_samples, guided, settings.batch
    )
    check_memory(
        cost.total_bytes,
        f"{settings.count} x {settings.seconds:g} s of {len(project.channel_labels)} channels",
        "generate shorter or fewer recordings per run",
    )
    return _Plan(tokenizer, prior, rows, label_texts, guidance, length, cost)


def generate(
    project_dir: str, settings: GenerateSettings, stop: StopRequest | None = None
) -> Generator[Event, None, list[Recording] | np.ndarray]:
    """Samples `settings.count` recordings of `settings.seconds` each from the project's prior.

    Returns the recordings (each marked synthetic, its label as an annotation), or with
    `as_array` one float32 `(count, channels, samples)` array; an empty list (or array) when
    stopped. The last `Progress` event's `rate` is the speed in signal-seconds per second.
    Raises `ProjectError` for a project without a tokenizer or prior, or an unknown label.
    """
    from vqstudio.device import resolve_device, set_threads
    from vqstudio.project import Project

    stop = stop if stop is not None else threading.Event()
    project = Project.open(project_dir)
    if not project.has_tokenizer:
        raise ProjectError(f"{project.path} has no trained tokenizer; train it first (vqstudio train)")
    set_threads(settings.threads)
    # Several processes (torchrun, --nproc): each samples its share in the group it joins.
    job = distributed.in_group(
        resolve_device(settings.device), lambda device: _generate(project, settings, stop, device)
    )
    return (yield from job)


def _generate(
    project: Any, settings: GenerateSettings, stop: StopRequest, device: Any
) -> Generator[Event, None, list[Recording] | np.ndarray]:
    """`generate` once the project is open and the device (and process group) chosen."""
    import torch

    from vqstudio.device import is_out_of_memory
    from vqstudio.generation.cost import LONG_REQUEST_S
    from vqstudio.models.tokenizer import noise_seed
    from vqstudio.priors.continuation import decode_latents, iter_sample

    world = distributed.current()
    t0 = time.monotonic()
    rate, out_rate = project.rate, project.output_rate
    n_samples = max(1, round(settings.seconds * out_rate))  # what the caller gets, at out_rate
    # The model works at `rate`; a working rate below the output rate decodes a little past the
    # end (the resampling filter's reach) so the resampled end is not drawn towards zero.
    n_work = n_samples if rate == out_rate else math.ceil(n_samples * rate / out_rate) + RESAMPLE_MARGIN
    # Rank 0 loads and checks first (`main_first`), so a refusal is said once; then the others.
    plan = distributed.main_first(lambda: _plan(project, settings, device, n_work, n_samples))
    plan = plan or _plan(project, settings, device, n_work, n_samples)
    tokenizer, prior = plan.tokenizer, plan.prior
    fill = project.fill
    generator = torch.Generator(device=device).manual_seed(int(settings.seed))
    options = SampleOptions(
        steps=settings.steps or DEFAULT_STEPS,
        guidance=plan.guidance,
        sampler=settings.sampler,
        temperature=settings.temperature,
        top_k=settings.top_k,
    )
    norm = project.normalization
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    mean_t = torch.from_numpy(mean).to(device)[None, :, None]
    std_t = torch.from_numpy(std).to(device)[None, :, None]
    if device.type == "cuda" and prior.model.sample_in_bf16:
        prior.model.to(torch.bfloat16)

    batch = plan.cost.batch
    if world.distributed:  # a batch for every process, where there are recordings enough
        batch = min(batch, math.ceil(settings.count / world.size))
    # Zeros, not empty: the rows of other processes' batches stay zero for the sum to rank 0.
    out = np.zeros((settings.count, len(mean), n_samples), dtype=np.float32)
    own = list(range(world.rank * batch, settings.count, world.size * batch))  # this process's batches
    own_count = sum(min(batch, settings.count - b0) for b0 in own)
    said_long = stopped = False
    for done_before, b0 in enumerate(own):
        labels = plan.rows[b0 : b0 + batch]
        # Each batch its own stream (the first the seed's own): the same recordings on any
        # number of processes.
        if b0:
            generator = torch.Generator(device=device).manual_seed(noise_seed(settings.seed, b0, 1))
        job = iter_sample(prior.model, tokenizer, plan.length, labels, generator, options)
        try:
            while True:
                try:
                    done, total = next(job)
                except StopIteration as finished:
                    result = finished.value
                    break
                if stop.is_set():
                    stopped = True
                    break
                items = done_before * batch + labels.shape[0] * done / total
                progress = _progress(t0, items * settings.count / max(own_count, 1), settings)
                yield progress
                if not said_long and progress.eta_s is not None and progress.eta_s > LONG_REQUEST_S:
                    said_long = True
                    yield _long_run(progress.eta_s, settings)
            if stopped:
                break
            with torch.no_grad():
                # A decoder that draws texture from noise draws it from (seed, batch): the
                # prior's generator is left alone, so its draws are what they always were.
                x = decode_latents(
                    tokenizer, result.float(), n_work, noise_seed=noise_seed(settings.seed, b0)
                )
                x = x * std_t + mean_t  # back to physical units on the device: one copy to the host
                if not bool(torch.isfinite(x).all()):
                    raise RuntimeError("the prior produced non-finite values; the project may be damaged")
            x = x.cpu().numpy()
        except Exception as e:
            if is_out_of_memory(e):
                raise DeviceError(
                    f"{device.type} ran out of memory sampling {labels.shape[0]} recordings together; "
                    "ask for shorter or fewer recordings (and run several times with other seeds)"
                    + (" or --device cpu" if device.type != "cpu" else "")
                ) from e
            raise
        if rate == out_rate:
            out[b0 : b0 + batch] = x
        else:
            out[b0 : b0 + batch] = _to_output_rate(x, rate, out_rate, n_samples)
            for i in range(b0, min(b0 + batch, settings.count)):
                add_fill(out[i], fill, out_rate, rate, settings.seed, i)
    # Every process gets here, stopped or not: a stop on any of them stops the run.
    if distributed.agree({}, any_of={"stop": stopped})["stop"]:
        return np.zeros((0, len(mean), n_samples), np.float32) if settings.as_array else []
    distributed.sum_to_main(out)
    if not world.is_main:
        return np.zeros((0, len(mean), n_samples), np.float32) if settings.as_array else []
    wall = time.monotonic() - t0

    window = min(n_samples, round(project.window * out_rate / rate))
    yield SamplePreview(
        step=prior.step,
        rate=out_rate,
        labels=tuple(project.channel_labels),
        units=tuple(c.unit for c in project.channels),
        samples=out[0, :, :window].copy(),
        label=plan.label_texts[0],
    )
    signal_s = settings.count * n_samples / out_rate
    yield Progress("generate", settings.count, settings.count, wall, 0.0, 1.0, {}, signal_s / max(wall, 1e-9))
    if settings.as_array:
        return out

    name = project.name
    note = f"made by VQ Studio {__version__} from project {name}, prior {prior.kind}, seed {settings.seed}"
    if project.record.privacy:  # what a reader of the file can rely on: the epsilon the models spent
        from vqstudio.project.privacy import privacy_note

        note += "; " + privacy_note(dict(project.record.privacy))
    recordings = []
    for chans, text in zip(_channels_for(project, out), plan.label_texts, strict=True):
        annotations = [Annotation(0.0, n_samples / out_rate, text)] if text is not None else []
        rec = Recording(channels=chans, annotations=annotations)
        recordings.append(rec.marked_synthetic(note))
    return recordings
