"""Training on several processes with torch.distributed: `torchrun` or `vqstudio train --nproc N`.

One process per GPU (NCCL) or several CPU processes (gloo), each with its rank. The launcher
describes the run in the environment (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`,
`MASTER_ADDR`, `MASTER_PORT`); `join` joins its process group and `leave` leaves it.

Who does what: rank 0 decides whatever depends on a clock or on the user (the time budget, when
to read the losses, validate or checkpoint, the CPU thread count: `agree`), and writes the
project; every rank reads it. A stop request set on any rank reaches all of them (`agree`'s
`any_of`). Every rank takes the same steps on its share of each batch (`shard`); the gradients
are averaged explicitly (`exchange_gradients`: the tokenizer's critic takes a second backward
pass in a step, which DistributedDataParallel's one-reduction-per-forward does not fit), with a
slot that says a rank ran out of memory, so every rank halves its batch together.

A collective that fails (a process was killed, a machine went away) raises `PeerLost`, a
one-line user-facing error naming the rank that is gone where this machine can tell.

Torch-free at import: the app imports the engine before torch; `torch.distributed` is loaded by
`join` only, in a process the launcher started as one of several.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import socket
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from vqstudio.errors import DeviceError, VQStudioError

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "MainRefused",
    "PeerLost",
    "PeerOutOfMemory",
    "ShareFailed",
    "World",
    "after_exchange",
    "agree",
    "barrier",
    "broadcast",
    "broadcast_module",
    "current",
    "exchange_gradients",
    "gather",
    "has_joined",
    "in_group",
    "join",
    "leave",
    "main_first",
    "mean",
    "shard",
    "spread",
    "sum_to_main",
    "union",
    "world_from_env",
]

# How long a collective waits for the other ranks: rank 0 validates, previews and writes
# checkpoints while the others wait at their next collective, which on a large project on a CPU
# can take minutes. A killed process is noticed at once (its sockets close), not after this.
TIMEOUT = dt.timedelta(minutes=60)
R = TypeVar("R")
_TEXT_BYTES = 2048  # the longest message `main_first` passes on


class PeerLost(VQStudioError, RuntimeError):
    """Another process of the run is gone (killed, failed, its machine lost): the run ends."""


class MainRefused(PeerLost):
    """Rank 0 refused to start the run (`main_first`): it says why. `said_here`: rank 0 runs on
    this machine and its line is already in this terminal or log, so the others add none; on
    another machine they say that it refused, and why."""

    def __init__(self, message: str, said_here: bool = False) -> None:
        super().__init__(message)
        self.said_here = said_here


class ShareFailed(ValueError):
    """Another rank could not compute its share of a `spread` (its own error ends or marks it
    there): a ValueError, as a computation that holds no number raises one here."""


class PeerOutOfMemory(RuntimeError):
    """Some rank ran out of memory in this step: every rank drops the step and halves its batch.
    Its message says "out of memory", so `vqstudio.device.is_out_of_memory` takes it as one."""


@dataclass(frozen=True)
class World:
    """This process's place in the run: `rank` of `size` processes; `local_rank` of `local_size`
    on this machine. One process alone is `World()`."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def beside_main(self) -> bool:
        """Whether rank 0 runs on this machine (a launcher numbers a machine's processes
        together), so its lines reach the same terminal or log."""
        return self.rank < self.local_size

    @property
    def is_main(self) -> bool:
        """Rank 0: it decides, writes the project and reports progress."""
        return self.rank == 0


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise VQStudioError(
            f"the environment variable {name}={text!r} (set by torchrun) is not a whole number"
        )
    return int(text)


def world_from_env(environ: Mapping[str, str] | None = None) -> World:
    """The world a launcher (torchrun, SLURM through torchrun) describes in the environment; one
    process alone when it describes none."""
    env = os.environ if environ is None else environ
    size = _env_int(env, "WORLD_SIZE", 1)
    if size <= 1:
        return World()
    rank = _env_int(env, "RANK", 0)
    local_rank = _env_int(env, "LOCAL_RANK", 0)
    local_size = _env_int(env, "LOCAL_WORLD_SIZE", 1)
    if rank >= size or local_rank >= max(local_size, 1):
        raise VQStudioError(
            f"RANK {rank} / LOCAL_RANK {local_rank} lie outside WORLD_SIZE {size} (set by torchrun)"
        )
    return World(rank, size, local_rank, max(1, local_size))


_world = World()
_device: Any = None  # where the collectives' tensors live: the GPU for NCCL, the CPU for gloo
# The group of the small exchanges the host reads at once (decisions, messages, barriers, the
# out-of-memory slot): gloo on the CPU even beside NCCL, so reading them never waits for a GPU.
_control: Any = None
_peers: list[tuple[str, int]] = []  # (host, pid) of every rank, to name a lost one
_joined = False  # whether this process has joined a group (it may have left it since)


def current() -> World:
    """The world this process joined (`World()` before `join` and after `leave`)."""
    return _world


def has_joined() -> bool:
    """Whether this process joined a process group at some point: before, a stop has nothing to
    finish or keep, and a process can simply end."""
    return _joined


def join(device: torch.device) -> torch.device:
    """Joins the process group the environment describes (NCCL for a CUDA `device`, else gloo)
    and returns the device this rank trains on (its own GPU: `cuda:LOCAL_RANK`). One process
    alone joins nothing and gets `device` back."""
    global _world, _device, _peers, _control, _joined
    world = world_from_env()
    if not world.distributed:
        return device
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise VQStudioError(f"training on several processes runs on CUDA GPUs or CPUs, not {device.type}")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing and not dist.is_initialized():
        raise VQStudioError(
            f"started as one of {world.size} processes (WORLD_SIZE) but without {' and '.join(missing)}: "
            "start the processes with torchrun --nproc-per-node N -m vqstudio ..., "
            "or vqstudio train --nproc N"
        )
    if device.type == "cuda" and world.local_rank >= torch.cuda.device_count():
        raise VQStudioError(
            f"{world.local_size} processes on this machine but {torch.cuda.device_count()} GPUs: "
            "start at most one process per GPU (--nproc, --nproc-per-node), or train on the CPU "
            "(--device cpu)"
        )
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        with _collective():
            dist.init_process_group(backend, timeout=TIMEOUT)
    _joined = True
    _world, _device = world, device if backend == "nccl" else torch.device("cpu")
    with _collective():
        _control = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend == "nccl" else None
    mine = f"{socket.gethostname()} {os.getpid()}"
    _peers = [(host, int(pid)) for host, pid in (t.rsplit(" ", 1) for t in _all_texts(mine))]
    return device


def in_group(
    device: torch.device, make_job: Callable[[torch.device], Generator[Any, None, R]]
) -> Generator[Any, None, R]:
    """The job `make_job(device)` makes, run as one process of the group the launcher describes
    (`join`; one process alone joins nothing): its events come from rank 0 alone, which stands
    for the run; the group is left at the end, however it ends."""
    from vqstudio.events import run_to_end

    device = join(device)
    finished = False
    try:
        job = make_job(device)
        result = (yield from job) if _world.is_main else run_to_end(job)
        finished = True
        return result
    finally:
        leave(finished)


def leave(finished: bool = False) -> None:
    """Leaves the process group (each rank, once its job ended). `finished`: the job ended as
    planned on every rank, so they first wait for each other: a rank that tore its connections
    down while another still sent it the last exchange's data could abort in gloo's threads
    (seen once in ~10 two-process runs: "terminate called without an active exception")."""
    global _world, _device, _peers, _control
    if _world.distributed:
        import torch.distributed as dist

        with contextlib.suppress(Exception):  # a group whose peers are gone cannot say goodbye
            if finished and dist.is_initialized():
                dist.barrier(group=_control)
        with contextlib.suppress(Exception):
            if dist.is_initialized():
                dist.destroy_process_group()
    _world, _device, _peers, _control = World(), None, [], None


# ---------------------------------------------------------------------- naming a lost rank


def _alive(pid: int) -> bool:
    """Whether process `pid` of this machine still runs (a zombie, dead but not yet reaped by
    its launcher, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def lost_ranks() -> list[int]:
    """The ranks of this machine whose process is gone (others' machines cannot be looked at)."""
    host = socket.gethostname()
    return [r for r, (h, pid) in enumerate(_peers) if h == host and r != _world.rank and not _alive(pid)]


def _lost_message(error: BaseException) -> str:
    import time

    time.sleep(0.2)  # the launcher reaps a killed process within its monitor interval (0.1 s)
    lost = lost_ranks()
    if lost:
        who = ", ".join(f"rank {r} (process {_peers[r][1]})" for r in lost)
        what = f"training process {who} ended"
    else:
        what = "another training process of this run ended or cannot be reached"
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # gloo's messages start with its source file ("[.../pair.cc:537] Read error ..."): not for users.
    detail = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text).split(". ")[0][:160]
    return f"rank {_world.rank}: {what} ({detail}); this run stops here"


@contextlib.contextmanager
def _collective() -> Iterator[None]:
    """Turns a failed collective into `PeerLost` (one line, naming the lost rank)."""
    try:
        yield
    except PeerLost:
        raise
    except (RuntimeError, ConnectionError, TimeoutError) as e:
        if isinstance(e, PeerOutOfMemory):
            raise
        raise PeerLost(_lost_message(e)) from e


# ---------------------------------------------------------------------- collectives


def _all_texts(text: str) -> list[str]:
    """Every rank's `text` (short, UTF-8), in rank order. Byte tensors, not pickles: nothing
    received is ever unpickled."""
    import torch
    import torch.distributed as dist

    data = text.encode()[:_TEXT_BYTES]
    mine = torch.zeros(_TEXT_BYTES + 2, dtype=torch.uint8)
    mine[0], mine[1] = len(data) // 256, len(data) % 256
    mine[2 : 2 + len(data)] = torch.tensor(list(data), dtype=torch.uint8)
    out = [torch.empty_like(mine) for _ in range(_world.size)]
    with _collective():
        dist.all_gather(out, mine, group=_control)
    texts = []
    for t in out:
        t = t.cpu()
        n = int(t[0]) * 256 + int(t[1])
        texts.append(bytes(t[2 : 2 + n].tolist()).decode(errors="replace"))
    return texts


def agree(decided: Mapping[str, float], any_of: Mapping[str, bool] | None = None) -> dict[str, Any]:
    """Rank 0's `decided` values and, for each `any_of` flag, whether any rank set it: the same
    answer on every rank (one small all-reduce). One process alone gets its own values back."""
    any_of = dict(any_of or {})
    if not _world.distributed:
        return {**decided, **any_of}
    import torch
    import torch.distributed as dist

    keys = list(decided)
    values = [float(decided[k]) if _world.is_main else -float("inf") for k in keys]
    values += [1.0 if any_of[k] else 0.0 for k in any_of]
    t = torch.tensor(values, dtype=torch.float64)
    with _collective():
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control)
    got = t.tolist()
    out: dict[str, Any] = {}
    for k, v in zip(keys, got[: len(keys)], strict=True):
        out[k] = type(decided[k])(v) if isinstance(decided[k], bool | int) else v
    for k, v in zip(any_of, got[len(keys) :], strict=True):
        out[k] = v > 0
    return out


def main_first(action: Any) -> Any:
    """Runs `action()` on rank 0 alone, then tells every rank whether it succeeded: a typed error
    of rank 0 (bad input, a project in use) reaches the others as a one-line `MainRefused` instead
    of leaving them waiting. Returns `action`'s result on rank 0, None elsewhere."""
    if not _world.distributed:
        return action()
    result, error, said = None, None, ""
    if _world.is_main:
        try:
            result = action()
        except BaseException as e:  # told to the others first, then raised here
            error = e
            said = str(e) if isinstance(e, VQStudioError) else f"an internal error ({type(e).__name__})"
            said = said or type(e).__name__
    said = _all_texts(said)[0]
    if error is not None:
        raise error
    if said:
        raise MainRefused(f"rank {_world.rank}: rank 0 stopped the run: {said}", said_here=_world.beside_main)
    return result


def barrier() -> None:
    """Waits until every rank gets here."""
    if _world.distributed:
        import torch.distributed as dist

        with _collective():
            dist.barrier(group=_control)


def exchange_gradients(params: Iterable[torch.Tensor], failed: bool = False) -> None:
    """Replaces every gradient with its mean over the ranks.

    First a small exchange on the host (`_control`): which parameters got a gradient on any rank,
    and whether a rank ran out of memory in the step (`failed`: this one, which brings no
    gradient); then, the step going on, one all-reduce of one flat buffer on the device, with
    no wait for it on the host. A rank that learns of a failure raises `PeerOutOfMemory`, as the
    failed rank does, so all ranks drop the step together. A parameter that got no gradient on
    any rank keeps none (AdamW leaves it alone, as in one process)."""
    if not _world.distributed:
        return
    import torch
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    status = torch.tensor([0.0 if failed or p.grad is None else 1.0 for p in params] + [float(failed)])
    with _collective():
        dist.all_reduce(status, group=_control)
    *present, failures = status.tolist()
    if failures > 0:
        raise PeerOutOfMemory("out of memory on a process of this run: every process halves its batch")
    used = [(p, n) for p, n in zip(params, present, strict=True) if n > 0]
    if not used:
        return
    grads = [p.grad.detach().reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p, _ in used]
    flat = torch.cat([g.float() for g in grads]).to(_device)
    with _collective():
        dist.all_reduce(flat)
    flat /= _world.size
    offset = 0
    for p, _ in used:
        n = p.numel()
        mean = flat[offset : offset + n].reshape(p.shape).to(p.device, p.dtype)
        if p.grad is None:
            p.grad = mean
        else:
            p.grad.copy_(mean)
        offset += n


@contextlib.contextmanager
def after_exchange() -> Iterator[None]:
    """Around the work of a step that follows its gradient exchange (the optimizer step, the
    codebook update): the other ranks are past the exchange, so an out-of-memory error here
    cannot be met by halving the batch together (`exchange_gradients`'s slot is spent): in a run
    of several processes it ends the run, as a `DeviceError` naming the rank."""
    try:
        yield
    except Exception as e:
        from vqstudio.device import is_out_of_memory

        if not _world.distributed or not is_out_of_memory(e) or isinstance(e, PeerOutOfMemory):
            raise
        raise DeviceError(
            f"rank {_world.rank} ran out of memory after the processes exchanged their gradients "
            "(in the optimizer step or the codebook update); train with a smaller --preset, fewer "
            "--channels or a shorter --window"
        ) from e


def shard(rows: torch.Tensor) -> torch.Tensor:
    """This rank's share of a batch every rank drew alike (`rows`: size x the batch): its own
    consecutive slice, so the ranks' shares put together are the batch one process would take."""
    if not _world.distributed:
        return rows
    n = rows.shape[0] // _world.size
    return rows[_world.rank * n : (_world.rank + 1) * n]


def gather(t: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Every rank's `t` (of equal shapes) put together along `dim`, in rank order."""
    if not _world.distributed:
        return t
    import torch
    import torch.distributed as dist

    src = t.contiguous().to(_device)
    out = [torch.empty_like(src) for _ in range(_world.size)]
    with _collective():
        dist.all_gather(out, src)
    return torch.cat(out, dim=dim).to(t.device)


def spread(fn: Callable[[Any], np.ndarray], rows: Any) -> np.ndarray:
    """`fn(rows)` (one number per row, `rows` anything with `len` and slices) computed by the
    ranks together: each its own contiguous share, the results put together in order on every
    rank. For work whose rows do not depend on each other (a window's score, its nearest
    distance); every rank must call it alike. An error on any rank reaches all of them: the rank
    that failed raises its own, the others `ShareFailed`. One process alone: `fn(rows)`."""
    import numpy as np

    if not _world.distributed:
        return np.asarray(fn(rows))
    import torch
    import torch.distributed as dist

    bounds = np.linspace(0, len(rows), _world.size + 1).round().astype(int)
    first, stop = bounds[_world.rank], bounds[_world.rank + 1]
    error: BaseException | None = None
    mine = np.zeros(0)
    try:
        if stop > first:  # an empty share computes nothing (some scorers refuse no rows)
            mine = np.asarray(fn(rows[first:stop]), dtype=np.float64).reshape(stop - first)
    except Exception as e:  # told to the others first, then raised here
        error = e
    if agree({}, any_of={"failed": error is not None})["failed"]:
        if error is not None:
            raise error
        raise ShareFailed("another process could not compute its share")
    width = int(np.diff(bounds).max())
    padded = torch.zeros(width, dtype=torch.float64)
    padded[: mine.size] = torch.from_numpy(mine)
    out = [torch.empty_like(padded) for _ in range(_world.size)]
    with _collective():
        dist.all_gather(out, padded, group=_control)
    return np.concatenate([t.numpy()[: bounds[r + 1] - bounds[r]] for r, t in enumerate(out)])


def sum_to_main(array: np.ndarray) -> None:
    """Adds every rank's `array` (of equal shapes) into rank 0's, in place, through the host's
    group (an output larger than a GPU's memory never goes to one); the others' may be changed
    on the way. Outputs that are zero outside each rank's own rows are put together exactly."""
    if not _world.distributed:
        return
    import torch
    import torch.distributed as dist

    with _collective():
        dist.reduce(torch.from_numpy(array), dst=0, group=_control)


def mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of `t` over the ranks (elementwise)."""
    if not _world.distributed:
        return t
    import torch.distributed as dist

    out = t.detach().double().to(_device)
    with _collective():
        dist.all_reduce(out)
    return (out / _world.size).to(t.device, t.dtype)


def union(mask: torch.Tensor) -> torch.Tensor:
    """A boolean mask true wherever it is true on any rank."""
    if not _world.distributed:
        return mask
    import torch.distributed as dist

    out = mask.to(_device).float()
    with _collective():
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return (out > 0).to(mask.device)


def broadcast(t: torch.Tensor) -> torch.Tensor:
    """Rank 0's `t` on every rank (in place; `t` of the same shape and dtype everywhere)."""
    if not _world.distributed:
        return t
    import torch
    import torch.distributed as dist

    moved = t.to(_device)
    with torch.no_grad(), _collective():
        dist.broadcast(moved, src=0)
    if moved is not t:
        t.copy_(moved)
    return t


def broadcast_module(module: torch.nn.Module, buffers_only: bool = False) -> None:
    """Rank 0's parameters and buffers (only the buffers with `buffers_only`) on every rank, one
    broadcast per dtype."""
    if not _world.distributed:
        return
    import torch
    import torch.distributed as dist

    tensors = [] if buffers_only else [p.data for p in module.parameters()]
    tensors += list(module.buffers())
    groups: dict[Any, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    with torch.no_grad(), _collective():
        for group in groups.values():
            flat = torch.cat([t.reshape(-1) for t in group]).to(_device)
            dist.broadcast(flat, src=0)
            offset = 0
            for t in group:
                t.copy_(flat[offset : offset + t.numel()].view(t.shape))
                offset += t.numel()
