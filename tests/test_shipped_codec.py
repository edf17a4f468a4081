"""The codec that ships with VQ Studio: the file in the package (small, offline, no pickle, its
corpus named and clear of held-out recordings), and training that starts from it and fine-tunes
it (`--codec per-channel`), uses it as it is (`--tokenizer-steps 0`) or not (`--from-scratch`)."""

from __future__ import annotations

import json
import os

import pytest
import torch

import vqstudio.codec
from tests.tiny import write_input
from vqstudio.cli import main
from vqstudio.codec import SHIPPED_CODEC, load_codec, save_codec
from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.project import Project
from vqstudio.project.checkpoint import load_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_shipped_codec_loads_and_carries_its_corpus():
    """The file in the package: at most 20 MB, read without pickle, a per-channel codec whose
    provenance lists pretraining files of the repository's corpus manifest only."""
    assert os.path.getsize(SHIPPED_CODEC) <= 20 * 2**20
    codec = vqstudio.codec.shipped_codec()
    assert codec is not None and codec.config["per_channel"] and codec.version
    provenance = codec.info["provenance"]
    assert len(provenance["manifest_sha256"]) == 64 and provenance["attribution"]
    with open(os.path.join(ROOT, "corpus", "manifest.json"), encoding="utf-8") as f:
        manifest = {e["out"]: e for e in json.load(f)["files"]}
    assert provenance["files"]
    for entry in provenance["files"]:
        assert manifest[entry["out"]]["role"] == "pretrain", entry  # never a bench person
    figures = codec.info["figures"]
    assert figures["steps"] > 0 and figures["minutes"] > 0 and "held_out_snr_db" in figures


@pytest.fixture
def codec_file(tmp_path, monkeypatch):
    """A small codec standing in for the shipped one (its weights are what the tests compare)."""
    torch.manual_seed(5)
    model = Tokenizer(preset_config("codec", channels=1, window=256))
    path = str(tmp_path / "codec.safetensors")
    info = {
        "settings": {"preset": "codec"},
        "figures": {"steps": 1, "minutes": 0.1},
        "provenance": {"version": "t"},
    }
    save_codec(path, model, info)
    monkeypatch.setattr(vqstudio.codec, "SHIPPED_CODEC", path)
    return path


def _said(capsys) -> str:
    said = capsys.readouterr()
    return said.out + said.err


def _tokenizer(project: str) -> dict[str, torch.Tensor]:
    return load_weights(Project.open(project).tokenizer_path, kind="tokenizer")[0]


def test_tokenizer_steps_0_uses_the_codec_as_it_is(codec_file, tmp_path, capsys):
    source = write_input(tmp_path, "rec", channels=3)
    project = str(tmp_path / "p")
    argv = ["train", source, "--project", project, "--codec", "per-channel", "--window", "2"]
    assert main([*argv, "--tokenizer-steps", "0", "--prior-steps", "2", "--device", "cpu"]) == 0
    assert "starting from the shipped codec t" in _said(capsys)
    shipped = load_codec(codec_file).tensors
    saved = _tokenizer(project)
    assert all(torch.equal(saved[k], shipped[k]) for k in shipped)  # not re-initialised by k-means
    assert os.path.isfile(Project.open(project).tokenizer_best_path)
    out = str(tmp_path / "r.edf")
    assert main(["reconstruct", project, source, "--out", out]) == 0 and os.path.isfile(out)


def test_training_fine_tunes_the_codec_and_from_scratch_does_not_use_it(codec_file, tmp_path, capsys):
    source = write_input(tmp_path, "rec", channels=2)
    shipped = load_codec(codec_file).tensors
    base = [
        "train",
        source,
        "--codec",
        "per-channel",
        "--window",
        "2",
        "--prior-steps",
        "0",
        "--device",
        "cpu",
    ]
    tuned, scratch = str(tmp_path / "tuned"), str(tmp_path / "scratch")
    assert main([*base, "--project", tuned, "--tokenizer-steps", "3"]) == 0
    assert "starting from the shipped codec" in _said(capsys)
    weights = _tokenizer(tuned)
    key = sorted(k for k in shipped if k.startswith("encoder"))[0]
    moved = (weights[key] - shipped[key]).abs().max()
    assert 0 < moved < 0.5  # three small steps away from the codec, not a fresh start
    assert main([*base, "--project", scratch, "--tokenizer-steps", "3", "--from-scratch"]) == 0
    assert "shipped codec" not in _said(capsys)
    assert (_tokenizer(scratch)[key] - shipped[key]).abs().max() > 0.5 * moved
    with open(os.path.join(scratch, "project.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert record["settings"]["from_scratch"] is True


def test_another_size_trains_from_scratch(codec_file, tmp_path, capsys):
    source = write_input(tmp_path, "rec", channels=2)
    argv = ["train", source, "--project", str(tmp_path / "m"), "--codec", "per-channel", "--preset", "medium"]
    assert (
        main([*argv, "--window", "2", "--tokenizer-steps", "1", "--prior-steps", "0", "--device", "cpu"]) == 0
    )
    assert "shipped codec" not in _said(capsys)
