"""What a generate request asks for (`GenerateSettings`, mirroring the CLI and the app's form) and
the range of each setting, stated once for the engine, the command line and the app. Light: the
app imports it before torch loads."""

from __future__ import annotations

from dataclasses import dataclass

from vqstudio.priors.config import DEFAULT_GUIDANCE, DEFAULT_STEPS, SAMPLER_NAMES
from vqstudio.ranges import Range

__all__ = ["COUNT", "GUIDANCE", "SECONDS", "STEPS", "TEMPERATURE", "WEIGHTS", "GenerateSettings"]

WEIGHTS = ("best", "latest")  # vqstudio.project.folder.WEIGHTS, without importing the project layer

# What a generate request may ask for (defaults where the engine has one): a week of signal a
# recording, 100,000 recordings, and the sampler's settings.
SECONDS = Range(0.0, 7 * 24 * 3600.0, 60.0, open_low=True)
COUNT = Range(1, 100_000, 1)
STEPS = Range(1, 1000, DEFAULT_STEPS)  # the diffusion schedule's resolution
GUIDANCE = Range(0.0, 100.0, DEFAULT_GUIDANCE)
TEMPERATURE = Range(0.0, 100.0, 1.0, open_low=True)


@dataclass(frozen=True)
class GenerateSettings:
    """What `vqstudio generate` asks for; `None` means the engine's default."""

    seconds: float
    count: int = 1
    label: str | None = None
    seed: int = 0
    steps: int | None = None  # diffusion: sampler steps per segment (default DEFAULT_STEPS)
    guidance: float | None = None  # None: the prior's default when conditional (diffusion 2), else 1
    temperature: float = TEMPERATURE.default  # type: ignore[assignment]  # autoregressive only
    top_k: int | None = None  # autoregressive only
    device: str = "auto"
    sampler: str = SAMPLER_NAMES[0]
    threads: int | None = None
    as_array: bool = False  # return one (count, channels, samples) float32 array, not recordings
    batch: int | None = None  # recordings sampled together (None: as many as `cost` allows)
    # Which checkpoints sample: each stage's best by held-out loss, or its latest
    # (`vqstudio.project.folder.WEIGHTS`; a project without best checkpoints has only its latest).
    weights: str = "best"

    def __post_init__(self) -> None:
        SECONDS.check(self.seconds, "--seconds")
        COUNT.check(self.count, "--count")
        if self.steps is not None:
            STEPS.check(self.steps, "--steps")
        if self.guidance is not None:
            GUIDANCE.check(self.guidance, "--guidance")
        TEMPERATURE.check(self.temperature, "--temperature")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"--top-k must be at least 1, got {self.top_k}")
        if self.sampler not in SAMPLER_NAMES:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLER_NAMES)}, got {self.sampler!r}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"--weights must be one of {', '.join(WEIGHTS)}, got {self.weights!r}")
