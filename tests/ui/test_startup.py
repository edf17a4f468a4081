"""Start-up: the window is shown before torch is imported; the engine never loads Qt."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=ROOT)
    env.update(extra)
    return env


def test_window_appears_before_torch_is_imported(tmp_path):
    report = tmp_path / "startup.json"
    settings = tmp_path / "settings"
    files = []
    try:
        from tests.ui.conftest import make_recording
        from vqstudio.io import write_recording

        files.append(str(tmp_path / "given.edf"))
        write_recording(make_recording(channels=2, seconds=10.0), files[0])
    except ImportError:
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "ui.app", *files],
        cwd=ROOT,
        env=_env(
            VQSTUDIO_GUI_STARTUP_REPORT=str(report),
            VQSTUDIO_GUI_QUIT_AFTER_SHOW="1",
            XDG_CONFIG_HOME=str(settings),
            HOME=str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["torch_imported"] is False
    assert data["opened"] == [os.path.basename(p) for p in files]  # `vqstudio-gui FILE` opens it
    # About a second on a quiet machine; the bound leaves room for a busy 2-core CI box.
    assert data["shown_after_s"] < 15


def test_engine_imports_no_qt():
    code = (
        "import sys, vqstudio, vqstudio.cli, vqstudio.recording, vqstudio.events;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'ui')];"
        "assert not bad, bad; assert 'torch' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_version_flag():
    proc = subprocess.run(
        [sys.executable, "-m", "ui.app", "--version"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("vqstudio-gui ")
