"""`vqstudio evaluate` reports membership inference: in its table and its JSON, per window on the
project's split, and per file only where files can be units (recordings never trained on, enough
of them on each side); otherwise it says why not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqstudio.cli import main
from vqstudio.data.simulate import simulate
from vqstudio.evaluation.membership import ATTACKS, MIN_FILES
from vqstudio.io import write_recording

CHANNELS = ["Fp1", "O1", "ECG"]


def _write(folder: Path, name: str, seconds: float, seed: int) -> str:
    path = str(folder / f"{name}.edf")
    write_recording(simulate(seconds=seconds, seed=seed).select(CHANNELS), path)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny project trained on five 80 s recordings, 40 s generated from it, and five 20 s
    recordings it never saw."""
    root = tmp_path_factory.mktemp("membership")
    sources = [_write(root, f"train{i}", 80, i) for i in range(MIN_FILES)]
    others = [_write(root, f"other{i}", 20, 100 + i) for i in range(MIN_FILES)]
    proj = str(root / "proj")
    args = ["train", *sources, "--project", proj, "--window", "2", "--tokenizer-steps", "10"]
    assert main([*args, "--prior-steps", "10", "--device", "cpu", "--threads", "1", "--preset", "small"]) == 0
    synth = str(root / "synth.edf")
    assert main(["generate", proj, "--seconds", "40", "--out", synth, "--device", "cpu", "--steps", "3"]) == 0
    return root, proj, synth, others


def _evaluate(proj: str, synth: str, out: Path, real: list[str] | None = None) -> dict:
    report = str(out / "report.json")
    more = ["--real", *real] if real else []
    args = ["evaluate", proj, "--synthetic", synth, *more, "--json", report, "--plots", str(out / "plots")]
    assert main([*args, "--no-references"]) == 0
    return json.loads(Path(report).read_text())["membership"]


def test_every_attack_is_reported_per_window(project, tmp_path, capsys) -> None:
    _, proj, synth, _ = project
    membership = _evaluate(proj, synth, tmp_path)
    out = capsys.readouterr().out
    assert "Membership inference: " in out and "AUC 0.5 = the attacker learns nothing" in out
    assert "Strongest membership attack: " in out
    assert list(membership["attacks"]) == list(ATTACKS)
    for key, entry in membership["attacks"].items():
        window = entry["window"]
        lo, hi = window["auc_ci95"]
        assert 0.0 <= lo <= window["auc"] <= hi <= 1.0, key
        assert 0.0 <= window["tpr_at_1pct_fpr"] <= 1.0
        assert window["members"] == window["non_members"] >= 10
        assert entry["title"] in out
        # Every recording gave training and held-out windows: per file is not defined.
        assert "not defined for this project" in entry["file"]["skipped"]
    best = membership["strongest"]
    assert best["auc"] == max(e["window"]["auc"] for e in membership["attacks"].values())
    assert "denoising loss" in membership["attacks"]["prior"]["definition"]  # a diffusion prior
    assert membership["candidates"]["recordings"] == MIN_FILES


def test_recordings_never_trained_on_make_files_units(project, tmp_path, capsys) -> None:
    _, proj, synth, others = project
    membership = _evaluate(proj, synth, tmp_path, others)
    out = capsys.readouterr().out
    assert f"Per file ({MIN_FILES} training recordings against {MIN_FILES} never trained on)" in out
    for key, entry in membership["attacks"].items():
        per_file = entry["file"]
        assert (per_file["members"], per_file["non_members"]) == (MIN_FILES, MIN_FILES), key
        assert 0.0 <= per_file["auc"] <= 1.0
        assert per_file["windows"]["members"] > MIN_FILES
    assert "never trained on" in membership["file_note"]


def test_too_few_files_are_not_judged(project, tmp_path, capsys) -> None:
    _, proj, synth, others = project
    membership = _evaluate(proj, synth, tmp_path, others[:2])
    assert "too few files to judge" in membership["attacks"]["distance"]["file"]["skipped"]
    assert "too few files to judge" in capsys.readouterr().out
