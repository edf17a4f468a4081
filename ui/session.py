"""The app's state without Qt: open recordings, the project, generated recordings, the report.

The main window holds one `Session`, calls its methods from its slots, and listens for what
changed (`subscribe`). Which action is possible when is one table (`ACTION_NEEDS`): each
action lists what it needs, and `blocked(action)` says why it cannot run now, or None.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vqstudio.recording import Recording

__all__ = ["ACTION_NEEDS", "OpenFile", "Session"]

# What each action needs of the session.
ACTION_NEEDS: dict[str, tuple[str, ...]] = {
    "open": (),
    "open_demo": (),
    "close": ("recording",),
    "open_project": (),
    "export_synthetic": ("synthetic",),
    "train": ("recording", "idle"),
    # Resume re-reads the project's own source files when no recording is open.
    "resume": ("a_project", "idle"),
    "stop": ("running",),
    "generate": ("a_project", "idle"),
    "evaluate": ("a_project", "synthetic", "idle"),
}

_CONDITION_REASON = {
    "recording": "Open a recording first",
    "a_project": "Train or open a project first",
    "synthetic": "Generate recordings first",
    "idle": "Wait for the running job to finish (or stop it)",
    "running": "No job is running",
}


@dataclass
class OpenFile:
    """A recording open in the app, with the title shown for it.

    `bad_channels` holds the names (labels without padding, as `Channel.name`) the user marked
    bad: the viewer greys them and training leaves them out by default.
    """

    recording: Recording
    title: str
    path: str | None = None
    bad_channels: set[str] = field(default_factory=set)


class Session:
    """Plain state of one app window; tells subscribers the topic that changed."""

    def __init__(self) -> None:
        self.files: list[OpenFile] = []
        self.current = -1
        self.project_dir: str | None = None
        self.synthetic: list[Recording] = []
        self.synthetic_paths: list[str] = []  # where the generated recordings are saved (Evaluate reads them)
        self.report: object | None = None
        self.job: str | None = None  # "train", "generate", "evaluate", or None
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """`listener(topic)` runs after each change: 'files', 'project', 'synthetic', 'report', 'job'."""
        self._listeners.append(listener)

    def _changed(self, topic: str) -> None:
        for listener in self._listeners:
            listener(topic)

    # Recordings.
    @property
    def recording(self) -> Recording | None:
        return self.files[self.current].recording if 0 <= self.current < len(self.files) else None

    @property
    def current_file(self) -> OpenFile | None:
        return self.files[self.current] if 0 <= self.current < len(self.files) else None

    def add_recording(self, recording: Recording, title: str = "", path: str | None = None) -> int:
        """Adds and selects a recording; a path already open is replaced, not duplicated."""
        if not title:
            title = (
                os.path.basename(path)
                if path
                else (recording.source.name if recording.source else "recording")
            )
        for i, f in enumerate(self.files):
            if path and f.path and os.path.abspath(f.path) == os.path.abspath(path):
                self.files[i] = OpenFile(recording, title, path, f.bad_channels)  # same file, same bad set
                self.current = i
                self._changed("files")
                return i
        self.files.append(OpenFile(recording, title, path))
        self.current = len(self.files) - 1
        self._changed("files")
        return self.current

    def titles(self) -> list[str]:
        """The titles to list, one per open file; where two share a title, each gets its folder
        ("S001R01.edf — subject1/") so the user can tell them apart."""
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.title] = counts.get(f.title, 0) + 1
        out = []
        for f in self.files:
            folder = os.path.basename(os.path.dirname(os.path.abspath(f.path))) if f.path else ""
            out.append(f"{f.title} — {folder}/" if counts[f.title] > 1 and folder else f.title)
        return out

    def set_bad_channels(self, names: Iterable[str], index: int | None = None) -> None:
        """Marks exactly `names` bad in file `index` (default: the current file); notifies 'files'."""
        index = self.current if index is None else index
        if not 0 <= index < len(self.files):
            return
        names = set(names)
        if names != self.files[index].bad_channels:
            self.files[index].bad_channels = names
            self._changed("files")

    def select(self, index: int) -> None:
        if 0 <= index < len(self.files) and index != self.current:
            self.current = index
            self._changed("files")

    def close_current(self) -> None:
        if self.current_file is None:
            return
        del self.files[self.current]
        self.current = min(self.current, len(self.files) - 1)
        self._changed("files")

    # Project, generated recordings, report, job.
    def set_project(self, project_dir: str | None) -> None:
        """The open project; another project's report is forgotten (its panel shows the new
        project's saved one)."""
        if project_dir != self.project_dir:
            self.report = None
        self.project_dir = project_dir
        self._changed("project")

    def set_synthetic(self, recordings: list[Recording], paths: Iterable[str] = ()) -> None:
        """The generated recordings shown, and the files they are saved in (none: unsaved)."""
        self.synthetic = list(recordings)
        self.synthetic_paths = list(paths)
        self._changed("synthetic")

    def set_report(self, report: object | None) -> None:
        self.report = report
        self._changed("report")

    def set_job(self, job: str | None) -> None:
        self.job = job
        self._changed("job")

    # What is possible now.
    def _holds(self, condition: str) -> bool:
        return {
            "recording": self.recording is not None,
            "a_project": self.project_dir is not None,
            "synthetic": bool(self.synthetic),
            "idle": self.job is None,
            "running": self.job is not None,
        }[condition]

    def blocked(self, action: str) -> str | None:
        """Why `action` cannot run now (a tooltip), or None when it can."""
        for need in ACTION_NEEDS.get(action, ()):
            if not self._holds(need):
                return _CONDITION_REASON[need]
        return None
