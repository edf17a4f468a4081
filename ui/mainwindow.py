"""The main window: menus, tabs (Signals, Train, Generate, Report) and slots.

Every action is created in `_create_actions` and kept in `self.actions` (a test can loop over
them); whether one is enabled comes from the session's table (`Session.blocked`), and its
tooltip says why not. Slots open a dialog, read its result and call the session or hand what
the user chose to `ui.jobs`, the one place engine calls are made (a job runs in a `Job`, its own
thread; the export writes where it is called). Nothing here
imports torch: engine parts that need it are imported inside the job's thread. Every message
shown goes through `ui.errors.app_message`, so none speaks in command-line flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from ui.annotation_dock import with_annotation_dock
from ui.errors import app_message, ask_action, show_error, show_exception
from ui.generation_panel import GenerationPanel
from ui.jobs import (
    demo_job,
    devices_job,
    evaluation_job,
    export_generated,
    generation_job,
    gui_threads,
    training_job,
)
from ui.projects import ProjectSource, find_sources, new_project_folder, project_sources
from ui.report_panel import ReportPanel
from ui.session import Session
from ui.settings import Settings
from ui.training_panel import TrainingPanel
from ui.view_memory import ViewMemory
from ui.viewer import SignalViewer
from ui.welcome import WelcomePage
from ui.worker import Job
from vqstudio.errors import RateNeededError, VQStudioError, user_error
from vqstudio.events import LongRun
from vqstudio.recording import Recording

__all__ = ["MainWindow", "gui_threads"]

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources")
TABS = ("Signals", "Train", "Generate", "Report")
# Display actions of the viewer (the View menu's second group).
DISPLAY_ACTIONS = (
    "channels_up", "channels_down", "more_channels", "fewer_channels", "display_filters",
    "average_reference", "annotations",
)  # fmt: skip
# Actions on the viewer: enabled while a recording is open.
VIEWER_ACTIONS = (
    "next_page",
    "previous_page",
    "larger",
    "smaller",
    "channels",
    "clock_time",
    *DISPLAY_ACTIONS,
)


# Jobs the app may quit without waiting for: they write nothing a user would lose.
DETACHABLE_JOBS = ("devices", "demo")
EXPORT_FILTERS = {"EDF+": ".edf", "BDF+": ".bdf", "CSV": ".csv"}  # the save dialog's, by name


def _export_target(path: str, chosen_filter: str) -> str:
    """The file Export synthetic writes: `path` as typed when it names a format, else with the
    extension of the filter chosen in the dialog (EDF+ when none is known)."""
    stem, ext = os.path.splitext(path)
    if ext.lower() in EXPORT_FILTERS.values():
        return stem + ext
    return stem + EXPORT_FILTERS.get(chosen_filter.split(" ")[0], ".edf")


class MainWindow(QMainWindow):
    """The VQ Studio window. `MainWindow()` works alone; `app.main` adds files and start-up work."""

    shown = Signal()

    def __init__(self, session: Session | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.session = session or Session()
        self.settings = settings or Settings()
        self.jobs: dict[str, Job] = {}
        self.devices: list[tuple[str, str]] | None = None
        self.synthetic_paths: list[str] = []  # the generated recordings as saved in the project
        self._shown_once = False
        self.setWindowTitle("VQ Studio")
        icon = os.path.join(RESOURCES, "vqstudio.svg")
        if os.path.isfile(icon):
            self.setWindowIcon(QIcon(icon))
        self.setAcceptDrops(True)

        self.actions = self._create_actions()
        self._build_central()
        self.view_memory = ViewMemory(self.viewer, self.settings)  # restores the display choices
        self._build_menus()
        self.status = QLabel("Ready")
        self.device_label = QLabel("Device: detecting...")
        self.statusBar().addWidget(self.status, 1)
        self.statusBar().addPermanentWidget(self.device_label)
        self.training.set_projects_root(self.settings.projects_folder())

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
        self._update_recent()
        self._refresh_actions()

    # --- actions -----------------------------------------------------------------------------
    def _create_actions(self) -> dict[str, QAction]:
        """Every action of the window, in one table: name -> (text, shortcut, slot)."""
        table: list[tuple[str, str, str | QKeySequence.StandardKey | None, Callable[[], Any]]] = [
            ("open", "&Open recording...", "Ctrl+O", self.open_file),
            ("open_demo", "Open the &demo recording", "Ctrl+Shift+D", self.open_demo),
            ("close", "&Close recording", "Ctrl+W", self.close_recording),
            ("open_project", "Open &project...", "Ctrl+Shift+O", self.open_project_dialog),
            ("projects_folder", "Projects &folder...", None, self.choose_projects_folder),
            ("export_synthetic", "&Export synthetic...", "Ctrl+E", self.export_synthetic),
            ("quit", "&Quit", "Ctrl+Q", self.close),
            ("next_page", "&Next page", "PgDown", lambda: self.viewer.next_page()),
            ("previous_page", "&Previous page", "PgUp", lambda: self.viewer.previous_page()),
            ("larger", "&Larger amplitude", "+", lambda: self.viewer.scale_by(0.8)),
            ("smaller", "&Smaller amplitude", "-", lambda: self.viewer.scale_by(1.25)),
            ("channels", "C&hannels...", "Ctrl+L", lambda: self.viewer.choose_channels()),
            ("clock_time", "Cloc&k time axis", "Ctrl+T", self.toggle_clock),
            ("channels_up", "Channels &up a page", "Shift+Up", lambda: self.viewer.scroll_row_pages(-1)),
            ("channels_down", "Channels do&wn a page", "Shift+Down", lambda: self.viewer.scroll_row_pages(1)),
            (
                "more_channels",
                "&More channels per page",
                "Ctrl+Shift+Down",
                lambda: self.viewer.step_channels_per_page(1),
            ),
            (
                "fewer_channels",
                "&Fewer channels per page",
                "Ctrl+Shift+Up",
                lambda: self.viewer.step_channels_per_page(-1),
            ),
            ("display_filters", "Display &filters on/off", "Ctrl+F", lambda: self.viewer.toggle_filters()),
            (
                "average_reference",
                "&Average reference on/off",
                "Ctrl+Shift+M",
                lambda: self.viewer.toggle_average_reference(),
            ),
            (
                "annotations",
                "A&nnotation list",
                "Ctrl+Shift+A",
                lambda: self.annotation_dock.setHidden(not self.annotation_dock.isHidden()),
            ),
            ("train", "&Train", "Ctrl+R", lambda: self.start_training(resume=False)),
            ("resume", "&Resume training", "Ctrl+Shift+R", lambda: self.start_training(resume=True)),
            ("stop", "&Stop", "Ctrl+.", self.stop_jobs),
            ("generate", "&Generate", "Ctrl+G", self.start_generation),
            ("evaluate", "E&valuate", "Ctrl+Shift+E", self.start_evaluation),
            ("about", "&About VQ Studio", None, self.about),
        ]
        for i, tab in enumerate(TABS):
            table.append(
                (f"tab_{tab.lower()}", f"&{tab}", f"Ctrl+{i + 1}", lambda i=i: self.tabs.setCurrentIndex(i))
            )
        actions: dict[str, QAction] = {}
        for name, text, shortcut, slot in table:
            action = QAction(text, self)
            action.setObjectName(name)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(lambda _=False, slot=slot: slot())
            actions[name] = action
        actions["clock_time"].setCheckable(True)
        group = QActionGroup(self)
        for choice in ("system", "light", "dark"):
            action = QAction(f"{choice.capitalize()} theme", self, checkable=True)
            action.setObjectName(f"theme_{choice}")
            action.triggered.connect(lambda _=False, c=choice: self.set_theme(c))
            group.addAction(action)
            actions[f"theme_{choice}"] = action
        return actions

    def _build_menus(self) -> None:
        a = self.actions
        bar = self.menuBar()
        file = bar.addMenu("&File")
        file.addActions([a["open"], a["open_demo"]])
        self.recent_menu = file.addMenu("Recent &files")
        file.addActions([a["close"]])
        file.addSeparator()
        file.addActions([a["open_project"], a["export_synthetic"], a["projects_folder"]])
        file.addSeparator()
        file.addAction(a["quit"])
        view = bar.addMenu("&View")
        view.addActions([a["next_page"], a["previous_page"], a["larger"], a["smaller"], a["channels"]])
        view.addAction(a["clock_time"])
        view.addSeparator()
        view.addActions([a[n] for n in DISPLAY_ACTIONS])
        view.addSeparator()
        view.addActions([a[f"tab_{t.lower()}"] for t in TABS])
        view.addSeparator()
        view.addActions([a["theme_system"], a["theme_light"], a["theme_dark"]])
        run = bar.addMenu("&Run")
        run.addActions([a["train"], a["resume"], a["stop"], a["generate"], a["evaluate"]])
        bar.addMenu("&Help").addAction(a["about"])
        # Paging keys act on the viewer only (a spin box elsewhere keeps its own PgUp/PgDn).
        for name in ("next_page", "previous_page", "larger", "smaller", "channels_up", "channels_down"):
            a[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.viewer.addAction(a[name])

    def _build_central(self) -> None:
        description = (
            "The demo is a simulated EEG + ECG recording that VQ Studio makes itself "
            "(no person was recorded)."
        )
        self.welcome = WelcomePage(self.actions["open_demo"], self.actions["open"], description)
        self.welcome.recent_chosen.connect(self.load_path)
        self.viewer = SignalViewer()
        self.viewer.bad_channels_changed.connect(self.session.set_bad_channels)
        self.file_box = QComboBox()
        self.file_box.setToolTip("Open recordings")
        self.file_box.currentIndexChanged.connect(self.session.select)
        top = QHBoxLayout()
        top.setContentsMargins(4, 4, 4, 0)
        top.addWidget(QLabel("Recording"))
        top.addWidget(self.file_box, 1)
        viewer_page = QWidget()
        column = QVBoxLayout(viewer_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.viewer, 1)
        self.signals_stack = QStackedWidget()
        self.signals_stack.addWidget(self.welcome)
        signals_page, self.annotation_dock = with_annotation_dock(viewer_page, self.viewer)
        self.signals_stack.addWidget(signals_page)

        self.training = TrainingPanel(self.actions)
        self.generation = GenerationPanel(self.actions)
        self.report = ReportPanel(self.actions)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, name in zip(
            (self.signals_stack, self.training, self.generation, self.report), TABS, strict=True
        ):
            self.tabs.addTab(widget, name)
        self.setCentralWidget(self.tabs)

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
            self.file_box.blockSignals(True)
            self.file_box.clear()
            self.file_box.addItems(s.titles())
            self.file_box.setCurrentIndex(s.current)
            self.file_box.blockSignals(False)
            current = s.current_file
            self.view_memory.show(current)  # saves the file left, restores this file's view
            self.viewer.set_bad_channels(current.bad_channels if current else ())
            self.signals_stack.setCurrentIndex(1 if current else 0)
            self.training.set_recording(
                current.recording if current else None, current.bad_channels if current else ()
            )
            self.generation.set_real(current.recording if current else None)
            if current:
                self.setWindowTitle(f"{current.title} - VQ Studio")
                self.viewer.setFocus()
            else:
                self.setWindowTitle("VQ Studio")
        elif topic == "project":
            self.training.set_project(s.project_dir)
            self.generation.set_project(s.project_dir)
            self.report.set_project(s.project_dir)
            if s.project_dir:
                self.settings.add_recent_project(s.project_dir)
        elif topic == "synthetic":
            self.generation.set_synthetic(s.synthetic)
        elif topic == "report":
            self.report.set_report(s.report)
        elif topic == "job":
            if s.job:
                self.set_status(f"Running: {s.job}")
            elif self.status.text().startswith(("Running: ", "Stopping ")):
                self.set_status("Ready")  # an ended job's own last word (trained, failed) stays
        self._refresh_actions()

    def set_status(self, text: str) -> None:
        """The status line, in the app's words."""
        self.status.setText(app_message(text))

    # --- files -------------------------------------------------------------------------------
    def open_file(self) -> None:
        from vqstudio.io import FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open recording", self.settings.last_dir(), FILE_FILTER)
        if path:
            self.load_path(path)

    def load_path(self, path: str, rate: float | None = None) -> bool:
        """Opens the recording in `path`; a bad file shows its reason and changes nothing."""
        from vqstudio.io import read_recording

        try:
            recording = read_recording(path, rate=rate)
        except RateNeededError as error:  # a CSV without a time column: ask, then read again
            if rate is not None:
                show_exception(self, "Cannot open recording", error)
                return False
            rate, ok = QInputDialog.getDouble(
                self,
                "Sample rate",
                f"{os.path.basename(path)} has no time column.\nIts sample rate in Hz:",
                256.0,
                0.001,
                1e6,
                3,
            )
            return self.load_path(path, rate) if ok else False
        except VQStudioError as error:
            show_exception(self, "Cannot open recording", error)
            if not os.path.exists(path):
                self.settings.remove_recent_file(path)
                self._update_recent()
            return False
        self.session.add_recording(recording, path=path)
        self.settings.add_recent_file(os.path.abspath(path))
        self.settings.set_last_dir(os.path.dirname(os.path.abspath(path)))
        self._update_recent()
        self.set_status(f"Opened {os.path.basename(path)}")
        return True

    def open_recording(self, recording: Recording, title: str = "") -> None:
        """Shows a recording already in memory (the demo, a test's)."""
        self.session.add_recording(recording, title=title)

    def open_demo(self) -> None:
        if "demo" in self.jobs:
            return
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
        job = Job("demo", demo_job(folder), self)
        job.finished.connect(
            lambda result: self.session.add_recording(result[0], "Demo recording (simulated)", result[1])
        )
        job.finished.connect(lambda _: self.set_status("Opened the demo recording (simulated)"))
        job.failed.connect(lambda error, _tb: show_exception(self, "Cannot make the demo recording", error))
        self._start_job(job, track_in_session=False)
        self.set_status("Simulating the demo recording...")

    def close_recording(self) -> None:
        self.session.close_current()

    def _update_recent(self) -> None:
        paths = self.settings.recent_files()
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(os.path.basename(path))
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.load_path(p))
        self.recent_menu.setEnabled(bool(paths))
        self.welcome.set_recent(paths)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = url.toLocalFile()
                if os.path.isdir(path):
                    self.open_project(path)
                else:
                    self.load_path(path)
        event.acceptProposedAction()

    # --- projects ----------------------------------------------------------------------------
    def open_project_dialog(self) -> None:
        start = self.settings.projects_folder()
        path = QFileDialog.getExistingDirectory(
            self, "Open project folder", start if os.path.isdir(start) else self.settings.last_dir()
        )
        if path:
            self.open_project(path)

    def open_project(self, path: str) -> bool:
        """Opens a project folder with the recordings it was trained on (found by sha256 among
        the open ones or at their stored paths; asked for where moved), so the Train tab shows
        that project alone and Resume works at once."""
        from vqstudio.project import Project

        try:
            project = Project.open(path)
        except VQStudioError as error:
            show_exception(self, "Cannot open project", error)
            return False
        found = self._project_recordings(project_sources(project))
        if found is None:
            self.set_status(f"Opened project {project.path} without its recordings (Resume needs them)")
            found = []
        for recording, source_path in found:
            if not any(f.recording is recording for f in self.session.files):
                self.session.add_recording(recording, path=source_path or None)
        if found:  # the project's first recording is the one shown (already open ones too)
            first = found[0][0]
            self.session.select(next(i for i, f in enumerate(self.session.files) if f.recording is first))
        self.session.set_project(project.path)
        if found:
            self.set_status(f"Opened project {project.path} with {len(found)} recording(s)")
        return True

    def _project_recordings(self, sources: list[ProjectSource]) -> list[tuple[Recording, str]] | None:
        """The project's recordings (see `find_sources`); None when one is missing and the user
        did not say where it is."""

        def ask(source: ProjectSource, problem: str) -> str | None:
            from vqstudio.io import FILE_FILTER

            if not source.path:
                show_error(
                    self,
                    "Recording not found",
                    "The project was trained on a recording held in memory (not a file): open that "
                    "recording, then resume.",
                )
                return None
            self.set_status(problem)
            folder = os.path.dirname(source.path)
            chosen, _ = QFileDialog.getOpenFileName(
                self,
                f"Where is {source.name}? (it moved or changed)",
                folder if os.path.isdir(folder) else self.settings.last_dir(),
                FILE_FILTER,
            )
            return chosen or None

        return find_sources(sources, [f.recording for f in self.session.files], ask)

    def choose_projects_folder(self) -> None:
        """Changes the folder new projects go in (kept in the settings)."""
        path = QFileDialog.getExistingDirectory(
            self, "Folder for new projects", self.settings.projects_folder()
        )
        if path:
            self.settings.set_projects_folder(path)
            self.training.set_projects_root(path)
            self.set_status(f"New projects go in {path}")

    def export_synthetic(self) -> None:
        """Asks where to write the generated recordings (EDF+, BDF or CSV) and writes them through
        `ui.jobs.export_generated`, never over a recording that is open or that the project was
        trained on (a dialog says which it refused)."""
        recs = self.session.synthetic
        if not recs:
            return
        start = os.path.join(self.settings.last_dir(), "synthetic.edf")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export synthetic recordings", start, "EDF+ (*.edf);;BDF+ (*.bdf);;CSV (*.csv)"
        )
        if not path:
            return
        out = _export_target(path, chosen)
        open_files = [f.path for f in self.session.files if f.path]
        try:
            reports = export_generated(recs, out, open_files, self.session.project_dir)
        except VQStudioError as error:
            show_exception(self, "Cannot export", error)
            return
        self.settings.set_last_dir(os.path.dirname(path))
        notes = [str(n) for r in reports for n in r.notes]
        message = f"Wrote {', '.join(os.path.basename(r.path) for r in reports)}"
        self.set_status(message)
        self.generation.log(message + ("; " + "; ".join(notes) if notes else ""))

    # --- jobs --------------------------------------------------------------------------------
    def _start_job(self, job: Job, track_in_session: bool = True) -> None:
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
        """Start-up work after the window is shown: load torch and list devices (worker thread)."""
        job = Job("devices", devices_job, self)
        job.finished.connect(self._on_devices)
        job.failed.connect(lambda error, _tb: self.device_label.setText(f"Device: unavailable ({error})"))
        self._start_job(job, track_in_session=False)

    def _on_devices(self, choices: list[tuple[str, str]]) -> None:
        self.devices = choices
        self.device_label.setText("Device: " + choices[0][1].removeprefix("auto (").removesuffix(")"))
        self.training.set_devices(choices)
        self.generation.set_devices(choices)

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
            target = self._new_project_target()
            if target is None:
                return
            project_dir, resume = target
        if not project_dir:
            return
        if resume:
            found = self._resume_recordings(project_dir)
            if found is None:
                self.set_status("Resume needs the recordings the project was trained on")
                return
            recordings = [rec for rec, _ in found]
            inputs = tuple(path for _, path in found if path)
        elif current is not None:
            recordings, inputs = [current.recording], ((current.path,) if current.path else ())
        else:
            return
        options = {**self.training.settings_kwargs(), "threads": gui_threads(), "inputs": inputs}
        job = Job("train", training_job(options, project_dir, resume, recordings), self, low_priority=True)
        self.training.attach(job, resume)
        job.finished.connect(lambda result: self._on_trained(project_dir, result))
        job.failed.connect(self._on_training_failed)
        self._start_job(job)
        self.tabs.setCurrentWidget(self.training)

    def _new_project_target(self) -> tuple[str, bool] | None:
        """(folder, resume) for Train. A folder that already holds a project is never trained
        over: the user resumes that project (opened as the project) or takes a fresh folder."""
        from vqstudio.project import Project

        project_dir = self.training.project_dir(resume=False)
        if not project_dir:
            return None
        if not Project.exists(project_dir):
            return project_dir, False
        fresh = new_project_folder(
            os.path.dirname(os.path.abspath(project_dir)), os.path.basename(project_dir)
        )
        choice = ask_action(
            self,
            "Folder already holds a project",
            f"{project_dir} already holds a project. Resume that project, or train a new one in "
            f"{os.path.basename(fresh)}?",
            ["Resume", "New project"],
        )
        if choice == "New project":
            self.training.use_folder(fresh)
            return fresh, False
        if choice == "Resume" and self.open_project(project_dir):
            return os.path.abspath(project_dir), True
        return None

    def _resume_recordings(self, project_dir: str) -> list[tuple[Recording, str]] | None:
        from vqstudio.project import Project

        try:
            sources = project_sources(Project.open(project_dir))
        except VQStudioError as error:
            show_exception(self, "Cannot resume", error)
            return None
        return self._project_recordings(sources)

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
        self._start_job(job)
        self.tabs.setCurrentWidget(self.generation)

    def _ask_long_run(self, job: Job, event: LongRun) -> None:
        """A job said it will run for long: the user decides whether it goes on."""
        message = f"{event.message[:1].upper()}{event.message[1:]}. Stopping keeps nothing of it."
        if ask_action(self, "This will take long", message, ["Go on"], cancel="Stop") is None and job.running:
            job.stop()
            self.set_status(f"Stopping {job.name}...")

    def _on_generated(self, result: tuple[list[Recording], list[str]]) -> None:
        recs, paths = result
        if recs:
            self.synthetic_paths = paths
            self.session.set_synthetic(recs)
            self.set_status(f"Generated {len(recs)} recording(s)")
        else:
            self.set_status("Generation stopped")

    def start_evaluation(self) -> None:
        project_dir = self.session.project_dir
        if project_dir is None or self.session.job is not None or not self.synthetic_paths:
            return
        choices = self.report.evaluation_options()
        job = Job("evaluate", evaluation_job(project_dir, list(self.synthetic_paths), **choices), self)
        self.report.attach(job)
        job.finished.connect(self.session.set_report)
        job.failed.connect(lambda error, tb: self._on_job_failed("Evaluation failed", error, tb))
        self._start_job(job)
        self.tabs.setCurrentWidget(self.report)

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
        applied = theme.apply_theme(app, choice) if app is not None else "light"
        self.actions[f"theme_{choice}"].setChecked(True)
        for widget in (self.viewer, self.training, self.generation, self.report):
            widget.set_theme(applied)

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

    def closeEvent(self, event: QCloseEvent) -> None:
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
                job.detach()  # loading torch or simulating the demo: quitting never waits for it
            else:
                job.stop_and_wait()  # finishes the step and writes the checkpoint, then joins
        self.jobs.clear()
        self.view_memory.save()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        super().closeEvent(event)
