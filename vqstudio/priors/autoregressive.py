"""The autoregressive prior: a causal transformer over code indices, one token per latent step.

Q codebooks (residual VQ) are handled without making the sequence Q times longer: the Q
embeddings of a step are summed on the way in, and on the way out level q is predicted from the
hidden state plus the embeddings of the levels < q already chosen for that step (a tiny
"depth" conditioning in the spirit of RQ-Transformer). The label embedding is added to every
position, so it stays in view when the context window slides. Rotary positions make attention
depend on relative positions only, so generation keeps a key/value cache of the last `context`
steps and never recomputes the past.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vqstudio.priors.config import AutoregressiveConfig, SampleOptions, Steps
from vqstudio.priors.layers import MLP, Rotary

__all__ = ["AutoregressivePrior", "KVCache"]


class KVCache:
    """Per-layer keys and values `(B, H, T, hd)` of the last `size` positions."""

    def __init__(self, depth: int, size: int) -> None:
        self.size = size
        self.keys: list[torch.Tensor | None] = [None] * depth
        self.values: list[torch.Tensor | None] = [None] * depth
        self.position = 0  # absolute position of the next token

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        old_k, old_v = self.keys[layer], self.values[layer]
        if old_k is not None and old_v is not None:
            k, v = torch.cat([old_k, k], dim=2), torch.cat([old_v, v], dim=2)
        k, v = k[:, :, -self.size :], v[:, :, -self.size :]
        self.keys[layer], self.values[layer] = k, v
        return k, v


class _CausalBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio))

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        q, k = Rotary.apply(q, cos, sin), Rotary.apply(k, cos, sin)
        if cache is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = cache.extend(layer, k, v)
            if n == 1:  # one new token attends to everything cached: no mask needed
                a = F.scaled_dot_product_attention(q, k, v)
            else:  # a prompt of n tokens after t cached ones: causal over the last n
                t = k.shape[2]
                allowed = torch.ones(n, t, dtype=torch.bool, device=x.device).tril(t - n)
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, w))
        return x + self.mlp(self.norm2(x))


class AutoregressivePrior(nn.Module):
    """Next-step code distribution given past codes and a label."""

    preview_options = SampleOptions()  # plain sampling: temperature 1, no top-k, no guidance
    default_guidance = 1.0  # guidance only when asked for
    # One token at a time: per-op overhead dominates on a GPU, so the weights are cast to bf16
    # once for sampling (not by autocast at every op).
    sample_in_bf16 = True

    def __init__(self, config: AutoregressiveConfig) -> None:
        super().__init__()
        self.config = config
        k, q, w = config.codebook_size, config.n_quantizers, config.width
        self.codes = nn.Embedding(q * k, w)  # level j's code c is row j*K + c
        self.within = nn.Embedding(q * k, w)  # the same, for conditioning later levels of a step
        self.bos = nn.Parameter(torch.zeros(w))
        self.label = nn.Embedding(config.n_labels + 1, w) if config.n_labels else None
        self.rotary = Rotary(w // config.heads)
        self.blocks = nn.ModuleList(
            _CausalBlock(w, config.heads, config.mlp_ratio) for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(w)
        self.head_norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, k)
        self.level = nn.Parameter(torch.zeros(q, w))
        nn.init.normal_(self.codes.weight, std=0.02)
        nn.init.normal_(self.within.weight, std=0.02)
        nn.init.normal_(self.level, std=0.02)
        self.register_buffer("offsets", torch.arange(q) * k, persistent=False)

    @property
    def null_label(self) -> int:
        return self.config.n_labels

    def embed(self, codes: torch.Tensor, labels: torch.Tensor | None, bos: bool) -> torch.Tensor:
        """Input vectors `(B, L(+1), W)` for codes `(B, Q, L)`, with a start token first if `bos`."""
        b = codes.shape[0]
        x = self.codes(codes.transpose(1, 2) + self.offsets).sum(dim=2)
        if bos:
            x = torch.cat([self.bos.expand(b, 1, -1), x], dim=1)
        if self.label is not None:
            if labels is None:
                labels = torch.full((b,), self.null_label, device=codes.device, dtype=torch.long)
            x = x + self.label(labels)[:, None, :]
        return x

    def hidden(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Transformer output for inputs `(B, T, W)`; with a cache, T new tokens after it."""
        start = cache.position if cache is not None else 0
        cos, sin = self.rotary.cos_sin(start, x.shape[1], x.device)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, i)
        if cache is not None:
            cache.position += x.shape[1]
        return self.norm(x)

    def level_logits(self, h: torch.Tensor, prior_levels: torch.Tensor) -> torch.Tensor:
        """Logits `(..., K)` for level q = prior_levels.shape[-1], given the chosen levels < q."""
        q = prior_levels.shape[-1]
        g = h + self.level[q]
        if q:
            g = g + self.within(prior_levels + self.offsets[:q]).sum(dim=-2)
        return self.head(self.head_norm(g))

    def forward(
        self, codes: torch.Tensor, labels: torch.Tensor | None = None, bos: bool = True
    ) -> torch.Tensor:
        """Logits `(B, L', Q, K)` predicting each step from the ones before it.

        With `bos` the first step is predicted from the start token (L' = L); without it the
        sequence is a crop from the middle of a recording and the first step is context only.
        """
        x = self.embed(codes[:, :, :-1], labels, bos)
        h = self.hidden(x)  # (B, L', W)
        target = codes if bos else codes[:, :, 1:]
        levels = target.transpose(1, 2)  # (B, L', Q)
        g = h[:, :, None, :] + self.level[None, None]
        q = levels.shape[-1]
        if q > 1:  # cumulative sum of the embeddings of earlier levels of the same step
            emb = self.within(levels + self.offsets)  # (B, L', Q, W)
            before = torch.cumsum(emb, dim=2) - emb
            g = g + before
        return self.head(self.head_norm(g))

    def prepare_training(self, tokenizer: nn.Module, codes: torch.Tensor) -> None:
        """Nothing to measure before training: codes are the model's own vocabulary."""

    def training_loss(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        *,
        tokenizer: nn.Module | None = None,
        mid_stream: bool = False,
    ) -> torch.Tensor:
        """Cross-entropy of the next codes `(B, Q, L)` (every prior has this signature); labels
        hidden with probability `label_dropout`. `mid_stream`: the crop starts in the middle of a
        recording, so no start token and the first step is context only. The tokenizer is unused.
        """
        bos = not mid_stream
        if labels is not None and self.label is not None:
            drop = torch.rand(labels.shape, generator=generator, device=labels.device)
            labels = torch.where(
                drop < self.config.label_dropout, torch.full_like(labels, self.null_label), labels
            )
        logits = self(codes, labels, bos)
        target = (codes if bos else codes[:, :, 1:]).transpose(1, 2)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))

    def loss_metrics(self, mean_loss: float) -> dict[str, float]:
        """The held-out figures of a mean `training_loss`: nats and bits per code (comparable with
        log2(codebook size) for a uniform guess)."""
        return {"val_nll": mean_loss, "val_bits_per_code": mean_loss / math.log(2)}

    def sample_steps(
        self, length: int, labels: torch.Tensor, gen: torch.Generator, opts: SampleOptions
    ) -> Steps:
        """Code indices `(B, Q, length)`, one row per label; yields (steps done, length)."""
        from vqstudio.priors.continuation import iter_codes  # it imports this module

        return iter_codes(self, length, labels, opts.temperature, opts.top_k, gen, opts.guidance)

    def to_latents(self, tokenizer: nn.Module, sampled: torch.Tensor) -> torch.Tensor:
        """Sampled codes as the tokenizer's quantized latents."""
        return tokenizer.codes_to_latents(sampled)
