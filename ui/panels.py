"""The Train, Generate and Report tabs: built when first needed, and what each shows of the session.

None of the three is visible when the window first shows, and together they cost more than the
rest of the window (their imports reach the engine's evaluation and scipy), so the window adds
them through `ui.deferred_tabs.DeferredTabs` with `build_panel` as the factory. `update_panel`
is the one place that says which panel follows which change: the window calls it for each built
panel when the session, the devices, the theme or the projects folder change, and with the topic
`ALL` when a panel is built late, which replays every topic in the order they happen live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ui.mainwindow import MainWindow

__all__ = ["ALL", "PANELS", "build_panel", "update_panel"]

PANELS = {"train": "Train", "generate": "Generate", "report": "Report"}  # name -> tab title
ALL = "all"  # the topic that replays every other one (a panel built late)
# Topics beyond the session's own ('files', 'project', 'synthetic', 'report').
DEVICES, THEME, PROJECTS_ROOT = "devices", "theme", "projects_root"


def build_panel(name: str, actions: dict[str, QAction]) -> QWidget:
    """A new panel: its module is imported here, when the panel is first needed."""
    if name == "train":
        from ui.training_panel import TrainingPanel

        return TrainingPanel(actions)
    if name == "generate":
        from ui.generation_panel import GenerationPanel

        return GenerationPanel(actions)
    if name == "report":
        from ui.report_panel import ReportPanel

        return ReportPanel(actions)
    raise ValueError(f"no panel named {name}")


def update_panel(name: str, panel: Any, window: MainWindow, topic: str) -> None:
    """Shows on panel `name` what changed (`topic`), or everything (`ALL`)."""
    {"train": _training, "generate": _generation, "report": _report}[name](panel, window, topic)


def _wants(topic: str, *topics: str) -> bool:
    return topic == ALL or topic in topics


def _training(panel: Any, window: MainWindow, topic: str) -> None:
    session, current = window.session, window.session.current_file
    if _wants(topic, THEME):
        panel.set_theme(window.theme_applied)
    if _wants(topic, PROJECTS_ROOT):
        panel.set_projects_root(window.settings.projects_folder())
    if _wants(topic, DEVICES) and window.devices:
        panel.set_devices(window.devices)
    if _wants(topic, "files"):
        panel.set_recording(current.recording if current else None, current.bad_channels if current else ())
    if topic == "project" or (topic == ALL and session.project_dir):
        panel.set_project(session.project_dir)


def _generation(panel: Any, window: MainWindow, topic: str) -> None:
    session, current = window.session, window.session.current_file
    if _wants(topic, THEME):
        panel.set_theme(window.theme_applied)
    if _wants(topic, DEVICES) and window.devices:
        panel.set_devices(window.devices)
    if _wants(topic, "files"):
        panel.set_real(current.recording if current else None)
    if topic == "project" or (topic == ALL and session.project_dir):
        panel.set_project(session.project_dir)
    if topic == "synthetic" or (topic == ALL and session.synthetic):
        panel.set_synthetic(session.synthetic)


def _report(panel: Any, window: MainWindow, topic: str) -> None:
    session = window.session
    if _wants(topic, THEME):
        panel.set_theme(window.theme_applied)
    if topic == "project" or (topic == ALL and session.project_dir):
        panel.set_project(session.project_dir)  # shows the project's saved report, if any
    if topic == "report" or (topic == ALL and session.report is not None):
        panel.set_report(session.report)
