"""Helpers shared by the readers and writers: input checks, ASCII header text, write reports."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field

from vqstudio.errors import InputFileError, OutputError

__all__ = ["WriteReport", "ascii_text", "check_input", "check_output", "refuse_overwriting_input"]


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
    """Refuses an output path that would replace something it must not (`OutputError`).

    * the file the recording was read from;
    * a read-only file, or a file in a read-only folder, by their permission bits: a user
      running as root passes `os.access` and `os.replace` everywhere, and must still not
      replace a read-only recording (shared data sets are kept read-only).
    """
    refuse_overwriting_input(rec_source_path, out_path)
    folder = os.path.dirname(os.path.abspath(out_path))
    if os.path.isdir(folder) and not os.stat(folder).st_mode & 0o222:
        raise OutputError(f"cannot write {out_path}: folder {folder} is read-only")
    if os.path.isfile(out_path) and not os.stat(out_path).st_mode & 0o222:
        raise OutputError(f"cannot write {out_path}: the file there is read-only; choose another path")


def refuse_overwriting_input(rec_source_path: str | None, out_path: str) -> None:
    """Raises `OutputError` when `out_path` is the file the recording was read from."""
    if not rec_source_path or not os.path.exists(out_path) or not os.path.exists(rec_source_path):
        return
    try:
        same = os.path.samefile(rec_source_path, out_path)
    except OSError:
        same = os.path.abspath(rec_source_path) == os.path.abspath(out_path)
    if same:
        raise OutputError(
            f"cannot write {out_path}: it is the input recording itself; choose another output path"
        )


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
