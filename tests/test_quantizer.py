"""The residual vector quantizer: purity, the way back from indices, EMA, k-means, dead-code restart."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from vqstudio.models.quantizer import ResidualQuantizer, spherical_kmeans  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is ~10x faster than two on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _quantizer(**kw) -> ResidualQuantizer:
    settings = {"latent_dim": 8, "code_dim": 4, "codebook_size": 32, "n_quantizers": 1}
    settings.update(kw)
    return ResidualQuantizer(**settings)


def _buffers(q: ResidualQuantizer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in q.state_dict().items()}


def test_forward_is_pure_and_deterministic():
    torch.manual_seed(0)
    q = _quantizer(n_quantizers=2)
    z = torch.randn(3, 8, 10)
    before = _buffers(q)
    first = q(z)
    second = q(z)
    for k, v in q.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(first.indices, second.indices)
    assert first.indices.shape == (3, 2, 10)
    assert first.indices.dtype == torch.int64
    assert first.z_q.shape == z.shape
    assert first.encodings.shape == (2, 30, 4)


def test_codes_to_latents_inverts_latents_to_codes_for_plain_vq():
    torch.manual_seed(1)
    q = _quantizer()
    z_q = q(torch.randn(4, 8, 12)).z_q.detach()
    back = q.codes_to_latents(q.latents_to_codes(z_q))
    torch.testing.assert_close(back, z_q, atol=1e-5, rtol=1e-5)


def test_residual_snap_of_its_own_latents_is_exact_when_stages_shrink():
    torch.manual_seed(2)
    q = _quantizer(n_quantizers=2)
    with torch.no_grad():  # a trained RVQ's later stages carry less: make stage 2 small
        q.proj_out[1].weight.mul_(0.05)
        q.proj_out[1].bias.zero_()
    idx = torch.randint(32, (2, 2, 9))
    z_q = q.codes_to_latents(idx)
    torch.testing.assert_close(q.codes_to_latents(q.latents_to_codes(z_q)), z_q, atol=1e-5, rtol=1e-5)


def _first_stages(q: ResidualQuantizer, idx: torch.Tensor, n: int) -> torch.Tensor:
    """The quantized latent of indices (B, Q, L) from their first n stages only."""
    batch = idx.shape[0]
    return sum(q._stage_out(s, q.codebook[s][idx[:, s].reshape(-1)], batch) for s in range(n))


@torch.no_grad()
def test_quantizer_dropout_keeps_a_prefix_of_stages_in_training_only():
    torch.manual_seed(4)
    q = _quantizer(n_quantizers=3, dropout=1.0)
    z = torch.randn(64, 8, 6)
    full = q.eval()(z)
    prefixes = [_first_stages(q, full.indices, n) for n in (1, 2, 3)]
    torch.testing.assert_close(full.z_q, prefixes[2], atol=1e-5, rtol=1e-5)
    dropped = q.train()(z)
    assert torch.equal(dropped.indices, full.indices)  # the codes are chosen as always
    kept = []
    for b in range(z.shape[0]):
        matches = [n for n, p in enumerate(prefixes, 1) if torch.allclose(dropped.z_q[b], p[b], atol=1e-5)]
        assert len(matches) == 1, b
        kept.append(matches[0])
    assert set(kept) == {1, 2, 3}  # 64 windows, each drawing n in 1..3


def test_straight_through_gradient_reaches_the_input():
    q = _quantizer()
    z = torch.randn(2, 8, 5, requires_grad=True)
    out = q(z)
    (out.z_q.square().sum() + out.commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_spherical_kmeans_finds_separated_clusters():
    torch.manual_seed(3)
    centres = torch.nn.functional.normalize(torch.eye(4), dim=-1)
    points = centres.repeat(50, 1) + 0.01 * torch.randn(200, 4)
    points = torch.nn.functional.normalize(points, dim=-1)
    centroids, counts = spherical_kmeans(points, 4, iterations=10)
    assert counts.sum() == 200
    # every true centre has a centroid within a small angle
    assert (centres @ centroids.T).max(dim=1).values.min() > 0.99


def test_init_codebook_spreads_usage():
    torch.manual_seed(4)
    q = _quantizer(n_quantizers=2)
    z = torch.randn(16, 8, 20)
    q.init_codebook(z)
    usage = q.usage()
    assert usage["used_fraction"] > 0.9
    assert usage["perplexity"] > 16
    assert torch.allclose(q.codebook.norm(dim=-1), torch.ones(2, 32), atol=1e-5)


def _distinct(q: ResidualQuantizer, z: torch.Tensor) -> int:
    return int(q(z).indices.unique().numel())


@pytest.mark.parametrize("restart", [True, False])
def test_dead_code_restart_revives_codes(restart):
    torch.manual_seed(5)
    q = _quantizer(codebook_size=32, ema_decay=0.8, dead_code_fraction=0.05 if restart else 0.0)
    # Data packed in a narrow cone: the random initial codebook covers it with few codes.
    z = torch.randn(8, 8, 1) + 0.3 * torch.randn(8, 8, 16)
    z = z[:1].expand(8, -1, -1) + 0.3 * torch.randn(8, 8, 16)
    initially = _distinct(q, z)
    for _ in range(60):
        out = q(z + 0.05 * torch.randn_like(z))
        q.update(out.encodings, out.indices)
    finally_ = _distinct(q, z)
    if restart:
        assert finally_ >= 2 * initially, (initially, finally_)
        assert q.usage()["used_fraction"] > 0.5
    else:
        assert finally_ <= initially + 2, (initially, finally_)


def test_usage_reports_collapse_even_while_codes_are_restarted():
    torch.manual_seed(8)
    q = _quantizer(codebook_size=32, ema_decay=0.8, dead_code_fraction=0.05)
    z = torch.randn(1, 8, 1).expand(4, 8, 16).contiguous()  # every encoding identical
    for _ in range(40):
        out = q(z)
        q.update(out.encodings, out.indices)
    usage = q.usage()
    assert usage["perplexity"] < 8
    assert usage["used_fraction"] < 0.5
    assert usage["dead_codes"] >= 16


def test_ema_update_moves_codes_towards_data_and_stays_float32():
    torch.manual_seed(6)
    q = _quantizer()
    z = torch.randn(4, 8, 16)
    out = q(z)
    before = q.codebook.clone()
    q.update(out.encodings, out.indices)
    assert not torch.equal(before, q.codebook)
    assert q.codebook.dtype == q.ema_size.dtype == q.ema_sum.dtype == torch.float32
    torch.testing.assert_close(q.codebook.norm(dim=-1), torch.ones(1, 32))

    # mean cosine between encodings and their codes does not get worse after the update
    def fit(codebook):
        return (out.encodings[0] * codebook[0][out.indices[:, 0].reshape(-1)]).sum(-1).mean()

    assert fit(q.codebook) >= fit(before) - 1e-6


def test_runs_under_bf16_autocast_in_float32():
    torch.manual_seed(7)
    q = _quantizer(n_quantizers=2)
    z = torch.randn(2, 8, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(z)
        q.update(out.encodings, out.indices)
    assert out.z_q.dtype == torch.float32
    assert out.encodings.dtype == torch.float32
    assert q.codebook.dtype == torch.float32
