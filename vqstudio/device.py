"""Choosing the compute device and the CPU thread count for engine jobs.

Imports torch, so only torch-using modules import this one.
"""

from __future__ import annotations

import os

import torch

from vqstudio.errors import DeviceError

__all__ = ["describe_device", "is_out_of_memory", "list_devices", "resolve_device", "set_threads"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for `name`: `auto` picks CUDA, then MPS, then CPU.

    Raises `DeviceError` when a named device is absent (say which and what to do).
    """
    name = (name or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise DeviceError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            f"--device {name} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
            "use --device cpu or install a CUDA build of torch"
        )
    if name == "mps" and not _mps_available():
        raise DeviceError("--device mps asked for, but no Apple GPU (MPS) is available; use --device cpu")
    return torch.device(name)


def list_devices() -> list[tuple[str, str]]:
    """The compute devices present, in the order `auto` prefers them (CUDA GPUs, then Apple's
    MPS, then the CPU), as `(name for --device, description)`."""
    found = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            name = "cuda" if i == 0 else f"cuda:{i}"
            found.append((name, torch.cuda.get_device_name(i)))
    if _mps_available():
        found.append(("mps", "Apple GPU"))
    found.append(("cpu", f"{os.cpu_count() or 1} cores"))
    return found


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. 'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def set_threads(threads: int | None) -> int:
    """Sets torch's intra-op CPU threads: `None` means every core (or `OMP_NUM_THREADS` when the
    user set it, the usual way to share a machine). Returns the count used."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)
    n = max(1, int(threads))
    torch.set_num_threads(n)
    return n


def is_out_of_memory(error: BaseException) -> bool:
    """True for an out-of-memory error of any device: CUDA's and MPS's (their types differ
    between torch versions), the CPU allocator's ("DefaultCPUAllocator: can't allocate memory")
    and numpy's `MemoryError`."""
    if isinstance(error, MemoryError):
        return True
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    said = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in said or "can't allocate memory" in said)
