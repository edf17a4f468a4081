"""The Report tab: every metric beside its references (held-out real, reconstruction, surrogate),
the plots, the reference recordings the user adds to compare with, and the band the PSD distance
is limited to.

The table comes from `vqstudio.evaluation.table.comparison_rows`, the same rows the CLI prints;
each metric's tooltip gives its definition and which direction is better, and every "n/a" cell
says why in its tooltip. Below it, the privacy figures: membership inference per attack
(`vqstudio.evaluation.membership_table`, as the CLI prints them) and what they mean in words.
The evaluation job is `ui.jobs.evaluation_job`: this panel holds what the user chose for it
(`evaluation_options`) and shows what it returns.
"""

from __future__ import annotations

import glob
import html
import json
import os
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.errors import app_message
from ui.worker import Job
from vqstudio.errors import user_error
from vqstudio.evaluation.membership_table import COLUMNS as PRIVACY_COLUMNS
from vqstudio.evaluation.membership_table import MEANING, MembershipRow, membership_rows, membership_summary
from vqstudio.evaluation.table import Row, comparison_rows
from vqstudio.events import Progress
from vqstudio.project.privacy import describe_privacy

__all__ = ["NO_REPORT", "READY", "ReportPanel", "SavedReport"]

NO_REPORT = "No report yet: generate recordings, then Evaluate."
READY = "No report yet: generated recordings are ready; Evaluate compares them with real data."


class SavedReport:
    """A report read back from its JSON (`Assessment.to_dict()`), for the same table."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        windows = data.get("windows", {})
        self.n_real, self.n_synthetic = windows.get("real", "?"), windows.get("synthetic", "?")
        self.memorization_flag = bool(data.get("memorization_flag", False))
        self.memorization_verdict = data.get("memorization_verdict")

    def to_dict(self) -> dict[str, Any]:
        return self.data


RECORDING_FILTER = "Recordings (*.edf *.EDF *.bdf *.BDF *.csv *.CSV *.npy);;All files (*)"


class ReportPanel(QWidget):
    """Metrics (left) and the PNG plots the engine wrote (right)."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.project_dir: str | None = None
        self.report: Any = None
        self.plot_paths: list[str] = []
        self.rows: list[Row] = []
        self.real_paths: list[str] = []
        self.title = QLabel(NO_REPORT)
        self.title.setWordWrap(True)
        # What the last evaluation said when it failed, whole (a progress bar cut it to a few words).
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setVisible(False)
        self._evaluate = actions["evaluate"]
        self._evaluate.changed.connect(self._offer_evaluation)
        self.add_real = QPushButton("Add reference recordings...")
        self.add_real.setToolTip(
            "Real recordings to compare with instead of the project's held-out split (the project's "
            "channels are read from them)"
        )
        self.add_real.clicked.connect(self.choose_real)
        self.real_label = QLabel("compared with: the project's held-out split")
        self.clear_real = QToolButton()
        self.clear_real.setText("Use held-out split")
        self.clear_real.setToolTip("Forget the added reference recordings")
        self.clear_real.clicked.connect(lambda: self.set_real_paths([]))
        self.clear_real.setVisible(False)
        # A recording low-passed or notched before it reached the user has a stop band that is
        # not signal; left in, it dominates the PSD distance (0.5 Hz to Nyquist by default).
        band_tip = (
            "Compute the PSD log-spectral distance only in this band (default: 0.5 Hz to Nyquist). "
            "Use it for a recording low-passed or notched before it reached you: its stop band is not "
            "signal. A top above Nyquist is cut at Nyquist."
        )
        self.band_check = QCheckBox("PSD distance only from")
        self.band_check.setToolTip(band_tip)
        self.band_lo, self.band_hi = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, value in ((self.band_lo, 0.5), (self.band_hi, 45.0)):
            spin.setRange(0.0, 100000.0)
            spin.setDecimals(1)
            spin.setSingleStep(0.5)
            spin.setSuffix(" Hz")
            spin.setValue(value)
            spin.setToolTip(band_tip)
            spin.setEnabled(False)
            self.band_check.toggled.connect(spin.setEnabled)
        # The top stays above the bottom, so the panel never offers a band the engine refuses.
        self.band_lo.valueChanged.connect(lambda v: self.band_hi.setMinimum(v + 0.1))
        self.band_hi.setMinimum(self.band_lo.value() + 0.1)
        button = QToolButton()
        button.setDefaultAction(actions["evaluate"])
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(
            ["Metric", "synthetic", "held-out real", "reconstruction", "surrogate", "How to read"]
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # Privacy: membership inference, below the metrics (its rows are attacks, not metrics
        # beside references, so it is a table of its own).
        self.privacy_rows: list[MembershipRow] = []
        self.privacy_heading = QLabel("<b>Privacy: membership inference</b>")
        self.privacy_heading.setToolTip(MEANING)
        self.privacy_summary = QLabel("")
        self.privacy_summary.setWordWrap(True)
        self.privacy_summary.setToolTip(MEANING)
        self.privacy_table = QTableWidget(0, 1 + len(PRIVACY_COLUMNS))
        self.privacy_table.setHorizontalHeaderLabels(["Attack", *PRIVACY_COLUMNS])
        self.privacy_table.horizontalHeader().setStretchLastSection(True)
        self.privacy_table.verticalHeader().setVisible(False)
        self.privacy_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 3)
        left_layout.addWidget(self.privacy_heading)
        left_layout.addWidget(self.privacy_summary)
        left_layout.addWidget(self.privacy_table, 1)
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        self._pixmaps: list[tuple[QLabel, QPixmap]] = []
        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.plots)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(scroll)
        # The table is what a reader needs first: wide enough for a metric beside its three
        # references without scrolling; the plots take the rest.
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([860, 560])
        self.table.setMinimumWidth(420)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.progress)
        top.addWidget(button)
        refs = QHBoxLayout()
        refs.addWidget(self.add_real)
        refs.addWidget(self.clear_real)
        refs.addWidget(self.real_label, 1)
        band = QHBoxLayout()  # a row of its own: beside the references it widened the window
        band.addWidget(self.band_check)
        band.addWidget(self.band_lo)
        band.addWidget(QLabel("to"))
        band.addWidget(self.band_hi)
        band.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(refs)
        layout.addLayout(band)
        layout.addWidget(split, 1)

    def choose_real(self) -> None:
        """The file dialog of "Add reference recordings...": the files chosen are added."""
        paths, _ = QFileDialog.getOpenFileNames(self, "Add reference recordings", "", RECORDING_FILTER)
        if paths:
            self.set_real_paths([*self.real_paths, *(p for p in paths if p not in self.real_paths)])

    def set_real_paths(self, paths: list[str]) -> None:
        """Real recordings the next evaluation compares with (none: the held-out split)."""
        self.real_paths = list(paths)
        names = ", ".join(os.path.basename(p) for p in self.real_paths)
        self.real_label.setText(
            f"compared with: {names}" if names else "compared with: the project's held-out split"
        )
        self.real_label.setToolTip("\n".join(self.real_paths))
        self.clear_real.setVisible(bool(self.real_paths))

    def band(self) -> tuple[float, float] | None:
        """The PSD distance's band (Hz) for the next evaluation, or None: 0.5 Hz to Nyquist."""
        if not self.band_check.isChecked():
            return None
        return self.band_lo.value(), self.band_hi.value()

    def set_project(self, project_dir: str | None) -> None:
        """Shows the project's last saved evaluation (reports/report.json and its plots), if any."""
        if project_dir != self.project_dir:
            self.set_real_paths([])
        self.project_dir = project_dir
        if project_dir:
            self.load_saved(project_dir)

    def load_saved(self, project_dir: str) -> bool:
        reports = os.path.join(project_dir, "reports")
        try:
            with open(os.path.join(reports, "report.json"), encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return False
        plots = os.path.join(reports, "plots")
        paths = sorted(glob.glob(os.path.join(plots, "*.png")))
        self.set_report(SavedReport(saved), paths)
        self.title.setText(self.title.text() + " (saved report)")
        return True

    def evaluation_options(self) -> dict[str, Any]:
        """What the user chose for the next evaluation, as keyword arguments of
        `ui.jobs.evaluation_job`: the added reference recordings (None: the held-out split) and
        the PSD distance's band."""
        return {"real_paths": list(self.real_paths) or None, "band": self.band()}

    def attach(self, job: Job) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("evaluating...")
        self.status.setVisible(False)
        job.progress.connect(self._on_progress)
        job.finished.connect(lambda _: self.progress.setFormat("done"))
        job.failed.connect(lambda error, _tb: self._on_failed(error))

    def _on_failed(self, error: BaseException) -> None:
        """The bar says "failed"; the reason shows whole, wrapped, below the heading."""
        self.progress.setFormat("failed")
        said = user_error(error)
        reason = str(said) if said is not None else f"internal error: {type(error).__name__}: {error}"
        self.status.setText(f"<b>Evaluation failed:</b> {html.escape(app_message(reason))}")
        self.status.setVisible(True)

    def _offer_evaluation(self) -> None:
        """Once generated recordings make Evaluate possible, the heading says so (it kept saying
        "No report yet: generate recordings" after they were generated)."""
        if self.report is None and self.title.text() in (NO_REPORT, READY):
            self.title.setText(READY if self._evaluate.isEnabled() else NO_REPORT)

    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(round(1000 * min(1.0, max(0.0, p.fraction))))

    def set_report(self, result: Any, plot_paths: list[str] | None = None) -> None:
        """Shows an assessment (or a saved or bare report): the comparison table and the plots."""
        report = getattr(result, "report", result)
        if plot_paths is None:
            plot_paths = list(getattr(result, "plots", []) or [])
        self.report = report
        data = result.to_dict() if result is not None and hasattr(result, "to_dict") else {}
        _, rows = comparison_rows(data) if data else ([], [])
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            self._fill_row(r, row)
        self.table.resizeColumnsToContents()
        self._show_privacy(data.get("membership") if report is not None else None, bool(data))
        if report is not None:  # the bound training gave, beside what the attacks measured
            text = self.privacy_summary.text()
            self.privacy_summary.setText(f"{text}\n{describe_privacy(data.get('differential_privacy'))}")
        self.set_plots(plot_paths)
        if report is not None:
            self.status.setVisible(False)
            self.title.setText(self._headline(data))
            self._show_compared(data)

    def _fill_row(self, r: int, row: Row) -> None:
        name = QTableWidgetItem(row.title)
        name.setToolTip(row.tooltip)
        self.table.setItem(r, 0, name)
        for c, cell in enumerate(row.cells, start=1):
            item = QTableWidgetItem(cell.text)
            tip = cell.note if cell.text != "n/a" else f"n/a: {cell.note}"
            item.setToolTip(tip or row.tooltip)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(r, c, item)
        how = QTableWidgetItem("; ".join(p for p in (row.unit, row.direction) if p))
        how.setToolTip(row.tooltip)
        self.table.setItem(r, 5, how)

    def _show_privacy(self, membership: dict[str, Any] | None, has_report: bool) -> None:
        """The membership-inference rows and the paragraph saying what they mean."""
        self.privacy_rows = membership_rows(membership)
        self.privacy_table.setRowCount(len(self.privacy_rows))
        for r, row in enumerate(self.privacy_rows):
            name = QTableWidgetItem(row.title)
            name.setToolTip(f"{row.title}: {row.definition}")
            self.privacy_table.setItem(r, 0, name)
            for c, cell in enumerate(row.cells, start=1):
                item = QTableWidgetItem(cell.text)
                item.setToolTip(f"n/a: {cell.note}" if cell.text == "n/a" else (cell.note or row.definition))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.privacy_table.setItem(r, c, item)
        self.privacy_table.resizeColumnsToContents()
        self.privacy_summary.setText(membership_summary(membership) if has_report else "")
        self.privacy_table.setVisible(bool(self.privacy_rows))

    def _show_compared(self, data: dict[str, Any]) -> None:
        """What the report compared with, where the engine left out a reference recording that
        is one of the training recordings."""
        left_out = [os.path.basename(p) for p in data.get("references_left_out") or {}]
        if not left_out:
            return
        used = [os.path.basename(p) for p in (data.get("sources") or {}).get("real", []) if os.path.isabs(p)]
        shown = ", ".join(used) or "the project's held-out split"
        self.real_label.setText(
            f"compared with: {shown} ({', '.join(left_out)} left out: one of the training recordings)"
        )

    @staticmethod
    def _headline(data: dict[str, Any]) -> str:
        windows = data.get("windows", {})
        counts = f"{windows.get('synthetic', '?')} generated vs {windows.get('real', '?')} real windows"
        verdict = data.get("memorization_verdict") or ("yes" if data.get("memorization_flag") else "no")
        text = {
            "yes": "WARNING: the generated windows look copied from the training data",
            "no": "no sign of copying the training data",
        }.get(verdict, f"memorization: {verdict}")
        held_out = ((data.get("references") or {}).get("held_out_half") or {}).get("memorization_verdict")
        if held_out == "yes":  # the real data the check is calibrated on looks copied itself
            text = "memorization check unreliable: the held-out real data itself looks copied from training"
        excluded = data.get("excluded_flat") or {}
        real, generated = excluded.get("real", 0), excluded.get("synthetic", 0)
        left_out = (
            f"; left out for flat or saturated stretches: {real} real and {generated} generated window(s)"
            if real or generated
            else ""
        )
        references = "".join(
            f" {os.path.basename(path)} was not used as real data: it is one of the training recordings."
            for path in data.get("references_left_out") or {}
        )
        return f"Evaluation: {counts}; {text}{left_out}.{references}"

    def set_plots(self, paths: list[str]) -> None:
        while self.plots_layout.count():
            item = self.plots_layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.plot_paths = [p for p in paths if os.path.isfile(p)]
        self._pixmaps = []
        for path in self.plot_paths:
            label = QLabel()
            label.setToolTip(path)
            self._pixmaps.append((label, QPixmap(path)))
            self.plots_layout.addWidget(label)
        self.plots_layout.addStretch(1)
        self._fit_plots()

    def _fit_plots(self) -> None:
        """Each plot as wide as the pane (never enlarged past its own size)."""
        width = max(300, self.scroll.viewport().width() - 24)
        for label, pixmap in self._pixmaps:
            w = min(width, pixmap.width())
            label.setPixmap(pixmap.scaledToWidth(w, Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_plots()

    def set_theme(self, theme: str) -> None:
        """The plots are PNG files; nothing to recolour."""
