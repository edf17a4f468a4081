"""What this machine can hold: memory checks made before a large request starts, not after it fails."""

from __future__ import annotations

import os

from vqstudio.errors import LimitError

__all__ = ["available_memory", "check_memory"]


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux `MemAvailable`), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: float, what: str, advice: str) -> None:
    """Raises `LimitError` when `needed` bytes for `what` exceed the memory available now."""
    free = available_memory()
    if free is not None and needed > free:
        raise LimitError(
            f"{what} needs about {needed / 1e9:.1f} GB of memory and this machine has "
            f"{free / 1e9:.1f} GB available; {advice}"
        )
