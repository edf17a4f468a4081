"""Batches of windows gathered by index from one signal tensor that stays on the device."""

from __future__ import annotations

import weakref

import numpy as np
import torch

from vqstudio import distributed
from vqstudio.data.prep import Split
from vqstudio.data.stream import gather_windows, is_streamed

__all__ = ["WindowBatches"]


class WindowBatches:
    """A split's signal as one `(channels, samples)` tensor on `device`, and its window starts.

    `batch(n)` draws `n` windows at random (from `generator`, a generator on `device` whose
    state the checkpoint keeps, so the data order resumes exactly) and gathers them with one
    indexing operation on the device: no window is ever copied on the host, no step waits.

    In a run of several processes (`vqstudio.distributed`) every rank draws the same indices for
    the whole batch of all ranks (`n` x processes, its generator in step with the others') and
    gathers only its own share: together the ranks take the batch one process would, and the
    data position in the checkpoint is the same whatever the number of processes.

    A split prepared by streaming (its `data` a memory map of the window cache on disk,
    `vqstudio.data.stream`) stays on disk: each batch reads only its windows (a rank only its own
    share), with plain reads from the cache file (opened once), and moves them to `device`. The indices drawn
    are the same, so the batches are those of the same split held in memory.
    """

    def __init__(self, split: Split, window: int, device: torch.device, generator: torch.Generator) -> None:
        if len(split) == 0:
            raise ValueError("no windows to draw batches from")
        self.window = window
        self.disk: Split | None = split if is_streamed(split.data) else None
        # Opened once: the file this stage reads stays the one it opened (a cache written again
        # under the same name by another process is a new file; this one reads on from the old).
        self.file = None
        if isinstance(split.data, np.memmap) and split.data.filename is not None:
            self.file = open(split.data.filename, "rb", buffering=0)  # noqa: SIM115 - open for the stage
            weakref.finalize(self, self.file.close)  # closed with the batches, not left to a warning
        self.data = None if self.disk else torch.from_numpy(np.ascontiguousarray(split.data)).to(device)
        self.starts = torch.from_numpy(split.starts).to(device)
        self.offsets = torch.arange(window, device=device)
        self.generator = generator
        self.device = device

    def __len__(self) -> int:
        return int(self.starts.numel())

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """Windows `index` as `(len(index), channels, window)`."""
        if self.disk is not None:
            rows = self.disk.starts[index.cpu().numpy()]
            windows = gather_windows(self.disk.data, rows, self.window, self.file)
            return torch.from_numpy(windows).to(self.device)
        assert self.data is not None
        pos = self.starts[index.to(self.device)][:, None] + self.offsets[None, :]
        return self.data[:, pos].permute(1, 0, 2).contiguous()

    def draw(self, n: int) -> torch.Tensor:
        """`n` windows drawn at random, the same on every rank (not shared out)."""
        # Drawn where the generator lives (the train job puts it on the data's device: no wait).
        index = torch.randint(len(self), (n,), generator=self.generator, device=self.generator.device)
        return self.gather(index)

    def batch(self, n: int) -> torch.Tensor:
        """This rank's `n` windows of a batch of `n` per rank (all `n` in one process)."""
        size = distributed.current().size
        index = torch.randint(len(self), (n * size,), generator=self.generator, device=self.generator.device)
        return self.gather(distributed.shard(index))
