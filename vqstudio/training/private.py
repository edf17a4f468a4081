"""Differentially private training (`--dp-epsilon`): DP-SGD with Opacus for both stages, and what
else would learn from the private recordings outside it.

The mechanism (Abadi et al. 2016, as Opacus implements it): at every step each privacy unit
joins the batch independently with probability q (Poisson sampling), the gradient of each unit's
loss is computed on its own (`torch.func.vmap` over units: the models see one unit at a time, so
nothing couples two units), Opacus's `DPOptimizer` clips each unit's gradient to norm C, sums
them, adds Gaussian noise of standard deviation sigma x C and divides by the expected batch;
AdamW then steps on that noisy gradient. Opacus's RDP accountant composes every step of both
stages and the statistics' release into epsilon at delta.

The unit: a training window (`--dp-unit window`, the default), or a recording (`recording`:
each file is one unit; a sampled file gives `RECORDING_WINDOWS` of its windows, whose mean loss
is one unit's gradient, clipped as one). delta defaults to 1 / the number of units.

Planning: sigma is fixed before the first step, for the steps the run will take. With step
budgets (`--tokenizer-steps`, `--prior-steps`) those are the steps. With `--minutes` the steps
are planned from a short timing of each stage's private step on random data (not the
recordings): the stage's share of the minutes over the measured step time. A stage stops at its
planned step, or earlier when its time runs out (then less epsilon is spent); it never takes a
step beyond the plan, so the spent epsilon never exceeds the target, resumes included (a resume
continues towards the planned steps; the budget spent is spent).

What else learns from data, and what is done instead (`REPLACED`, logged and kept in
project.json):
- normalisation statistics (per-channel centre and scale): released with the Gaussian mechanism
  from bounded per-unit values (log10 std within `scale_bounds`, centre within 5 stds), noise
  multiplier chosen for a scale within a factor 1.4 (`STATS_ERROR`) but spending at most
  `STATS_SHARE` of the target, counted by the accountant;
- working rate and fill spectrum (chosen from the recordings' spectrum): not used, the rate is
  the recordings' own (`TrainSettings`);
- codebook: no k-means initialisation on private encodings, no moving-average update, no dead-code
  restart from encodings: random (or the shipped codec's, pretrained on public data) and fixed;
- the diffusion prior's latent statistics: of codes drawn uniformly at random, decoded through the
  private tokenizer (post-processing), not of the training codes;
- label proportions for generation: uniform, not the training counts;
- best checkpoint: none is chosen by held-out loss (held-out windows are not trained on but are
  the same people's data); generation uses the last weights;
- a critic (none in the presets) is refused; no layer keeps batch statistics (no BatchNorm;
  LayerNorm is per sample).

Random numbers of the mechanism (sampling, noise) come from a secret seed (`secrets`), never
stored: an attacker who knew them could subtract the noise. A private run is therefore not
repeatable to the bit, and its resume continues the accounting, not the random stream.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from vqstudio import distributed
from vqstudio.data.prep import PreparedData, Split
from vqstudio.errors import LimitError
from vqstudio.events import Event, LogLine
from vqstudio.project import Project
from vqstudio.project.record import ProjectRecord
from vqstudio.training.budget import Budget
from vqstudio.training.loop import StageContext
from vqstudio.training.prior_stage import STAGE as PRIOR
from vqstudio.training.prior_stage import PriorStage
from vqstudio.training.settings import OptimConfig, TrainSettings
from vqstudio.training.stage_state import resume_progress
from vqstudio.training.tokenizer_stage import STAGE as TOKENIZER
from vqstudio.training.tokenizer_stage import TokenizerStage

__all__ = [
    "CLIP",
    "RECORDING_WINDOWS",
    "REPLACED",
    "PrivacyPlan",
    "PrivatePriorStage",
    "PrivateSGD",
    "PrivateTokenizerStage",
    "calibrate",
    "capped",
    "epsilon_of",
    "plan_run",
    "private_statistics",
    "scale_bounds",
    "scale_sensitivity",
    "stats_noise",
    "units_of",
    "with_privacy",
]

CLIP = 1.0  # per-unit gradient norm (losses are O(1) on normalised data; Opacus's usual choice)
STATS_SHARE = 0.25  # the most of the target epsilon the normalisation statistics may spend
STATS_ERROR = 0.15  # the log10 error of the released scale aimed at (a factor 1.4): no less noise
RECORDING_WINDOWS = 4  # windows a sampled recording gives per step (`--dp-unit recording`)
TIMING_STEPS = 2  # private steps timed (after one warm-up) to plan a --minutes run
LOG10_SCALE = (-8.0, 6.0)  # bounds of a unit's log10 scale, in any physical unit (nV to MV)
VOLT_SCALE = (-8.0, -1.0)  # bounds of a voltage channel's log10 std in volts: 10 nV to 0.1 V
VOLT_PREFIXES = {"nV": 1e-9, "uV": 1e-6, "mV": 1e-3, "V": 1.0}  # a channel unit's size in volts
CENTRE_SCALES = 5.0  # a unit's centre is clipped to within this many scales of 0
ACCOUNTANT = "rdp"
# The RDP orders the accountant tries: Opacus's (1.1 to 63), lower ones for large epsilons, and
# higher ones, without which no epsilon below log(1/delta) / 62 (0.19 at delta 1e-5) can be shown.
ALPHAS = [1.01, 1.02, 1.05, *(1 + x / 10.0 for x in range(1, 100)), *range(12, 64), 80, 128, 256, 512, 1024]
STATS_METHOD = (
    "differentially private: one scale per physical unit (the mean log10 std of the windows of its "
    "channels, 10 nV to 0.1 V for a voltage, 1e-8 to 1e6 otherwise) and a centre per channel within 5 "
    "scales, summed per privacy unit with Gaussian noise (at most a quarter of the epsilon)"
)

REPLACED = (
    "normalisation statistics: released with the Gaussian mechanism (bounded per unit, noise "
    "multiplier for at most a quarter of the epsilon), counted in epsilon",
    "working rate: the recordings' own (none chosen from their spectrum, no fill spectrum kept)",
    "codebook: no k-means on private encodings, no moving-average update or dead-code restart: "
    "random or the shipped codec's (public data), fixed",
    "diffusion latent statistics: of uniformly random codes through the private tokenizer",
    "label proportions for generation: uniform, not the training counts",
    "best checkpoint: not chosen by held-out loss; the last weights are used",
    "batch statistics: none (no BatchNorm; LayerNorm is per sample); a critic is refused",
)


def _secret_seed() -> int:
    """A seed no one can know (the mechanism's sampling and noise must be secret)."""
    return secrets.randbits(63)


# ---------------------------------------------------------------------------- accounting


def epsilon_of(history: Sequence[Sequence[float]], delta: float) -> float:
    """Epsilon at `delta` of a history of `(noise multiplier, sample rate, steps)` entries, by
    Opacus's RDP accountant (0 for no step)."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(float(s), float(q), int(n)) for s, q, n in history if int(n) > 0]
    if not accountant.history:
        return 0.0
    with warnings.catch_warnings():
        # "Optimal order is the largest alpha": a release of very little epsilon, whose bound is
        # then a little above the tightest: safe, and said at every call otherwise.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        return float(accountant.get_epsilon(delta, alphas=ALPHAS))


def _lowest_sigma(eps: Callable[[float], float], target: float, what: str) -> float:
    """The smallest noise multiplier (to 0.1 %) whose `eps(sigma)` is at most `target`
    (epsilon falls as sigma grows): doubling, then bisection, as Opacus's `get_noise_multiplier`."""
    low, high = 0.0, 1.0
    while eps(high) > target:
        low, high = high, high * 2
        if high > 1e4:
            raise LimitError(
                f"epsilon {target:g} cannot be reached {what}; choose a larger --dp-epsilon or fewer steps"
            )
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        low, high = (low, mid) if eps(mid) <= target else (mid, high)
    return high


def stats_noise(target: float, delta: float, units: int | None = None, sensitivity: float = 0.0) -> float:
    """The noise multiplier of the statistics' two Gaussian releases: enough for a released log10
    scale within `STATS_ERROR` (one standard deviation: the noise x `sensitivity` / `units`), so
    many units spend little on them, but never less than the one that spends `STATS_SHARE` of the
    target (few units: the scale is then noisier; `units` None: that one)."""
    most = _lowest_sigma(
        lambda s: epsilon_of([(s, 1.0, 2)], delta), STATS_SHARE * target, "for the statistics"
    )
    if not units or sensitivity <= 0:
        return most
    return max(most, STATS_ERROR * units / sensitivity)


def calibrate(
    target: float,
    delta: float,
    steps: Mapping[str, int],
    rates: Mapping[str, float],
    stats_sigma: float | None = None,
) -> float:
    """The smallest noise multiplier sigma (to 0.1 %) for which the statistics' release (two
    Gaussian releases at `stats_sigma`: `stats_noise`'s by default) and `steps[s]` steps of sample
    rate `rates[s]` per stage compose to at most `target` epsilon at `delta` (Opacus's
    `get_noise_multiplier`, with the statistics in the history)."""
    stats = stats_noise(target, delta) if stats_sigma is None else stats_sigma

    def eps(sigma: float) -> float:
        return epsilon_of([(stats, 1.0, 2), *((sigma, rates[s], n) for s, n in steps.items())], delta)

    return _lowest_sigma(eps, target, f"with these steps and delta {delta:.3g}")


# ---------------------------------------------------------------------------- units and plan


def units_of(split: Split, unit: str) -> list[np.ndarray]:
    """The window indices of each privacy unit of `split`: one window each, or each file's."""
    if unit == "window":
        return [np.array([i]) for i in range(len(split))]
    return [np.flatnonzero(split.files == f) for f in np.unique(split.files)]


@dataclasses.dataclass(frozen=True)
class PrivacyPlan:
    """A private run's fixed choices: target, delta, unit, the noise multiplier for the planned
    steps of each stage at their sample rates (`expected` units per step out of `units`)."""

    target_epsilon: float
    delta: float
    unit: str
    units: int
    windows_per_unit: int
    clip: float
    noise_multiplier: float
    steps: Mapping[str, int]
    expected: Mapping[str, int]
    stats_noise_multiplier: float = 0.0  # of the statistics' release (0: none, as in a test's plan)

    def rate(self, stage: str, expected: int | None = None) -> float:
        """The sample rate of `stage` (its planned `expected` units per step, or those given)."""
        return min(1.0, (self.expected[stage] if expected is None else expected) / self.units)

    def record(self, history: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, Any]:
        """What project.json keeps (`ProjectRecord.privacy`): the plan, each stage's accountant
        history so far and the epsilon they spend (the statistics' release included)."""
        from opacus import __version__ as opacus_version

        stats = [[self.stats_noise_multiplier, 1.0, 2]] if self.stats_noise_multiplier else []
        entries = stats + [list(h) for s in (TOKENIZER, PRIOR) for h in history.get(s, [])]
        return {
            "mechanism": f"DP-SGD, Opacus {opacus_version}: per-unit clipping, Gaussian noise, "
            "Poisson sampling",
            "accountant": ACCOUNTANT,
            "target_epsilon": self.target_epsilon,
            "epsilon": round(epsilon_of(entries, self.delta), 6),
            "delta": self.delta,
            "unit": self.unit,
            "units": self.units,
            "windows_per_unit": self.windows_per_unit,
            "clip": self.clip,
            "noise_multiplier": self.noise_multiplier,
            "statistics_noise_multiplier": self.stats_noise_multiplier,
            "planned_steps": dict(self.steps),
            "sample_rate": {s: self.rate(s) for s in self.steps},
            "history": {"statistics": stats, **{s: [list(h) for h in v] for s, v in history.items()}},
            "replaced": list(REPLACED),
        }

    @classmethod
    def from_record(cls, privacy: Mapping[str, Any]) -> PrivacyPlan:
        """The plan a project stored (`record`'s answer)."""
        steps = {str(k): int(v) for k, v in privacy["planned_steps"].items()}
        units = int(privacy["units"])
        return cls(
            target_epsilon=float(privacy["target_epsilon"]),
            delta=float(privacy["delta"]),
            unit=str(privacy["unit"]),
            units=units,
            windows_per_unit=int(privacy["windows_per_unit"]),
            clip=float(privacy["clip"]),
            noise_multiplier=float(privacy["noise_multiplier"]),
            steps=steps,
            expected={s: max(1, round(float(q) * units)) for s, q in privacy["sample_rate"].items()},
            stats_noise_multiplier=float(privacy.get("statistics_noise_multiplier", 0.0)),
        )

    def line(self) -> str:
        """The log line of the plan: what the guarantee is and what it covers."""
        steps = ", ".join(f"{s} {n} steps at sample rate {self.rate(s):.3g}" for s, n in self.steps.items())
        if self.unit == "window":
            cover = (
                "per window: it bounds what the models reveal about any one training window; windows "
                "overlap (a stretch of signal is in up to 4) and a person gives many, so it says little "
                "about a person (use --dp-unit recording with many recordings)"
            )
        else:
            cover = (
                "per recording: it bounds what the models reveal about any one training file "
                "(a person or a session)"
            )
        return (
            f"differential privacy: epsilon {self.target_epsilon:g} at delta {self.delta:.3g}, "
            f"{self.units} {self.unit}s; noise multiplier {self.noise_multiplier:.3g}, clipping norm "
            f"{self.clip:g}; {steps}. "
            f"The guarantee is {cover}"
        )


def _batch_sizes(settings: TrainSettings, prepared: PreparedData, device: torch.device) -> dict[str, int]:
    """Windows per batch of each stage, as the stages choose them."""
    from vqstudio.training.prior_stage import CPU_BATCH_SIZE
    from vqstudio.training.settings import PRIOR_OPTIM, TOKENIZER_OPTIM
    from vqstudio.training.tokenizer_stage import default_batch_size

    if settings.batch_size:
        return {TOKENIZER: settings.batch_size, PRIOR: settings.batch_size}
    tok = default_batch_size(device, prepared.n_channels, prepared.window, TOKENIZER_OPTIM.gpu_batch_size)
    prior = CPU_BATCH_SIZE if device.type == "cpu" else PRIOR_OPTIM.gpu_batch_size
    return {TOKENIZER: tok, PRIOR: prior}


def plan_run(
    settings: TrainSettings, prepared: PreparedData, device: torch.device
) -> Generator[Event, None, tuple[TrainSettings, dict[str, Any]]]:
    """Plans a new private run (see the module): the steps of each stage (timed under
    `--minutes`), sigma for them, then the normalisation statistics released privately (into
    `prepared`, renormalised in place). Returns the settings with each stage's planned steps
    and the privacy record of a run that has taken no step yet."""
    if distributed.current().distributed:
        raise LimitError("--dp-epsilon trains in one process; leave out --nproc (or torchrun)")
    units = units_of(prepared.train, settings.dp_unit)
    k = 1 if settings.dp_unit == "window" else RECORDING_WINDOWS
    n = len(units)
    batches = _batch_sizes(settings, prepared, device)
    expected = {s: max(1, min(n, b // k)) for s, b in batches.items()}
    if settings.dp_unit == "recording" and n < 10:
        yield LogLine(
            f"differential privacy per recording with {n} recording{'s' if n != 1 else ''}: each step "
            "samples a large share of them, so much noise is needed for the epsilon asked",
            "warning",
        )
    steps = {TOKENIZER: settings.tokenizer_steps, PRIOR: settings.prior_steps if settings.wants_prior else 0}
    if settings.minutes is not None or settings.tokenizer_steps is None:
        timed = yield from _timed_steps(settings, prepared, device, expected, k)
        steps = {s: timed[s] if steps[s] is None else min(steps[s], timed[s]) for s in steps}
    elif steps[PRIOR] is None:
        from vqstudio.training.prior_stage import DEFAULT_PRIOR_STEPS

        steps[PRIOR] = DEFAULT_PRIOR_STEPS
    steps = {s: int(v) for s, v in steps.items() if v}
    delta = settings.dp_delta if settings.dp_delta is not None else 1.0 / n
    rates = {s: min(1.0, expected[s] / n) for s in steps}
    stats_sigma = stats_noise(settings.dp_epsilon, delta, n, scale_sensitivity(prepared.units))
    sigma = calibrate(settings.dp_epsilon, delta, steps, rates, stats_sigma) if steps else 1.0
    plan = PrivacyPlan(
        settings.dp_epsilon, delta, settings.dp_unit, n, k, CLIP, sigma, steps, expected, stats_sigma
    )
    generator = np.random.default_rng(_secret_seed())
    private_statistics(prepared, units, plan.stats_noise_multiplier, generator)
    yield LogLine(plan.line())
    yield LogLine("differential privacy replaces: " + "; ".join(REPLACED))
    planned = dataclasses.replace(
        settings, tokenizer_steps=steps.get(TOKENIZER, 0), prior_steps=steps.get(PRIOR, 0)
    )
    return planned, plan.record({})


def capped(budget: Budget | None, privacy: Mapping[str, Any] | None, stage: str) -> Budget | None:
    """`budget` with its steps cut to the private plan's for `stage` (unchanged without privacy):
    a private stage never steps beyond the steps its noise was calibrated for."""
    if budget is None or not privacy:
        return budget
    planned = int(privacy["planned_steps"].get(stage, 0))
    steps = planned if budget.steps is None else min(budget.steps, planned)
    return dataclasses.replace(budget, steps=steps)


# ---------------------------------------------------------------------------- statistics


def scale_sensitivity(units: Sequence[str]) -> float:
    """The l2 sensitivity of the scales' release for channels of these physical units (one value
    per unit, each bounded to `scale_bounds`): known before any sample is read."""
    halves = [(hi - lo) / 2 for lo, hi in (scale_bounds(u) for u in sorted(set(units)))]
    return float(np.sqrt(np.sum(np.square(halves))))


def scale_bounds(unit: str) -> tuple[float, float]:
    """The log10 interval a window's std in `unit` is clipped to, fixed before any data is seen:
    for a voltage (nV, uV, mV, V: what EEG, ECG, EMG, EOG record) 10 nV to 0.1 V, any biosignal's
    range; for any other unit `LOG10_SCALE`, wide enough for anything. A narrower interval means
    less noise for the same epsilon (the sensitivity is its half-width)."""
    volts = VOLT_PREFIXES.get(unit.strip().replace("\u00b5", "u").replace("\u03bc", "u"))
    if volts is None:
        return LOG10_SCALE
    lo, hi = VOLT_SCALE
    return lo - math.log10(volts), hi - math.log10(volts)


def private_statistics(
    prepared: PreparedData, units: list[np.ndarray], sigma: float, rng: np.random.Generator
) -> None:
    """Replaces `prepared`'s normalisation by one released with the Gaussian mechanism, and
    renormalises its windows (train and held-out) with it.

    Each unit gives, per physical unit of the channels (uV, mV...), their log10 scale (the mean
    over the unit's windows and the group's channels of each window's log10 std, clipped to
    `scale_bounds`) and, in a second release, each channel's centre in released scales (clipped to
    +-`CENTRE_SCALES`); each release adds to the units' sum Gaussian
    noise of `sigma` x its sensitivity (the largest a unit's centred vector can be, in l2) and
    divides by the number of units (public, as Opacus's sample rate takes it). Two Gaussian
    mechanisms at `sigma`: the plan's accountant counts them.
    """
    train = prepared.train
    mean0, std0 = prepared.mean.astype(np.float64), prepared.std.astype(np.float64)
    win_mean, win_log = _window_moments(train, prepared.window, mean0, std0)  # (C, N windows) each
    c, n = win_mean.shape[0], len(units)
    names = prepared.units if len(prepared.channels) == c else [""] * c
    # One scale per physical unit (the uV channels share one, the mV ones another...): a released
    # value per channel would need sqrt(channels) times the noise, 8 times for 64 EEG channels.
    groups = sorted(set(names))
    member = np.array([groups.index(u) for u in names])
    bounds = np.array([scale_bounds(u) for u in groups])  # (G, 2)
    lo, hi = bounds[member, 0:1], bounds[member, 1:2]  # (C, 1) each
    mid, half = (bounds[:, 0] + bounds[:, 1]) / 2, (bounds[:, 1] - bounds[:, 0]) / 2  # (G,)
    onehot = np.eye(len(groups))[member]  # (C, G)
    # Release 1: per unit, each group's mean log10 scale over its channels, centred in its interval.
    per_unit = np.stack(
        [(np.clip(win_log[:, u], lo, hi).mean(axis=1) @ onehot) / onehot.sum(0) - mid for u in units]
    )  # (U, G)
    sens = float(np.sqrt(np.sum(half**2)))
    total = per_unit.sum(0) + rng.normal(0, sigma * sens, len(groups))
    scale = (10 ** (np.clip(total / n, -half, half) + mid))[member]  # (C,)
    # Release 2: per-unit centre in released scales.
    per_centre = np.stack(
        [np.clip(win_mean[:, u] / scale[:, None], -CENTRE_SCALES, CENTRE_SCALES).mean(axis=1) for u in units]
    )
    sens = CENTRE_SCALES * math.sqrt(c)
    centre = (per_centre.sum(0) + rng.normal(0, sigma * sens, c)) / n
    centre = np.clip(centre, -CENTRE_SCALES, CENTRE_SCALES) * scale
    mean, std = centre.astype(np.float32), scale.astype(np.float32)
    for split in (prepared.train, prepared.val):
        raw = split.data.astype(np.float64) * std0[:, None] + mean0[:, None]
        split.data = ((raw - mean[:, None]) / std[:, None]).astype(np.float32)
    prepared.mean, prepared.std = mean, std


def _window_moments(
    split: Split, window: int, mean0: np.ndarray, std0: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Each window's per-channel mean and log10 std in physical units, `(C, N)` each, a chunk of
    windows at a time (window by window: a cumulative sum over a whole recording loses the small
    windows' variance beside one of huge values)."""
    means, logs = [], []
    offsets = np.arange(window)
    for i in range(0, len(split), chunk):
        idx = split.starts[i : i + chunk, None] + offsets[None, :]
        x = split.data[:, idx].astype(np.float64) * std0[:, None, None] + mean0[:, None, None]
        means.append(x.mean(axis=2))
        logs.append(np.log10(np.maximum(x.std(axis=2), 1e-300)))
    return np.concatenate(means, axis=1), np.concatenate(logs, axis=1)


# ---------------------------------------------------------------------------- the step


def per_unit_gradients(
    model: torch.nn.Module,
    loss: Callable[..., tuple[torch.Tensor, Any]],
    inputs: Sequence[torch.Tensor | None],
) -> tuple[dict[str, torch.Tensor], Any]:
    """Each unit's gradient of `loss(module, *unit_inputs)` (`(loss, aux)`), by `vmap` over the
    units (dim 0 of each input; None inputs are passed as None): `{name: (U, *shape)}` and the
    aux values stacked over units. Every unit's loss sees that unit alone."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def one(p: dict[str, torch.Tensor], *unit: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
        return loss({**p, **frozen, **buffers}, *unit)

    in_dims = (None, *(None if t is None else 0 for t in inputs))
    with warnings.catch_warnings():
        # vmap runs attention through its slower fallback and says so at every call: known, and
        # what the per-unit gradients cost (the README gives the step time).
        warnings.filterwarnings("ignore", message="There is a performance drop")
        return vmap(grad(one, has_aux=True), in_dims=in_dims, randomness="different")(params, *inputs)


class PrivateSGD:
    """The private mechanism of one stage: Poisson sampling of units, Opacus's `DPOptimizer`
    (clipping per unit, noise, AdamW's step) and the accountant's history of the stage."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        plan: PrivacyPlan,
        stage: str,
        units: list[np.ndarray],
        device: torch.device,
        history: Sequence[Sequence[float]] = (),
    ) -> None:
        from opacus.optimizers import DPOptimizer

        self.model, self.plan, self.stage, self.units = model, plan, stage, units
        self.sampler = torch.Generator().manual_seed(_secret_seed())
        noise = torch.Generator(device=device).manual_seed(_secret_seed())
        self.optimizer = DPOptimizer(
            optimizer,
            noise_multiplier=plan.noise_multiplier,
            max_grad_norm=plan.clip,
            expected_batch_size=plan.expected[stage],
            loss_reduction="mean",
            generator=noise,
        )
        self.history: list[list[float]] = [list(h) for h in history]
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    @property
    def steps_taken(self) -> int:
        return sum(int(h[2]) for h in self.history)

    def sample(self, batch_size: int) -> tuple[np.ndarray, int]:
        """Poisson sampling: the windows `(U, k)` of the units drawn this step (each with
        probability q, from `batch_size` windows a step), and the expected units per step."""
        k = self.plan.windows_per_unit
        expected = max(1, min(len(self.units), batch_size // k))
        q = min(1.0, expected / len(self.units))
        chosen = torch.nonzero(torch.rand(len(self.units), generator=self.sampler) < q)[:, 0].tolist()
        rows = []
        for u in chosen:
            windows = self.units[u]
            pick = torch.randint(len(windows), (k,), generator=self.sampler).numpy() if k > 1 else [0]
            rows.append(windows[pick])
        return np.array(rows, dtype=np.int64).reshape(len(chosen), k), expected

    def step(self, grads: Mapping[str, torch.Tensor], expected: int) -> None:
        """Clips each unit's gradient (`grads`: `(U, *shape)` per parameter name), adds the noise
        and steps (Opacus's `DPOptimizer`), and counts the step in the accountant's history."""
        self.optimizer.zero_grad(set_to_none=True)
        for name, p in self.params:
            p.grad_sample = grads[name].to(p.dtype) if name in grads else torch.zeros(0, *p.shape)
        self.optimizer.expected_batch_size = expected
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        entry = [self.plan.noise_multiplier, min(1.0, expected / len(self.units)), 1]
        if self.history and self.history[-1][:2] == entry[:2]:
            self.history[-1][2] += 1
        else:
            self.history.append(entry)

    def empty_grads(self) -> dict[str, torch.Tensor]:
        """Gradients of no unit (a Poisson draw may choose none: the step is noise alone)."""
        return {n: torch.zeros(0, *p.shape, device=p.device, dtype=p.dtype) for n, p in self.params}


def _record_privacy(project: Project, stage: str, history: Sequence[Sequence[float]]) -> None:
    """Puts `stage`'s accountant history into project.json's privacy record (saved with the
    checkpoint that follows), and the epsilon spent by every stage so far."""
    privacy = dict(project.record.privacy or {})
    if not privacy:
        return
    plan = PrivacyPlan.from_record(privacy)
    histories = {s: v for s, v in privacy["history"].items() if s != "statistics"}
    histories[stage] = [list(h) for h in history]
    project.update(privacy=plan.record(histories))


def _saved_history(project: Project, stage: str) -> list[list[float]]:
    """The accountant history a stage's checkpoint kept (empty for a new stage)."""
    saved = resume_progress(project, stage) or {}
    return [list(h) for h in (saved.get("privacy") or {}).get("history", [])]


# ---------------------------------------------------------------------------- the stages


class PrivateTokenizerStage(TokenizerStage):
    """The tokenizer stage under DP-SGD: its codebook random (or the shipped codec's) and fixed,
    each step private (`PrivateSGD`), no best checkpoint chosen by held-out loss."""

    def __init__(self, context: StageContext, optim: OptimConfig, resume: bool = False) -> None:
        super().__init__(context, optim, resume)
        if self.model.critic is not None:
            raise LimitError("differential privacy cannot train a tokenizer critic; use a preset without one")
        plan = PrivacyPlan.from_record(self.project.record.privacy or {})
        history = _saved_history(self.project, TOKENIZER) if resume else []
        units = units_of(self.prepared.train, plan.unit)
        self.private = PrivateSGD(self.model, self.optimizer, plan, TOKENIZER, units, self.device, history)
        self.optimizer = self.private.optimizer
        self._loss_names: list[str] | None = None
        self.messages.append(
            LogLine("tokenizer: codebook fixed under differential privacy (no k-means, no moving averages)")
        )

    def _init_codebook(self, batch_size: int) -> None:
        """No k-means on private encodings: the codebook stays as drawn from the seed."""

    def step(self, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """One private step: sampled units, each one's gradient, clipped and noised."""
        rows, expected = self.private.sample(batch_size)
        model, k = self.model, self.private.plan.windows_per_unit
        if rows.shape[0] == 0:
            self.private.step(self.private.empty_grads(), expected)
            return self._no_losses()
        x = self.batches.gather(torch.from_numpy(rows.reshape(-1)))
        x = x.reshape(rows.shape[0], k, *x.shape[1:])

        def loss(state: dict[str, torch.Tensor], xu: torch.Tensor) -> tuple[torch.Tensor, Any]:
            out = functional_call(model, state, (xu,))
            return out.loss, (out.losses, out.indices)

        grads, (losses, codes) = per_unit_gradients(model, loss, [x])
        self.private.step(grads, expected)
        codes = codes.reshape(-1, *codes.shape[2:])
        self.codes_seen[codes[:, :: self.cfg.n_quantizers].flatten()] = True
        self._loss_names = list(losses)
        return {name: v.detach().float().mean() for name, v in losses.items()}

    def _no_losses(self) -> dict[str, torch.Tensor]:
        """The loss names of a step that sampled no unit (NaN: no value), as the others name them."""
        if self._loss_names is None:
            with torch.no_grad():  # random input: the names only, nothing of the data
                shape = (1, self.cfg.channels, self.cfg.window)
                self._loss_names = list(self.model(torch.randn(shape, device=self.device)).losses)
        return {name: torch.tensor(float("nan"), device=self.device) for name in self._loss_names}

    def held_out_loss(self, metrics: Mapping[str, float]) -> float | None:
        """None: a private run keeps no best checkpoint chosen by held-out data."""
        return None

    def write_weights(self, step: int) -> None:
        _record_privacy(self.project, TOKENIZER, self.private.history)
        super().write_weights(step)

    def progress_fields(self) -> dict[str, Any]:
        return {**super().progress_fields(), "privacy": {"history": self.private.history}}


class PrivatePriorStage(PriorStage):
    """The prior stage under DP-SGD: latent statistics of random codes, uniform label
    proportions, each step private, no best checkpoint chosen by held-out loss."""

    def __init__(self, context: StageContext, optim: OptimConfig, size: str | None = None) -> None:
        super().__init__(context, optim, size)
        plan = PrivacyPlan.from_record(self.project.record.privacy or {})
        history = _saved_history(self.project, PRIOR) if self.resumed else []
        units = units_of(self.prepared.train, plan.unit)
        # Generation draws labels in these proportions: uniform, not the private training counts.
        self.label_counts = np.ones_like(self.label_counts)
        self.private = PrivateSGD(self.model, self.optimizer, plan, PRIOR, units, self.device, history)
        self.optimizer = self.private.optimizer

    def prepare_model(self) -> None:
        """The prior's data-measured buffers (the diffusion prior's latent statistics) from codes
        drawn uniformly at random and decoded through the (private) tokenizer: nothing of the
        training codes. Seeded: it is not the mechanism's randomness, and holds no data."""
        shape = self.train_codes.shape
        gen = torch.Generator().manual_seed(1234)
        codes = torch.randint(self.tokenizer.cfg.codebook_size, (256, *shape[1:]), generator=gen)
        self.model.prepare_training(self.tokenizer, codes.to(self.train_codes.device))

    def step(self, index: int, batch_size: int) -> dict[str, torch.Tensor]:
        """One private step on sampled units' codes (every other one a mid-stream crop)."""
        rows, expected = self.private.sample(batch_size)
        if rows.shape[0] == 0:
            self.private.step(self.private.empty_grads(), expected)
            return {"loss": torch.tensor(float("nan"), device=self.device)}
        index_t = torch.from_numpy(rows).to(self.device)
        codes = self.train_codes[index_t]  # (U, k, Q, L)
        labels = None if self.train_labels is None else self.train_labels[index_t]
        model, tokenizer, noise, mid = self.model, self.tokenizer, self.noise_gen, bool(index % 2)

        def loss(
            state: dict[str, torch.Tensor], cu: torch.Tensor, lu: torch.Tensor | None
        ) -> tuple[torch.Tensor, Any]:
            with torch.nn.utils.stateless._reparametrize_module(model, state):
                value = model.training_loss(cu, lu, noise, tokenizer=tokenizer, mid_stream=mid)
            return value, value.detach()

        grads, values = per_unit_gradients(model, loss, [codes, labels])
        self.private.step(grads, expected)
        return {"loss": values.float().mean()}

    def held_out_loss(self, metrics: Mapping[str, float]) -> float | None:
        """None: a private run keeps no best checkpoint chosen by held-out data."""
        return None

    def write_weights(self, step: int) -> None:
        _record_privacy(self.project, PRIOR, self.private.history)
        super().write_weights(step)

    def progress_fields(self) -> dict[str, Any]:
        return {**super().progress_fields(), "privacy": {"history": self.private.history}}


# ---------------------------------------------------------------------------- planning by time


def _timed_steps(
    settings: TrainSettings,
    prepared: PreparedData,
    device: torch.device,
    expected: Mapping[str, int],
    k: int,
) -> Generator[Event, None, dict[str, int]]:
    """The steps each stage can take in its share of `settings.minutes` (the default minutes
    when no budget is given), from the time of `TIMING_STEPS` private steps of a fresh model on
    random windows and codes (nothing of the recordings), after one warm-up step."""
    from vqstudio.priors.store import build_prior
    from vqstudio.training.prior_stage import prior_config
    from vqstudio.training.settings import DEFAULT_MINUTES
    from vqstudio.training.tokenizer_stage import build_tokenizer, starting_codec

    minutes = settings.minutes if settings.minutes is not None else DEFAULT_MINUTES
    share = settings.prior_share if settings.wants_prior else 0.0
    seconds = {TOKENIZER: minutes * 60 * (1 - share), PRIOR: minutes * 60 * share}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        tokenizer = build_tokenizer(None, prepared, settings, device, codec=starting_codec(settings))
        x = torch.randn(expected[TOKENIZER], k, prepared.n_channels, prepared.window, device=device)

        def tok_loss(state: dict[str, torch.Tensor], xu: torch.Tensor) -> tuple[torch.Tensor, Any]:
            out = functional_call(tokenizer, state, (xu,))
            return out.loss, ()

        per_step = {TOKENIZER: _time(lambda: per_unit_gradients(tokenizer, tok_loss, [x]))}
        if seconds[PRIOR] > 0:
            n_labels = len(prepared.label_names) if settings.labelled else 0
            size = settings.preset or ("small" if device.type == "cpu" else "medium")
            prior = build_prior(prior_config(settings.prior, tokenizer, n_labels, size)).to(device)
            tokenizer.eval()
            cfg = tokenizer.cfg
            codes = torch.randint(
                cfg.codebook_size, (expected[PRIOR], k, cfg.prior_levels, cfg.latent_length), device=device
            )
            gen = torch.Generator(device=device).manual_seed(0)

            def prior_loss(state: dict[str, torch.Tensor], cu: torch.Tensor) -> tuple[torch.Tensor, Any]:
                with torch.nn.utils.stateless._reparametrize_module(prior, state):
                    return prior.training_loss(cu, None, gen, tokenizer=tokenizer), ()

            per_step[PRIOR] = _time(lambda: per_unit_gradients(prior, prior_loss, [codes]))
    steps = {s: max(1, int(seconds[s] / per_step[s])) if s in per_step else 0 for s in seconds}
    yield LogLine(
        "differential privacy: steps planned from a timing on random data: "
        + ", ".join(f"{s} {steps[s]} ({per_step[s] * 1000:.0f} ms a step)" for s in per_step)
    )
    return steps


def _time(step: Callable[[], Any]) -> float:
    """Seconds one call of `step` takes (the mean of `TIMING_STEPS`, after a warm-up call)."""
    step()
    t = time.perf_counter()
    for _ in range(TIMING_STEPS):
        step()
    # The optimizer's clip, noise and update cost little beside the per-unit gradients: a tenth more.
    return 1.1 * (time.perf_counter() - t) / TIMING_STEPS


def with_privacy(record: ProjectRecord, privacy: Mapping[str, Any]) -> ProjectRecord:
    """A new project's record with its privacy plan, and its normalisation said to be private."""
    norm = dataclasses.replace(record.data.normalization, method=STATS_METHOD)
    data = dataclasses.replace(record.data, normalization=norm)
    return dataclasses.replace(record, data=data, privacy=dict(privacy))
