"""The optimizer of a stage and its one step: AdamW as `OptimConfig` says, clipped gradients.

The stage loop, both stages and the benches use these, so a step measured by a bench is the
step the app takes.
"""

from __future__ import annotations

import torch

from vqstudio import distributed
from vqstudio.training.settings import OptimConfig

__all__ = ["make_optimizer", "optimizer_step", "set_lr"]


def make_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW over every parameter of `model` (the order the checkpoint's optimizer state keeps)."""
    return torch.optim.AdamW(
        model.parameters(), lr=optim.lr, betas=(optim.beta1, optim.beta2), weight_decay=optim.weight_decay
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float
) -> None:
    """Backward, clip the gradient norm to `clip`, step. No host sync in one process; in several
    (`vqstudio.distributed`) the gradients are averaged over them first, so the clip and the step
    see the gradient of the whole batch, as one process with every rank's windows would."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # Every parameter the optimizer holds (the same list on every rank, whichever part of the
    # model this backward reached: a critic's step reaches only the critic).
    distributed.exchange_gradients(p for group in optimizer.param_groups for p in group["params"])
    with distributed.after_exchange():
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
