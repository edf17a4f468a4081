"""The project folder: create, open, refuse, atomic JSON readable without VQ Studio."""

from __future__ import annotations

import json

import pytest
from tiny import minimal_record

from vqstudio.errors import ProjectError
from vqstudio.project import FORMAT, Project
from vqstudio.project.record import StageProgress


def test_create_open_and_save(tmp_path):
    path = str(tmp_path / "proj")
    Project.create(path, minimal_record())
    meta = json.loads((tmp_path / "proj" / "project.json").read_text())  # plain JSON, no VQ Studio
    assert meta["format"] == FORMAT and meta["schema_version"] == 2 and meta["versions"]["python"]
    q = Project.open(path)
    assert (q.rate, q.window, q.channel_labels, q.seed) == (250.0, 1008, ["II"], 3)
    q.set_stage("tokenizer", StageProgress(step=10, done=False))
    q.save()
    assert Project.open(path).stage("tokenizer") == StageProgress(step=10, done=False)
    assert q.tokenizer_path.endswith("tokenizer.safetensors") and q.state_path.endswith("state.safetensors")
    assert not q.has_tokenizer and not [
        f for f in (tmp_path / "proj").iterdir() if f.name.startswith(".vqs-")
    ]


def test_create_refuses_a_started_project_and_restarts_an_unstarted_one(tmp_path):
    first = Project.create(str(tmp_path), minimal_record())
    first.append_history({"stage": "tokenizer", "step": 1})
    # Killed or failed before its first checkpoint: the folder may be trained into again.
    again = Project.create(str(tmp_path), minimal_record(rate=100.0))
    assert again.rate == 100.0 and again.history() == []
    (tmp_path / "state.safetensors").write_bytes(b"x")  # a checkpoint exists now
    with pytest.raises(ProjectError, match="already holds a project; add --resume"):
        Project.create(str(tmp_path), minimal_record())


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "no project folder"),
        (lambda d: d.mkdir(), "not a VQ Studio project"),
        (lambda d: (d.mkdir(), (d / "project.json").write_text("{not json")), "not JSON"),
        (lambda d: (d.mkdir(), (d / "project.json").write_text('{"name": "x"}')), "format marker"),
        (
            lambda d: (
                d.mkdir(),
                (d / "project.json").write_text(json.dumps({"format": FORMAT, "schema_version": 99})),
            ),
            "update VQ Studio",
        ),
    ],
)
def test_open_refuses_missing_or_foreign_folders(tmp_path, setup, message):
    d = tmp_path / "p"
    setup(d)
    with pytest.raises(ProjectError, match=message):
        Project.open(str(d))


def test_history_appends_and_skips_a_torn_line(tmp_path):
    p = Project.create(str(tmp_path), minimal_record())
    p.append_history({"stage": "tokenizer", "step": 1, "losses": {"total": 1.0}})
    p.append_history({"stage": "prior", "step": 1})
    with open(p.history_path, "a") as f:
        f.write('{"stage": "tok')  # a kill mid-write
    assert [r["step"] for r in p.history("tokenizer")] == [1]
    assert len(p.history()) == 2
