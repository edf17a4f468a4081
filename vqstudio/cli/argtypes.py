"""Argument types shared by the subcommands: bounded numbers and frequency bands, with one-line
errors that say the bound."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from vqstudio.ranges import Range

__all__ = ["frequency_band", "in_range", "number", "thread_count", "whole_number"]


def number(
    minimum: float = 0.0, *, inclusive: bool = False, maximum: float | None = None
) -> Callable[[str], float]:
    """A finite float above `minimum` (or equal to it when `inclusive`), and at most `maximum`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if not (value >= minimum if inclusive else value > minimum):
            bound = f"{minimum:g} or more" if inclusive else f"more than {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:g}, got {text}")
        return value

    return parse


def in_range(bounds: Range, whole: bool = False) -> Callable[[str], float]:
    """A number within `bounds` (the engine's `Range` of the setting), whole when `whole`; the
    error says the range as the engine would."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if whole else float(text)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise argparse.ArgumentTypeError(f"'{text}' is not {kind}") from None
        if not bounds.contains(value):
            raise argparse.ArgumentTypeError(f"must be {bounds.describe()}, got {text}")
        return value

    return parse


def whole_number(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An int of `minimum` or more (and at most `maximum`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {text}")
        return value

    return parse


def frequency_band(text: str) -> tuple[float, float]:
    """`LO,HI` in Hz (e.g. `0.5,45`): two finite numbers, LO 0 or more and HI above LO. Nyquist
    is the project's to check: the parser does not know the rate."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"give the band as LO,HI in Hz (e.g. 0.5,45), got '{text}'")
    try:
        lo, hi = number(0.0, inclusive=True)(parts[0]), number(0.0, inclusive=True)(parts[1])
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"band '{text}': {e}") from None
    if hi <= lo:
        raise argparse.ArgumentTypeError(f"band '{text}': HI must be above LO")
    return lo, hi


MAX_THREADS = 4096


def thread_count(text: str) -> int | None:
    """`--threads N|auto`: a count of CPU threads, or None for "auto" (chosen by timing)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return whole_number(1, MAX_THREADS)(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or 'auto', chosen by timing)") from None
