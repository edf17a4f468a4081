"""Writing generated recordings, for the CLI and the app alike: the file names `count` makes, the
output checks made before any sampling starts, and the writes.

`.edf/.bdf/.csv` with `count` N write `NAME_1.EXT ... NAME_N.EXT` (one file `NAME.EXT` when N is
1); `.npy` writes one float32 `(count, channels, samples)` array with `NAME.json` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from vqstudio.errors import OutputError
from vqstudio.io import WRITABLE_EXTENSIONS, WriteReport, write_npy_batch, write_recording
from vqstudio.io.npy import check_npy_output
from vqstudio.io.write_guard import check_target
from vqstudio.recording import Recording

__all__ = ["check_outputs", "output_paths", "unused_output", "write_generated"]


def output_paths(out: str, count: int) -> list[str]:
    """Files written for `out` and `count` (the `.npy` batch is one file)."""
    stem, ext = os.path.splitext(out)
    if ext.lower() == ".npy" or count == 1:
        return [out]
    return [f"{stem}_{i}{ext}" for i in range(1, count + 1)]


def unused_output(out: str, count: int) -> str:
    """`out`, or `out` with -2, -3... added to its stem, so that none of the files it names for
    `count` recordings exists yet: the app names its files by the second, and two runs within
    one second must not write over the first run's recordings."""
    stem, ext = os.path.splitext(out)
    candidate, n = out, 1
    while any(os.path.lexists(p) for p in output_paths(candidate, count)):
        n += 1
        candidate = f"{stem}-{n}{ext}"
    return candidate


def check_outputs(out: str, count: int) -> list[str]:
    """The paths `write_generated` will write, each checked now (`OutputError` if one may not be)."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in WRITABLE_EXTENSIONS:
        raise OutputError(
            f"cannot write {out}: unknown extension '{ext}'; use one of {', '.join(WRITABLE_EXTENSIONS)}"
        )
    paths = output_paths(out, count)
    for path in paths:
        if ext == ".npy":
            check_npy_output(path)
        else:
            check_target(path)
    return paths


def write_generated(
    recordings: Sequence[Recording], out: str, extra: Mapping[str, Any] | None = None
) -> list[WriteReport]:
    """Writes `recordings` to `out` (see the module docstring); `extra` goes into a .npy sidecar."""
    paths = check_outputs(out, len(recordings))
    if os.path.splitext(out)[1].lower() != ".npy":
        return [write_recording(rec, path) for rec, path in zip(recordings, paths, strict=True)]
    import numpy as np

    data = np.stack([r.to_array() for r in recordings]).astype(np.float32)
    first = recordings[0]
    report = write_npy_batch(
        data,
        out,
        rate=first.channels[0].rate,
        labels=first.labels,
        units=[c.unit for c in first.channels],
        annotations=[r.annotations for r in recordings],
        extra={**(extra or {}), "synthetic": True},
    )
    return [report]
