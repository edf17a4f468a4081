"""Folders of recordings on a command line: `vqstudio train DIR/` trains on the recordings in DIR.

Only names are listed here; each recording is opened later, lazily (an EDF's samples are mapped
when first read), so a folder of hundreds of files costs a header read per file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vqstudio.errors import InputFileError

__all__ = ["FOLDER_EXTENSIONS", "expand_inputs"]

# What a folder contributes: recordings, not the notes (.txt) or generated batches (.npy) beside them.
FOLDER_EXTENSIONS = (".edf", ".bdf", ".csv", ".tsv")


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """`paths` with each folder replaced by the recordings directly inside it (sorted by name,
    hidden files and EDF+ files of annotations only, such as hypnograms, left out). Files are
    kept as given. A folder holding no recording is refused (`InputFileError`)."""
    from vqstudio.io import annotations_only

    out: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        found = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if not name.startswith(".")
            and os.path.splitext(name)[1].lower() in FOLDER_EXTENSIONS
            and os.path.isfile(os.path.join(path, name))
        )
        found = [p for p in found if not annotations_only(p)]
        if not found:
            raise InputFileError(
                f"the folder {path} holds no recordings ({', '.join(FOLDER_EXTENSIONS)}); "
                "name the files or another folder"
            )
        out += found
    return out
