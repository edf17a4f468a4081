"""Differentially private training (`vqstudio.training.private`, `--dp-epsilon`): each unit's
gradient is its own, clipped to the norm and noised (Opacus's DPOptimizer); epsilon grows with
the steps and never passes the target; nothing learns from the data outside the mechanism (the
codebook, the normalisation, the diffusion prior's latent statistics, the best checkpoint); the
command line sets it and the project records it; at a small epsilon the white-box attacks that
catch a memorizing model are back near 0.5."""

from __future__ import annotations

import itertools
import json
import os
import threading

import numpy as np
import pytest
import torch
from scipy.signal import lfilter
from tiny import tiny_cli_args, train_tiny, write_input

from vqstudio.cli.main import main
from vqstudio.errors import ProjectError
from vqstudio.events import run_to_end
from vqstudio.training import TrainSettings, private, train
from vqstudio.training.budget import Budget


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def seeds(monkeypatch):
    """The mechanism's secret seeds made known (a test's only), from a list that can be changed."""
    box = {"next": 100}

    def seed() -> int:
        box["next"] += 1
        return box["next"]

    monkeypatch.setattr(private, "_secret_seed", seed)
    return box


def _plan(units: int, expected: int, sigma: float, k: int = 1) -> private.PrivacyPlan:
    return private.PrivacyPlan(
        target_epsilon=1.0,
        delta=1e-5,
        unit="window",
        units=units,
        windows_per_unit=k,
        clip=1.0,
        noise_multiplier=sigma,
        steps={"tokenizer": 10},
        expected={"tokenizer": expected},
    )


# ------------------------------------------------------------------------ the mechanism


def test_each_unit_gradient_is_its_own_and_is_clipped_then_noised(seeds) -> None:
    """The tokenizer's per-unit gradients (vmap) equal the gradient of that window alone, whatever
    else is in the batch; Opacus's optimizer clips each to norm 1 before summing (the summed
    gradient is the sum of the clipped ones), and adds noise of sigma x C: with sigma 0 the step is
    the clipped mean exactly, with sigma > 0 it differs, and two noise seeds give two updates."""
    from vqstudio.models.tokenizer import Tokenizer, preset_config

    torch.manual_seed(0)
    model = Tokenizer(preset_config("small", 2, 64), with_critic=False)
    x = torch.randn(3, 1, 2, 64) * 3  # three units of one window: losses far above the clip

    def loss(state, xu):
        out = torch.func.functional_call(model, state, (xu,))
        return out.loss, out.losses

    grads, _ = private.per_unit_gradients(model, loss, [x])
    other, _ = private.per_unit_gradients(model, loss, [torch.stack([x[0], -x[2], x[1] * 2])])
    model.zero_grad()
    model(x[0]).loss.backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name][0], p.grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(other[name][0], grads[name][0])  # unit 0 alone decides its gradient
    norms = torch.stack([g.reshape(3, -1).norm(dim=1) for g in grads.values()], 1).norm(dim=1)
    assert (norms > 1.0).all()

    def one_step(sigma: float) -> dict[str, torch.Tensor]:
        torch.manual_seed(1)
        m = Tokenizer(preset_config("small", 2, 64), with_critic=False)
        m.load_state_dict(model.state_dict())
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        units = [np.array([i]) for i in range(3)]
        sgd = private.PrivateSGD(m, opt, _plan(3, 3, sigma), "tokenizer", units, torch.device("cpu"))
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        clipped = {}
        for name, _p in sgd.params:
            factor = (1.0 / (norms + 1e-6)).clamp(max=1.0)
            clipped[name] = torch.einsum("i,i...", factor, grads[name])
        sgd.step({n: g.clone() for n, g in grads.items()}, expected=3)
        # SGD at lr 1: the update is minus the noised, clipped sum over the expected batch.
        steps = {n: before[n] - p.detach() for n, p in m.named_parameters()}
        if sigma == 0:
            for name in steps:
                torch.testing.assert_close(steps[name], clipped[name] / 3, rtol=1e-4, atol=1e-7)
        assert sgd.history == [[sigma, 1.0, 1]]
        return steps

    one_step(0.0)
    a, b = one_step(1.0), one_step(1.0)  # the seeds fixture gives each a new noise seed
    assert any(not torch.allclose(a[n], b[n]) for n in a)
    seeds["next"] = 102  # a's seeds again (the sampler's, then the noise's): a's update again
    replay = one_step(1.0)
    assert all(torch.equal(replay[n], a[n]) for n in a)


def test_poisson_sampling_draws_each_unit_with_its_rate(seeds) -> None:
    units = [np.array([i]) for i in range(200)]
    sgd = private.PrivateSGD(
        torch.nn.Linear(2, 1),
        torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1),
        _plan(200, 20, 1.0),
        "tokenizer",
        units,
        torch.device("cpu"),
    )
    sizes = [sgd.sample(20)[0].shape[0] for _ in range(300)]
    assert 18 < np.mean(sizes) < 22 and np.std(sizes) > 2  # variable: Poisson, not a fixed batch
    rec = private.PrivateSGD(
        torch.nn.Linear(2, 1),
        torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1),
        _plan(3, 1, 1.0, k=4),
        "tokenizer",
        [np.arange(0, 10), np.arange(10, 20), np.arange(20, 30)],
        torch.device("cpu"),
    )
    rows, expected = rec.sample(4)
    assert expected == 1 and rows.shape[1] == 4
    assert all(len({r // 10 for r in row}) == 1 for row in rows)  # a unit's windows are one recording's


def test_epsilon_grows_with_steps_and_never_exceeds_the_target() -> None:
    steps, rates = {"tokenizer": 300, "prior": 200}, {"tokenizer": 0.05, "prior": 0.1}
    sigma = private.calibrate(3.0, 1e-5, steps, rates)
    stats = [(private.stats_noise(3.0, 1e-5), 1.0, 2)]
    assert 0.74 < private.epsilon_of(stats, 1e-5) <= 0.75  # at most a quarter of the target to them
    # With many units the scale is precise enough for less: 100,000 windows of one unit (uV).
    sens = private.scale_sensitivity(["uV", "uV"])
    assert sens == pytest.approx(3.5)
    plenty = private.stats_noise(3.0, 1e-5, 100_000, sens)
    assert plenty == pytest.approx(private.STATS_ERROR * 100_000 / sens)
    assert private.epsilon_of([(plenty, 1.0, 2)], 1e-5) < 0.01
    spent = [private.epsilon_of([*stats, (sigma, 0.05, n)], 1e-5) for n in (0, 10, 100, 300)] + [
        private.epsilon_of([*stats, (sigma, 0.05, 300), (sigma, 0.1, n)], 1e-5) for n in (50, 200)
    ]
    assert all(a < b for a, b in itertools.pairwise(spent)), spent
    assert 2.9 < spent[-1] <= 3.0  # calibrated to the target, not beyond it
    assert private.calibrate(3.0, 1e-5, {"tokenizer": 600}, {"tokenizer": 0.05}) > private.calibrate(
        3.0, 1e-5, {"tokenizer": 300}, {"tokenizer": 0.05}
    )  # more steps, more noise
    plan = {"planned_steps": {"tokenizer": 40, "prior": 7}}
    assert private.capped(Budget(steps=100), plan, "tokenizer").steps == 40
    assert private.capped(Budget(seconds=60.0), plan, "prior") == Budget(steps=7, seconds=60.0)
    assert private.capped(Budget(steps=5), plan, "tokenizer").steps == 5
    assert private.capped(Budget(steps=100), None, "tokenizer").steps == 100


def test_statistics_are_released_with_noise_near_the_truth() -> None:
    """The Gaussian mechanism's normalisation: near the data's centre and scale with many units,
    different for another noise draw, and one wild unit moves it by a bounded amount."""
    from vqstudio.data.prep import ChannelInfo, PreparedData, PrepConfig, Split

    # Two physical units, so two scales (channels of one unit share theirs).
    units = (("C3", "uV"), ("ECG", "mV"))
    channels = [ChannelInfo(name, unit, "", "", -1e4, 1e4, 64.0) for name, unit in units]

    rng = np.random.default_rng(0)
    data = (rng.standard_normal((2, 40_000)) * [[30.0], [0.2]] + [[5.0], [-1.0]]).astype(np.float32)

    def prepared(x: np.ndarray) -> PreparedData:
        starts = np.arange(0, x.shape[1] - 64, 16)
        split = Split(x.copy(), starts, -np.ones(len(starts), int), np.zeros(len(starts), int))
        empty = Split(x[:, :64].copy(), np.array([0]), np.array([-1]), np.array([0]))
        return PreparedData(
            PrepConfig(),
            channels,
            64.0,
            64,
            np.zeros(2, np.float32),
            np.ones(2, np.float32),
            split,
            empty,
            [],
        )

    out = []
    for seed in (1, 2):
        p = prepared(data)
        private.private_statistics(p, private.units_of(p.train, "window"), 2.0, np.random.default_rng(seed))
        out.append((p.mean.copy(), p.std.copy()))
        assert abs(float(p.train.data.std()) - 1.0) < 0.2  # renormalised with the released statistics
    (m1, s1), (_m2, s2) = out
    np.testing.assert_allclose(s1, [30.0, 0.2], rtol=0.15)
    assert abs(m1[0] - 5.0) < 3.0 and abs(m1[1] + 1.0) < 0.05, m1  # within a tenth of a scale
    assert not np.array_equal(s1, s2)
    wild = data.copy()
    wild[:, :64] = 1e12  # one window of absurd values
    p = prepared(wild)
    private.private_statistics(p, private.units_of(p.train, "window"), 2.0, np.random.default_rng(1))
    np.testing.assert_allclose(p.std, s1, rtol=0.05)


# ------------------------------------------------------------------------ a private run


def test_private_run_learns_nothing_outside_the_mechanism(tmp_path, seeds, monkeypatch) -> None:
    """A private run never initialises the codebook by k-means nor updates it by moving averages,
    its diffusion prior's latent statistics come from random codes, it writes no best checkpoint
    chosen by held-out loss, and project.json holds the plan and the epsilon spent (below the
    target); another noise seed gives other weights."""
    from vqstudio.models.quantizer import ResidualQuantizer
    from vqstudio.priors.diffusion import DiffusionDenoiser

    def refuse(*args, **kwargs):
        raise AssertionError("codebook state changed from data under differential privacy")

    monkeypatch.setattr(ResidualQuantizer, "update", refuse)
    monkeypatch.setattr(ResidualQuantizer, "init_codebook", refuse)
    seen = []
    original = DiffusionDenoiser.prepare_training
    monkeypatch.setattr(
        DiffusionDenoiser,
        "prepare_training",
        lambda self, tok, codes: (seen.append(codes), original(self, tok, codes)),
    )
    src = write_input(tmp_path, "a", channels=2, seconds=60)
    proj = train_tiny([src], tmp_path / "p", dp_epsilon=4.0, tokenizer_steps=4, prior_steps=3)
    record = json.loads((tmp_path / "p" / "project.json").read_text())
    privacy = record["privacy"]
    assert privacy["target_epsilon"] == 4.0 and 0 < privacy["epsilon"] <= 4.0
    assert privacy["unit"] == "window" and privacy["units"] == record["data"]["split"]["train_windows"]
    assert privacy["delta"] == pytest.approx(1 / privacy["units"])
    assert privacy["clip"] == 1.0 and privacy["noise_multiplier"] > 0
    assert privacy["history"]["tokenizer"] == [
        [privacy["noise_multiplier"], pytest.approx(4 / 105, rel=0.1), 4]
    ]
    assert sum(h[2] for h in privacy["history"]["prior"]) == 3
    assert record["data"]["normalization"]["method"].startswith("differentially private")
    assert "working" not in record["data"]  # no working rate chosen from the spectrum
    assert not os.path.exists(os.path.join(proj, "tokenizer.best.safetensors"))
    assert not os.path.exists(os.path.join(proj, "prior.best.safetensors"))
    # The latent statistics saw 256 uniformly random codes, not the 105 training windows' codes.
    assert len(seen) == 1 and seen[0].shape[0] == 256
    from vqstudio.project import Project

    project = Project.open(proj)
    tok = project.load_tokenizer()
    torch.manual_seed(0)  # the run's seed: the codebook as drawn, never moved by data
    from vqstudio.models.tokenizer import Tokenizer

    fresh = Tokenizer(tok.cfg)
    for name in ("codebook", "ema_size", "ema_sum", "ema_usage"):
        assert torch.equal(getattr(tok.quantizer, name), getattr(fresh.quantizer, name)), name
    # Other secret seeds (noise, sampling, statistics): other weights from the same data.
    seeds["next"] = 500
    other = train_tiny([src], tmp_path / "q", dp_epsilon=4.0, tokenizer_steps=4, prior_steps=0)
    tok2 = Project.open(other).load_tokenizer()
    assert not torch.equal(tok.encoder.net[0].weight, tok2.encoder.net[0].weight)


def test_a_time_budget_plans_its_steps_and_stops_within_them(tmp_path, seeds) -> None:
    """Under --minutes the steps are planned from a timing on random data; the run stops at the
    plan or the time, whichever first, and spends at most the target."""
    src = write_input(tmp_path, "a", channels=2, seconds=60)
    events = list_events(
        TrainSettings(
            inputs=(src,),
            window_s=2.0,
            minutes=0.15,
            device="cpu",
            threads=1,
            preset="small",
            batch_size=4,
            dp_epsilon=8.0,
        ),
        str(tmp_path / "p"),
    )
    assert any("steps planned from a timing on random data" in e for e in events)
    record = json.loads((tmp_path / "p" / "project.json").read_text())
    privacy = record["privacy"]
    for stage in ("tokenizer", "prior"):
        taken = sum(h[2] for h in privacy["history"].get(stage, []))
        assert taken <= privacy["planned_steps"][stage]
        assert record["progress"][stage]["step"] == taken
    assert privacy["epsilon"] <= 8.0


def list_events(settings: TrainSettings, folder: str) -> list[str]:
    """The log lines of a training run."""
    from vqstudio.events import LogLine

    lines: list[str] = []
    for event in _events(train(settings, folder, threading.Event())):
        if isinstance(event, LogLine):
            lines.append(event.message)
    return lines


def _events(job):
    """Every event of a job (its result dropped)."""
    yield from job


def test_cli_flag_sets_privacy_and_info_shows_it(tmp_path, capsys, seeds) -> None:
    src = write_input(tmp_path, "a", channels=2, seconds=60)
    proj = str(tmp_path / "p")
    assert (
        main(["train", src, "--project", proj, *tiny_cli_args(), "--dp-epsilon", "6", "--dp-delta", "1e-4"])
        == 0
    )
    out = capsys.readouterr().out
    assert "differential privacy: epsilon" in out and "spent of 6 at delta 0.0001, per window" in out
    record = json.loads((tmp_path / "p" / "project.json").read_text())
    assert record["privacy"]["delta"] == 1e-4 and record["privacy"]["epsilon"] <= 6
    assert main(["info", proj]) == 0
    assert "spent of 6" in capsys.readouterr().out
    assert main(["info", proj, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["privacy"]["target_epsilon"] == 6
    # Every generated file says, in its annotations, the epsilon its models spent.
    synth = str(tmp_path / "s.edf")
    assert main(["generate", proj, "--seconds", "4", "--out", synth, "--device", "cpu"]) == 0
    from vqstudio.io import read_recording

    note = " ".join(a.text for a in read_recording(synth).annotations)
    spent = record["privacy"]["epsilon"]
    assert f"differential privacy epsilon {spent:.3g} at delta 0.0001 per window" in note
    # A resume keeps the project's privacy: a new epsilon is refused, as is one out of range.
    assert main(["train", "--project", proj, "--resume", "--dp-epsilon", "1"]) == 2
    with pytest.raises(SystemExit) as exit_info:  # argparse's range check
        main(["train", src, "--project", str(tmp_path / "q"), "--dp-epsilon", "0"])
    assert exit_info.value.code == 2
    assert main(["train", src, "--project", str(tmp_path / "q"), "--dp-delta", "0.1"]) == 2
    assert main(["train", src, "--project", str(tmp_path / "q"), "--dp-epsilon", "1", "--nproc", "2"]) == 2
    assert "--dp-epsilon" in capsys.readouterr().err


def test_settings_default_to_no_privacy_and_keep_the_working_rate() -> None:
    plain = TrainSettings(inputs=("a.edf",))
    assert not plain.private and plain.prep.working_rate
    dp = TrainSettings(inputs=("a.edf",), dp_epsilon=10.0)
    assert dp.private and not dp.prep.working_rate
    with pytest.raises(ValueError, match="--dp-unit"):
        TrainSettings(dp_epsilon=1.0, dp_unit="person")


# ------------------------------------------------------------------------ calibration


def test_small_epsilon_keeps_the_white_box_attacks_near_one_half(seeds) -> None:
    """The memorizing setup of test_membership (a tokenizer 30 steps and an autoregressive prior
    300 steps on a handful of windows of noise: AUC 1.00 there), trained with DP-SGD at epsilon
    1 (delta 1e-5, each window a unit sampled at rate 1): each model's own loss tells its 16
    training windows from 40 fresh ones no better than chance (|AUC - 0.5| < 0.25)."""
    from vqstudio.evaluation import white_box
    from vqstudio.evaluation.roc import roc_summary
    from vqstudio.models.tokenizer import Tokenizer, preset_config
    from vqstudio.priors.config import preset
    from vqstudio.priors.registry import prior_kind

    rng = np.random.default_rng(0)

    def noise(n: int) -> np.ndarray:
        e = rng.standard_normal((n, 2, 64))
        return (lfilter([1.0], [1, -1.2, 0.5], e, axis=2) / 1.5).astype(np.float32)

    members, fresh = noise(16), noise(40)
    units = [np.array([i]) for i in range(16)]
    steps = {"tokenizer": 30, "prior": 300}
    sigma = private.calibrate(1.0, 1e-5, steps, {"tokenizer": 1.0, "prior": 1.0})

    def plan(stage: str) -> private.PrivacyPlan:
        return private.PrivacyPlan(1.0, 1e-5, "window", 16, 1, 1.0, sigma, steps, {stage: 16})

    torch.manual_seed(0)
    tokenizer = Tokenizer(preset_config("small", 2, 64), with_critic=False)
    sgd = private.PrivateSGD(
        tokenizer,
        torch.optim.Adam(tokenizer.parameters(), lr=3e-3),
        plan("tokenizer"),
        "tokenizer",
        units,
        torch.device("cpu"),
    )
    x = torch.from_numpy(members)

    def tok_loss(state, xu):
        return torch.func.functional_call(tokenizer, state, (xu,)).loss, ()

    for _ in range(30):
        rows, expected = sgd.sample(16)
        grads, _ = private.per_unit_gradients(tokenizer, tok_loss, [x[torch.from_numpy(rows)]])
        sgd.step(grads, expected)
    tokenizer.eval()

    def auc(score) -> float:
        return roc_summary(score(members), score(fresh))["auc"]

    tok_auc = auc(lambda w: white_box.tokenizer_scores(tokenizer, w))
    codes = white_box.codes_of(tokenizer, members)
    entry = prior_kind("autoregressive")
    torch.manual_seed(0)
    prior = entry.model(entry.config.for_tokenizer(tokenizer.cfg, 0, preset("tiny", "autoregressive")))
    psgd = private.PrivateSGD(
        prior,
        torch.optim.Adam(prior.parameters(), lr=3e-3),
        plan("prior"),
        "prior",
        units,
        torch.device("cpu"),
    )
    gen = torch.Generator().manual_seed(0)

    def prior_loss(state, cu):
        with torch.nn.utils.stateless._reparametrize_module(prior, state):
            return prior.training_loss(cu, None, gen, tokenizer=tokenizer), ()

    for _ in range(300):
        rows, expected = psgd.sample(16)
        grads, _ = private.per_unit_gradients(prior, prior_loss, [codes[torch.from_numpy(rows)]])
        psgd.step(grads, expected)
    prior.eval()
    prior_auc = auc(lambda w: white_box.prior_scores(prior, tokenizer, w)[0])
    stats = (private.stats_noise(1.0, 1e-5), 1.0, 2)
    history = [stats, *map(tuple, sgd.history), *map(tuple, psgd.history)]
    assert private.epsilon_of(history, 1e-5) <= 1.0
    assert abs(tok_auc - 0.5) < 0.25, tok_auc
    assert abs(prior_auc - 0.5) < 0.25, prior_auc


def test_a_recording_can_be_the_unit(tmp_path, seeds) -> None:
    """`--dp-unit recording`: each file is one unit (sampled with its rate, four of its windows a
    step, clipped as one); delta is 1 / the number of recordings."""
    sources = [write_input(tmp_path, name, channels=2, seconds=40) for name in ("a", "bb", "ccc")]
    train_tiny(
        sources, tmp_path / "p", dp_epsilon=20.0, dp_unit="recording", tokenizer_steps=3, prior_steps=2
    )
    privacy = json.loads((tmp_path / "p" / "project.json").read_text())["privacy"]
    assert privacy["unit"] == "recording" and privacy["units"] == 3
    assert privacy["windows_per_unit"] == private.RECORDING_WINDOWS
    assert privacy["delta"] == pytest.approx(1 / 3)
    assert privacy["history"]["tokenizer"] == [[privacy["noise_multiplier"], pytest.approx(1 / 3), 3]]
    assert privacy["epsilon"] <= 20.0


def test_a_resume_continues_the_accounting_and_never_passes_the_plan(tmp_path, seeds) -> None:
    """A private run stopped at its first checkpoint resumes with its plan and its accountant's
    history: the steps add up to the plan, not beyond, whatever the resume asks."""
    src = write_input(tmp_path, "a", channels=2, seconds=60)
    folder = str(tmp_path / "p")
    stop = threading.Event()
    job = train(
        TrainSettings(
            inputs=(src,), window_s=2.0, tokenizer_steps=6, prior_steps=0, device="cpu", threads=1,
            preset="small", batch_size=4, dp_epsilon=5.0, checkpoint_every_s=0.001,
        ),
        folder,
        stop,
    )  # fmt: skip
    from vqstudio.events import CheckpointWritten

    for event in job:
        if isinstance(event, CheckpointWritten):
            stop.set()  # after the first checkpoint: the step in progress ends, and its checkpoint
    first = json.loads((tmp_path / "p" / "project.json").read_text())
    stopped_at = first["progress"]["tokenizer"]["step"]
    assert 0 < stopped_at < 6
    assert sum(h[2] for h in first["privacy"]["history"]["tokenizer"]) == stopped_at
    with pytest.raises(ProjectError, match="trained at epsilon 5 differential privacy; a resume keeps it"):
        other = TrainSettings(inputs=(src,), dp_epsilon=2.0)
        run_to_end(train(other, folder, threading.Event(), resume=True))
    resumed = TrainSettings(inputs=(src,), tokenizer_steps=50, prior_steps=0, device="cpu", threads=1)
    for _ in train(resumed, folder, threading.Event(), resume=True):
        pass
    after = json.loads((tmp_path / "p" / "project.json").read_text())
    assert after["progress"]["tokenizer"]["step"] == 6  # the plan, not the 50 asked
    assert sum(h[2] for h in after["privacy"]["history"]["tokenizer"]) == 6
    assert first["privacy"]["epsilon"] < after["privacy"]["epsilon"] <= 5.0
