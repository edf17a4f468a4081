"""The main window: tabs (Signals, Train, Generate, Report), the session's changes, and jobs.

Its parts live in modules of their own, by role: the actions and menus (`ui.menus`), the
Signals tab (`ui.signals_page`), the Train, Generate and Report tabs (`ui.panels`), opening
recordings (`ui.file_opening`), opening projects and what they bring back
(`ui.project_opening`), recent files and projects (`ui.recent`), Export synthetic
(`ui.export_dialog`). Whether an action is enabled comes from the session's table
(`Session.blocked`), and its tooltip says why not. Slots hand what the user chose to `ui.jobs`,
the one place engine calls are made (a job runs in a `Job`, its own thread).

Start-up shows the welcome page and builds nothing else the user cannot see yet: the viewer is
built behind it once the window is up, the three other tabs when first shown or asked for
(`ui.deferred_tabs`), and nothing imported before the window shows loads pyqtgraph, scipy, the
engine's projects or evaluation, or torch (tests/ui/test_startup_lazy.py). Every message shown
goes through `ui.errors.app_message`, so none speaks in command-line flags.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QEvent, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from ui import file_opening, panels, project_opening, theme
from ui.deferred_tabs import DeferredTabs
from ui.errors import app_message, ask_action, show_error
from ui.jobs import (
    devices_job,
    evaluation_job,
    generation_job,
    gui_threads,
    processes_training_job,
    training_job,
    warm_up_job,
)
from ui.menus import TABS, VIEWER_ACTIONS, add_viewer_keys, build_menus, create_actions
from ui.recent import RecentLists
from ui.session import Session
from ui.settings import Settings
from ui.signals_page import SignalsPage
from ui.worker import Job
from vqstudio.errors import user_error
from vqstudio.events import LongRun
from vqstudio.recording import Recording

if TYPE_CHECKING:
    from ui.annotation_dock import AnnotationDock
    from ui.generation_panel import GenerationPanel
    from ui.report_panel import ReportPanel
    from ui.training_panel import TrainingPanel
    from ui.view_memory import ViewMemory
    from ui.viewer import SignalViewer

__all__ = ["MainWindow", "gui_threads"]

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
# Jobs the app may quit without waiting for: they write nothing a user would lose.
DETACHABLE_JOBS = ("devices", "warm_up", "demo")
VIEWER_AFTER_SHOW_MS = 50  # the welcome page is drawn first


class MainWindow(QMainWindow):
    """The VQ Studio window. `MainWindow()` works alone; `app.main` adds files and start-up work."""

    shown = Signal()

    def __init__(self, session: Session | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.session = session or Session()
        self.settings = settings or Settings()
        self.jobs: dict[str, Job] = {}
        self.devices: list[tuple[str, str]] | None = None
        self.theme_applied = "light"  # the theme in force ('light' or 'dark'), for panels built late
        self._shown_once = False
        self._samples_of: str | None = None  # the project whose generated recordings are shown
        self.setWindowTitle("VQ Studio")
        icon = os.path.join(RESOURCES, "vqstudio.svg")
        if os.path.isfile(icon):
            self.setWindowIcon(QIcon(icon))
        self.setAcceptDrops(True)

        self.view_memory: ViewMemory | None = None  # with the viewer, when it is built
        self.actions = create_actions(self)
        self._build_central()
        self.recent_menu, self.recent_projects_menu = build_menus(self)
        self.recent = RecentLists(
            self.settings,
            (self.recent_menu, self.recent_projects_menu),
            self.welcome,
            self.load_path,
            self.open_project,
        )
        self.status = QLabel("Ready")
        self.device_label = QLabel("Device: detecting...")
        self.statusBar().addWidget(self.status, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self.session.subscribe(self._on_session_changed)
        self._apply_theme(self.settings.theme())
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: self._apply_theme(self.settings.theme()))
        geometry, state = self.settings.geometry(), self.settings.state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        if state is not None:
            self.restoreState(state)
        self._refresh_actions()

    def _build_central(self) -> None:
        """The Signals tab now; the Train, Generate and Report tabs when first needed."""
        self.signals = SignalsPage(self.actions, self._on_viewer_built)
        self.welcome = self.signals.welcome
        self.signals_stack = self.signals  # the welcome page (0) or the viewer (1)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.panels = DeferredTabs(self.tabs, self._on_panel_built)
        self.panels.add_page("signals", TABS[0], self.signals)
        for name, title in panels.PANELS.items():
            self.panels.add(name, title, lambda name=name: panels.build_panel(name, self.actions))
        self.setCentralWidget(self.tabs)

    # --- the viewer and the panels, built when first asked for -------------------------------
    @property
    def viewer(self) -> SignalViewer:
        return self.signals.viewer

    @property
    def file_box(self) -> QComboBox:
        return self.signals.file_box

    @property
    def annotation_dock(self) -> AnnotationDock:
        return self.signals.annotation_dock

    def _on_viewer_built(self, signals: SignalsPage) -> None:
        """Connects the viewer built just now: session, keys, theme, and what it remembers."""
        from ui.view_memory import ViewMemory  # imports the viewer's modules: not at start-up

        signals.connect_session(self.session)
        add_viewer_keys(self.actions, signals.viewer)
        signals.viewer.set_theme(self.theme_applied)
        self.view_memory = ViewMemory(signals.viewer, self.settings)  # restores the display choices
        signals.viewer.annotation_editor.watch_drops(self)  # a hypnogram dropped anywhere: added

    @property
    def training(self) -> TrainingPanel:
        return cast("TrainingPanel", self.panels.page("train"))

    @property
    def generation(self) -> GenerationPanel:
        return cast("GenerationPanel", self.panels.page("generate"))

    @property
    def report(self) -> ReportPanel:
        return cast("ReportPanel", self.panels.page("report"))

    def _on_panel_built(self, name: str, panel: QWidget) -> None:
        panels.update_panel(name, panel, self, panels.ALL)  # it missed what happened before

    def panels_changed(self, topic: str) -> None:
        """Shows what changed (`topic`, see `ui.panels.update_panel`) on each panel built so far;
        one built later reads it then."""
        for name in panels.PANELS:
            panel = self.panels.built(name)
            if panel is not None:
                panels.update_panel(name, panel, self, topic)

    def _refresh_actions(self) -> None:
        """Enabled state and tooltips of every action, from the session's table."""
        for name, action in self.actions.items():
            reason = self.session.blocked(name)
            if name in VIEWER_ACTIONS:
                reason = None if self.session.recording is not None else "Open a recording first"
            action.setEnabled(reason is None)
            action.setToolTip(reason or action.text().replace("&", ""))
            action.setStatusTip(reason or "")
        # A reason shown while the mouse was over an action stays in the status bar until the
        # mouse moves: drop it once no action is blocked for that reason any more.
        shown = self.statusBar().currentMessage()
        if shown and shown not in {a.statusTip() for a in self.actions.values()}:
            self.statusBar().clearMessage()

    # --- session changes ---------------------------------------------------------------------
    def _on_session_changed(self, topic: str) -> None:
        s = self.session
        if topic == "files":
            current = s.current_file
            if current is not None or self.signals.viewer_built:
                self.signals.show_file_list(s)  # builds the viewer, and its memory, if not yet
                if self.view_memory is not None:
                    self.view_memory.show(current)  # saves the file left, restores this file's view
            self.signals.show_current(current)
            self.setWindowTitle(f"{current.title} - VQ Studio" if current else "VQ Studio")
            if current:
                self.viewer.setFocus()
        elif topic == "job":
            if s.job:
                self.set_status(f"Running: {s.job}")
            elif self.status.text().startswith(("Running: ", "Stopping ")):
                self.set_status("Ready")  # an ended job's own last word (trained, failed) stays
        if topic in ("files", "project", "synthetic", "report"):
            self.panels_changed(topic)
        if topic == "project" and s.project_dir:
            self.recent.add_project(s.project_dir)
        if topic == "project" and s.project_dir != self._samples_of:
            # Another project: its own latest generated recordings, not the last project's.
            self._samples_of = s.project_dir
            project_opening.show_latest_samples(self, s.project_dir)
        self._refresh_actions()

    def set_status(self, text: str) -> None:
        """The status line, in the app's words."""
        self.status.setText(app_message(text))

    # --- files (ui.file_opening) --------------------------------------------------------------
    def load_path(self, path: str, rate: float | None = None) -> bool:
        """Opens the recording in `path`; a bad file shows its reason and changes nothing."""
        return file_opening.load_path(self, path, rate)

    def open_recording(self, recording: Recording, title: str = "") -> None:
        """Shows a recording already in memory (the demo, a test's)."""
        self.session.add_recording(recording, title=title)

    def open_demo(self) -> None:
        file_opening.open_demo(self)

    def close_recording(self) -> None:
        self.session.close_current()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        file_opening.open_dropped(self, event.mimeData().urls())
        event.acceptProposedAction()

    # --- projects ----------------------------------------------------------------------------
    def open_project(self, path: str) -> bool:
        """Opens a project folder with its recordings (see `ui.project_opening.open_project`)."""
        return project_opening.open_project(self, path)

    @property
    def synthetic_paths(self) -> list[str]:
        """Where the generated recordings shown are saved (what Evaluate reads)."""
        return self.session.synthetic_paths

    # --- jobs --------------------------------------------------------------------------------
    def start_job(self, job: Job, track_in_session: bool = True) -> None:
        """Runs `job`, tracked in `self.jobs` (and in the session, for the actions' states)."""
        self.jobs[job.name] = job

        def ended(*_: object) -> None:
            self.jobs.pop(job.name, None)
            if track_in_session and self.session.job == job.name:
                self.session.set_job(None)
            job.deleteLater()

        job.finished.connect(ended)
        job.failed.connect(ended)
        if track_in_session:
            self.session.set_job(job.name)
        job.start()

    def start_background(self) -> None:
        """Start-up work after the window is shown, in worker threads one after the other: load
        torch and list devices, then import what the other tabs will need (`warm_up_job`). In
        this thread, once the first frame is drawn, the viewer is built behind the welcome page
        (pyqtgraph is a Qt module: imported here, not in a worker), so the first file opens at once."""
        QTimer.singleShot(VIEWER_AFTER_SHOW_MS, lambda: self.signals.viewer)
        job = Job("devices", devices_job, self)
        job.finished.connect(self._on_devices)
        job.failed.connect(lambda error, _tb: self.device_label.setText(f"Device: unavailable ({error})"))
        job.finished.connect(
            lambda _: self.start_job(Job("warm_up", warm_up_job, self), track_in_session=False)
        )
        self.start_job(job, track_in_session=False)

    def _on_devices(self, choices: list[tuple[str, str]]) -> None:
        self.devices = choices
        self.device_label.setText("Device: " + choices[0][1].removeprefix("auto (").removesuffix(")"))
        self.panels_changed(panels.DEVICES)

    def start_training(self, resume: bool = False) -> None:
        """Trains a new project from the current recording, or resumes the open project on its
        own recordings (other open recordings play no part)."""
        if self.session.job is not None:
            return
        current = self.session.current_file
        project_dir = self.session.project_dir
        if not resume:
            if current is None:
                return
            target = project_opening.new_project_target(self)
            if target is None:
                return
            project_dir, resume = target
        if not project_dir:
            return
        if resume:
            found = project_opening.resume_recordings(self, project_dir)
            if found is None:
                self.set_status("Resume needs the recordings the project was trained on")
                return
            recordings, paths = [rec for rec, _ in found], [path for _, path in found]
        elif current is not None:
            recordings, paths = [current.recording], [current.path or ""]
        else:
            return
        inputs = tuple(path for path in paths if path)
        options = {**self.training.settings_kwargs(), "threads": gui_threads(), "inputs": inputs}
        processes = self.training.processes()
        if processes > 1:  # "all N GPUs": `vqstudio train --nproc N`, its events drawn here
            editor = self.viewer.annotation_editor if self.signals.viewer_built else None
            factory = processes_training_job(
                options,
                project_dir,
                resume,
                recordings,
                paths,
                processes,
                edited=editor.unsaved() if editor is not None else (),
                copies_folder=self._copies_folder(),
            )
            job = Job("train", factory, self)
        else:
            factory = training_job(options, project_dir, resume, recordings)
            job = Job("train", factory, self, low_priority=True)
        self.training.attach(job, resume)
        job.finished.connect(lambda result: self._on_trained(project_dir, result))
        job.failed.connect(self._on_training_failed)
        self.start_job(job)
        self.panels.show("train")

    @staticmethod
    def _copies_folder() -> str:
        """Where a run in processes of its own gets copies of recordings no file holds as they are
        (in memory, annotations edited): the app's data folder, beside the demo recording, so a
        project trained on a copy finds it again to resume."""
        data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
        return os.path.join(data, "copies")

    def _on_trained(self, project_dir: str, result: Any) -> None:
        self.session.set_project(os.path.abspath(project_dir))
        stopped = getattr(result, "stopped", False)
        self.set_status(("Training stopped; checkpoint kept in " if stopped else "Trained: ") + project_dir)

    def _on_training_failed(self, error: BaseException, tb: str) -> None:
        """A run that never took a step 'could not start' (the view is as it was); one that did
        'stopped', keeping its last checkpoint."""
        started = self.training.run_started
        title = "Training stopped" if started else "Training could not start"
        self.set_status(title)
        self._on_job_failed(title, error, tb)

    def _on_job_failed(self, title: str, error: BaseException, tb: str) -> None:
        said = user_error(error)
        if said is not None:
            show_error(self, title, str(said))
        else:
            show_error(self, title, f"Internal error: {type(error).__name__}: {error}", tb)

    def start_generation(self) -> None:
        project_dir = self.session.project_dir
        if project_dir is None or self.session.job is not None:
            return
        options = {**self.generation.settings_kwargs(), "threads": gui_threads()}
        job = Job("generate", generation_job(project_dir, options), self, low_priority=True)
        self.generation.attach(job)
        job.long_run.connect(lambda event: self._ask_long_run(job, event))
        job.finished.connect(self._on_generated)
        job.failed.connect(lambda error, tb: self._on_job_failed("Generation failed", error, tb))
        self.start_job(job)
        self.panels.show("generate")

    def _ask_long_run(self, job: Job, event: LongRun) -> None:
        """A job said it will run for long: the user decides whether it goes on."""
        message = f"{event.message[:1].upper()}{event.message[1:]}. Stopping keeps nothing of it."
        if ask_action(self, "This will take long", message, ["Go on"], cancel="Stop") is None and job.running:
            job.stop()
            self.set_status(f"Stopping {job.name}...")

    def _on_generated(self, result: tuple[list[Recording], list[str]]) -> None:
        recs, paths = result
        if recs:
            self._samples_of = self.session.project_dir
            self.session.set_synthetic(recs, paths)
            self.set_status(f"Generated {len(recs)} recording(s)")
        else:
            self.set_status("Generation stopped")

    def start_evaluation(self) -> None:
        project_dir = self.session.project_dir
        if project_dir is None or self.session.job is not None or not self.session.synthetic_paths:
            return
        choices = self.report.evaluation_options()
        job = Job(
            "evaluate", evaluation_job(project_dir, list(self.session.synthetic_paths), **choices), self
        )
        self.report.attach(job)
        job.finished.connect(self.session.set_report)
        job.failed.connect(lambda error, tb: self._on_job_failed("Evaluation failed", error, tb))
        self.start_job(job)
        self.panels.show("report")

    def stop_jobs(self) -> None:
        """Asks every running job to stop after its current step (the GUI never waits here)."""
        for job in list(self.jobs.values()):
            job.stop()
        if self.session.job:
            self.set_status(f"Stopping {self.session.job} after this step...")

    # --- view --------------------------------------------------------------------------------
    def toggle_clock(self) -> None:
        clock = self.actions["clock_time"].isChecked()
        if clock and (self.session.recording is None or self.session.recording.start is None):
            self.set_status("This recording has no start time: the axis stays in seconds")
        self.viewer.set_time_mode("clock" if clock else "seconds")

    def set_theme(self, choice: str) -> None:
        self.settings.set_theme(choice)
        self._apply_theme(choice)

    def _apply_theme(self, choice: str) -> None:
        app = QApplication.instance()
        self.theme_applied = theme.apply_theme(app, choice) if app is not None else "light"
        self.actions[f"theme_{choice}"].setChecked(True)
        if self.signals.viewer_built:
            self.viewer.set_theme(self.theme_applied)
        self.panels_changed(panels.THEME)

    def about(self) -> None:
        from vqstudio import __version__

        QMessageBox.about(
            self,
            "About VQ Studio",
            f"<b>VQ Studio {__version__}</b><p>Trains a VQ-VAE tokenizer and a generative prior on "
            "EEG/ECG/PSG recordings and generates synthetic recordings.</p>",
        )

    # --- window ------------------------------------------------------------------------------
    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.Show and not self._shown_once:
            self._shown_once = True
            QTimer.singleShot(0, self.shown.emit)
        return super().event(e)

    def _annotations_kept(self) -> bool:
        """Asks what to do with annotation edits no copy holds yet (they live in memory only):
        save copies, discard them, or stay. False when the user stays (or a save failed)."""
        editor = self.viewer.annotation_editor if self.signals.viewer_built else None
        unsaved = editor.unsaved() if editor is not None else []
        if not unsaved:
            return True
        names = ", ".join(rec.source.name if rec.source else "a recording" for rec in unsaved)
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Quit VQ Studio",
            f"The annotations of {names} were edited and not saved. Save a copy with them first?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Discard:
            return True
        if answer != buttons.Save:
            return False
        return all(editor.save_copy(recording=rec) for rec in unsaved)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._annotations_kept():
            event.ignore()
            return
        running = [j for j in self.jobs.values() if j.running]
        if any(j.name in ("train", "generate", "evaluate") for j in running):
            answer = QMessageBox.question(
                self,
                "Quit VQ Studio",
                f"{self.session.job or 'A job'} is running. Stop it and quit? "
                "Training keeps its last checkpoint (resume it later).",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        for job in list(self.jobs.values()):
            if job.name in DETACHABLE_JOBS:
                job.detach()  # loading torch or modules, simulating the demo: quitting never waits
            else:
                job.stop_and_wait()  # finishes the step and writes the checkpoint, then joins
        self.jobs.clear()
        if self.view_memory is not None:
            self.view_memory.save()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        super().closeEvent(event)
