"""Resume continues the stage the user chooses (issue 21, item 5): `--resume --stage
tokenizer|prior|both`; each stage keeps its best checkpoint by held-out loss beside its latest
(`tokenizer.best.safetensors`, `prior.best.safetensors`), and generate samples with the best
unless `--weights latest` is asked for."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from tests.guards import refused
from tests.tiny import train_tiny, write_input
from vqstudio.cli import main
from vqstudio.events import run_to_end
from vqstudio.project import Project
from vqstudio.project.checkpoint import read_metadata
from vqstudio.training import TrainSettings, train

pytest.importorskip("torch")

CPU = ["--device", "cpu", "--threads", "1"]


def _digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _steps(project: str) -> tuple[int, int]:
    opened = Project.open(project)
    return opened.stage("tokenizer").step, opened.stage("prior").step


@pytest.fixture
def project(tmp_path) -> str:
    """A finished tiny project: 4 tokenizer steps, 2 prior steps."""
    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    return train_tiny([source], tmp_path / "project")


def test_resume_continues_the_tokenizer_when_asked(project, capsys):
    """Resume used to train only the prior once the tokenizer had finished."""
    prior_before = _digest(Project.open(project).prior_path)
    assert (
        main(
            [
                "train",
                "--project",
                project,
                "--resume",
                "--stage",
                "tokenizer",
                "--tokenizer-steps",
                "9",
                *CPU,
            ]
        )
        == 0
    )
    assert _steps(project) == (9, 2)
    assert _digest(Project.open(project).prior_path) == prior_before  # the prior is left as it was
    err = capsys.readouterr().err
    assert "resuming the tokenizer from step 4" in err
    assert (
        "warning: the prior was trained on the codes of the tokenizer as it was" in err
        and "--stage prior" in err
    )


def test_resume_continues_the_prior_alone_or_both(project, capsys):
    tokenizer_before = _digest(Project.open(project).tokenizer_path)
    assert (
        main(["train", "--project", project, "--resume", "--stage", "prior", "--prior-steps", "5", *CPU]) == 0
    )
    assert _steps(project) == (4, 5)
    assert _digest(Project.open(project).tokenizer_path) == tokenizer_before
    both = ["--stage", "both", "--tokenizer-steps", "7", "--prior-steps", "8"]
    assert main(["train", "--project", project, "--resume", *both, *CPU]) == 0
    assert _steps(project) == (7, 8)
    assert "resuming the tokenizer from step 4 then the prior from step 5" in capsys.readouterr().err


def test_more_minutes_go_to_the_chosen_stage(project):
    from vqstudio.training.plan import resume_plan

    opened = Project.open(project)
    tokenizer = opened.stage("tokenizer")
    plan = resume_plan(opened, TrainSettings(minutes=2, resume_stage="tokenizer"), with_prior=True)
    assert plan.tokenizer.seconds == pytest.approx(tokenizer.elapsed_s + 120) and not plan.prior
    plan = resume_plan(opened, TrainSettings(minutes=2, resume_stage="prior"), with_prior=True)
    assert plan.tokenizer is None and plan.prior
    assert plan.prior_budget.seconds == pytest.approx(opened.stage("prior").elapsed_s + 120)
    plan = resume_plan(opened, TrainSettings(minutes=2, resume_stage="both"), with_prior=True)
    assert plan.tokenizer.seconds == pytest.approx(tokenizer.elapsed_s + 72)  # 60 % of 2 minutes
    assert plan.prior_budget.seconds == pytest.approx(opened.stage("prior").elapsed_s + 48)
    # Neither minutes nor steps: as much again as the stored budget (4 steps more).
    plan = resume_plan(opened, TrainSettings(resume_stage="tokenizer"), with_prior=True)
    assert plan.tokenizer.steps == 8


def test_stage_needs_resume_and_a_prior_needs_its_steps(project, capsys, tmp_path):
    source = write_input(tmp_path, "other", channels=2, seconds=60.0)
    line = refused(capsys, ["train", source, "--project", str(tmp_path / "new"), "--stage", "prior"])
    assert "--stage prior chooses what a resume continues; add --resume" in line
    args = ["train", "--project", project, "--resume", "--stage", "both", "--prior-steps", "0", *CPU]
    assert "--prior-steps 0 leaves it out" in refused(capsys, args)


def _losses(monkeypatch, stage_cls, values):
    """Makes `stage_cls`'s held-out losses the `values`, one per validation, in order."""
    it = iter(values)
    monkeypatch.setattr(stage_cls, "held_out_loss", lambda self, metrics: next(it))


def test_each_stage_keeps_its_best_checkpoint_beside_the_latest(tmp_path, monkeypatch):
    """The prior overfit (held-out loss 0.638 -> 0.735 -> 0.833) and resume kept the last one."""
    from vqstudio.training.prior_stage import PriorStage
    from vqstudio.training.tokenizer_stage import TokenizerStage

    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    folder = str(tmp_path / "project")
    # Validations every 2 steps: 2, 4, 6, 8 (the last one at the end).
    _losses(monkeypatch, TokenizerStage, [3.0, 1.0, 2.0, 2.5])
    _losses(monkeypatch, PriorStage, [0.7, 0.638, 0.735, 0.833])
    settings = TrainSettings(
        (source,), window_s=2.0, tokenizer_steps=8, prior_steps=8, val_every=2, device="cpu", threads=1,
        preset="small", batch_size=4,
    )  # fmt: skip
    run_to_end(train(settings, folder, threading.Event()))
    project = Project.open(folder)
    for stage, best_step, loss in (("tokenizer", 4, 1.0), ("prior", 4, 0.638)):
        best = project.weights_path(stage, "best")
        assert best.endswith(f"{stage}.best.safetensors")
        meta = read_metadata(best)
        assert int(meta["step"]) == best_step and json.loads(meta["extra"])["held_out_loss"] == loss
        assert meta["project"] == project.id  # written through the project's writers
        assert int(read_metadata(project.weights_path(stage, "latest"))["step"]) == 8
        assert project.best_held_out_loss(stage) == loss
    # The prior learned the codes of the best tokenizer, the one generation decodes with.
    assert json.loads(read_metadata(project.prior_best_path)["extra"])["tokenizer_step"] == 4

    # A resume that does no better keeps the best; one that does replaces it.
    _losses(monkeypatch, TokenizerStage, [1.5, 0.5])
    resumed = TrainSettings(tokenizer_steps=12, prior_steps=0, val_every=2, device="cpu", threads=1)
    run_to_end(train(resumed, folder, threading.Event(), resume=True))
    assert int(read_metadata(project.tokenizer_best_path)["step"]) == 12
    assert project.best_held_out_loss("tokenizer") == 0.5


def test_generate_uses_the_best_unless_asked_otherwise(tmp_path, monkeypatch):
    from vqstudio.training.prior_stage import PriorStage
    from vqstudio.training.tokenizer_stage import TokenizerStage

    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    folder = str(tmp_path / "project")
    _losses(monkeypatch, TokenizerStage, [1.0, 2.0, 3.0])
    _losses(monkeypatch, PriorStage, [1.0, 2.0, 3.0])
    settings = TrainSettings(
        (source,), window_s=2.0, tokenizer_steps=6, prior_steps=6, val_every=2, device="cpu", threads=1,
        preset="small", batch_size=4,
    )  # fmt: skip
    run_to_end(train(settings, folder, threading.Event()))
    out = {}
    for which in ("best", "latest", None):
        path = str(tmp_path / f"{which}.npy")
        extra = ["--weights", which] if which else []
        assert main(["generate", folder, "--seconds", "4", "--out", path, *extra, *CPU]) == 0
        out[which] = _digest(path)
    assert out[None] == out["best"] != out["latest"]


def test_a_damaged_best_checkpoint_is_refused_like_the_latest(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    project = Project.open(train_tiny([source], tmp_path / "project"))
    path = project.tokenizer_best_path
    tensors, meta = load_file(path), read_metadata(path)
    name = next(k for k, v in sorted(tensors.items()) if k.startswith("decoder.") and v.is_floating_point())
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, path, metadata=meta)
    args = ["generate", project.path, "--seconds", "2", "--out", str(tmp_path / "g.edf"), *CPU]
    assert f"tokenizer.best.safetensors holds NaN or infinite values (in '{name}')" in refused(capsys, args)
