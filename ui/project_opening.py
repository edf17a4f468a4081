"""Opening a project in the window (File > Open project, a recent project, a dropped folder)
and what an opened project brings back: the recordings it was trained on (found by sha256, the
user asked where a moved one went), and its latest generated recordings in the Generate tab (the
Report tab shows its saved report itself). Also File > Projects folder...

The engine's project code is imported when a project is opened, not when the window starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from ui.errors import ask_action, show_error, show_exception
from vqstudio.errors import VQStudioError
from vqstudio.recording import Recording

if TYPE_CHECKING:
    from ui.mainwindow import MainWindow
    from ui.projects import ProjectSource

__all__ = [
    "choose_and_open",
    "choose_projects_folder",
    "new_project_target",
    "open_project",
    "project_recordings",
    "resume_recordings",
    "show_latest_samples",
]


def choose_and_open(window: MainWindow) -> None:
    """File > Open project: a folder dialog, starting in the projects folder."""
    start = window.settings.projects_folder()
    path = QFileDialog.getExistingDirectory(
        window, "Open project folder", start if os.path.isdir(start) else window.settings.last_dir()
    )
    if path:
        open_project(window, path)


def open_project(window: MainWindow, path: str) -> bool:
    """Opens the project in `path` with the recordings it was trained on, so the Train tab shows
    that project alone and Resume works at once; the Generate tab shows its latest generated
    recordings (the window does that on the session's 'project' change). A folder that is not
    a project says why and leaves the recent projects."""
    from vqstudio.project import Project

    try:
        project = Project.open(path)
    except VQStudioError as error:
        show_exception(window, "Cannot open project", error)
        if not os.path.isdir(path):
            window.recent.forget_project(path)
        return False
    from ui.projects import project_sources

    found = project_recordings(window, project_sources(project))
    if found is None:
        window.set_status(f"Opened project {project.path} without its recordings (Resume needs them)")
        found = []
    session = window.session
    for recording, source_path in found:
        if not any(f.recording is recording for f in session.files):
            session.add_recording(recording, path=source_path or None)
    if found:  # the project's first recording is the one shown (already open ones too)
        first = found[0][0]
        session.select(next(i for i, f in enumerate(session.files) if f.recording is first))
    session.set_project(project.path)
    if found:
        window.set_status(f"Opened project {project.path} with {len(found)} recording(s)")
    return True


def project_recordings(
    window: MainWindow, sources: list[ProjectSource]
) -> list[tuple[Recording, str]] | None:
    """The project's recordings (see `ui.projects.find_sources`); None when one is missing and
    the user did not say where it is."""
    from ui.projects import find_sources

    def ask(source: ProjectSource, problem: str) -> str | None:
        from vqstudio.io import FILE_FILTER

        if not source.path:
            show_error(
                window,
                "Recording not found",
                "The project was trained on a recording held in memory (not a file): open that "
                "recording, then resume.",
            )
            return None
        window.set_status(problem)
        folder = os.path.dirname(source.path)
        chosen, _ = QFileDialog.getOpenFileName(
            window,
            f"Where is {source.name}? (it moved or changed)",
            folder if os.path.isdir(folder) else window.settings.last_dir(),
            FILE_FILTER,
        )
        return chosen or None

    return find_sources(sources, [f.recording for f in window.session.files], ask)


def resume_recordings(window: MainWindow, project_dir: str) -> list[tuple[Recording, str]] | None:
    """The recordings a Resume of `project_dir` trains on, or None (the user was told why)."""
    from ui.projects import project_sources
    from vqstudio.project import Project

    try:
        sources = project_sources(Project.open(project_dir))
    except VQStudioError as error:
        show_exception(window, "Cannot resume", error)
        return None
    return project_recordings(window, sources)


def show_latest_samples(window: MainWindow, project_dir: str | None) -> None:
    """Shows the project's newest batch of generated recordings (none: the Generate tab's
    generated side is emptied, as another project's recordings are not this one's)."""
    from ui.samples import read_latest

    latest = read_latest(project_dir) if project_dir else None
    if latest is None or not latest.recordings:
        window.session.set_synthetic([])
        return
    window.session.set_synthetic(latest.recordings, latest.paths)
    said = f"Showing the {len(latest.recordings)} latest generated recording(s) of the project"
    if latest.left_out:
        said += f" ({latest.left_out} more of that batch left out)"
    if latest.problems:
        said += f"; {len(latest.problems)} could not be read ({latest.problems[0]})"
    window.generation.log(said)


def choose_projects_folder(window: MainWindow) -> None:
    """Changes the folder new projects go in (kept in the settings)."""
    path = QFileDialog.getExistingDirectory(
        window, "Folder for new projects", window.settings.projects_folder()
    )
    if path:
        window.settings.set_projects_folder(path)
        window.panels_changed("projects_root")
        window.set_status(f"New projects go in {path}")


def new_project_target(window: MainWindow) -> tuple[str, bool] | None:
    """(folder, resume) for Train. A folder that already holds a project is never trained over:
    the user resumes that project (opened as the project) or takes a fresh folder."""
    from ui.projects import new_project_folder
    from vqstudio.project import Project

    project_dir = window.training.project_dir(resume=False)
    if not project_dir:
        return None
    if not Project.exists(project_dir):
        return project_dir, False
    fresh = new_project_folder(os.path.dirname(os.path.abspath(project_dir)), os.path.basename(project_dir))
    choice = ask_action(
        window,
        "Folder already holds a project",
        f"{project_dir} already holds a project. Resume that project, or train a new one in "
        f"{os.path.basename(fresh)}?",
        ["Resume", "New project"],
    )
    if choice == "New project":
        window.training.use_folder(fresh)
        return fresh, False
    if choice == "Resume" and open_project(window, project_dir):
        return os.path.abspath(project_dir), True
    return None
