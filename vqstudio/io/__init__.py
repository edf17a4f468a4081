"""Recordings in and out: EDF/EDF+/BDF/BDF+, CSV/TSV/TXT and .npy (+ JSON sidecar).

`read_recording(path)` picks the reader by extension and checks the content; EDF/BDF files
are read lazily (header and annotations now, samples when asked for). `read_annotations(path)`
reads the annotations of an EDF+/BDF+ file, one that holds annotations only (a Sleep-EDF
hypnogram) included, with the file's start time to line them up with a recording. `write_recording(rec,
path)` picks the writer by extension; every write is atomic, never overwrites the input, and
returns a `WriteReport` whose notes say what had to change (padding, widened ranges, cut text).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vqstudio.errors import FormatError, OutputError
from vqstudio.io._common import WriteReport, check_input
from vqstudio.io.summary import summary
from vqstudio.recording import Recording

if TYPE_CHECKING:
    from vqstudio.io.edf_read import EdfAnnotations

__all__ = [
    "ANNOTATION_FILE_FILTER",
    "FILE_FILTER",
    "READABLE_EXTENSIONS",
    "WRITABLE_EXTENSIONS",
    "WriteReport",
    "annotations_only",
    "read_annotations",
    "read_recording",
    "read_recordings",
    "summary",
    "write_npy_batch",
    "write_recording",
]

READABLE_EXTENSIONS = (".edf", ".bdf", ".csv", ".tsv", ".txt", ".npy")
WRITABLE_EXTENSIONS = (".edf", ".bdf", ".csv", ".npy")
# The GUI's file dialog filter (both cases: Qt matches case-sensitively on some platforms).
FILE_FILTER = (
    "Recordings ("
    + " ".join(f"*{e} *{e.upper()}" for e in READABLE_EXTENSIONS)
    + ");;EDF/BDF (*.edf *.EDF *.bdf *.BDF);;CSV (*.csv *.CSV *.tsv *.TSV *.txt *.TXT);;All files (*)"
)

ANNOTATION_FILE_FILTER = "EDF+/BDF+ with annotations (*.edf *.EDF *.bdf *.BDF);;All files (*)"


def _extension(path: str) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def read_recordings(path: str, *, rate: float | None = None) -> list[Recording]:
    """Every recording in `path`: one for most files, `count` for a `.npy` batch."""
    if _extension(path) == ".npy":
        from vqstudio.io.npy import read_npy

        return read_npy(os.fspath(path), rate=rate)
    return [read_recording(path, rate=rate)]


def read_recording(path: str, *, rate: float | None = None) -> Recording:
    """The recording in `path` (EDF/EDF+/BDF/BDF+ lazily, CSV/TSV/TXT, `.npy` + sidecar).

    `rate` is the sample rate of a CSV without a time column (or of a `.npy` without a
    sidecar). Bad input raises `InputFileError` (missing, empty) or `FormatError` (content),
    each naming the file and what to do.
    """
    path = os.fspath(path)
    ext = _extension(path)
    if ext not in READABLE_EXTENSIONS:
        check_input(path)
        raise FormatError(
            f"{os.path.basename(path)}: unknown kind of file '{ext or 'no extension'}'; VQ Studio reads "
            + ", ".join(READABLE_EXTENSIONS)
        )
    if ext in (".edf", ".bdf"):
        from vqstudio.io.edf_read import read_edf

        return read_edf(path, expect_bdf=ext == ".bdf")
    if ext == ".npy":
        recs = read_recordings(path, rate=rate)
        if len(recs) != 1:
            raise FormatError(
                f"{os.path.basename(path)}: holds a batch of {len(recs)} recordings; read it with "
                "read_recordings (or pick one with numpy)"
            )
        return recs[0]
    from vqstudio.io.csv_read import read_csv

    return read_csv(path, rate=rate)


def annotations_only(path: str) -> bool:
    """Whether `path` is an EDF+/BDF+ file of annotations only (a hypnogram); reads its header alone."""
    if _extension(path) not in (".edf", ".bdf"):
        return False
    from vqstudio.io.edf_read import annotations_only as _only

    return _only(os.fspath(path))


def read_annotations(path: str) -> EdfAnnotations:
    """The annotations of the EDF+/BDF+ file `path` (annotation-only or not) and its start time.

    Other kinds of file raise `FormatError`: annotations are read from EDF+ and BDF+ files.
    """
    path = os.fspath(path)
    ext = _extension(path)
    if ext not in (".edf", ".bdf"):
        check_input(path)
        raise FormatError(
            f"{os.path.basename(path)}: annotations are read from EDF+ or BDF+ files (.edf, .bdf), "
            f"not '{ext or 'no extension'}'"
        )
    from vqstudio.io.edf_read import read_edf_annotations

    return read_edf_annotations(path, expect_bdf=ext == ".bdf")


def write_recording(rec: Recording, path: str, *, anonymize: bool = True, fit: str = "pad") -> WriteReport:
    """Writes `rec` by the extension of `path`: .edf (EDF+), .bdf (BDF+), .csv, .npy (+ .json).

    `fit` ("pad" or "trim") makes an EDF/BDF duration a whole number of data records; the
    report says how much. Patient fields are anonymised unless `anonymize=False`. The write
    is atomic and refuses the path the recording was read from.
    """
    path = os.fspath(path)
    ext = _extension(path)
    if ext not in WRITABLE_EXTENSIONS:
        raise OutputError(
            f"cannot write {path}: unknown extension '{ext}'; use one of " + ", ".join(WRITABLE_EXTENSIONS)
        )
    if ext in (".edf", ".bdf"):
        from vqstudio.io.edf_write import write_edf

        return write_edf(rec, path, bdf=ext == ".bdf", anonymize=anonymize, fit=fit)
    if ext == ".csv":
        from vqstudio.io.csv_write import write_csv

        return write_csv(rec, path)
    from vqstudio.io.npy import write_npy

    return write_npy(rec, path)


def write_npy_batch(data, path, *, rate, labels, units="", annotations=(), extra=None) -> WriteReport:
    """Float32 `(count, channels, samples)` at `path` with `NAME.json` beside it (see `vqstudio.io.npy`)."""
    from vqstudio.io.npy import write_npy_batch as _write

    return _write(
        data, os.fspath(path), rate=rate, labels=labels, units=units, annotations=annotations, extra=extra
    )
