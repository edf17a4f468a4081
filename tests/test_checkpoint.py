"""Checkpoints: safetensors + JSON only, exact round trips, and refusal of foreign or broken files."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vqstudio.errors import CheckpointError
from vqstudio.project.checkpoint import load_state, load_weights, save_state, save_weights


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.Conv1d(4, 2, 1))


def test_weights_round_trip_with_config_and_step(tmp_path):
    model = small_model()
    path = str(tmp_path / "tokenizer.safetensors")
    save_weights(path, model.state_dict(), "tokenizer", {"channels": 2, "strides": [2, 2]}, step=42)
    tensors, info = load_weights(path, kind="tokenizer")
    assert info["config"] == {"channels": 2, "strides": [2, 2]} and info["step"] == 42
    for k, v in model.state_dict().items():
        torch.testing.assert_close(tensors[k], v)
    with pytest.raises(CheckpointError, match="'tokenizer' checkpoint, not a 'prior'"):
        load_weights(path, kind="prior")


def test_load_never_unpickles(tmp_path, monkeypatch):
    model = small_model()
    path = str(tmp_path / "w.safetensors")
    save_weights(path, model.state_dict(), "tokenizer", {}, step=1)

    def forbidden(*a, **k):
        raise AssertionError("torch.load / pickle must not be used")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load_weights(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "truncated or empty"),
        (pickle.dumps({"weights": [1, 2, 3]}), "not a safetensors file"),
        (os.urandom(4000), "not a safetensors file"),
    ],
)
def test_corrupt_files_are_refused_with_the_file_name(tmp_path, content, message):
    path = tmp_path / "tokenizer.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as err:
        load_weights(str(path))
    assert "tokenizer.safetensors" in str(err.value)


def test_foreign_safetensors_is_refused(tmp_path):
    path = str(tmp_path / "other.safetensors")
    save_file({"w": torch.zeros(3)}, path, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="another program"):
        load_weights(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    model = small_model()
    path = str(tmp_path / "w.safetensors")
    save_weights(path, model.state_dict(), "tokenizer", {}, step=1)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) - 20])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_weights(path)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(CheckpointError, match="train the project first"):
        load_weights(str(tmp_path / "nope.safetensors"))


def test_optimizer_and_rng_state_resume_exactly(tmp_path):
    path = str(tmp_path / "state.safetensors")
    model = small_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 8)

    def step():
        opt.zero_grad()
        model(x + torch.randn(x.shape, generator=gen)).pow(2).mean().backward()
        opt.step()

    for _ in range(3):
        step()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    save_state(path, "tokenizer", opt, 3, extra={"batch_size": 8}, generators={"data": gen}, model=weights)
    expected_np, expected_py, expected_torch = np.random.rand(), random.random(), torch.rand(1)  # noqa: NPY002
    step()
    after = {k: v.clone() for k, v in model.state_dict().items()}

    # A second stage's entry does not disturb the first.
    other = torch.optim.AdamW(small_model().parameters())
    save_state(path, "prior", other, 7)

    opt2 = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen2 = torch.Generator().manual_seed(999)
    np.random.seed(1)  # noqa: NPY002 - scrambled on purpose; load_state must restore it
    random.seed(1)
    torch.manual_seed(1)
    info = load_state(path, "tokenizer", opt2, generators={"data": gen2}, model=model)  # weights too
    assert info == {"step": 3, "extra": {"batch_size": 8}, "has_model": True}
    assert np.random.rand() == expected_np  # noqa: NPY002
    assert random.random() == expected_py
    torch.testing.assert_close(torch.rand(1), expected_torch)
    opt, gen = opt2, gen2
    step()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, after[k], rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="no 'diffusion' state"):
        load_state(path, "diffusion", opt2)
