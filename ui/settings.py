"""Settings kept between sessions (QSettings): recent files and projects, window layout, theme,
the folder new projects go in, and what the viewer remembers (per file and display-wide).

One place names every key, so a test can isolate them all by pointing QSettings at a temp dir.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

__all__ = ["MAX_FILE_VIEWS", "MAX_RECENT", "PROJECTS_FOLDER_NAME", "Settings", "default_projects_folder"]

MAX_RECENT = 10
MAX_FILE_VIEWS = 200  # viewer-state entries kept (one per key of a file: sha256, path); oldest first out
ORGANIZATION = "VQStudio"
APPLICATION = "vqstudio"
PROJECTS_FOLDER_NAME = "VQ Studio"


def default_projects_folder() -> str:
    """Where new projects go unless the user chose elsewhere: "VQ Studio" in the user's documents
    (one visible place, not beside each recording nor hidden in the app's data folder)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return os.path.join(documents or os.path.expanduser("~"), PROJECTS_FOLDER_NAME)


class Settings:
    """Typed access to the app's QSettings (INI format, user scope)."""

    def __init__(self) -> None:
        self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    @property
    def path(self) -> str:
        return self._q.fileName()

    def _list(self, key: str) -> list[str]:
        value = self._q.value(key, [])
        if value is None:
            return []
        if isinstance(value, str):  # QSettings returns a bare string for a one-item list
            return [value] if value else []
        return [str(v) for v in value]

    def _push(self, key: str, item: str) -> list[str]:
        items = [item, *[v for v in self._list(key) if v != item]][:MAX_RECENT]
        self._q.setValue(key, items)
        return items

    # Recent files and projects, newest first.
    def recent_files(self) -> list[str]:
        return self._list("recent/files")

    def add_recent_file(self, path: str) -> list[str]:
        return self._push("recent/files", path)

    def remove_recent_file(self, path: str) -> None:
        self._q.setValue("recent/files", [p for p in self.recent_files() if p != path])

    def clear_recent_files(self) -> None:
        self._q.setValue("recent/files", [])

    def recent_projects(self) -> list[str]:
        return self._list("recent/projects")

    def add_recent_project(self, path: str) -> list[str]:
        return self._push("recent/projects", path)

    def remove_recent_project(self, path: str) -> None:
        self._q.setValue("recent/projects", [p for p in self.recent_projects() if p != path])

    # Window layout.
    def geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def state(self) -> QByteArray | None:
        value = self._q.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    # Preferences.
    def theme(self) -> str:
        """'system' (follow the desktop), 'light' or 'dark'."""
        value = str(self._q.value("view/theme", "system"))
        return value if value in ("system", "light", "dark") else "system"

    def set_theme(self, theme: str) -> None:
        self._q.setValue("view/theme", theme)

    def last_dir(self) -> str:
        return str(self._q.value("paths/last_dir", ""))

    def set_last_dir(self, path: str) -> None:
        self._q.setValue("paths/last_dir", path)

    def projects_folder(self) -> str:
        """The folder new projects are made in (File > Projects folder... changes it)."""
        return str(self._q.value("paths/projects", "") or default_projects_folder())

    def set_projects_folder(self, path: str) -> None:
        """Remembers `path` as the projects folder; an empty path restores the default."""
        self._q.setValue("paths/projects", path)

    def page_length(self) -> float:
        try:
            return float(self._q.value("view/page_length", 10.0))
        except (TypeError, ValueError):
            return 10.0

    def set_page_length(self, seconds: float) -> None:
        self._q.setValue("view/page_length", float(seconds))

    def _json(self, key: str) -> Any:
        """The JSON value stored at `key`, or None when absent or unreadable."""
        try:
            return json.loads(str(self._q.value(key, "") or "null"))
        except ValueError:
            return None

    # What the viewer remembers: per file (see ui.view_memory) and for every file.
    def file_view(self, keys: Sequence[str]) -> dict[str, Any] | None:
        """The viewer state stored for a file under the first of `keys` that has one, or None."""
        views = self._json("view/files")
        if not isinstance(views, dict):
            return None
        return next((views[k] for k in keys if isinstance(views.get(k), dict)), None)

    def set_file_view(self, keys: Sequence[str], view: dict[str, Any] | None) -> None:
        """Stores `view` under each of `keys` as the newest entry (None forgets them); keeps the
        newest MAX_FILE_VIEWS entries."""
        views = self._json("view/files")
        views = {k: v for k, v in views.items() if k not in keys} if isinstance(views, dict) else {}
        if view is not None:
            views.update(dict.fromkeys(keys, view))
        items = list(views.items())[-MAX_FILE_VIEWS:]  # dicts keep insertion order: oldest first
        self._q.setValue("view/files", json.dumps(dict(items)))

    def display_prefs(self) -> dict[str, Any]:
        """The viewer's display choices (filters, channels per page, scales); {} when none."""
        prefs = self._json("view/display")
        return prefs if isinstance(prefs, dict) else {}

    def set_display_prefs(self, prefs: dict[str, Any]) -> None:
        self._q.setValue("view/display", json.dumps(prefs))

    def sync(self) -> None:
        self._q.sync()
