"""What a readable `project.json` must hold, checked when a project is opened.

A project file edited by hand, cut short or written by another program must give one line that
names the field and what is wrong with it, never a `KeyError` from deep inside the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from vqstudio.errors import ProjectError

__all__ = ["validate_meta"]


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v: Any) -> bool:
    return _number(v) and v > 0


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_number(x) for x in v)


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


# (path in the JSON, test, what it must be)
_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("prep", _dict, "an object"),
    ("data", _dict, "an object"),
    ("data.rate", _positive, "a positive number (Hz)"),
    ("data.window", _whole, "a positive whole number of samples"),
    ("data.channels", _channel_list, "a non-empty list of channels, each with a 'label'"),
    ("data.normalization", _dict, "an object with 'mean' and 'std'"),
    ("data.normalization.mean", _numbers, "a list of numbers, one per channel"),
    ("data.normalization.std", _numbers, "a list of numbers, one per channel"),
    ("data.sources", _list, "a list of source recordings"),
)

_MISSING = object()


def _get(meta: dict[str, Any], dotted: str) -> Any:
    value: Any = meta
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def validate_meta(meta: dict[str, Any], where: str) -> None:
    """Raises `ProjectError` naming the first field of `meta` (read from `where`) that is wrong."""
    for dotted, test, must in _RULES:
        value = _get(meta, dotted)
        if value is _MISSING:
            raise ProjectError(f"{where} is incomplete: it has no '{dotted}' (it must be {must})")
        if not test(value):
            shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
            raise ProjectError(f"{where} is damaged: '{dotted}' must be {must}, not {shown}")
    n = len(meta["data"]["channels"])
    for key in ("mean", "std"):
        if len(meta["data"]["normalization"][key]) != n:
            raise ProjectError(
                f"{where} is damaged: 'data.normalization.{key}' has "
                f"{len(meta['data']['normalization'][key])} values for {n} channels"
            )
    if any(s <= 0 for s in meta["data"]["normalization"]["std"]):
        raise ProjectError(f"{where} is damaged: 'data.normalization.std' holds a value that is not positive")
