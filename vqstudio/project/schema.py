"""What a readable `project.json` must hold, checked when a project is opened.

A project file edited by hand, cut short or written by another program must give one line that
names the field and what is wrong with it, never a `KeyError` from deep inside the engine. Numbers
the engine computes with in float32 (rates, normalisation, physical ranges) must fit float32: a
mean of 1e39 would become infinite, a std of 1e-46 zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vqstudio.errors import ProjectError

__all__ = ["validate_meta"]

FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32: dividing by less overflows
# Rates in Hz: far beyond any biosignal amplifier both ways (the command line takes at most 1 MHz).
MIN_RATE, MAX_RATE = 1e-3, 1e9
MAX_WINDOW = 2**30  # samples, as `vqstudio.models.tokenizer.LIMITS`


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _float32(v: Any) -> bool:
    return _number(v) and abs(v) <= FLOAT32_MAX


def _positive(v: Any) -> bool:
    return _number(v) and v > 0


def _rate(v: Any) -> bool:
    return _number(v) and MIN_RATE <= v <= MAX_RATE


def _window(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_WINDOW


def _float32s(v: Any) -> bool:
    return isinstance(v, list) and all(_float32(x) for x in v)


def _scales(v: Any) -> bool:
    """Standard deviations: positive, neither infinite nor zero in float32."""
    return isinstance(v, list) and all(_number(x) and FLOAT32_TINY <= x <= FLOAT32_MAX for x in v)


def _range_end(v: Any) -> bool:
    """A stated physical minimum or maximum: null or NaN (none stated) or a number that fits
    float32."""
    return v is None or (
        isinstance(v, int | float) and not isinstance(v, bool) and (math.isnan(v) or _float32(v))
    )


def _channel_list(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) > 0
        and all(isinstance(c, dict) and isinstance(c.get("label"), str) for c in v)
    )


def _dict(v: Any) -> bool:
    return isinstance(v, dict)


def _list(v: Any) -> bool:
    return isinstance(v, list)


_RATE = f"a positive number (Hz) from {MIN_RATE:g} to {MAX_RATE:g}"
# (path in the JSON, test, what it must be)
_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("prep", _dict, "an object"),
    ("data", _dict, "an object"),
    ("data.rate", _rate, _RATE),
    ("data.window", _window, f"a whole number of samples from 1 to {MAX_WINDOW:,}"),
    ("data.channels", _channel_list, "a non-empty list of channels, each with a 'label'"),
    ("data.normalization", _dict, "an object with 'mean' and 'std'"),
    ("data.normalization.mean", _float32s, "a list of numbers, one per channel, within float32's range"),
    (
        "data.normalization.std",
        _scales,
        f"a list of numbers, one per channel, from {FLOAT32_TINY:.3g} to {FLOAT32_MAX:.3g} (float32)",
    ),
    ("data.sources", _list, "a list of source recordings"),
)
# Checked only where present (older projects lack them).
_OPTIONAL_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("data.output_rate", lambda v: v is None or _rate(v), _RATE),
    ("data.working_rate", lambda v: v is None or _dict(v), "an object"),
)
# Each channel's optional entries.
_CHANNEL_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("physical_min", _range_end, "a number within float32's range (or null: none stated)"),
    ("physical_max", _range_end, "a number within float32's range (or null: none stated)"),
    ("source_rate", lambda v: v is None or _rate(v), _RATE),
)

_MISSING = object()


def _get(meta: dict[str, Any], dotted: str) -> Any:
    value: Any = meta
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _damaged(where: str, dotted: str, must: str, value: Any) -> ProjectError:
    shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
    return ProjectError(f"{where} is damaged: '{dotted}' must be {must}, not {shown}")


def validate_meta(meta: dict[str, Any], where: str) -> None:
    """Raises `ProjectError` naming the first field of `meta` (read from `where`) that is wrong."""
    for dotted, test, must in _RULES:
        value = _get(meta, dotted)
        if value is _MISSING:
            raise ProjectError(f"{where} is incomplete: it has no '{dotted}' (it must be {must})")
        if not test(value):
            raise _damaged(where, dotted, must, value)
    for dotted, test, must in _OPTIONAL_RULES:
        value = _get(meta, dotted)
        if value is not _MISSING and not test(value):
            raise _damaged(where, dotted, must, value)
    for i, channel in enumerate(meta["data"]["channels"]):
        for key, test, must in _CHANNEL_RULES:
            if key in channel and not test(channel[key]):
                raise _damaged(where, f"data.channels[{i}].{key}", must, channel[key])
    n = len(meta["data"]["channels"])
    for key in ("mean", "std"):
        if len(meta["data"]["normalization"][key]) != n:
            raise ProjectError(
                f"{where} is damaged: 'data.normalization.{key}' has "
                f"{len(meta['data']['normalization'][key])} values for {n} channels"
            )
