"""The Report tab: the evaluation engine's metrics table and its plots, for the current project."""

from __future__ import annotations

import glob
import json
import os
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.worker import Job
from vqstudio.events import Progress

__all__ = ["ReportPanel", "format_value"]


def format_value(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class SavedReport:
    """A report read back from its JSON (`EvaluationReport.to_dict()`), for the same table."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        windows = data.get("windows", {})
        self.n_real, self.n_synthetic = windows.get("real", "?"), windows.get("synthetic", "?")
        self.memorization_flag = bool(data.get("memorization_flag", False))

    def summary_rows(self) -> list[tuple[str, object, str]]:
        rows = []
        for key, m in self.data.get("metrics", {}).items():
            if not isinstance(m, dict):
                continue
            direction = {"lower": "lower is better", "higher": "higher is better"}.get(
                m.get("better", ""), ""
            )
            unit = ", ".join(u for u in (m.get("unit") or "", direction) if u)
            rows.append((m.get("title", key), m.get("value"), unit))
            # The same extra rows as EvaluationReport.summary_rows.
            trtr = (m.get("details") or {}).get("trtr_accuracy")
            if key == "tstr" and trtr is not None:
                rows.append(("Train-on-real/test-on-real accuracy", trtr, unit))
            if key == "memorization":
                rows.append(("Memorization flag", "YES" if self.memorization_flag else "no", ""))
        return rows


class ReportPanel(QWidget):
    """Metrics (left) and the PNG plots the engine wrote (right)."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.project_dir: str | None = None
        self.report: Any = None
        self.plot_paths: list[str] = []
        self.title = QLabel("No report yet: generate recordings, then Evaluate.")
        self.title.setWordWrap(True)
        button = QToolButton()
        button.setDefaultAction(actions["evaluate"])
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Metric", "Value", "Unit"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        self._pixmaps: list[tuple[QLabel, QPixmap]] = []
        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.plots)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(scroll)
        split.setStretchFactor(1, 2)
        split.setSizes([520, 900])
        self.table.setMinimumWidth(420)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.progress)
        top.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    def set_project(self, project_dir: str | None) -> None:
        """Shows the project's last saved evaluation (reports/report.json and its plots), if any."""
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

    def job_factory(
        self, project_dir: str, synthetic_paths: list[str]
    ) -> Callable[[threading.Event], Generator[Any, None, Any]]:
        """The `vqstudio evaluate` job (`vqstudio.assessment.assess`) on the generated files,
        against the project's held-out split; JSON and plots go to the project's reports/."""
        reports = os.path.join(project_dir, "reports")

        def job(stop: threading.Event) -> Generator[Any, None, Any]:
            from vqstudio.assessment import assess

            os.makedirs(reports, exist_ok=True)
            return (
                yield from assess(
                    project_dir,
                    synthetic_paths,
                    json_path=os.path.join(reports, "report.json"),
                    plots_dir=os.path.join(reports, "plots"),
                    stop=stop,
                )
            )

        return job

    def attach(self, job: Job) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("evaluating...")
        job.progress.connect(self._on_progress)
        job.finished.connect(lambda _: self.progress.setFormat("done"))
        job.failed.connect(lambda error, _tb: self.progress.setFormat(f"failed: {error}"))

    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(round(1000 * min(1.0, max(0.0, p.fraction))))

    def set_report(self, result: Any, plot_paths: list[str] | None = None) -> None:
        """Shows an assessment (its report's `summary_rows()` and its plots) or a bare report."""
        report = getattr(result, "report", result)
        if plot_paths is None:
            plot_paths = list(getattr(result, "plots", []) or [])
        self.report = report
        rows = report.summary_rows() if report is not None and hasattr(report, "summary_rows") else []
        self.table.setRowCount(len(rows))
        for r, (name, value, unit) in enumerate(rows):
            for c, text in enumerate((str(name), format_value(value), str(unit))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if c == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.set_plots(plot_paths)
        if report is not None:
            flag = getattr(report, "memorization_flag", False)
            counts = (
                f"{getattr(report, 'n_synthetic', '?')} generated vs {getattr(report, 'n_real', '?')} "
                f"held-out real windows"
            )
            verdict = (
                "WARNING: the generated windows look copied from the training data"
                if flag
                else ("no sign of copying the training data")
            )
            self.title.setText(f"Evaluation: {counts}; {verdict}.")

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
