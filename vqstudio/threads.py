"""How many CPU threads an engine job runs on: chosen by timing, and chosen again when the machine
gets busier or idler.

"Every core" is the wrong default on a shared machine: PyTorch's threads spin while they wait for
each other, so a step that needs both cores of a 2-core box while another process holds one waits
for the thread the scheduler left out. Measured there, two threads trained 7-14x slower than one
beside one busy process, and were faster than one on the idle machine. No rule of thumb gets both
cases right, so the loop times its own steps at each candidate count (1, 2, 4, ... and every core)
and keeps the fastest; it times them again every so often (less often while nothing changes) and
as soon as the step rate drifts by more than a factor from the rate the chosen count was measured
at.

The probe costs nothing but speed: its steps are real training steps, run at counts that may be
slower. A count clearly slower than the best so far is dropped after one step, so a probe on a
busy machine costs a single slow step per worse count.

Pure Python (no torch): the caller passes the function that sets the count and the duration of
each step, so tests feed it made-up timings.
"""

from __future__ import annotations

import os
import statistics
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ThreadPolicy", "ThreadTuner", "available_cores", "candidates", "fixed_threads", "plural"]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else every core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def candidates(cores: int) -> list[int]:
    """The counts worth timing on `cores` cores: the powers of two below it, and `cores` itself."""
    cores = max(1, int(cores))
    out, n = [], 1
    while n < cores:
        out.append(n)
        n *= 2
    return [*out, cores]


def fixed_threads(threads: int | None, environ: Mapping[str, str] | None = None) -> int | None:
    """The count the user fixed, or None when the engine should choose by timing.

    An explicit `threads` (the GUI always passes one; `--threads N`) wins, then OMP_NUM_THREADS
    when set to a positive whole number (the usual way to share a machine by hand)."""
    if threads is not None:
        return max(1, int(threads))
    env = (os.environ if environ is None else environ).get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else None


def plural(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _step_time(seconds: float) -> str:
    """A step's duration as people read it: '52 ms', '1.3 s'."""
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.2g} s"


@dataclass(frozen=True)
class ThreadPolicy:
    """The knobs of `ThreadTuner`, in steps and seconds of stepping."""

    probe_steps: int = 3  # timed steps per count (their median: one hiccup does not decide)
    settle_steps: int = 1  # untimed steps after a switch (the pool starts, caches fill, first-step setup)
    probe_max_s: float = 5.0  # a count's timing ends after this many seconds, whatever its steps
    give_up_factor: float = 3.0  # one step this much slower than the best so far ends a count's timing
    recheck_s: float = 60.0  # re-time after this many seconds of steps...
    recheck_max_s: float = 600.0  # ...doubled after each re-timing that kept the count, up to this
    drift_factor: float = 1.5  # re-time at once when the rate drifts this much from the chosen count's
    window_steps: int = 5  # steps whose median rate is compared with the chosen count's
    min_gain: float = 1.1  # a re-timing switches only for a count this much faster (no flip-flopping)


class ThreadTuner:
    """Chooses the thread count between the steps of one loop (see the module).

    After each step the loop calls `step_done(seconds)`; the tuner sets the next step's count with
    `apply` when it changes, and returns a line for the log when its choice changes (and for its
    first choice). `current` is the count the job starts with.
    """

    def __init__(
        self,
        cores: int,
        apply: Callable[[int], None],
        current: int,
        policy: ThreadPolicy | None = None,
        label: str = "",
    ) -> None:
        self.policy = policy or ThreadPolicy()
        self.counts = candidates(cores)
        self._apply = apply
        self.threads = max(1, int(current))
        self.chosen: int | None = None  # None until the first timing has chosen
        self.rate = 0.0  # steps per second of the chosen count, when it was chosen
        self.probes = 0  # timings finished (for tests and benches)
        self._label = f"{label}: " if label else ""
        self._recheck_s = self.policy.recheck_s
        self._since = 0.0
        self._recent: deque[float] = deque(maxlen=max(1, self.policy.window_steps))
        self._start_probe(settle=self.policy.settle_steps, measured=None)

    # The probe: a queue of counts, each settled, then timed.

    def _start_probe(self, settle: int, measured: float | None) -> None:
        """Times every candidate. `measured`: the current count's step time, when the recent steps
        give it (re-timings); the others follow, fewest threads first.

        Without a measurement the timing starts at one thread, whatever the job set: on a busy
        machine too many threads cost up to 10x and more per step, too few on an idle one at most
        the core count and in practice far less, and once one count is timed a much slower one
        is dropped after a single step. Starting from every core would spend the whole probe of
        the slowest count first."""
        self._before = self.threads
        self._results: dict[int, float] = {}
        self._dropped: set[int] = set()  # counts given up after one slow step (not timed further)
        self._times: list[float] = []
        self._settle = settle
        self._probing = True
        if measured is not None:
            self._results[self.threads] = 1.0 / measured
            self._queue = [n for n in self.counts if n != self.threads]
            self._next_count()
        else:
            self._queue = list(self.counts[1:])
            self._switch(self.counts[0])

    def _switch(self, n: int) -> None:
        if n != self.threads:
            self._apply(n)
            self.threads = n

    def _next_count(self) -> str | None:
        if self._queue:
            self._switch(self._queue.pop(0))
            self._times, self._settle = [], self.policy.settle_steps
            return None
        return self._choose()

    def _best_step_s(self) -> float | None:
        return 1.0 / max(self._results.values()) if self._results else None

    def step_done(self, seconds: float) -> str | None:
        """Notes one step's duration; may set the next step's count; returns a log line or None."""
        seconds = max(float(seconds), 1e-9)
        if not self._probing:
            return self._steady(seconds)
        p = self.policy
        best = self._best_step_s()
        if best is not None and seconds > p.give_up_factor * best:
            # Clearly slower than a count already timed: one step says enough, settled or not.
            self._results[self.threads] = 1.0 / seconds
            self._dropped.add(self.threads)
            return self._next_count()
        if self._settle > 0:
            self._settle -= 1
            return None
        self._times.append(seconds)
        if len(self._times) >= p.probe_steps or sum(self._times) >= p.probe_max_s:
            self._results[self.threads] = 1.0 / statistics.median(self._times)
            return self._next_count()
        return None

    def _choose(self) -> str | None:
        """Ends a probe: keeps the fastest count (the fewer threads on a tie)."""
        results, before, first = self._results, self._before, self.chosen is None
        best = max(sorted(results), key=lambda n: results[n])  # sorted: ties go to the fewer
        if not first and results[best] < self.policy.min_gain * results.get(before, 0.0):
            best = before  # not enough faster to be worth a switch (timing noise)
        self._switch(best)
        self.probes += 1
        self._probing, self._since = False, 0.0
        self._recent.clear()
        self.chosen, self.rate = best, results[best]
        if first:
            self._recheck_s = self.policy.recheck_s
            others = [n for n in results if n != best]
            if not others:
                return None
            runner_up = max(others, key=lambda n: results[n])
            return (
                f"{self._label}{plural(best)} of {self.counts[-1]} cores, chosen by timing "
                f"({self._compared(best, runner_up)})"
            )
        if best == before:
            self._recheck_s = min(self.policy.recheck_max_s, 2 * self._recheck_s)  # quiet: check less
            return None
        self._recheck_s = self.policy.recheck_s
        return (
            f"{self._label}{plural(before)} -> {plural(best)}: "
            f"{results[best] / results[before]:.1f}x faster now"
        )

    def _compared(self, best: int, other: int) -> str:
        """How the chosen count compared with the next best, in step times. A count dropped after
        one slow step was not timed: its one step (often the start-up of a thread pool, or a
        moment another process took the cores) is no speed to quote as "49.9x"."""
        mine, theirs = 1.0 / self._results[best], 1.0 / self._results[other]
        if other in self._dropped:
            return (
                f"{_step_time(mine)} a step; {plural(other)} took {_step_time(theirs)} on a step, "
                f"over {self.policy.give_up_factor:g}x longer, and {'was' if other == 1 else 'were'} "
                "not timed further"
            )
        return f"{_step_time(mine)} a step against {_step_time(theirs)} with {plural(other)}"

    def _steady(self, seconds: float) -> str | None:
        """Between probes: re-times when it is time, or when the rate drifted from the chosen one."""
        p = self.policy
        self._since += seconds
        self._recent.append(seconds)
        full = len(self._recent) == self._recent.maxlen
        measured = statistics.median(self._recent) if full else None
        drifted = measured is not None and not (
            self.rate / p.drift_factor <= 1.0 / measured <= self.rate * p.drift_factor
        )
        if drifted or self._since >= self._recheck_s:
            use = measured if measured is not None and len(self._recent) >= p.probe_steps else None
            self._start_probe(settle=0, measured=use)
        return None
