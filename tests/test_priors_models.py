"""Unit tests of the stage-2 pieces: schedule, samplers, denoiser, autoregressive model and cache,
configs, and seamless chunked decoding with the real tokenizer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from vqstudio.errors import CheckpointError
from vqstudio.priors.autoregressive import AutoregressiveConfig, AutoregressivePrior, KVCache, sample_codes
from vqstudio.priors.config import config_from_dict, to_dict
from vqstudio.priors.continuation import decode_latents
from vqstudio.priors.diffusion import NEW_DIFFUSION_SHIFT, DiffusionConfig, DiffusionDenoiser, sample_latents
from vqstudio.priors.noise_schedule import CosineSchedule
from vqstudio.priors.samplers import SAMPLERS


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_schedule_round_trip():
    """x_t and the v target give back x_0 and eps exactly; alpha^2 + sigma^2 = 1."""
    for prediction in ("v", "eps"):
        s = CosineSchedule(prediction=prediction)
        g = torch.Generator().manual_seed(0)
        x0, eps = torch.randn(5, 3, 8, generator=g), torch.randn(5, 3, 8, generator=g)
        t = torch.tensor([0.01, 0.2, 0.5, 0.8, 0.999])
        x_t = s.add_noise(x0, eps, t)
        x0_back, eps_back = s.to_x0_eps(x_t, s.target(x0, eps, t), t)
        assert torch.allclose(x0_back, x0, atol=1e-4) and torch.allclose(eps_back, eps, atol=1e-4)
    a, sig = s.alpha_sigma(torch.linspace(0, 1, 11))
    assert torch.allclose(a**2 + sig**2, torch.ones(11))
    assert s.timesteps(4, torch.device("cpu")).tolist()[-1] == 0.0


def _oracle_gaussian(schedule: CosineSchedule, std: float):
    """The exact v-prediction for data ~ N(0, std^2): E[x_0 | x_t] = a std^2 / (a^2 std^2 + s^2) x_t."""

    def denoise(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = (v.view(-1, 1, 1) for v in schedule.alpha_sigma(t))
        x0 = a * std**2 / (a**2 * std**2 + s**2) * x_t
        eps = (x_t - a * x0) / s
        return a * eps - s * x0

    return denoise


def test_a_shifted_schedule_is_noisier_at_every_time_and_still_variance_preserving():
    t = torch.linspace(0.05, 0.95, 19)
    plain, shifted = CosineSchedule(), CosineSchedule(shift=3.0)
    a, s = shifted.alpha_sigma(t)
    assert torch.allclose(a**2 + s**2, torch.ones(19))
    # lambda = log(alpha / sigma) lowered by exactly log(shift): the SNR divided by shift^2
    assert torch.allclose(shifted.log_snr(t), plain.log_snr(t) - math.log(3.0), atol=1e-4)
    assert shifted.alpha_sigma(torch.tensor(0.0))[1] == 0.0  # t = 0 is still clean


@pytest.mark.parametrize(
    ("sampler", "steps", "shift"), [("dpm++2m", 20, 1.0), ("ddim", 50, 1.0), ("dpm++2m", 50, 4.0)]
)
def test_samplers_reach_the_data_distribution(sampler, steps, shift):
    """With an exact denoiser, both samplers end at the data's spread (std 0.5). DDIM (first
    order) needs more steps for it: at 20 steps it gives 0.465, DPM-Solver++(2M) 0.504. On a
    shifted schedule the times stay uniform, so the last step starts from more noise and 20
    steps give 0.42; 50 give 0.497. (A grid at the plain schedule's noise levels reaches 0.5 in
    20, but sampled a trained prior worse: bench/prior_ablation.py, ECG, PSD 7.6 against 5.0 dB.)"""
    schedule = CosineSchedule(shift=shift)
    gen = torch.Generator().manual_seed(0)
    x = SAMPLERS[sampler](
        _oracle_gaussian(schedule, 0.5), schedule, (4000, 1, 4), steps, gen, torch.device("cpu")
    )
    assert abs(float(x.std()) - 0.5) < 0.03
    assert abs(float(x.mean())) < 0.03


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_samplers_keep_known_latents(sampler):
    """Inpainting: the known part of the sequence comes out exactly as given."""
    schedule = CosineSchedule()
    known = torch.randn(3, 2, 10)
    mask = torch.zeros(3, 1, 10)
    mask[:, :, :4] = 1
    x = SAMPLERS[sampler](
        _oracle_gaussian(schedule, 1.0), schedule, (3, 2, 10), 8, torch.Generator().manual_seed(1),
        torch.device("cpu"), known, mask,
    )  # fmt: skip
    assert torch.allclose(x[:, :, :4], known[:, :, :4], atol=1e-5)
    assert not torch.allclose(x[:, :, 4:], known[:, :, 4:])


def test_denoiser_shapes_and_conditioning():
    cfg = DiffusionConfig(latent_dim=6, seg_len=16, width=32, depth=2, heads=2, n_labels=3, patch=2)
    model = DiffusionDenoiser(cfg)
    x = torch.randn(4, 6, 16)
    out = model(x, torch.rand(4), torch.tensor([0, 1, 2, 3]))
    assert out.shape == x.shape and torch.isfinite(out).all()
    gen = torch.Generator().manual_seed(0)
    loss = model.denoising_loss(x, torch.tensor([0, 1, 2, 3]), gen)
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    assert model.inp.weight.grad is not None
    with pytest.raises(ValueError):
        model(torch.randn(1, 6, 15), torch.rand(1))  # not a multiple of the patch


def test_latent_statistics_are_kept_with_the_weights():
    model = DiffusionDenoiser(DiffusionConfig(latent_dim=3, seg_len=8, width=16, depth=1, heads=2))
    z = torch.randn(50, 3, 8) * torch.tensor([1.0, 5.0, 0.1])[None, :, None] + 2.0
    model.set_latent_stats(z)
    zn = model.normalize(z)
    assert torch.allclose(zn.mean(dim=(0, 2)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(zn.std(dim=(0, 2)), torch.ones(3), atol=1e-2)
    assert torch.allclose(model.denormalize(zn), z, atol=1e-4)
    assert "latent_mean" in model.state_dict() and "latent_std" in model.state_dict()


def test_long_diffusion_sampling_continues_segments():
    """Longer than one segment: every position filled, finite, the overlap copied across."""
    cfg = DiffusionConfig(latent_dim=4, seg_len=16, width=32, depth=1, heads=2, patch=2)
    model = DiffusionDenoiser(cfg).eval()
    z = sample_latents(
        model, 53, torch.full((3,), model.null_label), 4, 1.0, torch.Generator().manual_seed(0)
    )
    assert z.shape == (3, 4, 53) and torch.isfinite(z).all()
    z2 = sample_latents(
        model, 53, torch.full((3,), model.null_label), 4, 1.0, torch.Generator().manual_seed(0)
    )
    assert torch.equal(z, z2)


def _ar(q: int = 2, context: int = 12) -> AutoregressivePrior:
    cfg = AutoregressiveConfig(
        codebook_size=10, n_quantizers=q, context=context, width=32, depth=2, heads=2, n_labels=2
    )
    return AutoregressivePrior(cfg).eval()


def test_kv_cache_matches_the_full_forward():
    """Logits computed one step at a time with the cache equal those of one causal pass."""
    model = _ar()
    codes = torch.randint(0, 10, (3, 2, 9))
    labels = torch.tensor([0, 1, 2])
    with torch.no_grad():
        full = model(codes, labels)  # (B, 9, Q, K)
        cache = KVCache(2, 64)
        x = model.embed(codes[:, :, :0], labels, bos=True)
        for i in range(9):
            h = model.hidden(x, cache)[:, -1]
            for q in range(2):
                step = model.level_logits(h, codes[:, :q, i])
                assert torch.allclose(step, full[:, i, q], atol=1e-4)
            x = model.embed(codes[:, :, i : i + 1], labels, bos=False)


def test_autoregressive_sampling_beyond_its_context():
    model = _ar(context=8)
    gen = torch.Generator().manual_seed(0)
    codes = sample_codes(model, 30, torch.tensor([0, 2]), 1.0, 3, gen, guidance=1.5)
    assert codes.shape == (2, 2, 30) and int(codes.min()) >= 0 and int(codes.max()) < 10
    again = sample_codes(
        model, 30, torch.tensor([0, 2]), 1.0, 3, torch.Generator().manual_seed(0), guidance=1.5
    )
    assert torch.equal(codes, again)


def test_top_k_one_is_greedy():
    model = _ar()
    a = sample_codes(model, 6, torch.tensor([1]), 1.0, 1, torch.Generator().manual_seed(0))
    b = sample_codes(model, 6, torch.tensor([1]), 1.0, 1, torch.Generator().manual_seed(99))
    assert torch.equal(a, b)


def test_config_round_trip_and_refusals():
    cfg = DiffusionConfig(latent_dim=8, seg_len=32, n_labels=2)
    assert config_from_dict(to_dict(cfg)) == cfg
    ar = AutoregressiveConfig(codebook_size=64, n_quantizers=2, context=32)
    assert config_from_dict(to_dict(ar)) == ar
    with pytest.raises(CheckpointError):
        config_from_dict({**to_dict(cfg), "surprise": 1})
    with pytest.raises(CheckpointError):
        config_from_dict({"kind": "gan"})
    with pytest.raises(ValueError):
        DiffusionConfig(latent_dim=8, seg_len=31, patch=2)
    with pytest.raises(ValueError, match="do not divide"):
        DiffusionConfig(latent_dim=8, seg_len=32, channels=3)
    # A config stored before per-channel heads existed builds the one shared output layer.
    old = to_dict(cfg)
    del old["channels"], old["snap"]
    assert config_from_dict(old).channels == 0 and config_from_dict(old).snap
    with pytest.raises(ValueError, match="snap"):
        DiffusionConfig(latent_dim=8, seg_len=32, snap="no")


def test_a_new_diffusion_prior_is_shifted_and_a_stored_one_keeps_its_schedule():
    tokenizer_cfg = SimpleNamespace(latent_dim=8, latent_length=32)
    new = DiffusionConfig.for_tokenizer(tokenizer_cfg, 0, {"width": 32, "depth": 1, "heads": 2})
    assert new.shift == NEW_DIFFUSION_SHIFT > 1
    stored = to_dict(new)
    del stored["shift"]  # a prior saved before the shift existed
    assert config_from_dict(stored).shift == 1.0
    assert DiffusionDenoiser(config_from_dict(stored)).schedule.shift == 1.0


def test_chunked_decoding_has_no_seams():
    """Decoding in chunks with the decoder's margin gives the samples of one long decode."""
    from vqstudio.models.tokenizer import Tokenizer, preset_config

    tokenizer = Tokenizer(preset_config("small", channels=2, window=128)).eval()
    z = torch.randn(2, tokenizer.cfg.latent_dim, 70)
    with torch.no_grad():
        whole = tokenizer.decode(z)
        chunked = decode_latents(tokenizer, z, 70 * tokenizer.cfg.downsample, chunk=16)
        no_margin = decode_latents(tokenizer, z, 70 * tokenizer.cfg.downsample, chunk=16, margin=0)
    assert chunked.shape == whole.shape
    assert torch.allclose(chunked, whole, atol=1e-4)
    assert not torch.allclose(no_margin, whole, atol=1e-4)  # the margin is what makes it seamless


def test_autoregressive_sampling_in_bfloat16():
    """Generation casts the autoregressive prior to bf16 on CUDA; positions must survive it."""
    model = _ar(context=8).to(torch.bfloat16)
    codes = sample_codes(model, 20, torch.tensor([0, 1]), 1.0, None, torch.Generator().manual_seed(0))
    assert codes.shape == (2, 2, 20)
    assert model.rotary.inv_freq.dtype == torch.float64


def test_continuation_knows_no_prior_class():
    """Any-length sampling goes through the prior's own methods (`config.PriorModel`):
    `continuation` imports no prior's module, so a new prior needs nothing there."""
    import ast

    import vqstudio.priors.continuation as continuation

    with open(continuation.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("vqstudio")} == {"vqstudio.priors.config"}
