"""Start-up stays lazy (issue 21, item 9): what runs before the window shows is Qt and the
welcome page; the viewer (pyqtgraph), the engine's heavy parts (scipy, the evaluation, projects,
training, torch) and the Train, Generate and Report panels wait until they are needed or the
window is up, and a panel built late shows what happened before it was built."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Nothing of these is imported before the window shows.
LATER_PACKAGES = {"pyqtgraph", "scipy", "torch", "matplotlib", "pyedflib", "safetensors", "mne"}
LATER_MODULES = (
    "ui.viewer",
    "ui.annotation_dock",
    "ui.view_memory",
    "ui.training_panel",
    "ui.generation_panel",
    "ui.report_panel",
    "ui.projects",
    "vqstudio.evaluation",
    "vqstudio.project",
    "vqstudio.training",
    "vqstudio.generation",
    "vqstudio.priors",
    "vqstudio.io",
    "vqstudio.data",
)


def test_nothing_heavy_is_imported_before_the_window_shows(tmp_path):
    report = tmp_path / "startup.json"
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=ROOT,
        VQSTUDIO_GUI_STARTUP_REPORT=str(report),
        VQSTUDIO_GUI_QUIT_AFTER_SHOW="1",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "ui.app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(report.read_text())
    assert "PySide6" in facts["packages"] and "ui.welcome" in facts["app_modules"]
    assert not LATER_PACKAGES & set(facts["packages"]), sorted(LATER_PACKAGES & set(facts["packages"]))
    early = [m for m in facts["app_modules"] if m.startswith(LATER_MODULES)]
    assert early == [], f"imported before the window showed: {early}"


def test_the_viewer_is_built_behind_the_welcome_page_once_the_window_is_up(window, qtbot):
    assert not window.signals.viewer_built and window.view_memory is None
    window.start_background()  # what the app does once its window is shown
    qtbot.waitUntil(lambda: window.signals.viewer_built, timeout=10_000)
    assert window.signals_stack.currentWidget() is window.welcome  # still the welcome page
    assert window.view_memory is not None


def test_panels_are_built_when_first_needed(window, recording):
    assert [window.panels.built(n) for n in ("train", "generate", "report")] == [None, None, None]
    window.open_recording(recording, "r")  # the open recording reaches no unbuilt panel
    window.actions["theme_dark"].trigger()
    assert window.panels.built("train") is None
    window.actions["tab_train"].trigger()  # shown: built now, in its tab, up to date
    panel = window.panels.built("train")
    assert panel is not None and window.tabs.currentWidget() is panel and window.tabs.indexOf(panel) == 1
    assert panel.checked_channels() == ["EEG1", "EEG2", "EEG3", "ECG"]
    assert window.panels.built("generate") is None and window.panels.built("report") is None
    generation = window.generation  # asked for by code: built too, without becoming the tab shown
    assert window.tabs.currentWidget() is panel and window.tabs.indexOf(generation) == 2
    assert generation.real_viewer.recording is not None
    assert generation.psd_view.backgroundBrush().color().name() == "#1e1f22"  # the dark theme
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Signals",
        "Train",
        "Generate",
        "Report",
    ]
    window.actions["theme_light"].trigger()


def test_warm_up_imports_what_the_panels_need(qtbot):
    import threading

    from ui.jobs import WARM_UP_MODULES, warm_up_job
    from vqstudio.events import run_to_end

    assert run_to_end(warm_up_job(threading.Event())) == list(WARM_UP_MODULES)
    assert all(name in sys.modules for name in WARM_UP_MODULES)
