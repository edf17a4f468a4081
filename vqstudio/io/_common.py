"""Helpers shared by the readers and writers: input checks, ASCII header text, write reports."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field

from vqstudio.errors import InputFileError
from vqstudio.io.write_guard import check_target

__all__ = ["WriteReport", "ascii_text", "check_input", "check_output"]


@dataclass(frozen=True)
class WriteReport:
    """What a writer did: the file(s) written and every change it made on the way (never silent)."""

    path: str
    format: str
    notes: list[str] = field(default_factory=list)
    extra_paths: tuple[str, ...] = ()  # files written beside `path` (the .npy sidecar)


def check_input(path: str) -> int:
    """Size of the input file `path`; `InputFileError` when it is missing, a folder, unreadable or empty."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise InputFileError(f"{name}: no such file; check the path")
    if os.path.isdir(name):
        raise InputFileError(f"{name}: is a folder, not a recording file")
    if not os.access(name, os.R_OK):
        raise InputFileError(f"{name}: cannot be read (permission denied)")
    size = os.path.getsize(name)
    if size == 0:
        raise InputFileError(f"{name}: the file is empty (0 bytes); it holds no recording")
    return size


def check_output(rec_source_path: str | None, out_path: str) -> None:
    """Refuses an output path that would replace something it must not (`OutputError`): the file
    the recording was read from, any file the running command protects, a project's file, a
    folder, a read-only file or folder (see `vqstudio.io.write_guard.check_target`)."""
    check_target(out_path, extra=(rec_source_path,))


_ASCII_MAP = {"µ": "u", "μ": "u", "°": "deg", "Ω": "Ohm", "²": "2", "³": "3", "±": "+-"}


def ascii_text(text: str, limit: int | None = None) -> str:
    """`text` as printable ASCII (µV -> uV, accents dropped, others '?'), cut to `limit` characters."""
    out = []
    for ch in text:
        if ch in _ASCII_MAP:
            out.append(_ASCII_MAP[ch])
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(base if base.isprintable() and base else ("" if ch in "\r\n\t" else "?"))
    s = "".join(out)
    return s[:limit] if limit is not None else s
