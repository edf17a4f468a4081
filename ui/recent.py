"""Recent files and recent projects: kept in the settings, listed in the File menu and on the
welcome page, each opened in one click. A path that no longer opens is dropped from its list."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtWidgets import QMenu

from ui.settings import Settings
from ui.welcome import WelcomePage

__all__ = ["RecentLists"]


class RecentLists:
    """Keeps File > Recent files / Recent projects and the welcome page's lists in step with the
    settings; choosing an entry calls `open_file(path)` or `open_project(path)`."""

    def __init__(
        self,
        settings: Settings,
        menus: tuple[QMenu, QMenu],
        welcome: WelcomePage,
        open_file: Callable[[str], object],
        open_project: Callable[[str], object],
    ) -> None:
        self.settings = settings
        self.files_menu, self.projects_menu = menus
        self.welcome = welcome
        self._open_file, self._open_project = open_file, open_project
        welcome.recent_chosen.connect(open_file)
        welcome.recent_project_chosen.connect(open_project)
        self.refresh()

    def add_file(self, path: str) -> None:
        self.settings.add_recent_file(os.path.abspath(path))
        self.refresh()

    def forget_file(self, path: str) -> None:
        self.settings.remove_recent_file(path)
        self.refresh()

    def add_project(self, path: str) -> None:
        self.settings.add_recent_project(os.path.abspath(path))
        self.refresh()

    def forget_project(self, path: str) -> None:
        self.settings.remove_recent_project(path)
        self.refresh()

    def refresh(self) -> None:
        """Lists what the settings hold now, newest first."""
        files, projects = self.settings.recent_files(), self.settings.recent_projects()
        _fill(self.files_menu, files, self._open_file)
        _fill(self.projects_menu, projects, self._open_project)
        self.welcome.set_recent(files)
        self.welcome.set_recent_projects(projects)


def _fill(menu: QMenu, paths: list[str], open_path: Callable[[str], object]) -> None:
    """One action per path (its name; the whole path as tooltip); the menu greyed when empty."""
    menu.clear()
    menu.setToolTipsVisible(True)
    for path in paths:
        action = menu.addAction(os.path.basename(path) or path)
        action.setToolTip(path)
        action.triggered.connect(lambda _=False, p=path: open_path(p))
    menu.setEnabled(bool(paths))
