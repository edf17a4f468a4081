"""Residual vector quantizer with factorised, l2-normalised codes and an EMA codebook.

Shape of the idea (ViT-VQGAN, DAC): each stage projects the latent (D channels) to a small
code space (`code_dim`), l2-normalises it and picks the nearest codeword by cosine
similarity; the chosen unit vector is projected back to D channels. With more than one
stage (residual VQ) each stage quantizes what the previous stages left over, and the
quantized latent is the sum of the stages' outputs.

The codebook is not trained by gradient: `update` moves each codeword towards the
exponential moving average (EMA) of the encodings assigned to it, and re-seeds codes whose
EMA cluster size fell far below the average (dead codes) from current encodings. Both are
explicit calls made by the training loop after the optimizer step; `forward` changes no
state. Distances and the EMA always run in float32, outside any autocast.

Quantizer dropout (SoundStream, DAC): in training, a fraction of the windows keeps only the
first n ~ U{1..Q} stages, so the first stages learn to carry the coarse signal on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["QuantizerResult", "ResidualQuantizer", "spherical_kmeans"]


@dataclass
class QuantizerResult:
    """What one quantizer pass produced.

    z_q: (B, D, L) quantized latent, straight-through (its gradient reaches the encoder).
    indices: (B, Q, L) int64 code indices per stage.
    encodings: (Q, B*L, code_dim) the l2-normalised encodings the codes were chosen for.
    commit: scalar commitment loss, mean squared distance encoding-to-code over stages.
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    encodings: torch.Tensor
    commit: torch.Tensor


def spherical_kmeans(points: torch.Tensor, k: int, iterations: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster unit vectors (N, d) into k centroids by cosine; returns (centroids (k, d), counts (k,)).

    Starts from k random points (drawn with replacement when N < k, with a little noise so
    the copies differ); an empty cluster takes a random point again. Runs on the points'
    device without host synchronisation.
    """
    n = points.shape[0]
    if n >= k:
        start = points[torch.randperm(n, device=points.device)[:k]]
    else:
        start = points[torch.randint(n, (k,), device=points.device)]
        start = start + 0.01 * torch.randn_like(start)
    centroids = F.normalize(start, dim=-1)
    for _ in range(iterations):
        assign = (points @ centroids.T).argmax(dim=1)
        counts = torch.zeros(k, device=points.device).index_add_(
            0, assign, torch.ones_like(assign, dtype=torch.float32)
        )
        sums = torch.zeros_like(centroids).index_add_(0, assign, points)
        reseed = points[torch.randint(n, (k,), device=points.device)]
        centroids = torch.where((counts == 0)[:, None], reseed, F.normalize(sums, dim=-1))
    assign = (points @ centroids.T).argmax(dim=1)
    counts = torch.zeros(k, device=points.device).index_add_(
        0, assign, torch.ones_like(assign, dtype=torch.float32)
    )
    return centroids, counts


class ResidualQuantizer(nn.Module):
    """`n_quantizers` stages of factorised cosine VQ over a (B, latent_dim, L) latent.

    Buffers (all float32, saved in the state dict): `codebook` (Q, K, code_dim) unit
    vectors, `ema_size` (Q, K) EMA of how many encodings each code received per update (a
    restarted code is given the mean size, a grace period before it can count as dead
    again), `ema_sum` (Q, K, code_dim) EMA of their sum, and `ema_usage` (Q, K), the same
    EMA of counts that restarts never touch: the usage statistics are read from it, so a
    code that is restarted over and over still counts as unused.
    """

    def __init__(
        self,
        latent_dim: int,
        code_dim: int,
        codebook_size: int,
        n_quantizers: int = 1,
        ema_decay: float = 0.99,
        dead_code_fraction: float = 0.03,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.code_dim = code_dim
        self.codebook_size = codebook_size
        self.n_quantizers = n_quantizers
        self.ema_decay = ema_decay
        self.dead_code_fraction = dead_code_fraction
        self.dropout = dropout
        self.proj_in = nn.ModuleList(nn.Conv1d(latent_dim, code_dim, 1) for _ in range(n_quantizers))
        self.proj_out = nn.ModuleList(nn.Conv1d(code_dim, latent_dim, 1) for _ in range(n_quantizers))
        codebook = F.normalize(torch.randn(n_quantizers, codebook_size, code_dim), dim=-1)
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_size", torch.ones(n_quantizers, codebook_size))
        self.register_buffer("ema_sum", codebook.clone())
        self.register_buffer("ema_usage", torch.ones(n_quantizers, codebook_size))

    # --- the pure path -------------------------------------------------------------------

    def _encode_stage(self, q: int, residual: torch.Tensor) -> torch.Tensor:
        """(B, D, L) residual -> (B*L, code_dim) unit encodings."""
        e = self.proj_in[q](residual)
        return F.normalize(e.transpose(1, 2).reshape(-1, self.code_dim), dim=-1)

    def _stage_out(self, q: int, codes: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*L, code_dim) code vectors -> (B, D, L) through the stage's output projection."""
        codes = codes.reshape(batch, -1, self.code_dim).transpose(1, 2)
        return self.proj_out[q](codes)

    def _kept_stages(self, batch: int, device: torch.device) -> torch.Tensor:
        """(B,) how many stages each window keeps: all of them, except in training with dropout,
        where a fraction `dropout` of the windows keeps n ~ U{1..Q}."""
        q = self.n_quantizers
        kept = torch.full((batch,), q, device=device)
        if self.training and self.dropout > 0 and q > 1:
            drawn = torch.randint(1, q + 1, (batch,), device=device)
            kept = torch.where(torch.rand(batch, device=device) < self.dropout, drawn, kept)
        return kept

    def forward(self, z: torch.Tensor) -> QuantizerResult:
        """Quantize a (B, latent_dim, L) latent; no state changes (quantizer dropout draws random
        numbers in training mode)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float()
            batch, length = z.shape[0], z.shape[-1]
            kept = self._kept_stages(batch, z.device)
            residual = z
            z_q = torch.zeros_like(z)
            commit = z.new_zeros(())
            all_idx, all_enc = [], []
            for q in range(self.n_quantizers):
                enc = self._encode_stage(q, residual)
                idx = (enc @ self.codebook[q].T).argmax(dim=1)
                code = self.codebook[q][idx]
                # (B,) 1 where window b uses stage q; the code lookup and the codebook's EMA
                # still see every window, so a dropped stage keeps learning its residual.
                use = (kept > q).float()
                per_row = (enc - code.detach()).square().mean(-1).reshape(batch, length)
                commit = commit + (per_row.mean(-1) * use).sum() / use.sum().clamp_min(1.0)
                # Straight-through: the forward value is the code, the gradient goes to enc.
                out = self._stage_out(q, enc + (code - enc).detach(), batch)
                z_q = z_q + out * use[:, None, None]
                residual = residual - out
                all_idx.append(idx.reshape(batch, -1))
                all_enc.append(enc)
            indices = torch.stack(all_idx, dim=1)
            return QuantizerResult(z_q, indices, torch.stack(all_enc), commit / self.n_quantizers)

    def codes_to_latents(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, Q, L) int indices -> (B, latent_dim, L) quantized latent (the way back for a prior)."""
        with torch.autocast(device_type=indices.device.type, enabled=False):
            batch = indices.shape[0]
            z_q = None
            for q in range(self.n_quantizers):
                out = self._stage_out(q, self.codebook[q][indices[:, q].reshape(-1)], batch)
                z_q = out if z_q is None else z_q + out
            return z_q

    def latents_to_codes(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim, L) latent -> (B, Q, L) indices of the nearest codes in latent space.

        Stage by stage, the code whose projected vector is closest (Euclidean) to what is
        left of z. With one quantizer this inverts `codes_to_latents` exactly; with residual
        VQ it is the greedy residual snap.
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            batch = z.shape[0]
            residual = z.float().transpose(1, 2).reshape(-1, self.latent_dim)
            all_idx = []
            for q in range(self.n_quantizers):
                proj = self.proj_out[q]
                # (K, D): each codeword as it appears in latent space.
                table = self.codebook[q] @ proj.weight[:, :, 0].T + proj.bias
                dist = table.square().sum(-1) - 2 * residual @ table.T
                idx = dist.argmin(dim=1)
                residual = residual - table[idx]
                all_idx.append(idx.reshape(batch, -1))
            return torch.stack(all_idx, dim=1)

    # --- explicit state changes ----------------------------------------------------------

    @torch.no_grad()
    def init_codebook(self, z: torch.Tensor, iterations: int = 10, max_points: int = 65536) -> None:
        """k-means initialisation of every stage from encoder outputs z (N, latent_dim, L).

        Stage q clusters the encodings of what stages < q left over; the EMA statistics
        start from the cluster counts, so usage is meaningful from the first step.
        """
        with torch.autocast(device_type=z.device.type, enabled=False):
            residual = z.float()
            batch = residual.shape[0]
            for q in range(self.n_quantizers):
                enc = self._encode_stage(q, residual)
                sample = enc
                if enc.shape[0] > max_points:
                    sample = enc[torch.randperm(enc.shape[0], device=enc.device)[:max_points]]
                centroids, counts = spherical_kmeans(sample, self.codebook_size, iterations)
                self.codebook[q].copy_(centroids)
                self.ema_size[q].copy_(counts)
                self.ema_usage[q].copy_(counts)
                self.ema_sum[q].copy_(centroids * counts[:, None])
                idx = (enc @ centroids.T).argmax(dim=1)
                residual = residual - self._stage_out(q, centroids[idx], batch)

    @torch.no_grad()
    def update(self, encodings: torch.Tensor, indices: torch.Tensor) -> None:
        """EMA codebook update and dead-code restart from one pass's encodings and indices.

        encodings: (Q, N, code_dim); indices: (B, Q, L) with B*L = N. A code is dead when its
        EMA size is below `dead_code_fraction` x the mean EMA size; it is re-seeded from a
        random current encoding and given the mean size, so it has time to attract data.
        Tensor ops only (no host synchronisation).
        """
        encodings = encodings.detach().float()
        n = encodings.shape[1]
        decay = self.ema_decay
        ones = torch.ones(n, device=encodings.device)
        for q in range(self.n_quantizers):
            enc = encodings[q]
            idx = indices[:, q].reshape(-1)
            counts = torch.zeros_like(self.ema_size[q]).index_add_(0, idx, ones)
            sums = torch.zeros_like(self.ema_sum[q]).index_add_(0, idx, enc)
            self.ema_size[q].mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_usage[q].mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_sum[q].mul_(decay).add_(sums, alpha=1 - decay)
            mean_size = self.ema_size[q].mean()
            dead = self.ema_size[q] < self.dead_code_fraction * mean_size
            fresh = enc[torch.randint(n, (self.codebook_size,), device=enc.device)]
            self.ema_size[q].copy_(torch.where(dead, mean_size, self.ema_size[q]))
            self.ema_sum[q].copy_(torch.where(dead[:, None], fresh * mean_size, self.ema_sum[q]))
            self.codebook[q].copy_(F.normalize(self.ema_sum[q], dim=-1))

    @torch.no_grad()
    def usage(self) -> dict[str, float]:
        """Codebook statistics from the EMA usage counts (`ema_usage`), averaged over stages.

        perplexity = exp(-sum_k p_k log p_k) with p_k = usage_k / sum(usage) (K when all codes
        are used equally, 1 when one code takes everything); dead_codes = codes whose usage is
        below dead_code_fraction x mean usage; used_fraction = 1 - dead_codes / K.
        """
        sizes = self.ema_usage.float()
        p = sizes / sizes.sum(-1, keepdim=True).clamp_min(1e-12)
        perplexity = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum(-1))
        dead = (sizes < self.dead_code_fraction * sizes.mean(-1, keepdim=True)).float().sum(-1)
        stats = torch.stack([perplexity.mean(), 1 - dead.mean() / self.codebook_size, dead.mean()])
        perp, used, n_dead = stats.tolist()
        return {"perplexity": perp, "used_fraction": used, "dead_codes": n_dead}
