"""Reconstruction of whole recordings: chunks join without seams; units and channels are kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqstudio.events import run_to_end
from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.reconstruct import reconstruct, reconstruct_array
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
    # physical units: the reconstruction of Cz sits around its +5 mV offset, not around 0
    assert abs(float(np.mean(out.channels[1].samples)) - 5) < 5
