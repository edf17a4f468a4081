"""The Generate tab: sampling settings, then generated recordings beside the real one.

Two `SignalViewer`s side by side (real left, generated right) page together; below them the
Welch PSD of one channel, generated over real, on a log scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.errors import app_message
from ui.plots import LegendPlot
from ui.viewer import SignalViewer
from ui.worker import Job
from vqstudio.errors import VQStudioError
from vqstudio.events import Progress, SamplePreview
from vqstudio.generation.settings import COUNT, GUIDANCE, SECONDS, STEPS
from vqstudio.priors.config import DEFAULT_GUIDANCE, DEFAULT_STEPS
from vqstudio.recording import Recording

__all__ = ["GenerationPanel", "welch_psd"]

PSD_SECONDS = 600.0  # at most this much of each channel goes into its PSD (long files stay quick)


def welch_psd(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The engine's Welch PSD (the Report tab's: Hann, ~2 s segments, half overlap); nothing for
    a signal too short to hold a segment."""
    from vqstudio.spectra import welch_psd as engine_welch_psd

    x = np.asarray(x, dtype=np.float64)
    if x.size < 16:
        return np.zeros(0), np.zeros(0)
    return engine_welch_psd(x, rate)


class GenerationPanel(QWidget):
    """Settings and buttons on top; real and generated viewers; the PSD overlay."""

    def __init__(self, actions: dict[str, QAction]) -> None:
        super().__init__()
        self.real: Recording | None = None
        self.synthetic: list[Recording] = []
        self.project_dir: str | None = None
        self._project_labels: list[str] = []

        self.seconds = QDoubleSpinBox()
        self.seconds.setRange(SECONDS.spin_low, SECONDS.high)
        self.seconds.setValue(SECONDS.default)
        self.seconds.setSuffix(" s")
        self.count = QSpinBox()
        self.count.setRange(int(COUNT.low), int(COUNT.high))
        self.label = QComboBox()
        self.label.addItem("any (training proportions)", None)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.steps = QSpinBox()
        self.steps.setRange(0, int(STEPS.high))  # 0: the default
        self.steps.setSpecialValueText("default")
        self.steps.setToolTip(f"Diffusion sampler steps per segment (default {DEFAULT_STEPS})")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(GUIDANCE.low, GUIDANCE.high)  # 0: the default
        self.guidance.setSingleStep(0.5)
        self.guidance.setSpecialValueText("default")
        self.guidance.setToolTip(
            f"Classifier-free guidance scale of a prior trained with labels (default {DEFAULT_GUIDANCE:g}; "
            "1: none; higher follows the label more closely, at a small cost in spectrum)"
        )
        self.device = QComboBox()
        self.device.addItem("auto", "auto")
        form = QFormLayout()
        form.addRow("Length", self.seconds)
        form.addRow("Count", self.count)
        form.addRow("Label", self.label)
        form2 = QFormLayout()
        form2.addRow("Seed", self.seed)
        form2.addRow("Sampler steps", self.steps)
        form2.addRow("Guidance", self.guidance)
        form2.addRow("Device", self.device)
        buttons = QVBoxLayout()
        for name in ("generate", "stop", "export_synthetic", "evaluate"):
            b = QToolButton()
            b.setDefaultAction(actions[name])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setMinimumWidth(150)
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.log_pane = QPlainTextEdit()
        self.log_pane.setReadOnly(True)
        self.log_pane.setMaximumBlockCount(500)
        self.log_pane.setMaximumHeight(90)
        side = QVBoxLayout()
        side.addWidget(self.progress)
        side.addWidget(self.log_pane)
        top = QHBoxLayout()
        top.addLayout(form)
        top.addLayout(form2)
        top.addLayout(buttons)
        top.addLayout(side, 1)

        self.real_viewer = SignalViewer(controls=False)
        self.synthetic_viewer = SignalViewer(controls=False)
        self.which = QComboBox()
        self.which.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.which.currentIndexChanged.connect(self._show_synthetic)
        self.page = QComboBox()
        for s in (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0):
            self.page.addItem(f"{s:g} s", s)
        self.page.setCurrentIndex(3)
        self.page.currentIndexChanged.connect(self._set_page_length)
        self.real_viewer.page_changed.connect(self._follow)
        self.synthetic_viewer.page_changed.connect(self._follow)
        self.real_title = QLabel("Real")
        self.synthetic_title = QLabel("Generated")
        left = QVBoxLayout()
        left.addWidget(self.real_title)
        left.addWidget(self.real_viewer, 1)
        right_bar = QHBoxLayout()
        right_bar.addWidget(self.synthetic_title, 1)
        right_bar.addWidget(self.which)
        right_bar.addWidget(QLabel("Page"))
        right_bar.addWidget(self.page)
        right = QVBoxLayout()
        right.addLayout(right_bar)
        right.addWidget(self.synthetic_viewer, 1)
        viewers = QSplitter()
        for lay in (left, right):
            w = QWidget()
            w.setLayout(lay)
            viewers.addWidget(w)

        self.psd_channel = QComboBox()
        self.psd_channel.currentIndexChanged.connect(lambda _: self.update_psd())
        # The legend sits below the plot; real and generated keep the colours they have everywhere.
        self.psd_view = LegendPlot("Power spectral density (Welch)")
        self.psd_plot = self.psd_view.plot_item
        self.psd_plot.setLogMode(y=True)
        self.psd_plot.setLabel("bottom", "Hz")
        self.psd_real = self.psd_view.add_series("real", width=2)
        self.psd_synth = self.psd_view.add_series("generated", width=2)
        psd_box = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(QLabel("PSD of channel"))
        row.addWidget(self.psd_channel)
        row.addStretch(1)
        psd_box.addLayout(row)
        psd_box.addWidget(self.psd_view, 1)
        psd_widget = QWidget()
        psd_widget.setLayout(psd_box)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(viewers)
        split.addWidget(psd_widget)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    # --- inputs ------------------------------------------------------------------------------
    def set_devices(self, choices: list[tuple[str, str]]) -> None:
        self.device.clear()
        for value, text in choices:
            self.device.addItem(text, value)

    def set_project(self, project_dir: str | None) -> None:
        """Reads the project's channels and labels (for the label choice and the real view)."""
        self.project_dir = project_dir
        self._project_labels = []
        self.label.clear()
        self.label.addItem("any (training proportions)", None)
        if not project_dir:
            return
        from vqstudio.project import Project

        try:
            project = Project.open(project_dir)
        except VQStudioError:
            return
        for name in project.record.data.labels.names:
            self.label.addItem(name, name)
        self._project_labels = list(project.channel_labels)
        self.set_real(self.real)

    def set_real(self, recording: Recording | None) -> None:
        """The real recording shown on the left (the project's channels when it has them)."""
        self.real = recording
        shown = recording
        if recording is not None and self._project_labels:
            try:
                shown = recording.select(self._project_labels)
            except VQStudioError:
                shown = recording
        self.real_viewer.set_recording(shown)
        self.real_viewer.set_page_length(float(self.page.currentData()))
        self.real_title.setText(f"Real: {recording.source.name if recording and recording.source else ''}")
        self._fill_psd_channels()

    def set_synthetic(self, recordings: list[Recording]) -> None:
        self.synthetic = list(recordings)
        self.which.blockSignals(True)
        self.which.clear()
        self.which.addItems([f"generated {i + 1} of {len(recordings)}" for i in range(len(recordings))])
        self.which.blockSignals(False)
        self._show_synthetic(0)
        self._fill_psd_channels()

    def _show_synthetic(self, index: int) -> None:
        rec = self.synthetic[index] if 0 <= index < len(self.synthetic) else None
        self.synthetic_viewer.set_recording(rec)
        self.synthetic_viewer.set_page_length(float(self.page.currentData()))
        if rec is not None:
            self.synthetic_title.setText(f"Generated: {len(rec.channels)} channels, {rec.duration:.1f} s")

    def _set_page_length(self, _: int) -> None:
        for v in (self.real_viewer, self.synthetic_viewer):
            v.set_page_length(float(self.page.currentData()))

    def _follow(self, start: float) -> None:
        """The two viewers page together."""
        for v in (self.real_viewer, self.synthetic_viewer):
            if v.recording is not None and abs(v.page_start - start) > 1e-9:
                v.set_page(start)

    def _fill_psd_channels(self) -> None:
        names = [c.label for c in self.synthetic[0].channels] if self.synthetic else []
        current = self.psd_channel.currentText()
        self.psd_channel.blockSignals(True)
        self.psd_channel.clear()
        self.psd_channel.addItems(names)
        if current in names:
            self.psd_channel.setCurrentText(current)
        self.psd_channel.blockSignals(False)
        self.update_psd()

    def update_psd(self) -> None:
        """PSD of the chosen channel: generated (mean over recordings) over real."""
        name = self.psd_channel.currentText()
        self.psd_real.setData([], [])
        self.psd_synth.setData([], [])
        if not name or not self.synthetic:
            self.psd_plot.setTitle("Power spectral density (Welch): shown once recordings are generated")
            return
        psds = []
        for rec in self.synthetic:
            ch = rec.channel(name)
            f, p = welch_psd(ch.read_seconds(0, PSD_SECONDS), ch.rate)
            psds.append(p)
        if psds and psds[0].size:
            n = min(p.size for p in psds)
            self.psd_synth.setData(f[:n], np.maximum(np.mean([p[:n] for p in psds], axis=0), 1e-30))
        if self.real is not None:
            try:
                ch = self.real.channel(name)
            except VQStudioError:
                return
            f, p = welch_psd(ch.read_seconds(0, PSD_SECONDS), ch.rate)
            if p.size:
                self.psd_real.setData(f, np.maximum(p, 1e-30))
        self.psd_plot.setTitle(f"Power spectral density of {name} (Welch, 2 s segments)")

    def settings_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the engine's `GenerateSettings` from the form."""
        return {
            "seconds": float(self.seconds.value()),
            "count": int(self.count.value()),
            "label": self.label.currentData(),
            "seed": int(self.seed.value()),
            "steps": int(self.steps.value()) or None,
            "guidance": float(self.guidance.value()) or None,
            "device": self.device.currentData() or "auto",
        }

    # --- a running job -----------------------------------------------------------------------
    def attach(self, job: Job) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("starting...")
        job.progress.connect(self._on_progress)
        job.sample.connect(self._on_sample)
        job.log.connect(lambda e: self.log(e.message))
        job.finished.connect(
            lambda r: self.progress.setFormat("done" if r is not None and len(r) else "stopped")
        )
        job.failed.connect(lambda error, _tb: self.progress.setFormat(f"failed: {error}"))

    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(round(1000 * min(1.0, max(0.0, p.fraction))))
        speed = f", {p.rate:.0f}x real time" if p.rate else ""
        self.progress.setFormat(f"{p.stage}: %p%{speed}")

    def _on_sample(self, s: SamplePreview) -> None:
        self.log(f"preview: {s.samples.shape[-1] / s.rate:.1f} s" + (f", label {s.label}" if s.label else ""))

    def log(self, text: str) -> None:
        self.log_pane.appendPlainText(app_message(text))

    def set_theme(self, theme: str) -> None:
        for v in (self.real_viewer, self.synthetic_viewer):
            v.set_theme(theme)
        bg, fg = ("#1e1f22", "#c8c8c8") if theme == "dark" else ("#ffffff", "#303030")
        self.psd_view.set_colors(bg, fg)
