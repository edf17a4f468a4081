"""The Train tab: the settings of a run, and the run live (progress, losses, codebook, preview, log).

The panel builds the keyword arguments of the engine's `TrainSettings` (`settings_kwargs`) and
shows the events of a running `Job` (`attach`). An open project shows alone: its settings in the
form, its past runs, and its curves redrawn from its history (read through `ui.projects`) by the
same code that draws a live run, in the same colours. A run that fails before its first step
leaves the view as it was. With several GPUs the form offers "all N GPUs" (`ui.gpu_choice`;
`processes()` says how many processes the run takes): the window then runs `vqstudio train
--nproc N` and its rank 0's events reach this panel as an in-process run's do.
"""

from __future__ import annotations

import html
import os
from collections.abc import Collection
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

from ui import gpu_choice
from ui.codec_choice import CODEC_SETTINGS, codec_box, codec_choice
from ui.errors import app_message
from ui.plots import LegendPlot
from ui.preview_view import ReconstructionView
from ui.privacy_choice import privacy_box, privacy_settings, privacy_text, show_privacy
from ui.projects import history_events, new_project_folder, past_runs
from ui.worker import Job
from vqstudio.data.defaults import default_channels, default_choice
from vqstudio.data.prep import RATE_HZ, WINDOW_S, PrepConfig
from vqstudio.errors import VQStudioError
from vqstudio.events import Progress, ReconstructionPreview, Validation
from vqstudio.priors.registry import PRIORS
from vqstudio.project import Project
from vqstudio.recording import Recording
from vqstudio.training.settings import MINUTES

__all__ = ["TrainingPanel", "format_eta"]

NOT_LOSSES = ("lr",)  # reported beside the losses, not a loss: shown in the progress text instead
MAX_CURVE_POINTS = 4000  # per loss curve; older points are thinned, never the latest
RUN_STAGES = ("tokenizer", "prior")  # a run has started once one of these reports
NO_PROJECT = "No project yet: open a recording to train one, or File > Open project"
# The Resume choices (text, `TrainSettings.resume_stage`).
RESUME_CHOICES = (
    ("the run as planned", "auto"),
    ("the tokenizer", "tokenizer"),
    ("the prior", "prior"),
    ("both: tokenizer, then prior", "both"),
)


def _trained_on(project: Project, recording: Recording) -> bool:
    """Whether `recording` is one of `project`'s sources, as far as can be told without reading
    it (the GUI thread must not hash a large file): the same file, or the same sha256 when it is
    known. A recording held in memory can only match a project trained on one."""
    sources = project.record.data.sources
    path = recording.source.path if recording.source is not None else ""
    if not path:
        return any(not s.path for s in sources)
    sha = recording.known_sha256
    for s in sources:
        if sha is not None and s.sha256 == sha:
            return True
        if s.path and _same_file(s.path, path):
            return True
    return False


def _same_folder(a: str | None, b: str | None) -> bool:
    return bool(a and b) and os.path.abspath(a) == os.path.abspath(b)  # type: ignore[arg-type]


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def format_eta(seconds: float | None) -> str:
    """h:mm:ss or m:ss; '--:--' when unknown (the caller says why)."""
    if seconds is None or not np.isfinite(seconds):
        return "--:--"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingPanel(QWidget):
    """Settings form on the left; live plots, progress and log on the right."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.job: Job | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._points: dict[str, tuple[list[float], list[float]]] = {}
        self._usage: list[tuple[float, float]] = []  # held-out windows, at each validation
        self._batch_usage: list[tuple[float, float]] = []  # training batches, at each loss read-out
        self._last_losses: dict[str, dict[str, float]] = {}  # per stage, the read-out drawn last
        self._project: str | None = None
        self._projects_root = ""
        self._folder_chosen = False  # the user typed or browsed a folder: keep it
        self._window_chosen = False  # the user set the window: keep it
        self._setting_window = False  # the window is being set for the user (not by them)
        self._recording: Recording | None = None
        # The current recording is not one the open project was trained on: the form offers a
        # new project for it (the open project stays open: Resume continues it).
        self._offering_new = False
        self._run_folder: str | None = None  # the folder the attached run trains
        self._preview_folder: str | None = None  # the project the preview shows a window of
        self.run_started = False  # the attached run has reached its first training step
        self._clear_on_start = False
        self._before_run: tuple[int, str, str] = (0, "idle", "")
        # Extra `TrainSettings` fields (steps, batch size...) for scripts and tests; the form wins on its own.
        self.extra_settings: dict[str, Any] = {}

        # --- settings form
        self.channel_list = QListWidget()
        self.channel_list.setMaximumHeight(170)
        self.channel_list.itemChanged.connect(lambda _item: self._fit_window())
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0, RATE_HZ.high)  # 0: "as recorded" (no resampling)
        self.rate.setDecimals(1)
        self.rate.setSpecialValueText("as recorded")
        self.rate.setSuffix(" Hz")
        self.rate.setToolTip("The project's sample rate: channels are resampled to it (polyphase)")
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(WINDOW_S.low, WINDOW_S.high)
        self.window_s.setValue(WINDOW_S.default)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip(
            "Seconds of signal the model sees at once: 4 s by default, longer for slow channels, "
            "shorter for short recordings"
        )
        self.window_s.valueChanged.connect(self._window_edited)
        self.preset = QComboBox()
        for text, value in (
            ("auto (from the data and device)", None),
            ("small", "small"),
            ("medium", "medium"),
            ("large", "large"),
        ):
            self.preset.addItem(text, value)
        self.codec = codec_box()
        self.prior = QComboBox()
        for kind in PRIORS.values():
            self.prior.addItem(kind.title, kind.name)
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
        # "all N GPUs": one process per GPU (`vqstudio train --nproc N`), shown with several GPUs.
        self.gpus = gpu_choice.gpu_box()
        self.gpus.toggled.connect(lambda on: self.device.setEnabled(not on))
        self._gpu_count = 1
        # The device of an "all N GPUs" run's processes (a test runs the same path on CPU ones).
        self.processes_device = gpu_choice.GPU_DEVICE
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(MINUTES.spin_low, MINUTES.high)
        self.minutes.setValue(MINUTES.default)
        self.minutes.setSuffix(" min")
        self.minutes.setToolTip("Wall-clock budget of both stages (with Resume: more time)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.privacy = privacy_box()  # "off", or the epsilon of DP-SGD (`--dp-epsilon`)
        # What Resume continues (`vqstudio.training.plan`): the tokenizer too, not only the prior.
        self.resume_stage = QComboBox()
        for text, value in RESUME_CHOICES:
            self.resume_stage.addItem(text, value)
        self.resume_stage.setToolTip(
            "What Resume trains, for the time budget: the run as planned (the tokenizer while its "
            "budget lasts, then the prior), the tokenizer alone, the prior alone, or both (the "
            "tokenizer, then the prior, sharing the time as a new run does). Each stage keeps its "
            "best checkpoint by held-out loss; generation uses the best."
        )
        self.resume_stage.setEnabled(False)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("project folder (new, or the one to resume)")
        self.folder.textEdited.connect(self._folder_edited)
        self.project_label = QLabel(NO_PROJECT)
        self.project_label.setWordWrap(True)
        browse = QPushButton("...")
        browse.setFixedWidth(32)
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)

        form = QFormLayout()
        form.addRow(self.project_label)
        form.addRow("Channels", self.channel_list)
        form.addRow("Rate", self.rate)
        form.addRow("Window", self.window_s)
        form.addRow("Model size", self.preset)
        form.addRow("Tokenizer", self.codec)
        form.addRow("Prior", self.prior)
        form.addRow("Labels", self.labels)
        device_row = QHBoxLayout()
        device_row.addWidget(self.device, 1)
        device_row.addWidget(self.gpus)
        form.addRow("Device", device_row)
        form.addRow("Time budget", self.minutes)
        form.addRow("Seed", self.seed)
        form.addRow("Differential privacy", self.privacy)
        form.addRow("Resume continues", self.resume_stage)
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
        # Legends sit below the plots (LegendPlot), never over the curves.
        self.loss_view = LegendPlot("Losses")
        self.loss_plot = self.loss_view.plot_item
        self.loss_plot.setLabel("bottom", "step")
        self.log_scale = QCheckBox("log scale")
        self.log_scale.setChecked(True)
        self.log_scale.toggled.connect(lambda on: self.loss_plot.setLogMode(y=on))
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.getAxis("left").setStyle(maxTextLevel=1)  # log minor labels overlap
        self.usage_view = LegendPlot("Codebook usage (fraction of codes used)")
        self.usage_plot = self.usage_view.plot_item
        self.usage_plot.setYRange(0, 1.05)
        self.usage_plot.setLabel("bottom", "step")
        self.batch_usage_curve = self.usage_view.add_series("training batches", width=1.5)
        self.usage_curve = self.usage_view.add_series("held-out windows", width=2)
        self.usage_curve.setSymbol("o")
        self.usage_curve.setSymbolSize(5)
        self.preview = ReconstructionView()
        self.log_pane = QPlainTextEdit()
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(2000)

        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.eta)
        status.addWidget(self.log_scale)
        status.addWidget(self.preview.chooser)
        grid = QGridLayout()
        grid.addWidget(self.loss_view, 0, 0)
        grid.addWidget(self.usage_view, 0, 1)
        grid.addWidget(self.preview, 1, 0, 1, 2)
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
        """Offers the recording's channels, ticking the engine's default choice
        (`vqstudio.data.defaults`: the rate that carries the signal, housekeeping left out) less
        the `bad` ones (names the user marked bad in the viewer), and its window."""
        self._recording = recording
        project = self._open_project()
        offer_new = project is not None and recording is not None and not _trained_on(project, recording)
        back_to_project = False
        if offer_new != self._offering_new:
            self._offering_new = offer_new
            back_to_project = not offer_new
            if offer_new:  # the form leaves the project: a new one's defaults, folder and window
                self._folder_chosen = self._window_chosen = False
                self.project_label.setToolTip("")
        self._suggest_folder()
        self.channel_list.blockSignals(True)
        self.channel_list.clear()
        if recording is None:
            self.channel_list.blockSignals(False)
            return
        # The engine's own choice, so the app ticks what `vqstudio train` would train on.
        chosen = set(default_channels(recording))
        for c in recording.channels:
            item = QListWidgetItem(f"{c.name}   ({c.unit or '-'}, {c.rate:g} Hz)")
            item.setData(Qt.ItemDataRole.UserRole, c.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = c.name in chosen and c.name not in bad
            item.setCheckState(Qt.CheckState.Checked if default else Qt.CheckState.Unchecked)
            self.channel_list.addItem(item)
        self.channel_list.blockSignals(False)
        if back_to_project and project is not None:  # the project's own recording again
            self.folder.setText(project.path)
            self._show_settings(project)
        if self._showing_project():  # the open project's own channels, not this recording's defaults
            project_channels = self._project_channels()
            if project_channels and all(self._has_channel(c) for c in project_channels):
                self.set_channels(project_channels)
        self._fit_window()

    def _window_edited(self, _value: float) -> None:
        if not self._setting_window:
            self._window_chosen = True

    def _set_window(self, seconds: float) -> None:
        """Shows a window the user did not choose (the engine's default, a project's own)."""
        self._setting_window = True
        try:
            self.window_s.setValue(seconds)
        finally:
            self._setting_window = False

    def _fit_window(self) -> None:
        """The engine's window for the ticked channels, until the user sets one (a new project
        only: an open project shows its own)."""
        if self._window_chosen or self._recording is None or self._showing_project():
            return
        names = self.checked_channels()
        try:
            window = default_choice([self._recording], PrepConfig().multiple, names or None).window_s
        except (VQStudioError, KeyError):  # nothing fits: Train says what to change
            return
        self._set_window(min(max(window, WINDOW_S.low), WINDOW_S.high))

    def _has_channel(self, name: str) -> bool:
        return any(
            self.channel_list.item(i).data(Qt.ItemDataRole.UserRole) == name
            for i in range(self.channel_list.count())
        )

    def set_projects_root(self, root: str) -> None:
        """The folder new projects go in (the app's settings); the suggestion follows it."""
        self._projects_root = root
        self._suggest_folder()

    def _folder_edited(self, _text: str) -> None:
        self._folder_chosen = True

    def _showing_project(self) -> bool:
        """Whether the form shows the open project (rather than offering a new one)."""
        return bool(self._project) and not self._offering_new

    def _show_resume_choice(self) -> None:
        """The Resume choice applies to an open project; it starts "as planned" for each project."""
        self.resume_stage.setEnabled(bool(self._project))

    def _suggest_folder(self) -> None:
        """A new project's folder: in the projects folder, named after the current recording.
        Follows the recording until the user picks a folder; an open project shows its own."""
        if self._showing_project():
            return
        rec = self._recording
        if rec is None:
            self.project_label.setText(NO_PROJECT)
            if not self._folder_chosen:
                self.folder.clear()
            return
        name = rec.source.path if rec.source is not None and rec.source.path else "recording"
        text = f"<b>New project</b> from {html.escape(os.path.basename(name))}"
        if self._project:
            kept = html.escape(os.path.basename(self._project.rstrip(os.sep)))
            text += f" (project {kept} stays open: Resume continues it)"
        self.project_label.setText(text)
        if self._projects_root and not self._folder_chosen:
            self.folder.setText(new_project_folder(self._projects_root, name))
        elif not self._folder_chosen:
            self.folder.clear()

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
        self._gpu_count = gpu_choice.gpu_count(choices)
        gpu_choice.show_gpu_choice(self.gpus, self._gpu_count)

    def processes(self) -> int:
        """How many processes the run trains with: one, or one per GPU ("all N GPUs")."""
        return self._gpu_count if self.gpus.isChecked() and self._gpu_count > 1 else 1

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Project folder", self.folder.text() or self._projects_root
        )
        if path:
            self.folder.setText(path)
            self._folder_chosen = True

    def project_dir(self, resume: bool) -> str:
        """The folder to train into: the field, or for Resume the open project."""
        if resume and self._project:
            return self._project
        text = self.folder.text().strip()
        if not text:
            text = QFileDialog.getExistingDirectory(
                self, "Choose a folder for the new project", self._projects_root
            )
            self.folder.setText(text)
        return text

    def use_folder(self, path: str) -> None:
        """Trains the next new project into `path` (chosen in a dialog, say)."""
        self.folder.setText(path)
        self._folder_chosen = True

    def settings_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the engine's `TrainSettings` from the form."""
        return {
            **self.extra_settings,
            "channels": tuple(self.checked_channels()) or None,
            "resample": self.rate.value() or None,
            "window_s": float(self.window_s.value()),
            "preset": self.preset.currentData(),
            **CODEC_SETTINGS[self.codec.currentData()],
            "prior": self.prior.currentData(),
            "labels": self.labels.currentData(),
            "device": self.processes_device if self.processes() > 1 else self.device.currentData() or "auto",
            "minutes": float(self.minutes.value()),
            "seed": int(self.seed.value()),
            "resume_stage": self.resume_stage.currentData() or "auto",
            **privacy_settings(self.privacy),
        }

    def set_project(self, project_dir: str | None) -> None:
        """Shows a project alone: its settings in the form, its past runs, and (when idle) its
        curves from its history; the preview waits for the project's own channels."""
        changed = project_dir != self._project
        self._project = project_dir
        self._offering_new = False  # opening a project shows it, whatever recording is current
        if changed:
            self.resume_stage.setCurrentIndex(0)
        self._show_resume_choice()
        project = self._open_project()
        if project is None:
            self._project = None
            self._show_resume_choice()
            self.project_label.setText(NO_PROJECT)
            self._folder_chosen = False
            self._suggest_folder()
            self.refresh_runs()
            return
        self.folder.setText(project.path)
        self._show_settings(project)
        if self.job is None:
            self._show_stage_progress(project)
            self.load_history(project.path)
            if changed and not _same_folder(self._preview_folder, project.path):
                # Another project: the last preview showed another recording's channels. The
                # project a run just trained keeps its last preview.
                self.preview.show_preview(None)
        self.refresh_runs()

    def _show_stage_progress(self, project: Project) -> None:
        """The progress bar of an idle project: where its last stage stands."""
        for stage in ("prior", "tokenizer"):
            if stage in project.record.progress:
                prog = project.stage(stage)
                state = "done" if prog.done else "stopped: Resume continues it"
                self.progress.setValue(1000 if prog.done else 0)
                self.progress.setFormat(f"{stage}: step {prog.step}, {state}")
                return
        self.progress.setFormat("not trained yet")

    def _open_project(self) -> Project | None:
        if not self._project:
            return None
        try:
            return Project.open(self._project)
        except (OSError, ValueError):  # gone since (ProjectError is a ValueError): show nothing of it
            return None

    def _project_channels(self) -> list[str]:
        project = self._open_project()
        return list(project.channel_labels) if project is not None else []

    def _show_settings(self, project: Project) -> None:
        """The form shows the project's stored settings (Resume keeps them; budget and device
        are this run's)."""
        record = project.record
        sources = [s.path or "memory" for s in record.data.sources]
        names = ", ".join(os.path.basename(p) for p in sources) or "no recorded sources"
        step = project.stage("tokenizer").step
        self.project_label.setText(
            f"<b>Project {html.escape(os.path.basename(project.path))}</b>: trained on {html.escape(names)}; "
            f"tokenizer at step {step}. Resume continues it.<br>"
            f"{html.escape(privacy_text(dict(record.privacy) if record.privacy else None))}"
        )
        self.project_label.setToolTip(project.path)
        if project.channel_labels:
            self.set_channels(list(project.channel_labels))
        self.rate.setValue(float(record.prep.resample or 0.0))
        self._set_window(float(record.prep.window_s or WINDOW_S.default))
        chosen = (
            (self.preset, record.settings.preset),
            (self.codec, codec_choice(record.settings.per_channel, record.settings.from_scratch)),
            (self.prior, record.settings.prior),
            (self.labels, record.prep.labels),
        )
        for combo, value in chosen:
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        self.seed.setValue(record.seed)
        show_privacy(self.privacy, dict(record.privacy) if record.privacy else None)
        if record.budget is not None and record.budget.minutes:
            self.minutes.setValue(float(record.budget.minutes))

    def load_history(self, project_dir: str) -> int:
        """Redraws the curves from the project's history; returns the records read."""
        self._clear_plots()
        try:
            project = Project.open(project_dir)
        except (OSError, ValueError):
            return 0
        points, validations = history_events(project)
        for v in validations:
            self.on_validation(v, log=False)
        if points:
            self.on_losses(points)
        return len(points) + len(validations)

    def _clear_plots(self) -> None:
        for curve in self._curves.values():
            self.loss_view.remove_series(curve)
        self._curves.clear()
        self._points.clear()
        self._usage.clear()
        self._batch_usage.clear()
        self._last_losses.clear()
        self.usage_curve.setData([], [])
        self.batch_usage_curve.setData([], [])

    def refresh_runs(self) -> None:
        project = self._open_project()
        rows = past_runs(project) if project is not None else []
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
        """Shows `job`'s events. The plots are cleared (unless resuming) only when the run takes
        its first step: a run that cannot start leaves them, and the progress bar, as they were."""
        self.job = job
        self.run_started = False
        self._clear_on_start = not resume
        # The folder the run trains (what Train and Resume took from this form): its previews
        # stay when it ends and the app opens it as the project.
        self._run_folder = (self._project if resume else self.folder.text().strip()) or None
        self._before_run = (self.progress.value(), self.progress.format(), self.eta.text())
        self.log(("resuming " if resume else "training ") + "...")
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        job.progress.connect(self.on_progress)
        job.losses.connect(self.on_losses)
        job.validation.connect(self.on_validation)
        job.reconstruction.connect(self.on_reconstruction)
        job.checkpoint.connect(lambda e: self.log(f"checkpoint: {e.stage} step {e.step} -> {e.path}"))
        job.log.connect(lambda e: self.log(e.message if e.level == "info" else f"{e.level}: {e.message}"))
        job.finished.connect(self._on_finished)
        job.failed.connect(lambda error, _tb: self._on_failed(error))

    def _started(self, stage: str) -> None:
        """The first event of a training stage: the run is on; a new run clears the old curves."""
        if self.job is None or self.run_started or stage not in RUN_STAGES:
            return
        self.run_started = True
        if self._clear_on_start:
            self._clear_plots()
            self.preview.show_preview(None)

    def log(self, text: str) -> None:
        self.log_pane.appendPlainText(app_message(text))

    def on_progress(self, p: Progress) -> None:
        self._started(p.stage)
        self.progress.setValue(round(1000 * min(1.0, max(0.0, p.fraction))))
        total = f"/{p.total}" if p.total else ""
        self.progress.setFormat(f"{p.stage}: step {p.step}{total}  %p%")
        rate = f", {p.rate:.0f} windows/s" if p.rate else ""
        if "lr" in p.losses:
            rate += f", lr {p.losses['lr']:.2g}"
        eta = format_eta(p.eta_s) if p.eta_s is not None else "after the first timed steps"
        self.eta.setText(f"ETA {eta}{rate}")

    def on_losses(self, points: list[Progress]) -> None:
        """Adds loss points (live or from the history) and the training batches' codebook usage."""
        changed = set()
        for p in points:
            self._started(p.stage)
            # Progress repeats the latest loss read-out until the next one: one point per read-out,
            # as the history holds them, so the live and the reopened curves are the same.
            if p.losses == self._last_losses.get(p.stage):
                continue
            self._last_losses[p.stage] = p.losses
            if p.codebook_used is not None and p.stage == "tokenizer":
                self._batch_usage.append((p.step, float(p.codebook_used)))
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
            if not any(y > 0 for y in ys):
                continue  # nothing a log axis can show yet (pyqtgraph warns on an all-NaN curve)
            if len(xs) > MAX_CURVE_POINTS:  # thin the old half: the curve keeps its shape, memory stays flat
                half = len(xs) // 2
                xs[:half], ys[:half] = xs[:half:2], ys[:half:2]
            if key not in self._curves:
                style = Qt.PenStyle.DashLine if key.startswith("prior") else Qt.PenStyle.SolidLine
                self._curves[key] = self.loss_view.add_series(key, width=1.5, style=style)
            # Dots while the curve is short (losses are read every few seconds on a CPU).
            self._curves[key].setSymbol("o" if len(xs) < 30 else None)
            self._curves[key].setSymbolSize(5)
            self._curves[key].setData(np.asarray(xs, float), np.asarray(ys, float))
        if self._batch_usage:
            xs, ys = zip(*self._batch_usage, strict=True)
            self.batch_usage_curve.setData(np.asarray(xs, float), np.asarray(ys, float))

    @property
    def loss_curve_names(self) -> list[str]:
        return list(self._curves)

    def curve_points(self, key: str) -> int:
        return len(self._points.get(key, ([], []))[0])

    def on_validation(self, v: Validation, log: bool = True) -> None:
        self._started(v.stage)
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
        """Keeps the latest preview and draws the channels chosen for it."""
        self._started("tokenizer")
        self._preview_folder = self._run_folder
        self.preview.show_preview(r)

    def _on_finished(self, result: Any) -> None:
        stopped = getattr(result, "stopped", False)
        tok, prior = getattr(result, "tokenizer_step", "?"), getattr(result, "prior_step", "?")
        steps = f"tokenizer {tok} steps, prior {prior} steps"
        self._on_ended(("stopped; checkpoint kept: " if stopped else "done: ") + steps)

    def _on_failed(self, error: BaseException) -> None:
        reason = app_message(str(error))
        if self.run_started:
            self._on_ended(f"stopped by an error: {reason}")
            return
        # Nothing was trained: the view stays as it was before the attempt.
        value, text, eta = self._before_run
        self.progress.setValue(value)
        self.progress.setFormat(text)
        self.eta.setText(eta)
        self.log(f"training did not start: {reason}")
        self.job = None
        self._clear_on_start = False

    def _on_ended(self, text: str) -> None:
        self.progress.setFormat(app_message(text))
        self.log(text)
        self.job = None
        self.refresh_runs()

    def set_theme(self, theme: str) -> None:
        bg, fg = ("#1e1f22", "#c8c8c8") if theme == "dark" else ("#ffffff", "#303030")
        for view in (self.loss_view, self.usage_view):
            view.set_colors(bg, fg)
        self.preview.set_colors(bg, fg)
