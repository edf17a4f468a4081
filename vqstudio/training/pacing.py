"""When a stage loop reads its losses, reports progress and writes a checkpoint, and how fast it runs.

Both stage loops (tokenizer, prior) share this: reading losses is a host sync, so it happens
every `log_every` steps or `log_every_s` seconds; progress events go out at most every
`progress_every_s`; checkpoints every `checkpoint_every_s`. The step rate for the ETA is measured
between loss read-outs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vqstudio.events import Progress
from vqstudio.training.budget import Budget

__all__ = ["StagePacer"]


class StagePacer:
    """The clocks of one stage loop, started at `step` with `elapsed()` counting resumed time."""

    def __init__(
        self,
        stage: str,
        budget: Budget,
        step: int,
        elapsed: Callable[[], float],
        *,
        log_every: int,
        log_every_s: float,
        progress_every_s: float,
        checkpoint_every_s: float,
    ) -> None:
        self.stage, self.budget, self.elapsed = stage, budget, elapsed
        self.log_every, self.log_every_s = log_every, log_every_s
        self.progress_every_s, self.checkpoint_every_s = progress_every_s, checkpoint_every_s
        now = time.monotonic()
        self._last_log = self._last_progress = self._last_checkpoint = now
        self._log_step, self._log_time = step, elapsed()
        self.steps_per_s = 0.0

    def done(self, step: int) -> bool:
        return self.budget.done(step, self.elapsed())

    def log_due(self, step: int) -> bool:
        """Whether this step should read its losses (a host sync)."""
        return (
            step % self.log_every == 0
            or time.monotonic() - self._last_log >= self.log_every_s
            or self.done(step)
        )

    def logged(self, step: int) -> float:
        """Notes a loss read-out at `step`, updates the step rate, returns the elapsed seconds."""
        t = self.elapsed()
        if t > self._log_time:
            self.steps_per_s = (step - self._log_step) / (t - self._log_time)
        self._log_step, self._log_time, self._last_log = step, t, time.monotonic()
        return t

    def progress(self, step: int, losses: dict[str, float], batch_size: int) -> Progress | None:
        """A progress event when one is due (and at the end of the budget), else None."""
        now = time.monotonic()
        if now - self._last_progress < self.progress_every_s and not self.done(step):
            return None
        self._last_progress = now
        t = self.elapsed()
        return Progress(
            self.stage,
            step,
            self.budget.steps,
            t,
            self.budget.eta_s(step, t, self.steps_per_s),
            self.budget.fraction(step, t),
            dict(losses),
            self.steps_per_s * batch_size,
        )

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s

    def checkpointed(self) -> None:
        self._last_checkpoint = time.monotonic()
