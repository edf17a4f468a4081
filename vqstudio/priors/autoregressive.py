"""The autoregressive prior, whole: its config, a causal transformer over code indices (one
token per latent step), its loss, and its sampling of any length.

Q codebooks (residual VQ) are handled without making the sequence Q times longer: the Q
embeddings of a step are summed on the way in, and on the way out level q is predicted from the
hidden state plus the embeddings of the levels < q already chosen for that step (a tiny
"depth" conditioning in the spirit of RQ-Transformer). The label embedding is added to every
position, so it stays in view when the context window slides. Rotary positions make attention
depend on relative positions only, so generation keeps a key/value cache of the last `context`
steps and never recomputes the past (`iter_codes`): any length, one step at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vqstudio.events import run_to_end
from vqstudio.priors.config import SampleOptions, Steps
from vqstudio.priors.layers import MLP, Rotary
from vqstudio.priors.limits import (
    BLOCK_LIVE,
    block_weights,
    check_size,
    check_transformer,
    code_levels,
    linear_weights,
)

__all__ = ["AutoregressiveConfig", "AutoregressivePrior", "KVCache", "iter_codes", "sample_codes"]


@dataclass(frozen=True)
class AutoregressiveConfig:
    """A causal transformer over code indices `(B, Q, L)`: one token per latent step.

    The Q codebook indices of one step are summed as embeddings on the way in; on the way out,
    level q is predicted from the hidden state plus the embeddings of levels < q of the same
    step, so residual codebooks stay dependent within a step at almost no cost.
    """

    codebook_size: int
    n_quantizers: int
    context: int  # tokens of history attended to (the sliding window when generating longer)
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    n_labels: int = 0
    label_dropout: float = 0.1
    kind: str = "autoregressive"

    def __post_init__(self) -> None:
        check_transformer(self)
        check_size(self)

    def weight_count(self) -> int:
        """The number of values in the model's state dict (`AutoregressivePrior`), computed
        without building it, so a config is measured before it allocates."""
        k, q, w = self.codebook_size, self.n_quantizers, self.width
        count = 2 * q * k * w + w  # code embeddings in and within a step, the start token
        count += (self.n_labels + 1) * w if self.n_labels else 0
        count += block_weights(self, 4 * w)  # each block's two layer norms
        return count + 4 * w + linear_weights(w, k) + q * w  # final and head norms, head, level embeddings

    def sampling_floats(self, guided: bool) -> float:
        """Working memory of sampling one step: the key/value cache of every layer over the
        context, one token's activations, its attention and the logits; twice with guidance."""
        cache = self.depth * 2 * self.context * self.width
        step = self.width * (BLOCK_LIVE + self.mlp_ratio) + self.heads * self.context + 2 * self.codebook_size
        return (2 if guided else 1) * (cache + step)

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> AutoregressiveConfig:
        """A transformer over the tokenizer's codes (every channel's levels of a per-channel
        codec: `code_levels`), attending to one window of latent steps."""
        return cls(
            codebook_size=tokenizer_cfg.codebook_size,
            n_quantizers=code_levels(tokenizer_cfg),
            context=tokenizer_cfg.latent_length,
            n_labels=n_labels,
            **dims,
        )

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        """(this prior's, the tokenizer's) codebook shape when they differ, else None."""
        have = (self.codebook_size, self.n_quantizers)
        want = (tokenizer_cfg.codebook_size, code_levels(tokenizer_cfg))
        return None if have == want else (have, want)


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
        return iter_codes(self, length, labels, opts.temperature, opts.top_k, gen, opts.guidance)

    def to_latents(self, tokenizer: nn.Module, sampled: torch.Tensor) -> torch.Tensor:
        """Sampled codes as the tokenizer's quantized latents."""
        return tokenizer.codes_to_latents(sampled)


def _filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """Logits divided by the temperature, all but the `top_k` likeliest set to -inf."""
    logits = logits.float() / max(temperature, 1e-5)
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def iter_codes(
    model: AutoregressivePrior,
    length: int,
    labels: torch.Tensor,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator,
    guidance: float = 1.0,
) -> Steps:
    """Code indices `(B, Q, length)` drawn step by step with a sliding key/value cache.

    A generator: yields (steps done, length) now and then, returns the codes.
    """
    cfg = model.config
    device = model.bos.device
    b, q = labels.shape[0], cfg.n_quantizers
    labels = labels.to(device)
    guided = model.label is not None and guidance != 1.0 and bool((labels != model.null_label).any())
    lab = torch.cat([labels, torch.full_like(labels, model.null_label)]) if guided else labels
    cache = KVCache(cfg.depth, cfg.context)
    out = torch.empty(b, q, length, dtype=torch.long, device=device)
    with torch.no_grad():
        x = model.embed(torch.empty(lab.shape[0], q, 0, dtype=torch.long, device=device), lab, bos=True)
    report = max(1, length // 20)
    for i in range(length):
        with torch.no_grad():  # per step: a context must not span a yield
            h = model.hidden(x, cache)[:, -1]  # (rows, W)
            step = torch.empty(b, 0, dtype=torch.long, device=device)
            for _ in range(q):
                logits = model.level_logits(h, torch.cat([step, step]) if guided else step)
                if guided:
                    cond, uncond = logits.float().chunk(2)
                    logits = uncond + guidance * (cond - uncond)
                probs = torch.softmax(_filter_logits(logits, temperature, top_k), dim=-1)
                step = torch.cat([step, torch.multinomial(probs, 1, generator=generator)], dim=1)
            out[:, :, i] = step
            x = model.embed((torch.cat([step, step]) if guided else step)[:, :, None], lab, bos=False)
        if (i + 1) % report == 0 or i + 1 == length:
            yield i + 1, length
    return out


def sample_codes(*args: Any, **kwargs: Any) -> torch.Tensor:
    """`iter_codes` run to the end."""
    return run_to_end(iter_codes(*args, **kwargs))
