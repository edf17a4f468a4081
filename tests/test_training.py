"""The tokenizer training engine: events, checkpoints, stop and exact resume, OOM handling."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny import minimal_record

from vqstudio.errors import DeviceError, ProjectError
from vqstudio.events import (
    CheckpointWritten,
    LogLine,
    Progress,
    ReconstructionPreview,
    Validation,
    run_to_end,
)
from vqstudio.project import Project
from vqstudio.project.record import BudgetSplit, StageProgress
from vqstudio.recording import Recording
from vqstudio.training import Budget, OptimConfig, TrainSettings, lr_at, tokenizer_stage, train

RATE = 64.0


@pytest.fixture(autouse=True)
def one_thread():
    # Two cores shared by many processes: one thread avoids OpenMP spin contention.
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def recording(seconds: float = 30.0, seed: int = 0) -> Recording:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.stack(
        [
            20 * np.sin(2 * np.pi * 5 * t) + rng.standard_normal(t.size),
            50 * np.sin(2 * np.pi * 2 * t + 1) + 10 * np.sin(2 * np.pi * 11 * t),
        ]
    )
    return Recording.from_array(x, RATE, ["Fp1", "Cz"], "uV")


def settings(**kw) -> TrainSettings:
    base = dict(
        device="cpu",
        threads=1,
        window_s=1.0,
        preset="small",
        batch_size=8,
        prior_steps=0,
        tokenizer_steps=12,
        val_every=6,
        val_fraction=0.2,
    )
    return TrainSettings(**{**base, **kw})


FAST = OptimConfig(log_every=4, log_every_s=1e9, progress_every_s=0.0, preview_every_s=0.0, warmup_steps=4)


def collect(job):
    events = []
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            return events, done.value


def test_lr_schedule_is_warmup_then_cosine():
    assert lr_at(0, 0.0, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 0.0, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(50, 0.5, 1.0, 10, min_ratio=0.0) == pytest.approx(0.5)
    assert lr_at(100, 1.0, 1.0, 10, min_ratio=0.1) == pytest.approx(0.1)
    # Slow steps under a time budget: the warmup ends after 5 % of the time, not 100 steps.
    assert lr_at(3, 0.05, 1.0, 100, min_ratio=0.0, warmup_fraction=0.05) == pytest.approx(0.994, abs=1e-3)
    assert lr_at(3, 0.01, 1.0, 100, warmup_fraction=0.05) == pytest.approx(0.2, rel=0.01)
    values = [lr_at(s, s / 100, 1.0, 10) for s in range(10, 100)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_budget_steps_time_and_eta():
    b = Budget(steps=100)
    assert b.fraction(25, 1e6) == 0.25 and not b.done(99, 0) and b.done(100, 0)
    assert b.eta_s(50, 10.0, steps_per_s=5.0) == pytest.approx(10.0)
    t = Budget(seconds=60)
    assert t.fraction(10**6, 30) == 0.5 and t.done(0, 60) and t.eta_s(0, 45, 0.0) == 15
    with pytest.raises(ValueError):
        Budget()


def test_events_files_and_history(tmp_path):
    folder = str(tmp_path / "p")
    events, result = collect(train(settings(), folder, recordings=[recording()], optim=FAST))
    kinds = {type(e) for e in events}
    assert {Progress, Validation, ReconstructionPreview, CheckpointWritten, LogLine} <= kinds
    assert result.tokenizer_step == 12 and not result.stopped
    steps = [e.step for e in events if isinstance(e, Progress) and e.stage == "tokenizer"]
    assert steps == sorted(steps) and steps[-1] == 12
    last = [e for e in events if isinstance(e, Progress)][-1]
    assert last.fraction == 1.0 and set(last.losses) >= {"total", "time", "stft", "commit", "lr"}
    val = [e for e in events if isinstance(e, Validation)]
    assert [v.step for v in val] == [6, 12]
    for key in ("prd_percent", "snr_db", "lsd_db", "perplexity", "usage_fraction", "dead_codes"):
        assert math.isfinite(val[-1].metrics[key])
    preview = [e for e in events if isinstance(e, ReconstructionPreview)][-1]
    assert preview.real.shape == preview.reconstruction.shape == (2, 64)
    assert preview.labels == ("Fp1", "Cz") and preview.units == ("uV", "uV")
    assert np.abs(preview.real).max() > 5  # physical units (uV), not normalised values

    project = Project.open(folder)
    assert project.has_tokenizer and project.stage("tokenizer").step == 12
    assert project.record.budget.mode == "steps" and project.record.device == "cpu"
    assert project.record.data.split.held_out_windows > 0
    history = project.history("tokenizer")
    assert [r["step"] for r in history if "losses" in r] == [4, 8, 12]
    assert [r["step"] for r in history if "metrics" in r] == [6, 12]
    model = project.load_tokenizer()
    assert not model.training


def test_existing_project_is_refused_without_resume(tmp_path):
    folder = str(tmp_path / "p")
    run_to_end(
        train(settings(tokenizer_steps=2, prior_steps=0), folder, recordings=[recording()], optim=FAST)
    )
    with pytest.raises(ProjectError, match="already holds a project"):
        run_to_end(train(settings(), folder, recordings=[recording()], optim=FAST))


def test_stop_then_resume_continues_exactly(tmp_path):
    rec = recording()
    full = str(tmp_path / "full")
    run_to_end(train(settings(tokenizer_steps=16), full, recordings=[rec], optim=FAST))

    part = str(tmp_path / "part")
    stop = threading.Event()
    job = train(settings(tokenizer_steps=16), part, stop, recordings=[rec], optim=FAST)
    for event in job:
        if isinstance(event, Progress) and event.stage == "tokenizer" and event.step >= 8:
            stop.set()  # from the consumer, as the GUI does: honoured after this step
    assert Project.open(part).stage("tokenizer").step == 8
    events, result = collect(
        train(settings(tokenizer_steps=16), part, threading.Event(), resume=True, recordings=[rec])
    )
    assert result.tokenizer_step == 16 and not result.stopped
    assert any(isinstance(e, LogLine) and "resuming the tokenizer at step 8" in e.message for e in events)

    def losses(folder):
        return {
            r["step"]: r["losses"]["total"]
            for r in Project.open(folder).history("tokenizer")
            if "losses" in r
        }

    a, b = losses(full), losses(part)
    assert set(a) == set(b) == {4, 8, 12, 16}
    for s in (12, 16):  # the first losses after the resume match the uninterrupted run
        assert b[s] == pytest.approx(a[s], rel=1e-4)
    wa, wb = load_file(Project.open(full).tokenizer_path), load_file(Project.open(part).tokenizer_path)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5)


def test_out_of_memory_halves_the_batch_then_gives_up(tmp_path, monkeypatch):
    real_step = tokenizer_stage.tokenizer_step
    sizes = []

    def step(model, opt, x, clip, device, index=0):
        sizes.append(x.shape[0])
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(model, opt, x, clip, device)

    monkeypatch.setattr(tokenizer_stage, "tokenizer_step", step)
    events, result = collect(
        train(settings(tokenizer_steps=3), str(tmp_path / "a"), recordings=[recording()])
    )
    assert sizes[:3] == [8, 4, 2] and result.tokenizer_step == 3
    assert sum("out of memory" in e.message for e in events if isinstance(e, LogLine)) == 2
    assert Project.open(str(tmp_path / "a")).stage("tokenizer").batch_size == 2

    def always(model, opt, x, clip, device, index=0):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(tokenizer_stage, "tokenizer_step", always)
    with pytest.raises(DeviceError, match="even with one window per batch"):
        run_to_end(train(settings(tokenizer_steps=3), str(tmp_path / "b"), recordings=[recording()]))


def test_resume_with_prior_steps_adds_the_prior_to_a_tokenizer_only_project(tmp_path):
    pytest.importorskip("vqstudio.training.prior_stage")
    folder = str(tmp_path / "p")
    rec = recording()
    run_to_end(train(settings(tokenizer_steps=4), folder, recordings=[rec], optim=FAST))
    assert not Project.open(folder).has_prior
    before = load_file(Project.open(folder).tokenizer_path)
    events, result = collect(
        train(settings(tokenizer_steps=None, prior_steps=2), folder, resume=True, recordings=[rec])
    )
    project = Project.open(folder)
    assert project.has_prior and result.prior_step == 2 and result.tokenizer_step == 4
    assert project.stage("tokenizer").step == 4
    after = load_file(project.tokenizer_path)
    for k in before:  # the finished tokenizer is left as it was
        torch.testing.assert_close(after[k], before[k], rtol=0, atol=0)
    assert any(isinstance(e, Progress) and e.stage == "prior" for e in events)


def test_minutes_split_between_the_stages_and_on_resume(tmp_path):
    from vqstudio.training.job import resume_budgets, stage_budgets
    from vqstudio.training.settings import DEFAULT_MINUTES, PRIOR_SHARE

    tok, prior_minutes, split = stage_budgets(TrainSettings(minutes=5), with_prior=True)
    assert tok.seconds == pytest.approx(300 * (1 - PRIOR_SHARE)) and prior_minutes == pytest.approx(
        5 * PRIOR_SHARE
    )
    assert split.tokenizer_fraction + split.prior_fraction == pytest.approx(1.0)
    # From the shipped codec the prior gets most of the time; from scratch the usual share.
    from vqstudio.training.settings import CODEC_PRIOR_SHARE

    assert CODEC_PRIOR_SHARE > PRIOR_SHARE
    tok, prior_minutes, split = stage_budgets(TrainSettings(minutes=5, per_channel=True), with_prior=True)
    assert (
        tok.seconds == pytest.approx(300 * (1 - CODEC_PRIOR_SHARE))
        and split.prior_fraction == CODEC_PRIOR_SHARE
    )
    scratch = TrainSettings(minutes=5, per_channel=True, from_scratch=True)
    assert stage_budgets(scratch, with_prior=True)[1] == pytest.approx(5 * PRIOR_SHARE)
    tok, prior_minutes, _ = stage_budgets(TrainSettings(minutes=5, prior_steps=0), with_prior=False)
    assert tok.seconds == 300 and prior_minutes == 0
    tok, prior_minutes, split = stage_budgets(
        TrainSettings(tokenizer_steps=30, prior_steps=0), with_prior=False
    )
    assert (tok.steps, tok.seconds, prior_minutes, split.mode) == (30, None, None, "steps")
    tok, _, _ = stage_budgets(TrainSettings(), with_prior=False)
    assert tok.seconds == DEFAULT_MINUTES * 60

    project = Project.create(str(tmp_path / "p"), minimal_record())
    project.update(budget=BudgetSplit("minutes", 5.0))
    project.set_stage("tokenizer", StageProgress(step=700, elapsed_s=180.0, done=True, budget_seconds=180))
    # No budget given: continue to the stored end (the tokenizer is done).
    tok, _, _ = resume_budgets(project, TrainSettings(prior_steps=50), with_prior=True)
    assert tok.done(700, 180.0)
    # More minutes with a finished tokenizer: all of them go to the prior.
    tok, prior_minutes, _ = resume_budgets(project, TrainSettings(minutes=2), with_prior=True)
    assert tok.done(700, 180.0) and prior_minutes == 2
    # More minutes, tokenizer alone: the tokenizer gets them on top of the time it had.
    tok, _, _ = resume_budgets(project, TrainSettings(minutes=2, prior_steps=0), with_prior=False)
    assert tok.seconds == pytest.approx(300) and not tok.done(700, 180.0)
