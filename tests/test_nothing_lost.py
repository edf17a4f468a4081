"""Nothing lost (issue 9): no command writes over a recording it reads, a project's files or a
file a link leads to; the checks run before the work; damaged projects, foreign checkpoints and
requests too large for the machine get exit 2 and one line; outputs follow the umask.

Each numbered case of the issue is one test here (it failed on the code before the fix).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading

import numpy as np
import pytest
import torch
from guards import digest, fill, refused
from tiny import RATE, train_tiny, write_input

from vqstudio.cli import main
from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Recording
from vqstudio.training import TrainSettings, train


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A small trained project, its source recording, a synthetic file and another recording."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("lost")
    source = write_input(folder, "source")
    project = train_tiny([source], folder / "project")
    other = write_input(folder, "other", seconds=20.0)
    synthetic = str(folder / "synthetic.edf")
    assert main(["generate", project, "--seconds", "8", "--out", synthetic]) == 0
    yield {"folder": folder, "source": source, "project": project, "other": other, "synthetic": synthetic}
    torch.set_num_threads(before)


# ------------------------------------------------------------------------- 1-5: data loss


def test_1_generate_refuses_the_training_recording(made, capsys):
    last = refused(
        capsys, ["generate", made["project"], "--seconds", "2", "--out", made["source"]], made["source"]
    )
    assert "trained on" in last


@pytest.mark.parametrize("target", ["other", "synthetic", "project.json", "tokenizer.safetensors"])
def test_2_evaluate_refuses_json_over_inputs_and_project_files(made, capsys, target):
    path = made[target] if target in made else os.path.join(made["project"], target)
    argv = ["evaluate", made["project"], "--real", made["other"], "--synthetic", made["synthetic"]]
    last = refused(capsys, [*argv, "--json", path], path)
    assert "cannot write" in last


def test_3_npy_sidecar_never_replaces_project_json(made, capsys):
    out = os.path.join(made["project"], "project.npy")
    meta = os.path.join(made["project"], "project.json")
    refused(capsys, ["generate", made["project"], "--seconds", "2", "--out", out], meta)
    assert not os.path.exists(out)


def test_3b_npy_sidecar_never_replaces_a_foreign_json(made, capsys, tmp_path):
    foreign = tmp_path / "data.json"
    foreign.write_text('{"mine": true}')
    last = refused(
        capsys, ["generate", made["project"], "--seconds", "2", "--out", str(tmp_path / "data.npy")], foreign
    )
    assert "sidecar" in last and not (tmp_path / "data.npy").exists()


def test_4_reconstruct_compares_files_not_path_strings(made, capsys, tmp_path):
    src = tmp_path / "r1.edf"
    shutil.copy(made["other"], src)
    link_dir = tmp_path / "linked"
    link_dir.symlink_to(tmp_path)
    link_file = tmp_path / "alias.edf"
    link_file.symlink_to(src)
    hard = tmp_path / "hard.edf"
    os.link(src, hard)
    for given, out in [
        (str(src), "/" + str(src)),  # //tmp/...
        (str(src), str(link_dir / "r1.edf")),  # through a linked folder
        (str(link_file), str(src)),  # the input given through a link
        (str(src), str(hard)),  # a hard link
    ]:
        last = refused(capsys, ["reconstruct", made["project"], given, "--out", out], src)
        assert "input recording" in last


def test_5_planted_links_in_a_project_arerefused(made, capsys, tmp_path):
    project = tmp_path / "planted"
    shutil.copytree(made["project"], project)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.remove(project / "history.jsonl")
    (project / "history.jsonl").symlink_to(victim)
    last = refused(capsys, ["train", "--project", str(project), "--resume", "--tokenizer-steps", "6"], victim)
    assert "is a link" in last
    os.remove(project / "history.jsonl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(project / "reports", ignore_errors=True)
    (project / "reports").symlink_to(elsewhere)
    refused(capsys, ["evaluate", str(project), "--real", made["other"], "--synthetic", made["synthetic"]])
    assert list(elsewhere.iterdir()) == []


def test_outputs_are_checked_before_the_work(made, capsys, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    import vqstudio.generation.sampling as generate_module

    def never(*a, **k):
        raise AssertionError("sampling started before the output was checked")

    monkeypatch.setattr(generate_module, "generate", never)
    refused(capsys, ["generate", made["project"], "--seconds", "2", "--out", str(locked / "x.edf")])


# ------------------------------------------------------------------------- 6-9: checkpoints


def test_6_a_kill_between_state_and_weights_still_resumes(made, tmp_path, capsys):
    """The state file carries the weights: a stale tokenizer.safetensors does not block a resume."""
    project = train_tiny([made["source"]], tmp_path / "p", prior_steps=0)
    stale = tmp_path / "stale.safetensors"
    shutil.copy(os.path.join(project, "tokenizer.safetensors"), stale)
    assert (
        main(["train", "--project", project, "--resume", "--tokenizer-steps", "8", "--prior-steps", "0"]) == 0
    )
    # As if killed after the state was written and before the weights were: weights at 4, state at 8.
    shutil.copy(stale, os.path.join(project, "tokenizer.safetensors"))
    capsys.readouterr()
    assert (
        main(["train", "--project", project, "--resume", "--tokenizer-steps", "10", "--prior-steps", "0"])
        == 0
    )
    assert "resuming the tokenizer at step 8" in capsys.readouterr().err
    history = [r["step"] for r in _history(project) if r.get("stage") == "tokenizer" and "losses" in r]
    assert history == sorted(set(history))


def _history(project) -> list[dict]:
    with open(os.path.join(project, "history.jsonl")) as f:
        return [json.loads(line) for line in f]


def _killed_before_first_checkpoint(inputs, folder, **kw) -> None:
    """Starts training and abandons it at its first tokenizer progress, as a kill would."""
    settings = TrainSettings(
        inputs=tuple(inputs), window_s=2.0, device="cpu", threads=1, preset="small", **kw
    )
    job = train(settings, str(folder), threading.Event())
    for event in job:
        if getattr(event, "stage", "") == "tokenizer":
            break
    job.close()
    assert not os.path.exists(folder / "state.safetensors")


def test_7_resume_after_a_kill_before_the_first_checkpoint_keeps_the_budget(made, tmp_path):
    folder = tmp_path / "p"
    _killed_before_first_checkpoint([made["source"]], folder, minutes=0.05, prior_steps=0)
    with open(folder / "history.jsonl", "a") as f:
        f.write(json.dumps({"stage": "tokenizer", "step": 1, "losses": {"total": 1.0}}) + "\n")
    assert main(["train", "--project", str(folder), "--resume"]) == 0
    meta = json.loads((folder / "project.json").read_text())
    assert meta["budget"]["minutes"] == 0.05 and meta["progress"]["tokenizer"]["elapsed_s"] < 60
    steps = [r["step"] for r in _history(folder) if r.get("stage") == "tokenizer" and "losses" in r]
    assert steps == sorted(set(steps))  # the abandoned run's lines are gone


def test_8_a_project_that_never_checkpointed_can_be_started_again(made, tmp_path):
    folder = tmp_path / "p"
    _killed_before_first_checkpoint([made["source"]], folder, tokenizer_steps=4, prior_steps=0)
    assert (
        main(
            [
                "train",
                made["source"],
                "--project",
                str(folder),
                "--tokenizer-steps",
                "2",
                "--prior-steps",
                "0",
            ]
        )
        == 0
    )
    assert json.loads((folder / "project.json").read_text())["progress"]["tokenizer"]["step"] == 2


def test_9_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(made, small_disk, capsys):
    project = train_tiny([made["source"]], small_disk / "p", prior_steps=0)
    state = os.path.join(project, "state.safetensors")
    was = digest(state)
    fill(small_disk)
    last = refused(
        capsys, ["train", "--project", project, "--resume", "--tokenizer-steps", "8", "--prior-steps", "0"]
    )
    assert "disk is full" in last
    assert digest(state) == was and not [n for n in os.listdir(project) if n.startswith(".vqs-")]
    fill(small_disk)
    out = str(small_disk / "s.edf")
    assert "disk is full" in refused(capsys, ["generate", made["project"], "--seconds", "2", "--out", out])
    npy = str(small_disk / "s.npy")
    assert "disk is full" in refused(capsys, ["generate", made["project"], "--seconds", "2", "--out", npy])
    assert not os.path.exists(out) and not os.path.exists(npy)


def test_9b_writers_say_disk_full_whatever_the_library_said(tmp_path, monkeypatch):
    import errno

    import vqstudio.io.edf_write as edf_write
    from vqstudio.errors import OutputError

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(edf_write, "_write_with_pyedflib", full)
    rec = Recording.from_array(np.zeros((1, 640)), RATE, ["A"], "uV")
    with pytest.raises(OutputError, match="the disk is full"):
        write_recording(rec, str(tmp_path / "x.edf"))
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------- 10-13: bad input


def test_10_a_constant_channel_is_refused_in_one_line(tmp_path, capsys):
    n = int(60 * RATE)
    x = np.stack([np.random.default_rng(0).normal(0, 10, n), np.full(n, -187500.0)])
    path = str(tmp_path / "openbci.bdf")
    write_recording(Recording.from_array(x, RATE, ["EEG", "ECG"], "uV"), path)
    last = refused(capsys, ["train", path, "--project", str(tmp_path / "p"), "--tokenizer-steps", "2"], path)
    assert "ECG" in last and "flat" in last and "--channels EEG" in last


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m.pop("data"), "no 'data'"),
        (lambda m: m.pop("prep"), "no 'prep'"),
        (lambda m: m["data"].pop("normalization"), "no 'data.normalization'"),
        (lambda m: m["data"].update(rate="abc"), "'data.rate' must be a positive number"),
        (lambda m: m["data"].update(channels="C3,C4"), "'data.channels' must be a non-empty list"),
        (lambda m: m.update(schema_version="1"), "'schema_version' must be a whole number"),
    ],
)
def test_11_a_damaged_project_json_is_one_line(made, tmp_path, capsys, damage, message):
    project = tmp_path / "damaged"
    shutil.copytree(made["project"], project)
    meta = json.loads((project / "project.json").read_text())
    damage(meta)
    (project / "project.json").write_text(json.dumps(meta))
    last = refused(capsys, ["generate", str(project), "--seconds", "2", "--out", str(tmp_path / "x.edf")])
    assert message in last


def test_12_a_tokenizer_from_another_project_isrefused(made, tmp_path, capsys):
    three = train_tiny(
        [write_input(tmp_path, "three", channels=3)], tmp_path / "three_project", prior_steps=0
    )
    project = tmp_path / "mixed"
    shutil.copytree(made["project"], project)
    shutil.copy(os.path.join(three, "tokenizer.safetensors"), project / "tokenizer.safetensors")
    # Generate and reconstruct use the best tokenizer by default: the copied one stands in for it too.
    shutil.copy(os.path.join(three, "tokenizer.safetensors"), project / "tokenizer.best.safetensors")
    for argv in (
        ["generate", str(project), "--seconds", "2", "--out", str(tmp_path / "x.edf")],
        ["reconstruct", str(project), made["other"], "--out", str(tmp_path / "r.edf")],
    ):
        assert "belongs to another project" in refused(capsys, argv)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "{p}", "--seconds", "2", "--steps", "5000", "--out", "{t}/x.edf"], "from 1 to 1000"),
        (["generate", "{p}", "--seconds", "6e5", "--count", "100000", "--out", "{t}/x.edf"], "GB of memory"),
        (["generate", "{p}", "--seconds", "1e9", "--out", "{t}/x.edf"], "at most 604,800"),
        (["train", "{s}", "--project", "{t}/q", "--resample", "1e6"], "more than 4 times"),
        (["train", "{s}", "--project", "{t}/q", "--resample", "2e6"], "at most 1,000,000"),
    ],
)
def test_13_arguments_are_bounded_by_what_the_machine_holds(made, tmp_path, capsys, argv, message):
    argv = [a.format(p=made["project"], t=tmp_path, s=made["source"]) for a in argv]
    assert message in refused(capsys, argv)
    assert not os.path.exists(tmp_path / "x.edf") and not os.path.exists(tmp_path / "q" / "project.json")


# ------------------------------------------------------------------------- smaller


def test_outputs_and_projects_follow_the_umask(made, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "u.edf"
        assert main(["generate", made["project"], "--seconds", "2", "--out", str(out)]) == 0
        project = train_tiny([made["source"]], tmp_path / "p", prior_steps=0, tokenizer_steps=2)
    finally:
        os.umask(old)
    for path in (
        out,
        *[os.path.join(project, n) for n in ("project.json", "tokenizer.safetensors", "history.jsonl")],
    ):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path


def test_info_knows_synthetic_and_reconstructed_files(made, tmp_path, capsys):
    csv = str(tmp_path / "s.csv")
    assert main(["generate", made["project"], "--seconds", "2", "--out", csv]) == 0
    rec_path = str(tmp_path / "r.edf")
    assert main(["reconstruct", made["project"], made["source"], "--out", rec_path]) == 0
    capsys.readouterr()
    assert main(["info", made["synthetic"], csv, rec_path, "--json"]) == 0
    infos = json.loads(capsys.readouterr().out)
    assert [(i["synthetic"], i["reconstruction"]) for i in infos] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    generated = read_recording(made["synthetic"])
    rebuilt = read_recording(rec_path)
    assert [c.label for c in rebuilt.channels] == [c.label for c in generated.channels] == ["C3", "C4"]
