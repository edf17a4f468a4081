"""Evaluating a project's synthetic recordings: files in, windows out, report and plots.

`assess(project_dir, synthetic_paths, ...)` turns recordings into windows of the project's
channels, rate and window length (the same preparation as training, with the project's stored
normalisation), compares them with the project's held-out split (or other real recordings) via
`vqstudio.evaluation.evaluate_windows_job`, and optionally computes the same metrics for three
references: a held-out half against the other half (the best achievable), the held-out
windows encoded and decoded by the project's tokenizer (reconstruction: where synthetic data is
about as far from real as this, the tokenizer is the limit; otherwise the prior is) and a
phase-randomized surrogate of the training windows (a same-spectrum baseline). `band` limits
the PSD log-spectral distance of the synthetic set and of every reference to one frequency band
(a recording low-passed or notched before it reached the user: its stop band is not signal).
The `evaluate` command and the GUI's report panel both call it. torch is imported only for the
reconstruction and the CNN discriminator, when they run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vqstudio import distributed
from vqstudio.errors import FormatError, VQStudioError
from vqstudio.evaluation.places import (
    HOP,
    MIN_REAL_WINDOWS,
    Stretch,
    describe_places,
    flat_places,
    overlapping_starts,
    place,
    stretches,
)
from vqstudio.evaluation.verdicts import judge_cnn
from vqstudio.events import Job, LogLine, StopRequest

__all__ = ["Assessment", "assess", "check_band", "prepare_like_project"]

# Nearest-neighbour search and the classifier grow with the window count; these caps keep an
# evaluation to seconds on a laptop while leaving hundreds of windows per set.
MAX_TRAIN_WINDOWS = 2000
MAX_WINDOWS = 1000
# The memorization check searches the training signal at every shift, in float64 (about 28 bytes
# a channel-sample while it searches). Beyond this many channel-samples (a streamed project's
# hours) it searches a seeded random selection of stretches this long instead, and says so.
MAX_SEARCHED = 16_000_000
SEARCH_BLOCK_WINDOWS = 32  # the length of each stretch of such a selection, in windows


@dataclass
class Assessment:
    """The evaluation of one synthetic set, the references beside it, and the files written."""

    report: Any  # vqstudio.evaluation.EvaluationReport
    references: dict[str, Any] = field(default_factory=dict)  # name -> EvaluationReport
    reference_notes: dict[str, str] = field(default_factory=dict)  # name -> why it is missing
    plots: list[str] = field(default_factory=list)
    json_path: str | None = None
    sources: dict[str, list[str]] = field(default_factory=dict)
    hop_s: float | None = None
    # Reference recordings not used as real data (path -> why: one of the training recordings).
    references_left_out: dict[str, str] = field(default_factory=dict)
    # Membership inference (`privacy.project_membership`): None when it did not run.
    membership: dict[str, Any] | None = None
    # The project's differential privacy (`ProjectRecord.privacy`): None when trained without.
    privacy: dict[str, Any] | None = None

    @property
    def psd_band_hz(self) -> list[float] | None:
        """The band of the PSD distance (Hz) as computed (a HI above Nyquist cut there)."""
        psd = self.report.metrics.get("psd_lsd")
        return list(psd.details["band_hz"]) if psd is not None else None

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["sources"] = self.sources
        d["references_left_out"] = dict(self.references_left_out)
        d["window_hop_s"] = self.hop_s
        d["psd_band_hz"] = self.psd_band_hz
        if self.references:
            d["references"] = {k: r.to_dict() for k, r in self.references.items()}
        d["reference_notes"] = dict(self.reference_notes)
        if self.membership is not None:
            d["membership"] = self.membership
        d["differential_privacy"] = self.privacy
        d["plots"] = list(self.plots)
        return d


@dataclass
class _Windows:
    """Windows cut from contiguous normalised signal: `data` `(channels, samples)`, `pieces`
    (start, stop) of each contiguous stretch in it, window `starts` and their labels; `parts`
    says which file and time each stretch is (None: unknown), and `left_out` where the windows
    the preparation left out for a flat or saturated stretch were."""

    data: np.ndarray
    pieces: list[tuple[int, int]]
    starts: np.ndarray
    labels: np.ndarray | None
    excluded_flat: int = 0  # windows the preparation left out for a flat or saturated stretch
    parts: list[Stretch] | None = None
    left_out: list[tuple[str, float, float]] = field(default_factory=list)

    def keep(self, index: np.ndarray) -> _Windows:
        """The windows at `index` (positions or a mask), in order."""
        labels = self.labels[index] if self.labels is not None else None
        return replace(self, starts=self.starts[index], labels=labels)

    def subsample(self, cap: int, rng: np.random.Generator) -> _Windows:
        if len(self.starts) <= cap:
            return self
        return self.keep(np.sort(rng.choice(len(self.starts), cap, replace=False)))

    def cut(self, signal: np.ndarray, window: int) -> np.ndarray:
        """`(n, channels, window)` windows of `signal` (the data or its reconstruction)."""
        idx = self.starts[:, None] + np.arange(window)[None, :]
        return np.ascontiguousarray(signal[:, idx].transpose(1, 0, 2))

    def places(self, index: np.ndarray, window: int, rate: float) -> list[tuple[str, float, float] | None]:
        """(file, start s, end s) of the windows at `index`."""
        if self.parts is None:
            return []
        return [place(self.parts, int(s), window, rate) for s in self.starts[index]]


def _stretch_windows(prepared: Any, split: Any, key: str, labels: np.ndarray | None, flat: str) -> _Windows:
    """A split's own windows, with the file and time of its stretches (`places.stretches`) and of
    the windows the preparation left out of it (`flat`: "train" or "val")."""
    parts = stretches(prepared, split, key)
    pieces = [(p.offset, p.stop) for p in parts] if parts else [(0, split.data.shape[1])]
    left_out = flat_places(prepared, flat)
    return _Windows(split.data, pieces, split.starts.copy(), labels, len(left_out), parts, left_out)


def _overlapping(prepared: Any, split: Any, key: str, hop: int, labels: np.ndarray | None) -> _Windows:
    """Windows every `hop` samples inside each contiguous stretch of a split; a new window takes
    the label of the split's own window that covers its midpoint."""
    own = _stretch_windows(prepared, split, key, labels, "val")
    if own.parts is None:  # cannot tell where stretches join: keep the split's own windows
        return own
    starts = overlapping_starts(own.parts, prepared.window, hop)
    new_labels = None
    if labels is not None and len(split.starts):
        j = np.clip(np.searchsorted(split.starts, starts + prepared.window // 2, side="right") - 1, 0, None)
        new_labels = labels[j]
    # The preparation's own count of flat windows does not carry over: these windows are cut
    # again, and those holding a flat stretch are found among them (`_without_flat`).
    return replace(own, starts=starts, labels=new_labels, excluded_flat=0, left_out=[])


def _without_flat(w: _Windows, x: np.ndarray, rate: float, window: int) -> tuple[_Windows, np.ndarray]:
    """The windows (and their physical signal `x`) less those holding a flat or saturated
    stretch (`flat.flat_windows`), which are counted and placed in `excluded_flat`/`left_out`."""
    from vqstudio.data.flat import flat_windows

    # Shared by the processes of a distributed evaluation, as the other per-window work.
    bad = distributed.spread(lambda part: flat_windows(part, rate), x) > 0 if len(x) else np.zeros(0, bool)
    if not bad.any():
        return w, x
    found = [p for p in w.places(np.flatnonzero(bad), window, rate) if p is not None]
    kept = w.keep(~bad)
    return replace(kept, excluded_flat=w.excluded_flat + int(bad.sum()), left_out=w.left_out + found), x[~bad]


def _refuse_too_few(w: _Windows, role: str, seconds: float) -> None:
    """`FormatError` when fewer than `MIN_REAL_WINDOWS` windows are left, naming where the flat
    or saturated ones left out were."""
    n = len(w.starts)
    if n >= MIN_REAL_WINDOWS:
        return
    flat = ""
    if w.excluded_flat:
        where = describe_places(w.left_out)
        flat = f", and {w.excluded_flat} more left out for a flat or saturated stretch" + (
            f" ({where})" if where else ""
        )
    advice = "give longer recordings" + (
        "" if role == "synthetic" else ", or other real recordings to compare with (--real)"
    )
    raise FormatError(
        f"evaluate: need at least {MIN_REAL_WINDOWS} {role} windows of {seconds:g} s, got {n}{flat}; {advice}"
    )


def prepare_like_project(
    paths: Sequence[str],
    project: Any,
    *,
    rate: float | None = None,
    labels: str = "none",
    hop: int | None = None,
) -> Any:
    """Recordings other than a project's sources (synthetic, or real references) prepared as its
    training data: its channels, rate, filters and normalisation, every window in the `train`
    split, one every `hop` samples (default: a window). `rate` is a CSV file's rate; `labels` as
    in `PrepConfig`. Returns the `PreparedData`."""
    from vqstudio.data.prep import prepare
    from vqstudio.io import read_recordings

    config = replace(
        project.prep_config,
        channels=tuple(project.channel_labels),
        resample=project.rate,
        stride_s=(hop or project.window) / project.rate,
        val_fraction=0.0,
        labels=labels,
    )
    recordings = [rec for p in paths for rec in read_recordings(p, rate=rate)]
    return prepare(recordings, config, stats=project.normalization)


def _windows_of(
    paths: Sequence[str], project: Any, rate: float | None, labels: str, hop: int, role: str
) -> _Windows:
    """Windows every `hop` samples of recordings, prepared like the project's training data
    (normalised), and their label texts (None without labels). `role` ("synthetic" or "real")
    names the files in the message when they hold no usable window for being flat."""
    try:
        prepared = prepare_like_project(paths, project, rate=rate, labels=labels, hop=hop)
    except FormatError:
        # The preparation speaks of "the training data"; say which input is flat instead.
        _refuse_flat_files(paths, project, rate, hop, role)
        raise
    names = prepared.label_names
    y = None
    if labels != "none":
        y = np.array([names[i] if i >= 0 else "" for i in prepared.train.labels], dtype=object)
    return _stretch_windows(prepared, prepared.train, "train_s", y, "train")


def _flat_shares(rec: Any, project: Any, hop: int) -> list[tuple[str, float]] | None:
    """For a recording none of whose windows (project length, every `hop` samples at the
    project's rate) is free of flat or saturated stretches: each channel with such stretches
    and the share of its samples they cover. None when a window is usable, or none fits."""
    from vqstudio.data.flat import flat_mask
    from vqstudio.data.prep import load_channels

    names = project.channel_labels
    flat = load_channels(rec, names, project.rate, find_flat=True).flat
    window = project.window
    if flat is None or flat.size < window:
        return None
    flagged = np.concatenate([[0], np.cumsum(flat, dtype=np.int64)])
    starts = np.arange(0, flat.size - window + 1, hop)
    if (flagged[starts + window] == flagged[starts]).any():
        return None
    shares = []
    for name in names:
        c = rec.channel(name)
        share = float(flat_mask(c.read(0, c.n_samples), c.rate).mean())
        if share > 0:
            shares.append((name, share))
    return shares


def _refuse_flat_files(paths: Sequence[str], project: Any, rate: float | None, hop: int, role: str) -> None:
    """`FormatError` naming the files among `paths` that hold no window free of flat or
    saturated stretches (what they are, and what to do); returns when there is none."""
    from vqstudio.io import read_recordings

    found = []
    for path in paths:
        try:
            shares = [_flat_shares(rec, project, hop) for rec in read_recordings(path, rate=rate)]
        except (VQStudioError, KeyError, ValueError):
            continue  # unreadable or without the channels: the preparation's error says so
        if shares and all(s is not None for s in shares):
            found.append((os.path.basename(path), [x for s in shares for x in s or []]))
    if not found:
        return
    details = ", ".join(
        f"{name} (flat or saturated: {', '.join(f'{c} {share:.0%}' for c, share in _merge(shares))} "
        "of the samples)"
        for name, shares in found
    )
    seconds = project.window / project.rate
    plural = len(found) > 1
    it = "them" if plural else "it"
    if role == "synthetic":
        advice = (
            f"generate {it} again (a project trained too briefly can give flat output) or leave {it} "
            "out of --synthetic"
        )
    else:
        advice = f"give real recordings with signal in {', '.join(project.channel_labels)} (--real)"
    raise FormatError(
        f"{role} recording{'s' if plural else ''} {details} carr{'y' if plural else 'ies'} no usable "
        f"signal: every {seconds:g} s window holds a flat (constant) or saturated stretch, and such "
        f"windows are left out of the evaluation; {advice}"
    )


def _merge(shares: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """One (channel, largest share) per channel, in first-seen order (a .npy batch repeats them)."""
    best: dict[str, float] = {}
    for name, share in shares:
        best[name] = max(share, best.get(name, 0.0))
    return list(best.items())


def _searched_signal(prepared: Any, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The training signal the memorization check searches, in physical units: the whole of it,
    or beyond `MAX_SEARCHED` channel-samples a seeded random selection of stretches of
    `SEARCH_BLOCK_WINDOWS` windows (read from a window cache on disk as they are chosen) and a
    line that says how much was searched."""
    data = prepared.train.data
    channels, length = data.shape
    if channels * length <= MAX_SEARCHED:
        return prepared.physical(np.asarray(data)), ""
    block = SEARCH_BLOCK_WINDOWS * prepared.window
    slots = length // block
    keep = np.sort(rng.choice(slots, max(1, min(slots, MAX_SEARCHED // (channels * block))), replace=False))
    signal = np.concatenate(
        [prepared.physical(np.asarray(data[:, s * block : (s + 1) * block])) for s in keep], 1
    )
    hours = 3600 * prepared.rate
    said = (
        f"the memorization check searches {signal.shape[1] / hours:.2g} h of the {length / hours:.3g} h of "
        f"training signal (a seeded random selection of {len(keep)} stretches): a copy of the rest "
        "is not looked for"
    )
    return signal, said


def _held_out_references(paths: Sequence[str], project: Any) -> tuple[list[str], dict[str, str]]:
    """The reference recordings that are not among the project's training recordings (compared
    by sha256), and for each that is, why it is left out. None left: the held-out split is used."""
    from vqstudio.recording import file_sha256

    trained = {s.sha256 for s in project.record.data.sources if s.sha256}
    kept, training = [], []
    for path in paths:
        try:
            is_training = file_sha256(path) in trained
        except OSError:
            is_training = False  # the reader says what is wrong with it
        (training if is_training else kept).append(path)
    instead = "the other reference recordings are" if kept else "the project's held-out split is"
    left_out = {
        os.path.abspath(path): (
            f"{os.path.basename(path)} is one of the project's training recordings (same sha256), not "
            f"held-out data: it is left out of the comparison, and {instead} used instead"
        )
        for path in training
    }
    return kept, left_out


def _split_labels(prepared: Any, split: str) -> np.ndarray | None:
    s = prepared.train if split == "train" else prepared.val
    if not prepared.label_names or (s.labels < 0).all():
        return None
    return np.array([prepared.label_names[i] if i >= 0 else "" for i in s.labels], dtype=object)


def _reconstruction(project: Any, windows: _Windows, window: int) -> np.ndarray:
    """The windows' signal encoded and decoded by the project's tokenizer, stretch by stretch
    (`vqstudio.generation.reconstruction.reconstruct_array`: seamless chunks), cut into the same windows."""
    from vqstudio.generation.reconstruction import reconstruct_array

    model = project.load_tokenizer("cpu")
    out = np.array(windows.data, dtype=np.float32, copy=True)
    for a, b in windows.pieces:
        out[:, a:b] = reconstruct_array(model, windows.data[:, a:b], window)
    return windows.cut(out, window)


def check_band(band: Sequence[float] | None, rate: float) -> tuple[float, float] | None:
    """`band` as `(lo, hi)` floats in Hz, or None for the default (0.5 Hz to Nyquist). Raises
    `FormatError` with one line unless 0 <= lo < hi and lo is below Nyquist (`rate / 2`); a `hi`
    above Nyquist (math.inf included) is kept: `psd_distance` cuts it at Nyquist."""
    if band is None:
        return None
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise FormatError(f"the PSD band must be two frequencies LO,HI in Hz, got {band!r}") from None
    if not math.isfinite(lo) or math.isnan(hi) or lo < 0 or hi <= lo:
        raise FormatError(f"the PSD band must have 0 <= LO < HI (Hz), got {lo:g},{hi:g}")
    nyquist = rate / 2
    if lo >= nyquist:
        raise FormatError(
            f"the PSD band starts at {lo:g} Hz, at or above Nyquist ({nyquist:g} Hz: the project "
            f"works at {rate:g} Hz); choose LO below {nyquist:g} Hz"
        )
    return lo, hi


def assess(
    project_dir: str,
    synthetic_paths: Sequence[str],
    *,
    real_paths: Sequence[str] | None = None,
    rate: float | None = None,
    json_path: str | None = None,
    plots_dir: str | None = None,
    references: bool = False,
    band: tuple[float, float] | None = None,
    seed: int = 0,
    stop: StopRequest | None = None,
) -> Job[Assessment]:
    """Evaluates synthetic recordings against the project's held-out split (or `real_paths`).

    Real and synthetic recordings are cut into windows at a 50 % hop (`HOP`), so short
    recordings still give several windows. `rate` is the rate of CSV inputs without a time
    column. Writes the JSON report to `json_path` and PNG plots into `plots_dir` when given.
    With `references`, the same metrics are computed for one held-out half against the other,
    for the held-out windows encoded and decoded by the project's tokenizer (reconstruction),
    and for a phase-randomized surrogate of the training windows; a reference that cannot be
    computed says why in `reference_notes`. `band` `(lo, hi)` (Hz) limits the PSD log-spectral
    distance of the synthetic set and of every reference (default 0.5 Hz to Nyquist; `check_band`
    says what is accepted); the band used is in the metric's title and in the JSON
    (`psd_band_hz`). Raises `FormatError`/`ProjectError` for unusable input.
    """
    # Several processes (torchrun, --nproc): each computes its share of the per-window work
    # (`distributed.spread`) on the CPU (gloo); rank 0 alone writes the report and the plots.
    world = distributed.world_from_env()
    main, cpu = world.is_main, None
    if world.distributed:  # torch only where a group is joined (one process needs none here)
        import torch

        cpu = torch.device("cpu")
    job = distributed.in_group(
        cpu,
        lambda _device: _assess(
            project_dir,
            synthetic_paths,
            real_paths=real_paths,
            rate=rate,
            json_path=json_path if main else None,
            plots_dir=plots_dir if main else None,
            references=references,
            band=band,
            seed=seed,
            stop=stop,
        ),
    )
    return (yield from job)


def _assess(
    project_dir: str,
    synthetic_paths: Sequence[str],
    *,
    real_paths: Sequence[str] | None,
    rate: float | None,
    json_path: str | None,
    plots_dir: str | None,
    references: bool,
    band: tuple[float, float] | None,
    seed: int,
    stop: StopRequest | None,
) -> Job[Assessment]:
    """`assess` in its process (see there)."""
    from vqstudio.evaluation import evaluate_windows_job, save_plots
    from vqstudio.io.atomic import write_json
    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project

    if not synthetic_paths:
        raise FormatError("evaluate needs at least one synthetic recording (--synthetic FILE...)")
    project = Project.open(project_dir)
    # Before any window is prepared, so a band the project's rate cannot hold costs nothing.
    band = check_band(band, project.rate)
    rng = np.random.default_rng(seed)
    yield LogLine(f"preparing the training and held-out windows of {project.path}")
    prepared = prepare_from_project(project, rate=rate)
    label_mode = prepared.config.labels if prepared.label_names else "none"
    window = prepared.window
    hop = max(1, round(window * HOP))

    tr = prepared.train
    train_w = _Windows(tr.data, [(0, tr.data.shape[1])], tr.starts, _split_labels(prepared, "train"))
    train_w = train_w.subsample(MAX_TRAIN_WINDOWS, rng)  # cut only the windows kept
    train, train_y = prepared.physical(train_w.cut(train_w.data, window)), train_w.labels
    # The memorization check searches the training signal at every shift, not windows.
    train_signal, searched = _searched_signal(prepared, rng)
    if searched:
        yield LogLine(searched, "warning")
    # A reference that is one of the training recordings is not held-out data: it would make
    # the held-out column (and the memorization check it calibrates) report copying.
    real_paths, training_files = _held_out_references(real_paths or [], project)
    for path in training_files:
        yield LogLine(training_files[path], "warning")
    if real_paths:
        # Other real files carry labels only as annotations: their stems are not training labels.
        real_mode = "annotations" if label_mode == "annotations" else "none"
        real_w = _windows_of(real_paths, project, rate, real_mode, hop, "real")
        real_source = [os.path.abspath(p) for p in real_paths]
    else:
        real_w = _overlapping(prepared, prepared.val, "held_out_s", hop, _split_labels(prepared, "val"))
        real_source = ["held-out split of the project"]
    seconds = window / prepared.rate
    real_w = real_w.subsample(MAX_WINDOWS, rng)
    real_w, real = _without_flat(
        real_w, prepared.physical(real_w.cut(real_w.data, window)), prepared.rate, window
    )
    _refuse_too_few(real_w, "real", seconds)
    real_y = real_w.labels
    # Synthetic files carry their label as an annotation, whatever the project's label mode.
    syn_w = _windows_of(
        synthetic_paths, project, rate, "annotations" if label_mode != "none" else "none", hop, "synthetic"
    )
    syn_w = syn_w.subsample(MAX_WINDOWS, rng)
    syn_w, synthetic = _without_flat(
        syn_w, prepared.physical(syn_w.cut(syn_w.data, window)), prepared.rate, window
    )
    if syn_w.excluded_flat:
        yield LogLine(
            f"left out {syn_w.excluded_flat} synthetic window(s) holding a flat (constant) or "
            f"saturated stretch ({describe_places(syn_w.left_out)})"
        )
    _refuse_too_few(syn_w, "synthetic", seconds)
    syn_y = syn_w.labels
    yield LogLine(
        f"comparing {len(synthetic)} synthetic windows with {len(real)} real and {len(train)} training "
        f"windows of {window / prepared.rate:g} s (hop {hop / prepared.rate:g} s)"
    )

    # The synthetic set and every reference go through here: the same band for all.
    def job(real_x, real_labels, syn_x, syn_labels):
        return evaluate_windows_job(
            real_x,
            syn_x,
            train,
            prepared.rate,
            prepared.labels,
            units=prepared.units,
            real_labels=real_labels,
            synthetic_labels=syn_labels,
            train_labels=train_y,
            seed=seed,
            band=band,
            train_signal=train_signal,
            hop=hop,
            stop=stop,
        )

    labelled = real_y is not None and syn_y is not None
    report = yield from job(real, real_y if labelled else None, synthetic, syn_y if labelled else None)
    # The preparation left out the files' flat windows before the comparison could: count them too.
    for key, w in (("synthetic", syn_w), ("real", real_w)):
        report.excluded_flat[key] = report.excluded_flat.get(key, 0) + w.excluded_flat
    result = Assessment(
        report,
        sources={"real": real_source, "synthetic": [os.path.abspath(p) for p in synthetic_paths]},
        hop_s=hop / prepared.rate,
        references_left_out=training_files,
        privacy=dict(project.record.privacy) if project.record.privacy else None,
    )
    if not (stop is not None and stop.is_set()):
        result.membership = yield from _membership(
            project, prepared, syn_w, real_w if real_paths else None, seed, stop
        )
    if not references:
        note = "references were not asked for"
        result.reference_notes = {k: note for k in ("held_out_half", "reconstruction", "surrogate")}
    elif not (stop is not None and stop.is_set()):
        yield from _references(
            result, job, project, prepared, real_w, real, real_y, train, len(synthetic), rng
        )
    judge_cnn(report, result.references, result.reference_notes, references)
    if plots_dir:
        result.plots = save_plots(report, real, synthetic, plots_dir, units=prepared.units)
    if json_path:
        write_json(json_path, result.to_dict())
        result.json_path = json_path
    return result


def _membership(
    project: Any,
    prepared: Any,
    syn_w: _Windows,
    other_w: _Windows | None,
    seed: int,
    stop: StopRequest | None,
) -> Job[dict[str, Any]]:
    """Membership inference on the project's split with the synthetic windows (normalised) an
    attacker would hold; `other_w`, recordings never trained on (`--real`), make files units."""
    from vqstudio.evaluation.privacy import OtherRecordings, project_membership

    window = prepared.window
    other = None
    if other_w is not None:
        places = other_w.places(np.arange(len(other_w.starts)), window, prepared.rate)
        if places and all(p is not None for p in places):
            other = OtherRecordings(other_w.cut(other_w.data, window), [p[0] for p in places])
    yield LogLine("membership inference: training windows against held-out ones")
    pieces = [syn_w.data[:, a:b] for a, b in syn_w.pieces]
    return (
        yield from project_membership(
            project, prepared, syn_w.cut(syn_w.data, window), pieces, other=other, seed=seed, stop=stop
        )
    )


def _references(result, job, project, prepared, real_w, real, real_y, train, n_syn, rng) -> Job[None]:
    """Fills `result.references` (and `reference_notes` for those that cannot be computed)."""
    from vqstudio.evaluation import phase_randomized_surrogate

    # One half of the held-out windows (in time order) against the other; the window at the cut
    # is dropped, since with a 50 % hop it shares samples with both halves.
    half = len(real) // 2
    if half >= 3:
        yield LogLine("reference: one held-out half against the other")
        a_y = real_y[:half] if real_y is not None else None
        b_y = real_y[half + 1 :] if real_y is not None else None
        try:
            result.references["held_out_half"] = yield from job(real[:half], a_y, real[half + 1 :], b_y)
        except FormatError as e:
            result.reference_notes["held_out_half"] = str(e)
    else:
        result.reference_notes["held_out_half"] = (
            f"{len(real)} held-out windows are too few to split in two halves of at least 2"
        )
    if project.has_tokenizer:
        yield LogLine("reference: held-out windows encoded and decoded by the tokenizer")
        recon = prepared.physical(_reconstruction(project, real_w, prepared.window))
        try:
            result.references["reconstruction"] = yield from job(real, real_y, recon, real_y)
        except FormatError as e:
            result.reference_notes["reconstruction"] = str(e)
    else:
        result.reference_notes["reconstruction"] = "the project has no trained tokenizer yet"
    yield LogLine("reference: phase-randomized surrogate of the training windows")
    surrogate = phase_randomized_surrogate(train[:n_syn], rng)
    try:
        result.references["surrogate"] = yield from job(real, None, surrogate, None)
    except FormatError as e:
        result.reference_notes["surrogate"] = str(e)
