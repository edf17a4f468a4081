"""Projects written by VQ Studio 0.1 and 0.2 (schema version 1, kept in tests/data/old_projects,
made by its make.py) open, generate and resume; resuming rewrites them as schema version 2."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from vqstudio.cli import main
from vqstudio.project import Project

OLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "old_projects")


@pytest.fixture(params=["v0_1", "v0_2"])
def old(request, tmp_path) -> tuple[str, str]:
    """A copy of an old project folder and of the recording it was trained on."""
    shutil.copytree(os.path.join(OLD, request.param), tmp_path / request.param)
    folder = tmp_path / request.param
    return str(folder / "project"), str(folder / "source.edf")


def test_an_old_project_opens_as_the_record_says(old):
    project, _ = old
    with open(os.path.join(project, "project.json")) as f:
        assert json.load(f)["schema_version"] == 1
    p = Project.open(project)
    record = p.record
    assert p.channel_labels == ["C3", "C4"] and p.rate == 64.0 and p.window == 128
    assert record.prep.window_s == 2.0 and record.settings.prior == "diffusion"
    assert record.settings.preset == "small" and record.seed == 0
    assert record.budget is not None and record.budget.tokenizer_steps == 4
    assert p.stage("tokenizer").step == 4 and p.stage("prior").step == 2
    assert record.full_tokenizer_config["window"] == 128 and record.full_prior_config["kind"] == "diffusion"
    assert len(record.data.sources) == 1 and record.data.sources[0].sha256
    assert record.data.split.train_windows > 0
    # 0.1 kept the prior's optimizer settings in its progress, 0.2 beside the tokenizer's.
    assert set(record.optim) == {"tokenizer", "prior"} and record.optim["prior"]["weight_decay"] == 0.01


def test_an_old_project_generates_and_resumes(old, tmp_path):
    project, source = old
    out = str(tmp_path / "g.edf")
    assert main(["generate", project, "--seconds", "4", "--out", out]) == 0
    assert main(["train", source, "--project", project, "--resume", "--tokenizer-steps", "6"]) == 0
    p = Project.open(project)
    assert p.stage("tokenizer").step == 6
    with open(os.path.join(project, "project.json")) as f:
        meta = json.load(f)
    assert meta["schema_version"] == 2 and "window_s" not in meta["settings"]
    assert main(["generate", project, "--seconds", "4", "--out", str(tmp_path / "h.edf")]) == 0
