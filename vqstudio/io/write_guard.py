"""The one check every writer runs: nothing VQ Studio writes may replace a user's recording or
a project's files.

A path is refused (`OutputError`) when, after resolving links and compared as files (device and
inode, as `os.path.samefile` does), it is

* one of the files the running command reads: its inputs and the source recordings of the
  project it works on (declared with `protecting(...)` around the command);
* a file anywhere inside a project folder (one holding a VQ Studio `project.json`) but its
  `samples/` and `reports/` folders, unless the writer is that project's own (`owner=`);
* a symbolic link planted inside a project folder, for the project's own writers (they would
  follow it out of the folder);
* a folder, a read-only file, or a path whose folder is missing or read-only.

The protected set lives in a context variable, so a command declares it once and every writer it
calls (EDF, BDF, CSV, NPY and its sidecar, JSON reports, plots, checkpoints) sees it, in the
thread that runs the command.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vqstudio.errors import OutputError

__all__ = [
    "PROJECT_FORMAT",
    "PROJECT_MARKER_FILE",
    "PROJECT_OUTPUT_FOLDERS",
    "check_new_folder",
    "check_target",
    "is_project_folder",
    "project_above",
    "protecting",
]

PROJECT_MARKER_FILE = "project.json"
PROJECT_FORMAT = "vqstudio-project"  # the marker project.json carries (vqstudio.project uses these)
PROJECT_OUTPUT_FOLDERS = ("samples", "reports")  # where others may write inside a project


@dataclass(frozen=True)
class _Guarded:
    """A file that must not be written, by identity, with what it is (for the message)."""

    key: tuple[int, int]
    path: str
    what: str


_PROTECTED: contextvars.ContextVar[tuple[_Guarded, ...]] = contextvars.ContextVar(
    "vqstudio_protected", default=()
)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows links: the file a link points to is what matters
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def protecting(paths: Iterable[str | None], what: str = "an input recording") -> Iterator[None]:
    """Within the block, no writer may write any of `paths` (those that exist now)."""
    added = []
    for p in paths:
        if not p:
            continue
        key = _identity(os.fspath(p))
        if key is not None:
            added.append(_Guarded(key, os.fspath(p), what))
    token = _PROTECTED.set(_PROTECTED.get() + tuple(added))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def is_project_folder(folder: str) -> bool:
    """True when `folder` holds a VQ Studio `project.json` (its format marker is checked)."""
    meta = os.path.join(folder, PROJECT_MARKER_FILE)
    if not os.path.isfile(meta):
        return False
    try:
        with open(meta, encoding="utf-8") as f:
            head = json.load(f)
    except (OSError, ValueError):
        return True  # a damaged project file is still a project's: never write over it
    return isinstance(head, dict) and head.get("format") == PROJECT_FORMAT


def check_target(path: str, *, owner: str | None = None, extra: Iterable[str | None] = ()) -> None:
    """Raises `OutputError` unless `path` may be written now; see the module docstring.

    `owner` is the project folder of the project's own writers; `extra` adds files to protect
    for this one check (e.g. the recording a writer was given was read from).
    """
    path = os.fspath(path)
    folder = writable = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        if not _is_project_output_folder(folder):
            raise OutputError(f"cannot write {path}: folder {folder} does not exist")
        writable = os.path.dirname(folder)  # the writer makes it: the project folder must allow that
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")
    if not os.access(writable, os.W_OK) or not os.stat(writable).st_mode & 0o222:
        raise OutputError(f"cannot write {path}: folder {writable} is not writable")
    target = _identity(path)
    if target is not None:
        if not os.stat(path).st_mode & 0o222:
            raise OutputError(f"cannot write {path}: the file there is read-only; choose another path")
        extras = [_Guarded(k, p, "the input recording itself") for p in extra if p and (k := _identity(p))]
        for guarded in (*_PROTECTED.get(), *extras):
            if guarded.key == target:
                same = "" if os.path.abspath(guarded.path) == os.path.abspath(path) else f" ({guarded.path})"
                raise OutputError(
                    f"cannot write {path}: it is {guarded.what}{same}; "
                    "VQ Studio never writes over what it reads: choose another output path"
                )
    _check_project_rules(path, folder, owner)


def _is_project_output_folder(folder: str) -> bool:
    """A project's samples/ or reports/ (made by the first write into it)."""
    parent, name = os.path.split(os.path.abspath(folder))
    return name in PROJECT_OUTPUT_FOLDERS and is_project_folder(parent)


def project_above(folder: str) -> str | None:
    """The project folder that holds `folder` (or is it), links resolved; None when none does."""
    current = os.path.realpath(folder)
    while True:
        if is_project_folder(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _refuse_inside_project(what: str, real_folder: str) -> None:
    """`OutputError` when `real_folder` lies in a project but outside its samples/ and reports/."""
    project = project_above(real_folder)
    if project is None:
        return
    rel = os.path.relpath(real_folder, project)
    if rel.split(os.sep)[0] not in PROJECT_OUTPUT_FOLDERS:
        raise OutputError(
            f"cannot write {what}: it lies inside the project folder {project}, whose files belong to "
            f"the project; write into {os.path.join(project, 'samples')} or another folder"
        )


def check_new_folder(folder: str) -> None:
    """Raises `OutputError` unless an output folder may be made at `folder` (or used, if there):
    its parent exists and is writable, and it lies in no project but in its samples/ or reports/."""
    folder = os.fspath(folder)
    if os.path.isdir(folder):
        _refuse_inside_project(folder, os.path.realpath(folder))
        return
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent):
        raise OutputError(f"cannot make {folder}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or not os.stat(parent).st_mode & 0o222:
        raise OutputError(f"cannot make {folder}: folder {parent} is not writable")
    _refuse_inside_project(folder, os.path.join(os.path.realpath(parent), os.path.basename(folder)))


def _check_project_rules(path: str, folder: str, owner: str | None) -> None:
    real_folder = os.path.realpath(folder)
    if owner is not None:
        real_owner = os.path.realpath(owner)
        if os.path.islink(path) or not _inside(real_folder, real_owner):
            raise OutputError(
                f"cannot write {path}: it leads out of the project folder {owner} through a link; "
                "a project's files must be plain files inside it"
            )
        return
    _refuse_inside_project(path, real_folder)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
