"""The project record: what `project.json` holds, as frozen dataclasses, each fact stored once.

`ProjectRecord.from_json` reads a project file (checking it: a damaged field is one line naming
it, see `vqstudio.project.schema`) and `to_json` writes it. Files of schema version 1 (VQ Studio
0.1 and 0.2) are read through `migrate_v1`, which maps their copies of each fact onto the one
place version 2 keeps it:

    id, created, saved, versions, device, seed    the project and where it was trained
    settings     the model choices: tokenizer preset, prior kind, batch size, validation, checkpoints
    prep         how recordings become windows (`PrepConfig`): channels, rate, window, filters, labels
    budget       the time or steps asked for, and how they were split between the stages
    optim        each stage's optimizer settings
    data         what preparation found: rate, window in samples, channels, normalisation, labels,
                 split, source files with sha256, the working-rate spectrum
    models       each trained model's configuration, less what `data` and `settings` say
                 (the tokenizer's channels and window, the prior's kind)
    progress     each stage's step, time, budget, batch size, metrics

Nothing outside `vqstudio/project/` reads project.json: it asks the record.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vqstudio.data.prep import ChannelInfo, PreparedData, PrepConfig
from vqstudio.errors import ProjectError

__all__ = [
    "SCHEMA_VERSION",
    "BudgetSplit",
    "DataRecord",
    "FillSpectrum",
    "LabelTable",
    "Normalization",
    "ProjectRecord",
    "RunSettings",
    "SourceFile",
    "SplitRecord",
    "StageProgress",
    "migrate_v1",
]

SCHEMA_VERSION = 2
NORMALIZATION = "median; std of values clipped to the 0.1..99.9 percentiles (training part only)"
SPLIT_METHOD = "by time: the last held-out fraction of each file"
STAGES = ("tokenizer", "prior")


class _Reader:
    """Reads typed values out of a JSON object, naming the field of the first wrong one."""

    def __init__(self, data: Any, path: str, where: str) -> None:
        if not isinstance(data, dict):
            raise ProjectError(f"{where} is damaged: '{path}' must be an object")
        self.data, self.path, self.where = data, path, where

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, test: Callable[[Any], bool], must: str, default: Any = ...) -> Any:
        if key not in self.data or (self.data[key] is None and default is not ...):
            if default is ...:
                raise ProjectError(
                    f"{self.where} is incomplete: it has no '{self._name(key)}' (it must be {must})"
                )
            return default
        value = self.data[key]
        if not test(value):
            shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
            raise ProjectError(f"{self.where} is damaged: '{self._name(key)}' must be {must}, not {shown}")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.data.get(key, {}), self._name(key), self.where)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _maybe_text(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _maybe_number(v: Any) -> bool:
    return v is None or _number(v)


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


def _object(v: Any) -> bool:
    return isinstance(v, dict)


def _list(v: Any) -> bool:
    return isinstance(v, list)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Normalization:
    """Per-channel statistics of the training part; windows are `(x - mean) / std`."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    method: str = NORMALIZATION

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class LabelTable:
    """The labels the prior is conditioned on (their mode is `prep.labels`) and how many
    training windows each has."""

    names: tuple[str, ...] = ()
    train_counts: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "train_counts": dict(zip(self.names, self.train_counts, strict=True)),
        }


@dataclass(frozen=True)
class SplitRecord:
    """The train / held-out split by time: windows and seconds in each, and the windows left out
    for a flat or saturated stretch (the held-out fraction is `prep.val_fraction`)."""

    train_windows: int
    held_out_windows: int
    train_seconds: float = 0.0
    held_out_seconds: float = 0.0
    flat_train: int = 0
    flat_held_out: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": SPLIT_METHOD,
            "train_windows": self.train_windows,
            "held_out_windows": self.held_out_windows,
            "train_seconds": self.train_seconds,
            "held_out_seconds": self.held_out_seconds,
            "flat_windows_left_out": {"train": self.flat_train, "held_out": self.flat_held_out},
        }


@dataclass(frozen=True)
class SourceFile:
    """A recording the project was trained on: where it was, its sha256, and its time ranges in
    each split (seconds on its own time axis)."""

    path: str | None
    format: str
    sha256: str | None
    samples: int
    train_s: tuple[tuple[float, float], ...] = ()
    held_out_s: tuple[tuple[float, float], ...] = ()
    csv_rate: float | None = None  # the rate given for a CSV without a time column

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "sha256": self.sha256,
            "samples": self.samples,
            "train_s": [list(r) for r in self.train_s],
            "held_out_s": [list(r) for r in self.held_out_s],
            "csv_rate": self.csv_rate,
        }


@dataclass(frozen=True)
class FillSpectrum:
    """A project at a working rate: the band it keeps (`f_keep`, Hz) and the source's spectrum
    above it, per channel, that generation fills back in (`edges` Hz, `psd` units^2/Hz)."""

    f_keep: float
    edges: tuple[float, ...] | None = None
    psd: tuple[tuple[float, ...], ...] | None = None
    unit: str = "physical unit^2/Hz, mean over each band"

    @property
    def fill(self) -> dict[str, Any] | None:
        """What `vqstudio.data.working_rate.add_fill` takes (None: nothing to fill)."""
        if self.edges is None or self.psd is None:
            return None
        return {"f_keep": self.f_keep, "edges": list(self.edges), "psd": [list(p) for p in self.psd]}

    def to_json(self) -> dict[str, Any]:
        fill = None
        if self.edges is not None and self.psd is not None:
            fill = {"edges": list(self.edges), "psd": [list(p) for p in self.psd], "unit": self.unit}
        return {"f_keep": self.f_keep, "fill": fill}


@dataclass(frozen=True)
class DataRecord:
    """What preparation made of the recordings."""

    rate: float  # the model's rate (the working rate, when one was chosen)
    window: int  # samples at `rate`; the seconds asked for are `prep.window_s`
    channels: tuple[ChannelInfo, ...]
    normalization: Normalization
    split: SplitRecord
    sources: tuple[SourceFile, ...] = ()
    labels: LabelTable = field(default_factory=LabelTable)
    output_rate: float | None = None  # the source rate generation gives back (None: `rate`)
    working: FillSpectrum | None = None

    @property
    def labels_of_channels(self) -> list[str]:
        return [c.label for c in self.channels]

    @classmethod
    def from_prepared(cls, prepared: PreparedData) -> DataRecord:
        """The record of freshly prepared data (a new project)."""
        counts = [int((prepared.train.labels == k).sum()) for k in range(len(prepared.label_names))]
        working = None
        if prepared.working is not None:
            fill = prepared.working.get("fill") or {}
            working = FillSpectrum(
                float(prepared.working["f_keep"]),
                tuple(fill["edges"]) if fill else None,
                tuple(tuple(p) for p in fill["psd"]) if fill else None,
            )
        return cls(
            rate=float(prepared.rate),
            window=int(prepared.window),
            channels=tuple(prepared.channels),
            normalization=Normalization(
                tuple(float(v) for v in prepared.mean), tuple(float(v) for v in prepared.std)
            ),
            split=SplitRecord(
                len(prepared.train),
                len(prepared.val),
                prepared.train.data.shape[1] / prepared.rate,
                prepared.val.data.shape[1] / prepared.rate,
                prepared.excluded_flat["train"],
                prepared.excluded_flat["val"],
            ),
            sources=tuple(_source_from_json(s, _Reader(s, "data.sources[]", "")) for s in prepared.sources),
            labels=LabelTable(tuple(prepared.label_names), tuple(counts)),
            output_rate=prepared.output_rate,
            working=working,
        )

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "rate": self.rate,
                "output_rate": self.output_rate,
                "window": self.window,
                "channels": [dataclasses.asdict(c) for c in self.channels],
                "normalization": self.normalization.to_json(),
                "labels": self.labels.to_json(),
                "split": self.split.to_json(),
                "sources": [s.to_json() for s in self.sources],
                "working_rate": self.working.to_json() if self.working else None,
            }
        )


def _source_from_json(d: Any, r: _Reader) -> SourceFile:
    ranges = r.get("train_s", _list, "a list of [start, stop] seconds", [])
    held = r.get("held_out_s", _list, "a list of [start, stop] seconds", [])
    return SourceFile(
        path=r.get("path", _maybe_text, "a path", None),
        format=r.get("format", _text, "a format name", ""),
        sha256=r.get("sha256", _maybe_text, "a sha256 in hex", None),
        samples=r.get("samples", _whole, "a whole number of samples", 0),
        train_s=tuple((float(a), float(b)) for a, b in ranges),
        held_out_s=tuple((float(a), float(b)) for a, b in held),
        csv_rate=r.get("csv_rate", _maybe_number, "a rate in Hz", None),
    )


def _channel_from_json(d: Any, i: int, where: str) -> ChannelInfo:
    r = _Reader(d, f"data.channels[{i}]", where)
    nan = float("nan")
    return ChannelInfo(
        label=r.get("label", _text, "a label"),
        unit=r.get("unit", _text, "a unit", ""),
        transducer=r.get("transducer", _text, "text", ""),
        prefilter=r.get("prefilter", _text, "text", ""),
        physical_min=float(r.get("physical_min", lambda v: isinstance(v, int | float), "a number", nan)),
        physical_max=float(r.get("physical_max", lambda v: isinstance(v, int | float), "a number", nan)),
        source_rate=float(r.get("source_rate", _number, "a rate in Hz", nan)),
    )


def _data_from_json(d: dict[str, Any], where: str) -> DataRecord:
    r = _Reader(d, "data", where)
    norm = r.sub("normalization")
    labels = r.sub("labels")
    names = labels.get("names", _texts, "a list of label names", [])
    counts = labels.get("train_counts", _object, "an object of windows per label", {})
    split = r.sub("split")
    flat = split.sub("flat_windows_left_out")
    working = r.get("working_rate", _object, "an object", None)
    fill_spec = None
    if working is not None:
        w = _Reader(working, "data.working_rate", where)
        fill = w.get("fill", _object, "an object", None)
        fr = _Reader(fill or {}, "data.working_rate.fill", where)
        fill_spec = FillSpectrum(
            float(w.get("f_keep", _number, "a frequency in Hz")),
            tuple(fr.get("edges", _numbers, "a list of frequencies")) if fill else None,
            tuple(tuple(p) for p in fr.get("psd", _list, "a list per channel")) if fill else None,
        )
    return DataRecord(
        rate=float(r.get("rate", _number, "a rate in Hz")),
        window=int(r.get("window", _whole, "a whole number of samples")),
        channels=tuple(
            _channel_from_json(c, i, where) for i, c in enumerate(r.get("channels", _list, "a list"))
        ),
        normalization=Normalization(
            tuple(float(v) for v in norm.get("mean", _numbers, "a list of numbers")),
            tuple(float(v) for v in norm.get("std", _numbers, "a list of numbers")),
            norm.get("method", _text, "text", NORMALIZATION),
        ),
        split=SplitRecord(
            split.get("train_windows", _whole, "a whole number", 0),
            split.get("held_out_windows", _whole, "a whole number", 0),
            float(split.get("train_seconds", _number, "seconds", 0.0)),
            float(split.get("held_out_seconds", _number, "seconds", 0.0)),
            flat.get("train", _whole, "a whole number", 0),
            flat.get("held_out", _whole, "a whole number", 0),
        ),
        sources=tuple(
            _source_from_json(s, _Reader(s, f"data.sources[{i}]", where))
            for i, s in enumerate(r.get("sources", _list, "a list of source recordings"))
        ),
        labels=LabelTable(tuple(names), tuple(int(counts.get(n, 0)) for n in names)),
        output_rate=r.get("output_rate", _maybe_number, "a rate in Hz", None),
        working=fill_spec,
    )


# ---------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunSettings:
    """The model and run choices of the project (the data choices are `prep`, the budget
    `budget`): the tokenizer preset (None: chosen from the data) and whether it is per channel,
    the prior kind, and how the stages validate, checkpoint and batch."""

    preset: str | None = None
    per_channel: bool = False  # a per-channel codec (`--codec per-channel`); absent before it existed
    from_scratch: bool = False  # the codec started from random weights, not the shipped ones
    prior: str = "diffusion"
    val_every: int = 200
    checkpoint_every_s: float = 120.0
    batch_size: int | None = None
    threads: int | None = None  # CPU threads asked for by the run that made it (None: timed)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Any, where: str) -> RunSettings:
        r = _Reader(d, "settings", where)
        return cls(
            preset=r.get("preset", _maybe_text, "a preset name", None),
            per_channel=r.get("per_channel", lambda v: isinstance(v, bool), "true or false", False),
            from_scratch=r.get("from_scratch", lambda v: isinstance(v, bool), "true or false", False),
            prior=r.get("prior", _text, "a prior kind", "diffusion"),
            val_every=int(r.get("val_every", _whole, "a whole number of steps", 200)),
            checkpoint_every_s=float(r.get("checkpoint_every_s", _number, "seconds", 120.0)),
            batch_size=r.get("batch_size", lambda v: v is None or _whole(v), "a whole number", None),
            threads=r.get("threads", lambda v: v is None or _whole(v), "a whole number", None),
        )


@dataclass(frozen=True)
class BudgetSplit:
    """The budget asked for and how it was split: `mode` "minutes" (the command's wall time,
    `tokenizer_fraction` of it to the tokenizer) or "steps" (each stage's own steps)."""

    mode: str = "steps"
    minutes: float | None = None
    tokenizer_steps: int | None = None
    prior_steps: int | None = None
    tokenizer_fraction: float | None = None
    prior_fraction: float | None = None
    resumed_minutes: float | None = None  # the last --resume --minutes M

    def to_json(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, d: Any, where: str) -> BudgetSplit:
        r = _Reader(d, "budget", where)
        steps = lambda v: v is None or _whole(v)  # noqa: E731 - a test, named once
        return cls(
            mode=r.get("mode", lambda v: v in ("steps", "minutes"), "'steps' or 'minutes'", "steps"),
            minutes=r.get("minutes", _maybe_number, "minutes", None),
            tokenizer_steps=r.get("tokenizer_steps", steps, "a whole number", None),
            prior_steps=r.get("prior_steps", steps, "a whole number", None),
            tokenizer_fraction=r.get("tokenizer_fraction", _maybe_number, "a fraction", None),
            prior_fraction=r.get("prior_fraction", _maybe_number, "a fraction", None),
            resumed_minutes=r.get("resumed_minutes", _maybe_number, "minutes", None),
        )


@dataclass(frozen=True)
class StageProgress:
    """Where a stage stands, as of its last checkpoint."""

    step: int = 0
    elapsed_s: float = 0.0
    budget_steps: int | None = None
    budget_seconds: float | None = None
    batch_size: int | None = None
    done: bool = False
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "budget": {"steps": self.budget_steps, "seconds": self.budget_seconds},
            "batch_size": self.batch_size,
            "done": self.done,
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_json(cls, d: Any, path: str, where: str) -> StageProgress:
        r = _Reader(d, path, where)
        budget = r.sub("budget")
        return cls(
            step=r.get("step", _whole, "a whole number of steps", 0),
            elapsed_s=float(r.get("elapsed_s", _number, "seconds", 0.0)),
            budget_steps=budget.get("steps", lambda v: v is None or _whole(v), "a whole number", None),
            budget_seconds=budget.get("seconds", _maybe_number, "seconds", None),
            batch_size=r.get("batch_size", lambda v: v is None or _whole(v), "a whole number", None),
            done=bool(r.get("done", lambda v: isinstance(v, bool), "true or false", False)),
            metrics=dict(r.get("metrics", _object, "an object", {})),
        )


# ---------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class ProjectRecord:
    """Everything project.json holds (see the module docstring for where each fact lives)."""

    prep: PrepConfig
    data: DataRecord
    settings: RunSettings = field(default_factory=RunSettings)
    id: str | None = None
    seed: int = 0
    created: str = ""
    saved: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    device: str | None = None
    budget: BudgetSplit | None = None
    optim: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tokenizer_config: Mapping[str, Any] | None = None  # less channels and window (from `data`)
    prior_config: Mapping[str, Any] | None = None  # less its kind (`settings.prior`)
    progress: Mapping[str, StageProgress] = field(default_factory=dict)
    name: str | None = None
    # Differential privacy (`vqstudio.training.private.privacy_record`): target and spent epsilon,
    # delta, unit, noise multiplier, clipping norm, the accountant's history; None: trained without.
    privacy: Mapping[str, Any] | None = None

    def stage(self, name: str) -> StageProgress:
        """The progress of stage `name` ('tokenizer', 'prior'); a fresh one when it has none."""
        return self.progress.get(name, StageProgress())

    def with_progress(self, stage: str, progress: StageProgress | None) -> ProjectRecord:
        """This record with `stage`'s progress replaced (None: removed)."""
        entries = {k: v for k, v in self.progress.items() if k != stage}
        if progress is not None:
            entries[stage] = progress
        return dataclasses.replace(self, progress=entries)

    @property
    def full_tokenizer_config(self) -> dict[str, Any] | None:
        """The tokenizer's whole configuration (its channels and window from `data`)."""
        if self.tokenizer_config is None:
            return None
        return {
            **self.tokenizer_config,
            "channels": len(self.data.channels),
            "window": self.data.window,
        }

    @property
    def full_prior_config(self) -> dict[str, Any] | None:
        """The prior's whole configuration (its kind from `settings.prior`)."""
        if self.prior_config is None:
            return None
        return {**self.prior_config, "kind": self.settings.prior}

    def to_json(self) -> dict[str, Any]:
        from vqstudio.io.write_guard import PROJECT_FORMAT

        models = _drop_none({"tokenizer": self.tokenizer_config, "prior": self.prior_config})
        return _drop_none(
            {
                "format": PROJECT_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "id": self.id,
                "name": self.name,
                "created": self.created,
                "saved": self.saved,
                "versions": dict(self.versions),
                "device": self.device,
                "seed": self.seed,
                "settings": self.settings.to_json(),
                "prep": self.prep.to_json(),
                "budget": self.budget.to_json() if self.budget else None,
                "optim": {k: dict(v) for k, v in self.optim.items()},
                "data": self.data.to_json(),
                "models": {k: dict(v) for k, v in models.items()},
                "progress": {k: v.to_json() for k, v in self.progress.items()},
                "privacy": dict(self.privacy) if self.privacy is not None else None,
            }
        )

    @classmethod
    def from_json(cls, meta: dict[str, Any], where: str) -> ProjectRecord:
        """The record of a (version 2) project file; `ProjectError` naming a damaged field."""
        r = _Reader(meta, "", where)
        try:
            prep = PrepConfig.from_json(r.get("prep", _object, "an object"))
        except (TypeError, ValueError) as e:
            raise ProjectError(
                f"{where} is damaged: 'prep' is not a preparation this VQ Studio knows ({e})"
            ) from e
        models = r.sub("models")
        progress = r.get("progress", _object, "an object", {})
        return cls(
            prep=prep,
            data=_data_from_json(r.get("data", _object, "an object"), where),
            settings=RunSettings.from_json(meta.get("settings", {}), where),
            id=r.get("id", _maybe_text, "text", None),
            seed=int(
                r.get("seed", lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number", 0)
            ),
            created=r.get("created", _text, "a time", ""),
            saved=r.get("saved", _text, "a time", ""),
            versions=dict(r.get("versions", _object, "an object", {})),
            device=r.get("device", _maybe_text, "a device name", None),
            budget=BudgetSplit.from_json(meta["budget"], where)
            if isinstance(meta.get("budget"), dict)
            else None,
            optim={
                k: dict(v) for k, v in r.get("optim", _object, "an object", {}).items() if isinstance(v, dict)
            },
            tokenizer_config=models.get("tokenizer", _object, "an object", None),
            prior_config=models.get("prior", _object, "an object", None),
            progress={
                k: StageProgress.from_json(v, f"progress.{k}", where)
                for k, v in progress.items()
                if k in STAGES
            },
            name=r.get("name", _maybe_text, "a name", None),
            privacy=r.get("privacy", lambda v: v is None or _object(v), "an object", None),
        )


# ---------------------------------------------------------------------------- version 1


_V1_PREP = (
    "channels",
    "resample",
    "bandpass",
    "notch",
    "window_s",
    "stride_s",
    "val_fraction",
    "labels",
    "multiple",
    "working_rate",
    "skip_flat",
)


def migrate_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """A version 1 project file (VQ Studio 0.1 and 0.2) as version 2: each fact moved to its one
    place, the copies dropped. The input is not changed."""
    out = {k: v for k, v in meta.items() if k not in ("settings", "progress", "data", "budget", "optim")}
    out["schema_version"] = SCHEMA_VERSION
    settings = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    progress = meta.get("progress") if isinstance(meta.get("progress"), dict) else {}
    prior_progress = progress.get("prior") if isinstance(progress.get("prior"), dict) else {}
    out["settings"] = {
        "preset": settings.get("preset"),
        # The prior that was trained wins over the one asked for, where they differ.
        "prior": prior_progress.get("kind") or settings.get("prior") or "diffusion",
        "val_every": settings.get("val_every", 200),
        "checkpoint_every_s": settings.get("checkpoint_every_s", 120.0),
        "batch_size": settings.get("batch_size"),
        "threads": settings.get("threads"),
    }
    if "prep" not in meta and settings:  # the earliest files: the preparation was flat in settings
        out["prep"] = {k: settings[k] for k in _V1_PREP if k in settings}
    out["seed"] = meta.get("seed", settings.get("seed", 0))
    out["budget"] = _v1_budget(meta, settings)
    out["optim"] = _v1_optim(meta, progress)
    out["data"] = _v1_data(meta.get("data"))
    models: dict[str, Any] = {}
    stages: dict[str, Any] = {}
    for stage in STAGES:
        entry = progress.get(stage)
        if not isinstance(entry, dict):
            continue
        config = entry.get("config")
        if isinstance(config, dict):
            drop = ("channels", "window") if stage == "tokenizer" else ("kind",)
            models[stage] = {k: v for k, v in config.items() if k not in drop}
        stages[stage] = {
            k: entry[k]
            for k in ("step", "elapsed_s", "budget", "batch_size", "done", "metrics")
            if k in entry
        }
    out["models"] = models
    out["progress"] = stages
    return out


def _v1_budget(meta: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    budget = meta.get("budget")
    if isinstance(budget, dict):
        return budget
    if settings.get("minutes") is not None:
        return {"mode": "minutes", "minutes": settings["minutes"]}
    if settings.get("tokenizer_steps") is not None:
        return {
            "mode": "steps",
            "tokenizer_steps": settings["tokenizer_steps"],
            "prior_steps": settings.get("prior_steps"),
        }
    return None


def _v1_optim(meta: dict[str, Any], progress: dict[str, Any]) -> dict[str, Any]:
    """0.2 stored one optimizer config per stage; 0.1 the tokenizer's alone, the prior's in its
    progress."""
    stored = meta.get("optim") if isinstance(meta.get("optim"), dict) else {}
    if "tokenizer" in stored or "prior" in stored:
        return {k: v for k, v in stored.items() if isinstance(v, dict)}
    prior = progress.get("prior", {}) if isinstance(progress.get("prior"), dict) else {}
    out = {"tokenizer": stored} if stored else {}
    if isinstance(prior.get("optim"), dict):
        out["prior"] = prior["optim"]
    return out


def _v1_data(data: Any) -> Any:
    if not isinstance(data, dict):
        return data  # damaged: the check that follows names it
    out = dict(data)
    labels = out.get("labels")
    if isinstance(labels, dict):
        out["labels"] = {k: v for k, v in labels.items() if k != "mode"}
    split = out.get("split")
    if isinstance(split, dict):
        out["split"] = {k: v for k, v in split.items() if k != "val_fraction"}
    working = out.get("working_rate")
    if isinstance(working, dict):
        fill = working.get("fill")
        out["working_rate"] = {
            "f_keep": working.get("f_keep"),
            "fill": {k: v for k, v in fill.items() if k != "f_keep"} if isinstance(fill, dict) else None,
        }
    return out
