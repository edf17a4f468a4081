"""Engine events as lines of JSON: how a job running in another process (rank 0 of
`vqstudio train --nproc N`) tells the app what it does, so the app draws the same live plots
as for a job in its own thread.

One event is one line: its dataclass name as `"type"`, its fields by name, numpy arrays as
`{"dtype", "shape", "data"}` (`data` a flat list, so the same values come back). A writer
flushes each line, so a reader tailing the file sees whole events as they happen; a reader
keeps a line the writer has not finished for its next read. Torch-free and Qt-free: the app
imports it in its window's process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Generator
from typing import IO, Any, TypeVar

import numpy as np

from vqstudio.events import (
    CheckpointWritten,
    Event,
    LogLine,
    LongRun,
    Progress,
    ReconstructionPreview,
    SamplePreview,
    Validation,
)

__all__ = ["EVENT_TYPES", "EventReader", "EventWriter", "decode", "encode", "recorded"]

_CLASSES = (Progress, Validation, ReconstructionPreview, SamplePreview, CheckpointWritten, LogLine, LongRun)
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in _CLASSES}
_ARRAY_KEYS = frozenset({"dtype", "shape", "data"})

R = TypeVar("R")


def _plain(value: Any) -> Any:
    """`value` as JSON holds it: arrays tagged with their dtype and shape, numpy scalars as
    Python numbers, tuples as lists (the event's field types turn them back)."""
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.str, "shape": list(value.shape), "data": value.ravel().tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def encode(event: Event) -> str:
    """One event as one line of JSON (no newline). Non-finite floats are written as JSON's
    common extension (NaN, Infinity), which `decode` reads back."""
    fields = {f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event)}  # type: ignore[arg-type]
    return json.dumps({"type": type(event).__name__, **fields}, separators=(",", ":"))


def _is_array(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == _ARRAY_KEYS


def _field_value(value: Any, hint: Any) -> Any:
    if _is_array(value):
        return np.asarray(value["data"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if isinstance(value, list) and typing.get_origin(hint) is tuple:
        return tuple(value)
    return value


def decode(line: str) -> Event:
    """The event of one line that `encode` wrote; `ValueError` for a line that is not one."""
    data = json.loads(line)
    cls = EVENT_TYPES.get(data.pop("type", None) if isinstance(data, dict) else None)
    if cls is None:
        raise ValueError(f"not an event line: {line[:80]!r}")
    # The field types say which lists were tuples (a preview's labels and units).
    hints = typing.get_type_hints(cls)
    return cls(**{name: _field_value(value, hints.get(name)) for name, value in data.items()})


class EventWriter:
    """Appends events to a file, one flushed line each (a reader may be tailing it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, event: Event) -> None:
        self._file.write(encode(event) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventReader:
    """Reads the events appended to a file since the last read (the file may not exist yet)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""  # the end of a line still being written

    def read(self) -> list[Event]:
        """The whole lines written since the last call, as events."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        return [decode(line.decode("utf-8")) for line in lines if line.strip()]


def recorded(job: Generator[Event, None, R], path: str) -> Generator[Event, None, R]:
    """`job`, with each event it yields also appended to `path` (`EventWriter`); returns its result."""
    with EventWriter(os.fspath(path)) as writer:
        while True:
            try:
                event = next(job)
            except StopIteration as done:
                return done.value
            writer.write(event)
            yield event
