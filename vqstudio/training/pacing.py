"""The clocks of a stage loop: when it reads its losses, reports progress, validates, previews and
writes a checkpoint, and how fast it runs.

Reading losses is a host sync, so it happens every `log_every` steps or `log_every_s` seconds;
progress events go out at most every `progress_every_s`; validation every `val_every` steps (and
every `val_every_s` seconds when set, for slow CPU steps); previews every `preview_every_s`;
checkpoints every `checkpoint_every_s`. The step rate for the ETA is measured between loss
read-outs. Elapsed time counts the time a resumed stage had spent before.
"""

from __future__ import annotations

import time

from vqstudio.events import Progress
from vqstudio.training.budget import Budget
from vqstudio.training.settings import OptimConfig

__all__ = ["StagePacer"]


class StagePacer:
    """The clocks of one stage loop, started at `step` with `elapsed_before` seconds already spent."""

    def __init__(
        self,
        stage: str,
        budget: Budget,
        step: int,
        elapsed_before: float,
        optim: OptimConfig,
        *,
        val_every: int,
        checkpoint_every_s: float,
    ) -> None:
        self.stage, self.budget, self.optim = stage, budget, optim
        self.val_every, self.checkpoint_every_s = val_every, checkpoint_every_s
        now = time.monotonic()
        self._t0, self._elapsed_before = now, elapsed_before
        self._last_log = self._last_progress = self._last_checkpoint = now
        self._last_val = self._last_preview = now
        self._log_step, self._log_time = step, elapsed_before
        self.steps_per_s = 0.0

    def elapsed(self) -> float:
        """Seconds the stage has trained, counting those before a resume."""
        return self._elapsed_before + time.monotonic() - self._t0

    def done(self, step: int) -> bool:
        return self.budget.done(step, self.elapsed())

    def lr(self, step: int) -> float:
        """The learning rate of optimizer step `step` (warmup, then cosine over the budget)."""
        return self.optim.lr_at(step, self.budget.progress(step, self.elapsed()))

    def log_due(self, step: int) -> bool:
        """Whether this step should read its losses (a host sync)."""
        return (
            step % self.optim.log_every == 0
            or time.monotonic() - self._last_log >= self.optim.log_every_s
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
        if now - self._last_progress < self.optim.progress_every_s and not self.done(step):
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

    def validation_due(self, step: int) -> bool:
        """Every `val_every` steps, or `val_every_s` seconds after the last validation."""
        now = time.monotonic()
        every_s = self.optim.val_every_s
        if step % self.val_every == 0 or (every_s is not None and now - self._last_val >= every_s):
            self._last_val = now
            return True
        return False

    def preview_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_preview >= self.optim.preview_every_s:
            self._last_preview = now
            return True
        return False

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_every_s

    def checkpointed(self) -> None:
        self._last_checkpoint = time.monotonic()
