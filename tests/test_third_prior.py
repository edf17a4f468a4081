"""A third prior needs its own module and one registry line, nothing else in VQ Studio.

The prior is defined here, outside the engine: a unigram over codes (how often each code of
each level is drawn, per label; no order, no context). It follows the protocol of
`vqstudio.priors.config` (`PriorConfig`, `PriorModel`), is added with the registry's public
`register_prior`, and is then trained, generated from (longer than a window) and resumed
through the command line, as the built-in priors are.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny import tiny_cli_args, write_input
from torch import nn

from vqstudio.cli import main
from vqstudio.priors.config import SampleOptions, Steps, config_from_dict, to_dict
from vqstudio.priors.registry import PRIOR_NAMES, register_prior, unregister_prior
from vqstudio.priors.store import load_prior, save_prior

KIND = "unigram"
RATE = 64  # tiny.write_input's
SAMPLE_CHUNK = 4096  # latent steps drawn at once (a progress report after each)


@dataclass(frozen=True)
class UnigramConfig:
    """Code frequencies per label and level: shaped by the tokenizer's codebooks alone."""

    codebook_size: int
    n_quantizers: int
    n_labels: int = 0
    kind: str = KIND

    @classmethod
    def for_tokenizer(cls, tokenizer_cfg: Any, n_labels: int, dims: dict[str, float]) -> UnigramConfig:
        """One table per label over the tokenizer's codes; the size preset's dims do not apply."""
        return cls(tokenizer_cfg.codebook_size, tokenizer_cfg.n_quantizers, n_labels)

    def mismatch(self, tokenizer_cfg: Any) -> tuple[Any, Any] | None:
        have = (self.codebook_size, self.n_quantizers)
        want = (tokenizer_cfg.codebook_size, tokenizer_cfg.n_quantizers)
        return None if have == want else (have, want)

    def weight_count(self) -> int:
        return (self.n_labels + 1) * self.n_quantizers * self.codebook_size

    def sampling_floats(self, guided: bool) -> float:
        return self.n_quantizers * self.codebook_size  # one row's probabilities


class UnigramPrior(nn.Module):
    """Logits `(labels + 1, Q, K)`: every latent step's codes drawn independently."""

    preview_options = SampleOptions()
    default_guidance = 1.0
    sample_in_bf16 = False

    def __init__(self, config: UnigramConfig) -> None:
        super().__init__()
        self.config = config
        self.logits = nn.Parameter(
            torch.zeros(config.n_labels + 1, config.n_quantizers, config.codebook_size)
        )

    def _rows(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor:
        if labels is None:  # unconditional: the "no label" row
            return torch.full((batch,), self.config.n_labels, dtype=torch.long, device=self.logits.device)
        return labels.to(self.logits.device)

    def prepare_training(self, tokenizer: nn.Module, codes: torch.Tensor) -> None:
        """Nothing to measure: the table learns from zero (uniform)."""

    def training_loss(
        self,
        codes: torch.Tensor,
        labels: torch.Tensor | None,
        generator: torch.Generator,
        *,
        tokenizer: nn.Module | None = None,
        mid_stream: bool = False,
    ) -> torch.Tensor:
        """Cross-entropy of every code `(B, Q, L)` under its label's table (order plays no part)."""
        b, q, n = codes.shape
        logits = self.logits[self._rows(labels, b)][:, :, None, :].expand(b, q, n, -1)
        return F.cross_entropy(logits.reshape(-1, self.config.codebook_size).float(), codes.reshape(-1))

    def loss_metrics(self, mean_loss: float) -> dict[str, float]:
        return {"val_nll": mean_loss}

    def sample_steps(
        self, length: int, labels: torch.Tensor, generator: torch.Generator, options: SampleOptions
    ) -> Steps:
        """Codes `(B, Q, length)`, any length, a chunk of steps at a time."""
        probs = torch.softmax(
            self.logits[self._rows(labels, labels.shape[0])].float() / options.temperature, -1
        )
        b, q, k = probs.shape
        out = torch.empty(b, q, length, dtype=torch.long, device=probs.device)
        for start in range(0, length, SAMPLE_CHUNK):
            n = min(SAMPLE_CHUNK, length - start)
            draw = torch.multinomial(probs.reshape(-1, k), n, replacement=True, generator=generator)
            out[:, :, start : start + n] = draw.view(b, q, n)
            yield start + n, length
        return out

    def to_latents(self, tokenizer: nn.Module, sampled: torch.Tensor) -> torch.Tensor:
        return tokenizer.codes_to_latents(sampled)


@pytest.fixture(scope="module")
def registered():
    """The unigram prior in the registry for this module's tests, and out of it afterwards."""
    register_prior(KIND, UnigramConfig, UnigramPrior, "code frequencies")
    yield
    unregister_prior(KIND)


def test_the_prior_learns_samples_any_length_and_round_trips(registered, tmp_path):
    cfg = UnigramConfig(codebook_size=8, n_quantizers=2, n_labels=1)
    assert config_from_dict(to_dict(cfg)) == cfg  # found in the registry by its kind
    model = UnigramPrior(cfg)
    assert cfg.weight_count() == sum(v.numel() for v in model.state_dict().values())
    codes = torch.randint(0, 3, (16, 2, 12))  # codes 0-2 of 8
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    losses = []
    for _ in range(20):
        loss = model.training_loss(codes, torch.zeros(16, dtype=torch.long), gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] == pytest.approx(math.log(8)) and losses[-1] < math.log(3) + 0.1

    path = str(tmp_path / "prior.safetensors")
    save_prior(path, model, 20, ["rest"], [16])
    loaded = load_prior(path)
    assert isinstance(loaded.model, UnigramPrior) and loaded.kind == KIND and loaded.step == 20
    reports, out = _run(loaded.model.sample_steps(10_000, torch.tensor([0, 1]), gen, SampleOptions()))
    assert reports == [(4096, 10_000), (8192, 10_000), (10_000, 10_000)] and out.shape == (2, 2, 10_000)
    assert float((out[0] <= 2).float().mean()) > 0.9  # label 0 learned codes 0-2
    assert float((out[1] <= 2).float().mean()) == pytest.approx(3 / 8, abs=0.03)  # no label: untrained


def _val_nll(printed: str) -> float:
    """The prior's held-out loss `vqstudio train` printed last."""
    return float(re.findall(r"prior val_nll: ([0-9.]+)", printed)[-1])


def _run(job: Steps) -> tuple[list[tuple[int, int]], Any]:
    """What a sampling job reported, and what it returned."""
    reports = []
    while True:
        try:
            reports.append(next(job))
        except StopIteration as end:
            return reports, end.value


def test_a_registered_prior_trains_generates_and_resumes_through_the_command_line(
    registered, tmp_path, capsys
):
    assert KIND in PRIOR_NAMES
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert KIND in capsys.readouterr().out  # the --prior choices come from the registry

    inputs = [write_input(tmp_path, "rest"), write_input(tmp_path, "active")]
    project = str(tmp_path / "project")
    weights = os.path.join(project, "prior.safetensors")
    args = ["train", *inputs, "--project", project, *tiny_cli_args(), "--prior", KIND, "--labels", "files"]
    assert main(args) == 0
    nll = _val_nll(capsys.readouterr().out)
    assert nll < math.log(256)  # below a uniform guess over the tiny tokenizer's 256 codes
    first = load_prior(weights)
    assert isinstance(first.model, UnigramPrior) and first.step == 2
    assert first.label_names == ["rest", "active"]  # in the order of the inputs

    # Any length: 7.5 s from a prior that saw 2 s windows, for each label.
    for label in first.label_names:
        out = str(tmp_path / f"{label}.npy")
        generate = ["generate", project, "--seconds", "7.5", "--count", "2", "--label", label, "--seed", "1"]
        assert main([*generate, "--out", out, "--device", "cpu", "--threads", "1"]) == 0
        x = np.load(out, allow_pickle=False)
        assert x.shape == (2, 2, int(7.5 * RATE)) and np.isfinite(x).all() and x.std() > 0
        assert not np.array_equal(x[0], x[1])

    resume = ["train", "--project", project, "--resume", "--prior-steps", "6"]
    assert main([*resume, "--device", "cpu", "--threads", "1"]) == 0
    printed = capsys.readouterr()
    assert "resuming the prior at step 2" in printed.err  # its weights and optimizer state came back
    assert _val_nll(printed.out) < nll  # and it went on learning
    resumed = load_prior(weights)
    assert isinstance(resumed.model, UnigramPrior) and resumed.step == 6
