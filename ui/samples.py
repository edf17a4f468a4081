"""A project's latest generated recordings, as its `samples/` folder holds them (no Qt).

One generation writes one batch: `NAME.edf`, or `NAME_1.edf ... NAME_N.edf` for several (the
app names them `gui_<date>-<time>`, the command line whatever `--out` says). A reopened project
shows its newest batch: the numbered files sharing a name but for the `_N` suffix (or one
unnumbered file), newest by the time their files were last written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from vqstudio.errors import VQStudioError
from vqstudio.recording import Recording

__all__ = ["MAX_SHOWN", "RECORDING_EXTENSIONS", "LatestSamples", "latest_batch", "read_latest"]

RECORDING_EXTENSIONS = (".edf", ".bdf", ".csv")  # what generate writes that reads back as a Recording
MAX_SHOWN = 50  # a batch of thousands (generate --count) shows its first ones: opening stays quick
_NUMBERED = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)$")


def _batch_key(name: str) -> tuple[tuple[str, str, bool], int]:
    """((stem without its `_N`, extension, numbered), N) of a file name; N is 0 when unnumbered.
    `NAME.edf` and `NAME_1.edf` are two batches: `--count 1`, then `--count 2`, to one name."""
    stem, ext = os.path.splitext(name)
    match = _NUMBERED.match(stem)
    if match:
        return (match["stem"], ext.lower(), True), int(match["n"])
    return (stem, ext.lower(), False), 0


def latest_batch(project_dir: str) -> list[str]:
    """The newest batch of recordings in the project's `samples/`, in their numbered order
    (empty when there is none)."""
    folder = os.path.join(project_dir, "samples")
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no samples/ yet
        return []
    batches: dict[tuple[str, str, bool], list[tuple[int, str, float]]] = {}
    for entry in entries:
        key, n = _batch_key(entry.name)
        if key[1] not in RECORDING_EXTENSIONS or entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                batches.setdefault(key, []).append((n, entry.path, entry.stat().st_mtime))
        except OSError:  # removed while listed
            continue
    if not batches:
        return []
    newest = max(batches.values(), key=lambda files: max(mtime for _, _, mtime in files))
    return [path for _, path, _ in sorted(newest)]


@dataclass
class LatestSamples:
    """The recordings of the newest batch that read back, their paths, and what did not read."""

    recordings: list[Recording] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    left_out: int = 0  # files of the batch beyond MAX_SHOWN


def read_latest(project_dir: str) -> LatestSamples:
    """Reads the project's newest batch (at most MAX_SHOWN files); a file that does not read
    (a half-written one, a CSV without a time column) is named in `problems`, not raised."""
    from vqstudio.io import read_recording

    batch = latest_batch(project_dir)
    out = LatestSamples(left_out=max(0, len(batch) - MAX_SHOWN))
    for path in batch[:MAX_SHOWN]:
        try:
            out.recordings.append(read_recording(path))
        except VQStudioError as error:
            out.problems.append(f"{os.path.basename(path)}: {error}")
            continue
        out.paths.append(path)
    return out
