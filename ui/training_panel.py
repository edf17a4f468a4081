"""The Train tab: the settings of a run, and the run live (progress, losses, codebook, preview, log).

The panel builds the keyword arguments of the engine's `TrainSettings` (`settings_kwargs`) and
shows the events of a running `Job` (`attach`). It also lists the project's past runs from its
`project.json` and `history.jsonl`.
"""

from __future__ import annotations

from collections.abc import Collection
import json
import os
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.theme import PLOT_COLORS
from ui.worker import Job
from vqstudio.events import Progress, ReconstructionPreview, Validation
from vqstudio.recording import Recording

__all__ = ["TrainingPanel", "format_eta", "past_runs"]

NOT_LOSSES = ("lr",)  # reported beside the losses, not a loss: shown in the progress text instead
MAX_CURVE_POINTS = 4000  # per loss curve; older points are thinned, never the latest


def format_eta(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def past_runs(project_dir: str) -> list[dict[str, Any]]:
    """One row per stage trained in a project: settings, steps, time and last metrics."""
    rows: list[dict[str, Any]] = []
    try:
        with open(os.path.join(project_dir, "project.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return rows
    settings = meta.get("settings", {})
    brief = ", ".join(
        f"{k}={v}"
        for k, v in settings.items()
        if k in ("preset", "prior", "window_s", "minutes", "labels", "device", "resample") and v is not None
    )
    for stage in ("tokenizer", "prior"):
        prog = meta.get("progress", {}).get(stage)
        if not prog:
            continue
        metrics = prog.get("metrics", {}) or {}
        shown = ", ".join(f"{k} {v:.3g}" for k, v in list(metrics.items())[:4] if isinstance(v, int | float))
        rows.append(
            {
                "stage": stage,
                "step": prog.get("step", 0),
                "elapsed_s": prog.get("elapsed_s", 0.0),
                "done": prog.get("done", False),
                "settings": brief,
                "metrics": shown,
            }
        )
    return rows


class TrainingPanel(QWidget):
    """Settings form on the left; live plots, progress and log on the right."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.job: Job | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._points: dict[str, tuple[list[float], list[float]]] = {}
        self._usage: list[tuple[float, float]] = []
        self._project: str | None = None
        # Extra `TrainSettings` fields (steps, batch size...) for scripts and tests; the form wins on its own.
        self.extra_settings: dict[str, Any] = {}

        # --- settings form
        self.channel_list = QListWidget()
        self.channel_list.setMaximumHeight(170)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0, 100000)
        self.rate.setDecimals(1)
        self.rate.setSpecialValueText("as recorded")
        self.rate.setSuffix(" Hz")
        self.rate.setToolTip("The project's sample rate: channels are resampled to it (polyphase)")
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(0.25, 60)
        self.window_s.setValue(4.0)
        self.window_s.setSuffix(" s")
        self.preset = QComboBox()
        for text, value in (
            ("auto (from the data and device)", None),
            ("small", "small"),
            ("medium", "medium"),
            ("large", "large"),
        ):
            self.preset.addItem(text, value)
        self.prior = QComboBox()
        self.prior.addItem("latent diffusion", "diffusion")
        self.prior.addItem("autoregressive", "autoregressive")
        self.labels = QComboBox()
        for text, value in (
            ("none (unconditional)", "none"),
            ("from annotations", "annotations"),
            ("one per file", "files"),
        ):
            self.labels.addItem(text, value)
        self.device = QComboBox()
        self.device.addItem("auto (detecting...)", "auto")
        self.device.setToolTip("Detected after torch loads in the background")
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 10000)
        self.minutes.setValue(5.0)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Wall-clock budget of both stages (with Resume: more time)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("project folder (new, or the one to resume)")
        browse = QPushButton("...")
        browse.setFixedWidth(32)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Channels", self.channel_list)
        form.addRow("Rate", self.rate)
        form.addRow("Window", self.window_s)
        form.addRow("Model size", self.preset)
        form.addRow("Prior", self.prior)
        form.addRow("Labels", self.labels)
        form.addRow("Device", self.device)
        form.addRow("Time budget", self.minutes)
        form.addRow("Seed", self.seed)
        form.addRow("Project", folder_row)
        buttons = QHBoxLayout()
        for name in ("train", "resume", "stop"):
            b = QToolButton()
            b.setDefaultAction(actions[name])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setMinimumWidth(80)
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.runs = QTableWidget(0, 5)
        self.runs.setHorizontalHeaderLabels(["Stage", "Steps", "Time", "Settings", "Last metrics"])
        self.runs.horizontalHeader().setStretchLastSection(True)
        self.runs.verticalHeader().setVisible(False)
        self.runs.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(QLabel("Past runs of this project"))
        left.addWidget(self.runs, 1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(460)

        # --- live view
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.eta = QLabel("")
        self.loss_plot = pg.PlotWidget(title="Losses")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.setLabel("bottom", "step")
        self.log_scale = QCheckBox("log scale")
        self.log_scale.setChecked(True)
        self.log_scale.toggled.connect(lambda on: self.loss_plot.setLogMode(y=on))
        self.loss_plot.setLogMode(y=True)
        self.usage_plot = pg.PlotWidget(title="Codebook usage (fraction of codes used)")
        self.usage_plot.setYRange(0, 1.05)
        self.usage_plot.setLabel("bottom", "step")
        self.usage_curve = self.usage_plot.plot(
            [], [], pen=pg.mkPen(PLOT_COLORS[2], width=2), symbol="o", symbolSize=5
        )
        self.preview_plot = pg.PlotWidget(title="A held-out window (real) and its reconstruction")
        self.preview_plot.addLegend(offset=(-10, 10))
        self.preview_plot.setLabel("bottom", "s")
        self.preview_plot.getPlotItem().getAxis("left").setStyle(showValues=False)
        self.real_curve = self.preview_plot.plot([], [], pen=pg.mkPen(PLOT_COLORS[0], width=1), name="real")
        self.recon_curve = self.preview_plot.plot(
            [], [], pen=pg.mkPen(PLOT_COLORS[1], width=1), name="reconstruction"
        )
        self.preview_step = -1
        self.log_pane = QPlainTextEdit()
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(2000)

        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.eta)
        status.addWidget(self.log_scale)
        grid = QGridLayout()
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.usage_plot, 0, 1)
        grid.addWidget(self.preview_plot, 1, 0, 1, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 3)
        plots = QWidget()
        plots.setLayout(grid)
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(plots)
        right_split.addWidget(self.log_pane)
        right_split.setStretchFactor(0, 4)
        right_split.setStretchFactor(1, 1)
        right = QVBoxLayout()
        right.addLayout(status)
        right.addWidget(right_split, 1)
        right_widget = QWidget()
        right_widget.setLayout(right)
        split = QSplitter()
        split.addWidget(left_widget)
        split.addWidget(right_widget)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

    # --- inputs ------------------------------------------------------------------------------
    def set_recording(self, recording: Recording | None, bad: Collection[str] = ()) -> None:
        """Offers the recording's channels; the most common rate's channels are checked, except
        the `bad` ones (names the user marked bad in the viewer)."""
        self.channel_list.clear()
        if recording is None:
            return
        rates = [c.rate for c in recording.channels]
        common = max(set(rates), key=rates.count) if rates else 0
        for c in recording.channels:
            item = QListWidgetItem(f"{c.name}   ({c.unit or '-'}, {c.rate:g} Hz)")
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = c.rate == common and c.name not in bad
            item.setCheckState(Qt.CheckState.Checked if default else Qt.CheckState.Unchecked)
            self.channel_list.addItem(item)
        if not self.folder.text() and recording.source is not None and os.path.isfile(recording.source.path):
            stem = os.path.splitext(recording.source.path)[0]
            self.folder.setText(stem + "_project")

    def set_channels(self, names: list[str]) -> None:
        for i in range(self.channel_list.count()):
            item = self.channel_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def checked_channels(self) -> list[str]:
        return [
            self.channel_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.channel_list.count())
            if self.channel_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_devices(self, choices: list[tuple[str, str]]) -> None:
        current = self.device.currentData()
        self.device.clear()
        for value, text in choices:
            self.device.addItem(text, value)
        index = self.device.findData(current)
        self.device.setCurrentIndex(max(0, index))
        self.device.setToolTip("Compute devices found by torch")

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Project folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def project_dir(self, resume: bool) -> str:
        """The folder to train into: the field, or for Resume the open project."""
        if resume and self._project:
            return self._project
        text = self.folder.text().strip()
        if not text:
            text = QFileDialog.getExistingDirectory(self, "Choose a folder for the new project")
            self.folder.setText(text)
        return text

    def settings_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the engine's `TrainSettings` from the form."""
        return {
            **self.extra_settings,
            "channels": tuple(self.checked_channels()) or None,
            "resample": self.rate.value() or None,
            "window_s": float(self.window_s.value()),
            "preset": self.preset.currentData(),
            "prior": self.prior.currentData(),
            "labels": self.labels.currentData(),
            "device": self.device.currentData() or "auto",
            "minutes": float(self.minutes.value()),
            "seed": int(self.seed.value()),
        }

    def set_project(self, project_dir: str | None) -> None:
        """Shows a project: its folder, past runs, and (when idle) its loss and usage history."""
        self._project = project_dir
        if project_dir:
            self.folder.setText(project_dir)
            if self.job is None:
                self.load_history(project_dir)
        self.refresh_runs()

    def load_history(self, project_dir: str) -> int:
        """Redraws the curves from the project's `history.jsonl`; returns the records read."""
        self._clear_plots()
        points: list[Progress] = []
        try:
            with open(os.path.join(project_dir, "history.jsonl"), encoding="utf-8") as f:
                lines = f.readlines()
        except OSError:
            return 0
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: the rest still counts
            stage, step = str(rec.get("stage", "")), int(rec.get("step", 0))
            if isinstance(rec.get("losses"), dict):
                losses = {k: float(v) for k, v in rec["losses"].items() if isinstance(v, int | float)}
                points.append(Progress(stage, step, None, float(rec.get("time_s", 0.0)), None, 0.0, losses))
            if isinstance(rec.get("metrics"), dict):
                self.on_validation(Validation(stage, step, rec["metrics"]), log=False)
        if points:
            self.on_losses(points)
        return len(lines)

    def _clear_plots(self) -> None:
        for curve in self._curves.values():
            self.loss_plot.removeItem(curve)
        self._curves.clear()
        self._points.clear()
        self._usage.clear()
        self.usage_curve.setData([], [])

    def refresh_runs(self) -> None:
        rows = past_runs(self._project) if self._project else []
        self.runs.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = [
                row["stage"] + ("" if row["done"] else " (stopped)"),
                str(row["step"]),
                format_eta(row["elapsed_s"]),
                row["settings"],
                row["metrics"],
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.runs.setItem(r, c, item)
        self.runs.resizeColumnsToContents()

    # --- a running job -----------------------------------------------------------------------
    def attach(self, job: Job, resume: bool) -> None:
        """Shows `job`'s events; clears the plots unless resuming."""
        self.job = job
        if not resume:
            self._clear_plots()
            self.log_pane.clear()
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        job.progress.connect(self.on_progress)
        job.losses.connect(self.on_losses)
        job.validation.connect(self.on_validation)
        job.reconstruction.connect(self.on_reconstruction)
        job.checkpoint.connect(lambda e: self.log(f"checkpoint: {e.stage} step {e.step} -> {e.path}"))
        job.log.connect(lambda e: self.log(e.message if e.level == "info" else f"{e.level}: {e.message}"))
        job.finished.connect(self._on_finished)
        job.failed.connect(lambda error, _tb: self._on_ended(f"failed: {error}"))

    def log(self, text: str) -> None:
        self.log_pane.appendPlainText(text)

    def on_progress(self, p: Progress) -> None:
        self.progress.setValue(round(1000 * min(1.0, max(0.0, p.fraction))))
        total = f"/{p.total}" if p.total else ""
        self.progress.setFormat(f"{p.stage}: step {p.step}{total}  %p%")
        rate = f", {p.rate:.0f} windows/s" if p.rate else ""
        if "lr" in p.losses:
            rate += f", lr {p.losses['lr']:.2g}"
        self.eta.setText(f"ETA {format_eta(p.eta_s)}{rate}")

    def on_losses(self, points: list[Progress]) -> None:
        changed = set()
        for p in points:
            for name, value in p.losses.items():
                if name in NOT_LOSSES or not np.isfinite(value):
                    continue
                key = f"{p.stage}: {name}"
                xs, ys = self._points.setdefault(key, ([], []))
                xs.append(p.step)
                ys.append(float(value))
                changed.add(key)
        for key in changed:
            xs, ys = self._points[key]
            if len(xs) > MAX_CURVE_POINTS:  # thin the old half: the curve keeps its shape, memory stays flat
                half = len(xs) // 2
                xs[:half], ys[:half] = xs[:half:2], ys[:half:2]
            if key not in self._curves:
                color = PLOT_COLORS[len(self._curves) % len(PLOT_COLORS)]
                style = Qt.PenStyle.DashLine if key.startswith("prior") else Qt.PenStyle.SolidLine
                self._curves[key] = self.loss_plot.plot(name=key, pen=pg.mkPen(color, width=1.5, style=style))
                self._curves[key].setSymbolBrush(color)
            # Dots while the curve is short (losses are read every few seconds on a CPU).
            self._curves[key].setSymbol("o" if len(xs) < 30 else None)
            self._curves[key].setSymbolSize(5)
            self._curves[key].setData(np.asarray(xs, float), np.asarray(ys, float))

    @property
    def loss_curve_names(self) -> list[str]:
        return list(self._curves)

    def curve_points(self, key: str) -> int:
        return len(self._points.get(key, ([], []))[0])

    def on_validation(self, v: Validation, log: bool = True) -> None:
        if log:
            numbers = {k: val for k, val in v.metrics.items() if isinstance(val, int | float)}
            shown = ", ".join(f"{k} {val:.3g}" for k, val in numbers.items())
            self.log(f"validation {v.stage} step {v.step}: {shown}")
        usage = v.metrics.get("usage_fraction")
        if usage is not None and v.stage == "tokenizer":
            self._usage.append((v.step, float(usage)))
            xs, ys = zip(*self._usage, strict=True)
            self.usage_curve.setData(np.asarray(xs, float), np.asarray(ys, float))

    def on_reconstruction(self, r: ReconstructionPreview) -> None:
        """Stacks up to 4 channels of the window, real beside reconstruction."""
        real, recon = np.asarray(r.real, float), np.asarray(r.reconstruction, float)
        n_ch = min(4, real.shape[0])
        t = np.arange(real.shape[1]) / r.rate
        xs, ys_real, ys_recon = [], [], []
        for i in range(n_ch):
            scale = float(np.ptp(real[i])) or 1.0
            centre = float(np.mean(real[i]))
            xs.append(np.append(t, np.nan))
            ys_real.append(np.append(-i + (real[i] - centre) / scale, np.nan))
            ys_recon.append(np.append(-i + (recon[i] - centre) / scale, np.nan))
        x = np.concatenate(xs)
        self.real_curve.setData(x, np.concatenate(ys_real), connect="finite")
        self.recon_curve.setData(x, np.concatenate(ys_recon), connect="finite")
        self.preview_plot.getPlotItem().setTitle(
            f"Held-out window, step {r.step}: real and reconstruction ({', '.join(r.labels[:n_ch])})"
        )
        self.preview_step = r.step

    def _on_finished(self, result: Any) -> None:
        stopped = getattr(result, "stopped", False)
        tok, prior = getattr(result, "tokenizer_step", "?"), getattr(result, "prior_step", "?")
        steps = f"tokenizer {tok} steps, prior {prior} steps"
        self._on_ended(("stopped; checkpoint kept: " if stopped else "done: ") + steps)

    def _on_ended(self, text: str) -> None:
        self.progress.setFormat(text)
        self.log(text)
        self.job = None
        self.refresh_runs()

    def set_theme(self, theme: str) -> None:
        bg, fg = ("#1e1f22", "#c8c8c8") if theme == "dark" else ("#ffffff", "#303030")
        for plot in (self.loss_plot, self.usage_plot, self.preview_plot):
            plot.setBackground(bg)
            for name in ("left", "bottom"):
                axis = plot.getPlotItem().getAxis(name)
                axis.setPen(fg)
                axis.setTextPen(fg)
            plot.getPlotItem().titleLabel.setText(plot.getPlotItem().titleLabel.text, color=fg)
