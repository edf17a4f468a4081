"""The VQ-VAE tokenizer model: config and presets, shapes, segment decoding, training, weights."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from vqstudio.models.tokenizer import (  # noqa: E402
    PRESETS,
    Tokenizer,
    TokenizerConfig,
    choose_preset,
    preset_config,
)

TINY = {
    "hidden": 8,
    "max_width": 16,
    "strides": (2, 2),
    "res_units": 1,
    "latent_dim": 8,
    "code_dim": 4,
    "codebook_size": 32,
    "stft_ffts": (16, 32),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is much faster than two on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(channels: int = 2, window: int = 64, **kw) -> TokenizerConfig:
    return TokenizerConfig(channels=channels, window=window, **{**TINY, **kw})


def made_up_recording(channels: int = 2, samples: int = 2048, seed: int = 0) -> np.ndarray:
    """An ECG-like spike train plus an alpha-like sine, per channel, normalised to mean 0, std 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 128.0
    rows = []
    for c in range(channels):
        beats = np.exp(-(((t * 1.1 + 0.3 * c) % 1.0 - 0.5) ** 2) / 0.0008)
        sig = beats + 0.5 * np.sin(2 * np.pi * 10 * t + c) + 0.05 * rng.standard_normal(samples)
        rows.append((sig - sig.mean()) / sig.std())
    return np.stack(rows).astype(np.float32)


def windows_of(rec: np.ndarray, window: int) -> torch.Tensor:
    n = rec.shape[1] // window
    return (
        torch.from_numpy(rec[:, : n * window]).reshape(rec.shape[0], n, window).transpose(0, 1).contiguous()
    )


def test_config_round_trips_through_json():
    cfg = preset_config("small", channels=3, window=512, n_quantizers=2)
    data = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert TokenizerConfig(**data) == cfg
    assert cfg.downsample == 8 and cfg.latent_length == 64


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"window": 102}, "multiple"),
        ({"strides": (3,)}, "strides"),
        ({"time_loss": "l3"}, "time loss"),
        ({"codebook_size": 0}, "codebook_size"),
    ],
)
def test_config_refuses_bad_settings(kw, words):
    with pytest.raises(ValueError, match=words):
        tiny(**kw)


def test_presets_are_data_and_build():
    assert set(PRESETS) == {"small", "medium", "large", "codec", "codec-large"}
    sizes = []
    for name in ("small", "medium", "large"):
        cfg = preset_config(name, channels=2, window=1024)
        sizes.append(sum(p.numel() for p in Tokenizer(cfg).parameters()))
    assert sizes == sorted(sizes)
    with pytest.raises(ValueError, match="preset"):
        preset_config("huge", channels=2, window=1024)
    with pytest.raises(ValueError, match="unknown"):
        preset_config("small", channels=2, window=1024, colour="red")


def test_choose_preset():
    assert choose_preset(10**6, "cpu") == "small"
    assert choose_preset(500, "cuda") == "small"
    assert choose_preset(20_000, "cuda:0") == "medium"
    assert choose_preset(200_000, "cuda") == "large"


@pytest.mark.parametrize(
    ("channels", "window", "strides", "n_quantizers"),
    [(1, 64, (2, 2), 1), (3, 128, (2, 4), 1), (5, 96, (2, 2, 2), 2), (19, 64, (4, 4), 3)],
)
def test_shapes(channels, window, strides, n_quantizers):
    cfg = tiny(channels, window, strides=strides, n_quantizers=n_quantizers)
    model = Tokenizer(cfg)
    x = torch.randn(2, channels, window)
    out = model(x)
    length = window // cfg.downsample
    assert out.reconstruction.shape == x.shape
    assert out.indices.shape == (2, n_quantizers, length)
    assert out.indices.dtype == torch.int64
    assert out.z.shape == (2, cfg.latent_dim, length)
    assert model.encode(x).shape == (2, cfg.latent_dim, length)
    z_q, idx = model.quantize(out.z)
    assert torch.equal(idx, out.indices)
    assert model.decode(z_q).shape == x.shape
    assert set(out.losses) == {"time", "stft", "commit", "total"}
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    # fully convolutional: a longer input works too
    assert model(torch.randn(1, channels, 2 * window)).reconstruction.shape == (1, channels, 2 * window)


def test_wrong_input_is_refused():
    model = Tokenizer(tiny())
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 3, 64))
    with pytest.raises(ValueError, match="multiple"):
        model(torch.randn(1, 2, 66))


def test_quantize_is_pure_and_codes_round_trip():
    torch.manual_seed(0)
    model = Tokenizer(tiny())
    z = model.encode(torch.randn(3, 2, 64))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    z_q, idx = model.quantize(z)
    model(torch.randn(3, 2, 64))
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert torch.equal(model.quantize(z)[1], idx)
    z_q = z_q.detach()
    torch.testing.assert_close(model.codes_to_latents(model.latents_to_codes(z_q)), z_q, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.codes_to_latents(idx), z_q, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("upsample", ["transposed", "linear"])
@pytest.mark.parametrize("strides", [(2, 2), (2, 4), (2, 2, 2)])
def test_segments_decoded_with_context_join_exactly(strides, upsample):
    torch.manual_seed(1)
    model = Tokenizer(tiny(strides=strides, res_units=2, upsample=upsample)).eval()
    ds, m = model.cfg.downsample, model.decoder_context
    z = torch.randn(1, 8, 60)
    with torch.no_grad():
        whole = model.decode(z)
        a, b = 25, 35
        part = model.decode(z[..., a - m : b + m])[..., m * ds : (m + b - a) * ds]
        torch.testing.assert_close(part, whole[..., a * ds : b * ds], atol=1e-5, rtol=1e-4)
    # the margin is exactly the receptive field: the gradient of one step's samples reaches m steps
    z = z.clone().requires_grad_(True)
    model.decode(z)[..., 30 * ds : 31 * ds].sum().backward()
    reached = torch.nonzero(z.grad.abs().sum(dim=(0, 1))).flatten()
    assert max(30 - int(reached.min()), int(reached.max()) - 30) == m


def train(model: Tokenizer, x: torch.Tensor, steps: int, lr: float = 3e-3) -> list[float]:
    """A minimal loop: k-means init, AdamW, codebook update after each step; returns MSE per step."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    with torch.no_grad():
        model.init_codebook(model.encode(x))
    errors = []
    for _ in range(steps):
        out = model(x)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        model.update_codebook(out)
        errors.append(float((out.reconstruction.detach() - x).square().mean()))
    return errors


def test_tiny_model_overfits_one_recording():
    """Reconstruction MSE falls by more than 10x within 200 steps (about 5 s on one core)."""
    torch.manual_seed(2)
    x = windows_of(made_up_recording(samples=512), 64)  # (8, 2, 64): 128 latent steps, 64 codes
    cfg = tiny(codebook_size=64, hidden=16, max_width=32, time_loss="l2", stft_weight=0.2, ema_decay=0.9)
    model = Tokenizer(cfg)
    start = time.perf_counter()
    errors = train(model, x, steps=200, lr=1e-2)
    elapsed = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        final = float((model(x).reconstruction - x).square().mean())
    assert final < errors[0] / 10, (errors[0], final)
    assert elapsed < 60
    assert model.codebook_usage()["used_fraction"] > 0.5


def test_residual_vq_trains_and_uses_every_stage():
    """Residual VQ works: the error falls more than 2x and every stage uses several codes.

    (It does not reliably beat one quantizer in 60 steps of this tiny model, so that is not asserted.)
    """
    torch.manual_seed(3)
    x = windows_of(made_up_recording(seed=1), 64)  # (32, 2, 64)
    model = Tokenizer(tiny(n_quantizers=3, codebook_size=8, stft_weight=0.0, time_loss="l2", ema_decay=0.9))
    errors = train(model, x, steps=60, lr=1e-2)
    assert float(np.mean(errors[-5:])) < errors[0] / 2, (errors[0], errors[-5:])
    with torch.no_grad():
        indices = model(x).indices
    assert indices.shape[1] == 3
    for stage in range(3):
        assert indices[:, stage].unique().numel() >= 2, stage
    z_q = model.quantize(model.encode(x))[0]
    torch.testing.assert_close(model.codes_to_latents(indices), z_q, atol=1e-5, rtol=1e-5)


def test_update_codebook_changes_only_codebook_state():
    torch.manual_seed(4)
    model = Tokenizer(tiny())
    out = model(torch.randn(4, 2, 64))
    params = {k: v.clone() for k, v in model.named_parameters()}
    before = model.quantizer.ema_size.clone()
    model.update_codebook(out)
    assert not torch.equal(before, model.quantizer.ema_size)
    for k, v in model.named_parameters():
        assert torch.equal(v, params[k]), k
    usage = model.codebook_usage()
    assert set(usage) == {"perplexity", "used_fraction", "dead_codes"}
    assert 1.0 <= usage["perplexity"] <= 32 and 0.0 <= usage["used_fraction"] <= 1.0


def test_weights_round_trip_through_safetensors(tmp_path):
    torch.manual_seed(5)
    cfg = tiny(n_quantizers=2)
    model = Tokenizer(cfg)
    x = torch.randn(4, 2, 64)
    train(model, x, steps=3)
    path = tmp_path / "tokenizer.safetensors"
    save_file(model.state_dict(), str(path))
    rebuilt = Tokenizer(TokenizerConfig(**json.loads(json.dumps(dataclasses.asdict(cfg)))))
    rebuilt.load_state_dict(load_file(str(path)))
    with torch.no_grad():
        a, b = model(x), rebuilt(x)
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(a.reconstruction, b.reconstruction)
    assert model.codebook_usage() == rebuilt.codebook_usage()


def test_bf16_autocast_forward_and_update():
    torch.manual_seed(6)
    model = Tokenizer(tiny(n_quantizers=2))
    x = torch.randn(2, 2, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    out.loss.backward()
    model.update_codebook(out)
    assert out.loss.dtype == torch.float32 and math.isfinite(float(out.loss.detach()))
    assert model.quantizer.codebook.dtype == torch.float32
    assert all(p.grad is not None for p in model.encoder.parameters())


def _code_rate_peak_db(y: np.ndarray, rate: float, code_rate: float) -> float:
    """How far (dB) the PSD at the code rate and its first harmonic rises above nearby bins."""
    from scipy.signal import welch

    f, p = welch(y, fs=rate, nperseg=256)
    p = p.reshape(-1, p.shape[-1]).mean(axis=0)
    peaks = []
    for h in (code_rate, 2 * code_rate):
        k = int(np.argmin(np.abs(f - h)))
        around = np.r_[p[k - 4 : k - 1], p[k + 2 : k + 5]].mean()
        peaks.append(10 * np.log10(p[k] / around))
    return max(peaks)


def test_decoding_unseen_code_sequences_leaves_no_peak_at_the_code_rate():
    """A prior's samples are code sequences the decoder never saw in training. A transposed-conv
    decoder stamps its kernel overlap on them as peaks at the code rate (11-20 dB measured); the
    default decoder (linear upsampling, then a conv) must not (at most 3 dB)."""
    from scipy.signal import lfilter

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    rate, window = 256.0, 512
    noise = lfilter([1.0], [1.0, -0.9], rng.normal(size=(32, 1, window)), axis=-1)  # coloured
    x = torch.from_numpy((noise / noise.std()).astype(np.float32))
    model = Tokenizer(preset_config("small", channels=1, window=window))
    train(model, x, steps=30)
    model.eval()
    with torch.no_grad():
        codes = torch.randint(0, model.cfg.codebook_size, (128, 1, window // model.cfg.downsample))
        y = model.decode(model.codes_to_latents(codes)).numpy()
    assert _code_rate_peak_db(y, rate, rate / model.cfg.downsample) < 3.0
