"""Settings of a training run: what the user chose (`TrainSettings`, mirroring the CLI and the GUI
form) and how a stage's optimizer runs (`OptimConfig`). Both are frozen and checked when made; a
project stores them in its record (`vqstudio.project.record`), each choice once. Torch-free: the
GUI builds settings before torch loads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vqstudio.data.prep import RATE_HZ, WINDOW_S, PreparedData, PrepConfig
from vqstudio.priors.registry import PRIOR_NAMES
from vqstudio.project.record import BudgetSplit, DataRecord, ProjectRecord, RunSettings
from vqstudio.ranges import Range
from vqstudio.training.lr_schedule import lr_at
from vqstudio.training.privacy_settings import check_privacy_settings, privacy_settings_of

__all__ = [
    "CHECKPOINT_MINUTES",
    "CODECS",
    "CODEC_PRIOR_SHARE",
    "DEFAULT_MINUTES",
    "MINUTES",
    "PRIOR_OPTIM",
    "PRIOR_SHARE",
    "RESUME_STAGES",
    "STEPS",
    "TOKENIZER_OPTIM",
    "TOKENIZER_PRESETS",
    "OptimConfig",
    "TrainSettings",
]

DEFAULT_MINUTES = 10.0  # budget when neither --minutes nor steps are given
# The budget and checkpoint interval a run may ask for (a week at most), and the steps.
MINUTES = Range(0.0, 7 * 24 * 60.0, DEFAULT_MINUTES, open_low=True)
CHECKPOINT_MINUTES = Range(0.0, 7 * 24 * 60.0, 2.0, open_low=True)
STEPS = Range(0, 100_000_000)
PRIOR_SHARE = 0.4  # share of a --minutes budget the prior gets when it is trained too
# The prior's share when the tokenizer starts from the shipped codec: that codec is near
# transparent as it comes (EEG of people it never saw: PSD distance 0.21 dB, CNN 50 %), and a
# fine-tune gains little (0.07 dB) or costs (one ECG lead: CNN 50 -> 70 %), so the prior, the
# limit now, gets most of the time (bench/codec_transfer.py, issue 20).
CODEC_PRIOR_SHARE = 0.8
# What a resume continues (`vqstudio.training.plan`): "auto" goes on as planned; the others are
# the stage the user chose.
RESUME_STAGES = ("auto", "tokenizer", "prior", "both")
TOKENIZER_PRESETS = ("small", "medium", "large")  # vqstudio.models.tokenizer.SIZE_PRESETS, torch-free
# --codec: one network over the channels together (shared: `per_channel` False, the default until
# the team has measured), or the same network for every channel (per-channel: True).
CODECS = ("shared", "per-channel")
_PREP_FIELDS = frozenset(f.name for f in fields(PrepConfig))


@dataclass(frozen=True, init=False)
class TrainSettings:
    """What `vqstudio train` (or the GUI) asks for. `None` means "the engine's default".

    The data choices are one `PrepConfig` (`prep`); for the CLI and the GUI form they may also be
    given flat (`window_s=2.0, labels="files"`), which fills in `prep`. Every value is checked
    here, once, with the option's name in the message.
    """

    inputs: tuple[str, ...] = ()
    prep: PrepConfig = field(default_factory=PrepConfig)  # channels, rate, window, filters, split, labels
    rate: float | None = None  # sample rate of CSV inputs without a time column
    preset: str | None = None  # tokenizer size; None: chosen from the data size and device
    # One network for every channel (a codec whose weights know no montage: `--codec per-channel`),
    # or the channels as the input channels of one network (`shared`, the default for now).
    per_channel: bool = False
    # A per-channel codec starts from the shipped, pretrained one (`vqstudio.codec`) unless this.
    from_scratch: bool = False
    prior: str = PRIOR_NAMES[0]
    minutes: float | None = None
    tokenizer_steps: int | None = None
    prior_steps: int | None = None
    device: str = "auto"
    seed: int = 0
    threads: int | None = None  # None: OMP_NUM_THREADS, else chosen by timing (vqstudio.threads)
    val_every: int = 200
    checkpoint_every_s: float = CHECKPOINT_MINUTES.default * 60  # type: ignore[operator]
    batch_size: int | None = None  # None: the stage's default for the device
    resume_stage: str = "auto"  # what a resume continues (RESUME_STAGES); a run's choice, not stored
    # Differential privacy (`vqstudio.training.private`): the target epsilon (None: off), delta
    # (None: 1 / the number of privacy units) and the unit ("window" or "recording").
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    dp_unit: str = "window"

    def __init__(
        self,
        inputs: tuple[str, ...] | list[str] = (),
        prep: PrepConfig | None = None,
        *,
        rate: float | None = None,
        preset: str | None = None,
        per_channel: bool = False,
        from_scratch: bool = False,
        prior: str = PRIOR_NAMES[0],
        minutes: float | None = None,
        tokenizer_steps: int | None = None,
        prior_steps: int | None = None,
        device: str = "auto",
        seed: int = 0,
        threads: int | None = None,
        val_every: int = 200,
        checkpoint_every_s: float = CHECKPOINT_MINUTES.default * 60,  # type: ignore[operator]
        batch_size: int | None = None,
        resume_stage: str = "auto",
        dp_epsilon: float | None = None,
        dp_delta: float | None = None,
        dp_unit: str = "window",
        **prep_fields: Any,
    ) -> None:
        unknown = set(prep_fields) - _PREP_FIELDS
        if unknown:
            raise TypeError(f"TrainSettings got unknown settings: {', '.join(sorted(unknown))}")
        # Ranges bound what a run asks for now; a stored project's `prep` keeps what it was given.
        if prep_fields.get("window_s") is not None:
            WINDOW_S.check(prep_fields["window_s"], "--window (seconds)")
        if prep_fields.get("resample") is not None:
            RATE_HZ.check(prep_fields["resample"], "--resample (Hz)")
        # A new run trains at a working rate chosen from the spectrum unless --resample is given;
        # a stored project's `prep` (given here) keeps what it was trained with.
        # Under differential privacy the rate is the recordings' own: a working rate chosen from
        # their spectrum (and the spectrum kept to fill above it) would leak outside the mechanism.
        base = prep or PrepConfig(working_rate=dp_epsilon is None, skip_flat=True)
        prep = dataclasses.replace(base, **prep_fields)  # PrepConfig checks its fields
        values = dict(locals())
        for f in fields(self):
            object.__setattr__(self, f.name, values[f.name])
        object.__setattr__(self, "prep", prep)
        object.__setattr__(self, "inputs", tuple(str(p) for p in inputs))
        self.__post_init__()

    @property
    def prior_share(self) -> float:
        """The prior's share of a `--minutes` budget when both stages train: most of it when the
        tokenizer starts from the shipped codec (`CODEC_PRIOR_SHARE`), else `PRIOR_SHARE`."""
        from_codec = self.per_channel and not self.from_scratch
        return CODEC_PRIOR_SHARE if from_codec else PRIOR_SHARE

    def __post_init__(self) -> None:
        if self.prior not in PRIOR_NAMES:
            raise ValueError(f"--prior must be one of {', '.join(PRIOR_NAMES)}, got '{self.prior}'")
        if self.preset is not None and self.preset not in TOKENIZER_PRESETS:
            raise ValueError(f"--preset must be one of {', '.join(TOKENIZER_PRESETS)}, got '{self.preset}'")
        for name in ("per_channel", "from_scratch"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.rate is not None:
            RATE_HZ.check(self.rate, "--rate (Hz)")
        if self.minutes is not None:
            MINUTES.check(self.minutes, "--minutes")
        for name in ("tokenizer_steps", "prior_steps"):
            v = getattr(self, name)
            if v is not None:
                STEPS.check(v, f"--{name.replace('_', '-')}")
        if self.val_every < 1:
            raise ValueError(f"val_every must be at least 1, got {self.val_every}")
        CHECKPOINT_MINUTES.check(self.checkpoint_every_s / 60, "--checkpoint-minutes")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        check_privacy_settings(self.dp_epsilon, self.dp_delta, self.dp_unit)
        if self.resume_stage not in RESUME_STAGES:
            raise ValueError(
                f"--stage must be one of {', '.join(RESUME_STAGES[1:])}, got '{self.resume_stage}'"
            )

    @property
    def wants_prior(self) -> bool:
        """True unless the prior was switched off with `--prior-steps 0`."""
        return self.prior_steps is None or self.prior_steps > 0

    @property
    def labelled(self) -> bool:
        """Whether the prior is conditioned on labels (`--labels annotations|files`)."""
        return self.prep.labels != "none"

    @property
    def private(self) -> bool:
        """Whether the run trains with differential privacy (`--dp-epsilon`)."""
        return self.dp_epsilon is not None

    def new_record(
        self, prepared: PreparedData, tokenizer_optim: OptimConfig, prior_optim: OptimConfig
    ) -> ProjectRecord:
        """The record of a new project trained with these settings on `prepared` (how the data
        was applied, e.g. the window's multiple, is `prepared.config`; the budget is stored when
        the run starts)."""
        return ProjectRecord(
            prep=prepared.config,
            data=DataRecord.from_prepared(prepared),
            settings=RunSettings(
                preset=self.preset,
                per_channel=self.per_channel,
                from_scratch=self.from_scratch,
                prior=self.prior,
                val_every=self.val_every,
                checkpoint_every_s=self.checkpoint_every_s,
                batch_size=self.batch_size,
                threads=self.threads,
            ),
            seed=self.seed,
            optim={"tokenizer": tokenizer_optim.to_json(), "prior": prior_optim.to_json()},
        )

    @classmethod
    def from_record(cls, record: ProjectRecord) -> TrainSettings:
        """The settings a project was trained with: its sources, data choices, model choices and
        budget as asked (device and threads are a run's own: the defaults here)."""
        budget = record.budget or BudgetSplit()
        minutes = budget.minutes if budget.mode == "minutes" else None
        csv_rate = next((s.csv_rate for s in record.data.sources if s.csv_rate), None)
        return cls(
            tuple(s.path for s in record.data.sources if s.path),
            record.prep,
            rate=csv_rate,
            preset=record.settings.preset,
            per_channel=record.settings.per_channel,
            from_scratch=record.settings.from_scratch,
            prior=record.settings.prior,
            minutes=minutes,
            tokenizer_steps=budget.tokenizer_steps if minutes is None else None,
            prior_steps=budget.prior_steps,
            seed=record.seed,
            val_every=record.settings.val_every,
            checkpoint_every_s=record.settings.checkpoint_every_s,
            batch_size=record.settings.batch_size,
            **privacy_settings_of(record),
        )


@dataclass(frozen=True)
class OptimConfig:
    """How a stage optimises (AdamW, warmup + cosine, clipping) and reports. One class for both
    stages; `TOKENIZER_OPTIM` and `PRIOR_OPTIM` are their defaults, stored per stage in project.json."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    warmup_steps: int = 100
    warmup_fraction: float = 0.05  # ... or this share of the budget, whichever ends first
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    log_every: int = 50  # steps between loss read-outs (each one is a host sync; ~1 s on a GPU)
    log_every_s: float = 2.0  # ... or sooner when steps are slow (CPU), so the bar stays alive
    progress_every_s: float = 0.25  # Progress events at most this often
    preview_every_s: float = 1.0  # preview events at most this often
    val_every_s: float | None = 60.0  # validate at least this often too (slow CPU steps); None: by steps only
    val_windows: int = 64  # held-out windows used by each validation
    kmeans_batches: int = 4  # tokenizer: batches whose encodings seed the codebook (k-means)
    gpu_batch_size: int = 256  # windows per batch on a GPU (a CPU gets a stage-specific smaller one)

    def __post_init__(self) -> None:
        for name in ("lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"optimizer setting {name} must be positive, got {getattr(self, name)}")
        for name in ("log_every_s", "progress_every_s", "preview_every_s", "warmup_fraction", "min_lr_ratio"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"optimizer setting {name} must be 0 or more, got {getattr(self, name)}")
        for name in ("log_every", "val_windows", "gpu_batch_size", "warmup_steps", "kmeans_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"optimizer setting {name} must be at least 1, got {getattr(self, name)}")

    def lr_at(self, step: int, progress: float) -> float:
        """The learning rate of optimizer step `step` at `progress` (0..1) of the budget."""
        return lr_at(step, progress, self.lr, self.warmup_steps, self.min_lr_ratio, self.warmup_fraction)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any], default: OptimConfig) -> OptimConfig:
        """A stored config: the fields it names over `default` (older projects stored fewer)."""
        known = {f.name for f in fields(cls)}
        return dataclasses.replace(default, **{k: v for k, v in d.items() if k in known})


TOKENIZER_OPTIM = OptimConfig()
# The prior: a transformer over short latent sequences; more weight decay, AdamW's usual betas,
# a learning rate of 2e-3 (measured with bench/prior_ablation.py on ECG a103l, 3 minutes: the
# diffusion prior drew 88 beats/min against 78 at 1e-3; the autoregressive one was no different),
# warmup over at most a tenth of the budget, a sample preview every 15 s (sampling is slower
# than a reconstruction), validation by steps only (it is cheap and steps are fast).
PRIOR_OPTIM = OptimConfig(
    lr=2e-3,
    weight_decay=0.01,
    beta2=0.999,
    warmup_fraction=0.1,
    log_every=10,
    preview_every_s=15.0,
    val_every_s=None,
    val_windows=512,
)
