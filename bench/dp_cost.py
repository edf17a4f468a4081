"""What differential privacy costs a step, and how epsilon grows with steps; prints one JSON line.

    python bench/dp_cost.py [--channels 4] [--window 512] [--windows 2000] [--epsilon 10]
                            [--steps 3] [--smoke]

Times the app's own steps on random windows and codes (no recording needed): the tokenizer's
plain step (`tokenizer_step`) against its private one (each unit's gradient by vmap, Opacus's
clipping, noise and AdamW: `vqstudio.training.private`), at the CPU's batch of 16 windows, and
the diffusion prior's plain step against its private one at 32. Then, for `--windows` windows
of EEG in uV (each a unit, delta 1/N), the noise multiplier that `--epsilon` needs for 2,000 tokenizer and
2,000 prior steps, and the epsilon spent after each number of steps on the way (it grows with
the steps and ends at the target). `--smoke`: tiny shapes, one timed step each.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
import torch

from vqstudio.models.tokenizer import Tokenizer, preset_config
from vqstudio.priors.config import preset
from vqstudio.priors.registry import prior_kind
from vqstudio.training import private
from vqstudio.training.optim import optimizer_step
from vqstudio.training.tokenizer_stage import tokenizer_step


def _ms(step: Any, repeats: int) -> float:
    """Milliseconds a call of `step` takes: the median of `repeats` after a warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--windows", type=int, default=2000, help="privacy units (windows) for the epsilon table")
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=3, help="timed steps of each kind")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.channels, args.window, args.steps, args.windows = 2, 64, 1, 200
    torch.manual_seed(0)
    device = torch.device("cpu")
    tok_batch, prior_batch = 16, 32
    tokenizer = Tokenizer(preset_config("small", args.channels, args.window), with_critic=False)
    x = torch.randn(tok_batch, args.channels, args.window)
    plain_opt = torch.optim.AdamW(tokenizer.parameters(), lr=1e-4)
    units = [np.array([i]) for i in range(tok_batch)]
    plan = private.PrivacyPlan(
        args.epsilon, 1e-5, "window", tok_batch, 1, 1.0, 1.0, {"tokenizer": 1}, {"tokenizer": tok_batch}
    )
    figures: dict[str, Any] = {"bench": "dp_cost", "threads": torch.get_num_threads()}
    figures["load_average"] = [round(v, 2) for v in os.getloadavg()]
    plain_tok = lambda: tokenizer_step(tokenizer, plain_opt, x, 1.0, device)  # noqa: E731
    figures["tokenizer_plain_ms"] = _ms(plain_tok, args.steps)
    sgd = private.PrivateSGD(
        tokenizer, torch.optim.AdamW(tokenizer.parameters(), lr=1e-4), plan, "tokenizer", units, device
    )

    def tok_loss(state, xu):
        return torch.func.functional_call(tokenizer, state, (xu,)).loss, ()

    def private_tok() -> None:
        grads, _ = private.per_unit_gradients(tokenizer, tok_loss, [x[:, None]])
        sgd.step(grads, tok_batch)

    figures["tokenizer_private_ms"] = _ms(private_tok, args.steps)
    entry = prior_kind("diffusion")
    prior = entry.model(entry.config.for_tokenizer(tokenizer.cfg, 0, preset("small", "diffusion")))
    tokenizer.eval()
    cfg = tokenizer.cfg
    codes = torch.randint(cfg.codebook_size, (prior_batch, cfg.prior_levels, cfg.latent_length))
    prior.prepare_training(tokenizer, codes)
    gen = torch.Generator().manual_seed(0)
    prior_opt = torch.optim.AdamW(prior.parameters(), lr=1e-4)

    def plain_prior() -> None:
        loss = prior.training_loss(codes, None, gen, tokenizer=tokenizer)
        optimizer_step(prior, prior_opt, loss, 1.0)

    figures["prior_plain_ms"] = _ms(plain_prior, args.steps)
    pplan = private.PrivacyPlan(
        args.epsilon, 1e-5, "window", prior_batch, 1, 1.0, 1.0, {"prior": 1}, {"prior": prior_batch}
    )
    psgd = private.PrivateSGD(
        prior, torch.optim.AdamW(prior.parameters(), lr=1e-4), pplan, "prior",
        [np.array([i]) for i in range(prior_batch)], device,
    )  # fmt: skip

    def prior_loss(state, cu):
        with torch.nn.utils.stateless._reparametrize_module(prior, state):
            return prior.training_loss(cu, None, gen, tokenizer=tokenizer), ()

    def private_prior() -> None:
        grads, _ = private.per_unit_gradients(prior, prior_loss, [codes[:, None]])
        psgd.step(grads, prior_batch)

    figures["prior_private_ms"] = _ms(private_prior, args.steps)
    figures["tokenizer_cost"] = round(figures["tokenizer_private_ms"] / figures["tokenizer_plain_ms"], 2)
    figures["prior_cost"] = round(figures["prior_private_ms"] / figures["prior_plain_ms"], 2)
    # Epsilon against steps: N windows, delta 1/N, the CPU batches, 2,000 steps of each stage.
    n = args.windows
    delta = 1.0 / n
    rates = {"tokenizer": tok_batch / n, "prior": min(1.0, prior_batch / n)}
    total = {"tokenizer": 2000, "prior": 2000}
    stats_sigma = private.stats_noise(args.epsilon, delta, n, private.scale_sensitivity(["uV"]))
    sigma = private.calibrate(args.epsilon, delta, total, rates, stats_sigma)
    stats = [(stats_sigma, 1.0, 2)]
    table = []
    for t in (0, 100, 500, 1000, 2000):
        table.append({"tokenizer_steps": t, "prior_steps": 0, "epsilon": private.epsilon_of(
            [*stats, (sigma, rates["tokenizer"], t)], delta)})  # fmt: skip
    for p in (500, 1000, 2000):
        table.append({"tokenizer_steps": 2000, "prior_steps": p, "epsilon": private.epsilon_of(
            [*stats, (sigma, rates["tokenizer"], 2000), (sigma, rates["prior"], p)], delta)})  # fmt: skip
    figures["epsilon_vs_steps"] = {
        "windows": n,
        "delta": delta,
        "target_epsilon": args.epsilon,
        "noise_multiplier": round(sigma, 4),
        "table": [{**row, "epsilon": round(row["epsilon"], 3)} for row in table],
    }
    figures["smoke"] = args.smoke
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
