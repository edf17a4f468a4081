"""Reconstruction of whole recordings: chunks join without seams; units and channels are kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqstudio.events import run_to_end
from vqstudio.generation.reconstruction import reconstruct, reconstruct_array
from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.recording import Gap, Recording
from vqstudio.training import OptimConfig, TrainSettings, train


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_chunks_join_without_seams():
    torch.manual_seed(0)
    model = Tokenizer(preset_config("small", channels=2, window=64)).eval()
    x = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)  # not a multiple of 8
    whole = reconstruct_array(model, x, window=64, chunk_windows=100)  # one chunk
    pieces = reconstruct_array(model, x, window=64, chunk_windows=1)  # 16 chunks of 64 samples
    assert whole.shape == x.shape
    np.testing.assert_allclose(pieces, whole, rtol=1e-4, atol=1e-4)


def test_reconstruct_keeps_channels_units_gaps_and_reports_figures(tmp_path):
    rate = 64.0
    t = np.arange(int(30 * rate)) / rate
    x = np.stack([20 * np.sin(2 * np.pi * 5 * t), 30 * np.sin(2 * np.pi * 2 * t) + 5])
    rec = Recording.from_array(x, rate, ["Fp1", "Cz"], ["uV", "mV"])
    settings = TrainSettings(
        device="cpu", threads=1, window_s=1.0, preset="small", batch_size=8, prior_steps=0, tokenizer_steps=3
    )
    folder = str(tmp_path / "p")
    run_to_end(train(settings, folder, recordings=[rec], optim=OptimConfig(warmup_steps=1)))
    gapped = Recording.from_array(x, rate, ["Cz", "Fp1"], ["mV", "uV"])  # another order: matched by label
    gapped.gaps = [Gap(10.0, 12.0)]
    out, figures = reconstruct(folder, gapped)
    assert [c.label for c in out.channels] == ["Fp1", "Cz"] and [c.unit for c in out.channels] == ["uV", "mV"]
    assert out.channels[0].n_samples == x.shape[1] and out.gaps == gapped.gaps
    assert set(figures) >= {"prd_percent", "snr_db", "lsd_db", "seconds"} and figures["seconds"] == 30.0
    assert all(np.isfinite(v) for v in figures.values())


class PerfectTokenizer(torch.nn.Module):
    """Stands in for a trained tokenizer that reconstructs exactly (to test the plumbing)."""

    class cfg:  # mimics Tokenizer.cfg
        downsample = 8

    decoder_context = 2

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return x

    def quantize(self, z):
        return z, None

    def decode(self, z):
        return z


def test_reconstruct_returns_physical_units_in_the_projects_channel_order(tmp_path, monkeypatch):
    from vqstudio.project import Project

    rate = 64.0
    t = np.arange(int(30 * rate)) / rate
    x = np.stack([20 * np.sin(2 * np.pi * 5 * t), 30 * np.sin(2 * np.pi * 2 * t) + 5])
    rec = Recording.from_array(x, rate, ["Fp1", "Cz"], ["uV", "mV"])
    settings = TrainSettings(
        device="cpu", threads=1, window_s=1.0, preset="small", prior_steps=0, tokenizer_steps=1
    )
    folder = str(tmp_path / "p")
    run_to_end(train(settings, folder, recordings=[rec], optim=OptimConfig(warmup_steps=1)))
    monkeypatch.setattr(Project, "load_tokenizer", lambda self, device="cpu": PerfectTokenizer())
    swapped = Recording.from_array(x[::-1], rate, ["Cz", "Fp1"], ["mV", "uV"])
    out, figures = reconstruct(folder, swapped)
    np.testing.assert_allclose(out.channels[0].samples, x[0], atol=1e-3)
    np.testing.assert_allclose(out.channels[1].samples, x[1], atol=1e-3)  # +5 mV offset restored
    assert figures["snr_db"] > 60 and figures["prd_percent"] < 0.1
