"""Settings of a training run: what the user chose (`TrainSettings`, mirroring the CLI) and how
the optimizer runs (`OptimConfig`). Both are frozen and JSON-serialisable (stored in project.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["DEFAULT_MINUTES", "PRIOR_SHARE", "OptimConfig", "TrainSettings"]

DEFAULT_MINUTES = 10.0  # budget when neither --minutes nor steps are given
PRIOR_SHARE = 0.4  # share of a --minutes budget the prior gets when it is trained too
PRIORS = ("diffusion", "autoregressive")


@dataclass(frozen=True)
class TrainSettings:
    """What `vqstudio train` (or the GUI) asks for. `None` means "the engine's default"."""

    inputs: tuple[str, ...] = ()
    channels: tuple[str, ...] | None = None
    rate: float | None = None  # sample rate of CSV inputs without a time column
    resample: float | None = None
    window_s: float = 4.0
    preset: str | None = None  # None: chosen from the data size and device
    prior: str = "diffusion"
    minutes: float | None = None
    tokenizer_steps: int | None = None
    prior_steps: int | None = None
    labels: str = "none"
    device: str = "auto"
    seed: int = 0
    threads: int | None = None  # None: every core (the CLI); the GUI passes cores - 1
    val_every: int = 200
    checkpoint_every_s: float = 120.0
    bandpass: tuple[float, float] | None = None
    notch: float | None = None
    val_fraction: float = 0.1
    batch_size: int | None = None  # None: 256 on a GPU; 16 on a CPU (8 for large windows)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(str(p) for p in self.inputs))
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(self.channels))
        if self.bandpass is not None:
            object.__setattr__(self, "bandpass", tuple(self.bandpass))
        if self.prior not in PRIORS:
            raise ValueError(f"--prior must be one of {', '.join(PRIORS)}, got '{self.prior}'")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")
        for name in ("tokenizer_steps", "prior_steps"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be 0 or more, got {v}")
        if self.val_every < 1:
            raise ValueError(f"val_every must be at least 1, got {self.val_every}")

    @property
    def wants_prior(self) -> bool:
        """True unless the prior was switched off with `--prior-steps 0`."""
        return self.prior_steps is None or self.prior_steps > 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})


@dataclass(frozen=True)
class OptimConfig:
    """How the tokenizer stage optimises (AdamW, warmup + cosine, clipping) and reports."""

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
    preview_every_s: float = 1.0  # ReconstructionPreview events at most this often
    val_windows: int = 64  # held-out windows used by each validation
    val_every_s: float = 60.0  # validate at least this often too (slow CPU steps), besides val_every
    kmeans_batches: int = 4  # batches whose encodings seed the codebook (k-means)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
