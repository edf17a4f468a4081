"""File > Export synthetic: asks where, then writes the generated recordings through
`ui.jobs.export_generated` (EDF+, BDF or CSV), never over a recording that is open or that the
project was trained on (a dialog says which it refused)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from ui.errors import show_exception
from ui.jobs import export_generated
from vqstudio.errors import VQStudioError

if TYPE_CHECKING:
    from ui.mainwindow import MainWindow

__all__ = ["EXPORT_FILTERS", "export_synthetic", "export_target"]

EXPORT_FILTERS = {"EDF+": ".edf", "BDF+": ".bdf", "CSV": ".csv"}  # the save dialog's, by name


def export_target(path: str, chosen_filter: str) -> str:
    """The file Export synthetic writes: `path` as typed when it names a format, else with the
    extension of the filter chosen in the dialog (EDF+ when none is known)."""
    stem, ext = os.path.splitext(path)
    if ext.lower() in EXPORT_FILTERS.values():
        return stem + ext
    return stem + EXPORT_FILTERS.get(chosen_filter.split(" ")[0], ".edf")


def export_synthetic(window: MainWindow) -> None:
    """Asks where to write the window's generated recordings and writes them there."""
    recs = window.session.synthetic
    if not recs:
        return
    start = os.path.join(window.settings.last_dir(), "synthetic.edf")
    filters = ";;".join(f"{name} (*{ext})" for name, ext in EXPORT_FILTERS.items())
    path, chosen = QFileDialog.getSaveFileName(window, "Export synthetic recordings", start, filters)
    if not path:
        return
    open_files = [f.path for f in window.session.files if f.path]
    try:
        reports = export_generated(recs, export_target(path, chosen), open_files, window.session.project_dir)
    except VQStudioError as error:
        show_exception(window, "Cannot export", error)
        return
    window.settings.set_last_dir(os.path.dirname(path))
    notes = [str(n) for r in reports for n in r.notes]
    message = f"Wrote {', '.join(os.path.basename(r.path) for r in reports)}"
    window.set_status(message)
    window.generation.log(message + ("; " + "; ".join(notes) if notes else ""))
