"""A small 1D CNN that tries to tell real windows from synthetic ones: the discriminative figure.

Classifier accuracy with blocked cross-validation: 50 % means the network cannot tell the two
sets apart (the best a generator can reach), 100 % that it always can. A convolutional network
on the samples themselves sees waveform shape (QRS complexes, spikes, the decoder's
code-rate ripple) that window features average away, so it is a far stronger test than the
logistic regression on features, which stays as a second figure.

Folds are contiguous blocks in each set's time order, and the windows next to a test block are
left out of training (`purge`), so overlapping neighbour windows never sit on both sides. Seeded
and deterministic on one machine; sized to take seconds on a CPU (at most `max_windows` per set,
`epochs` passes). torch is imported when the function runs, not at import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vqstudio.evaluation.classifier import wilson_interval

__all__ = ["CnnResult", "blocked_folds", "cnn_accuracy"]

MAX_WINDOWS = 128  # per set
EPOCHS = 10
FOLDS = 4
WIDTH = 24  # channels of each convolution


@dataclass(frozen=True)
class CnnResult:
    accuracy: float
    ci95: tuple[float, float]
    windows_per_class: int
    folds: int
    epochs: int
    seconds: float


def blocked_folds(n: int, k: int) -> np.ndarray:
    """Fold number of each of n items in time order: k contiguous blocks of (nearly) equal size."""
    return (np.arange(n) * k) // max(n, 1)


def _evenly(n: int, cap: int) -> np.ndarray:
    """At most `cap` indices spread evenly over range(n), in order (keeps time order for blocks)."""
    if n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, cap)).astype(int))


def _network(channels: int, samples: int):  # -> torch.nn.Module
    import torch
    from torch import nn

    # The first stride brings any window to about 256 steps, so long windows cost no more than
    # their input; its kernel spans two strides, so no sample is skipped.
    first = max(2, min(8, samples // 256))

    class Net(nn.Module):
        """Three strided convolutions, then the mean and max of each feature over time."""

        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.Sequential(
                nn.Conv1d(channels, WIDTH, 2 * first + 1, stride=first, padding=first),
                nn.GELU(),
                nn.Conv1d(WIDTH, WIDTH, 9, stride=2, padding=4),
                nn.GELU(),
                nn.Conv1d(WIDTH, WIDTH, 9, stride=2, padding=4),
                nn.GELU(),
            )
            self.head = nn.Linear(2 * WIDTH, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.convs(x)
            return self.head(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)).squeeze(1)

    return Net()


def cnn_accuracy(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    seed: int = 0,
    folds: int = FOLDS,
    epochs: int = EPOCHS,
    max_windows: int = MAX_WINDOWS,
    purge: int = 1,
) -> CnnResult:
    """Out-of-fold accuracy of the CNN telling `real` from `synthetic` `(n, channels, samples)`.

    Both sets are cut to the same size n <= `max_windows` (evenly spaced windows, so time order
    and blocks survive), so chance is exactly 50 %. For each of k blocked folds a fresh network
    (seeded) is trained for `epochs` passes (AdamW, lr 2e-3, batches of 32, binary cross-entropy)
    on the other folds, minus the `purge` windows on each side of the test block, with each
    channel z-scored by the training part's mean and std; it then predicts the test block.
    Accuracy = correct out-of-fold predictions / 2n; its 95 % Wilson interval over the 2n
    pooled predictions (optimistic when windows overlap: neighbours are not independent).
    """
    import torch

    start = time.perf_counter()
    n = int(min(len(real), len(synthetic), max_windows))
    if n < 4:
        raise ValueError(f"the CNN discriminator needs at least 4 windows per set, has {n}")
    a = np.asarray(real)[_evenly(len(real), n)][:n].astype(np.float32)
    b = np.asarray(synthetic)[_evenly(len(synthetic), n)][:n].astype(np.float32)
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    k = int(min(folds, n // 2))
    block = np.tile(blocked_folds(n, k), 2)
    position = np.tile(np.arange(n), 2)
    predicted = np.empty(2 * n)
    g = torch.Generator().manual_seed(seed)
    for fold in range(k):
        test = block == fold
        lo, hi = position[test].min(), position[test].max()
        near = (position >= lo - purge) & (position <= hi + purge)
        train = ~near
        mean = x[train].mean(axis=(0, 2), keepdims=True)
        std = x[train].std(axis=(0, 2), keepdims=True) + 1e-8
        xt = torch.from_numpy((x[train] - mean) / std)
        yt = torch.from_numpy(y[train])
        torch.manual_seed(seed * 1000 + fold)
        net = _network(x.shape[1], x.shape[2])
        opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(xt), generator=g)
            for i in range(0, len(order), 32):
                idx = order[i : i + 32]
                opt.zero_grad(set_to_none=True)
                loss_fn(net(xt[idx]), yt[idx]).backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            logits = net(torch.from_numpy((x[test] - mean) / std)).numpy()
        predicted[test] = (logits > 0).astype(float)
    accuracy = float((predicted == y).mean())
    return CnnResult(
        accuracy=accuracy,
        ci95=wilson_interval(accuracy, 2 * n),
        windows_per_class=n,
        folds=k,
        epochs=epochs,
        seconds=time.perf_counter() - start,
    )
