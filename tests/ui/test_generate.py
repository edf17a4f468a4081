"""Generate from a trained project, see it beside the real recording, export EDF, evaluate."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import make_recording, save_screenshot

pytest.importorskip("vqstudio.generation.sampling")
io = pytest.importorskip("vqstudio.io")
pyedflib = pytest.importorskip("pyedflib")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny project trained by the engine itself (the GUI's training has its own tests)."""
    from vqstudio.events import run_to_end
    from vqstudio.training import TrainSettings, train

    folder = tmp_path_factory.mktemp("trained")
    source = str(folder / "real.edf")
    io.write_recording(make_recording(channels=3, seconds=60.0, rate=64.0), source)
    settings = TrainSettings(
        inputs=(source,),
        window_s=2.0,
        preset="small",
        # Enough steps that the samples are not one repeated code (a flat line evaluate leaves out).
        tokenizer_steps=40,
        prior_steps=40,
        val_every=20,
        batch_size=8,
        device="cpu",
        threads=1,
    )
    project = str(folder / "project")
    run_to_end(train(settings, project, threading.Event()))
    return project, source


def test_generate_export_and_evaluate(window, qtbot, trained, tmp_path, monkeypatch, dialogs):
    project, source = trained
    assert window.load_path(source)
    assert window.open_project(project)
    assert window.actions["generate"].isEnabled() and not window.actions["export_synthetic"].isEnabled()
    panel = window.generation
    panel.seconds.setValue(6.0)
    panel.count.setValue(2)
    window.actions["generate"].trigger()
    job = window.jobs["generate"]
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    assert not [d for d in dialogs if d[0] in ("warning", "box")], dialogs
    # Shown beside the real one, paging together, with the PSD overlay.
    assert len(window.session.synthetic) == 2
    assert panel.synthetic_viewer.shown_channels == ["EEG1", "EEG2", "ECG"]
    assert panel.real_viewer.shown_channels == ["EEG1", "EEG2", "ECG"]
    assert panel.synthetic_viewer.recording.duration == pytest.approx(6.0)
    panel.page.setCurrentIndex(panel.page.findData(2.0))
    panel.real_viewer.set_page(2.0)
    assert panel.synthetic_viewer.page_length == 2.0
    assert panel.synthetic_viewer.page_start == pytest.approx(panel.real_viewer.page_start)
    f_real, p_real = panel.psd_real.getData()
    f_syn, p_syn = panel.psd_synth.getData()
    assert len(f_real) > 5 and len(f_syn) > 5 and np.all(np.isfinite(p_syn)) and np.all(np.isfinite(p_real))
    save_screenshot(window, "generated")
    assert len(window.synthetic_paths) == 2 and all(os.path.isfile(p) for p in window.synthetic_paths)

    # Export through the save dialog: two recordings -> NAME_1.edf, NAME_2.edf.
    target = str(tmp_path / "synth.edf")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (target, "EDF+ (*.edf)"))
    assert window.actions["export_synthetic"].isEnabled()
    window.actions["export_synthetic"].trigger()
    for i in (1, 2):
        path = str(tmp_path / f"synth_{i}.edf")
        assert os.path.isfile(path)
        with pyedflib.EdfReader(path) as f:
            assert [label.strip() for label in f.getSignalLabels()] == ["EEG1", "EEG2", "ECG"]
            assert f.getSampleFrequency(0) == 64.0
            texts = list(f.readAnnotations()[2])
        assert any("synthetic" in t.lower() for t in texts), texts
    assert "synth_1.edf" in window.status.text()

    # Never over a recording that is open: NAME_1.edf would be the open file; nothing is written.
    opened = tmp_path / "open_1.edf"
    shutil.copy(source, opened)
    assert window.load_path(str(opened))
    before = opened.read_bytes()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "open.edf"), ""))
    window.actions["export_synthetic"].trigger()
    assert opened.read_bytes() == before and not (tmp_path / "open_2.edf").exists()
    assert any("open in VQ Studio" in str(d) for d in dialogs), dialogs

    if not window.actions["evaluate"].isEnabled():
        pytest.skip(window.actions["evaluate"].toolTip())
    window.actions["evaluate"].trigger()
    job = window.jobs["evaluate"]
    with qtbot.waitSignal(job.finished, timeout=120_000):
        pass
    report = window.report
    assert report.table.rowCount() >= 5
    assert report.table.item(0, 1).text() not in ("", None)
    assert report.plot_paths and all(p.endswith(".png") and os.path.isfile(p) for p in report.plot_paths)
    assert os.path.isfile(os.path.join(project, "reports", "report.json"))
    save_screenshot(window, "report")
    rows = report.table.rowCount()
    # Reopening the project shows the saved report.
    report.table.setRowCount(0)
    report.set_plots([])
    window.open_project(project)
    assert report.table.rowCount() == rows and report.plot_paths
    assert "saved report" in report.title.text()


def test_a_long_generation_asks_and_stop_keeps_nothing(window, qtbot, trained, monkeypatch, dialogs):
    """The first part of a generation says it will take long: the app asks; the box's default
    answer here (none clicked) is Stop, and nothing is kept."""
    from vqstudio.generation import cost

    monkeypatch.setattr(cost, "LONG_REQUEST_S", 0.0)
    project, _ = trained
    assert window.open_project(project)
    window.generation.seconds.setValue(60.0)
    window.actions["generate"].trigger()
    job = window.jobs["generate"]
    with qtbot.waitSignal(job.finished, timeout=120_000) as finished:
        pass
    asked = [d for d in dialogs if d[1] == "This will take long"]
    assert asked and "will take about" in asked[0][2]
    assert finished.args[0][0] == [] and "stopped" in window.status.text()


def test_a_project_another_process_holds_is_named(window, qtbot, trained, dialogs):
    """A command-line run holding the project: the app's generation says which process."""
    import subprocess
    import sys

    project, _ = trained
    code = (
        "import sys, time; from vqstudio.project.lock import ProjectLock; "
        "ProjectLock(sys.argv[1], 'vqstudio train').acquire(); print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, project], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert window.open_project(project)
        window.actions["generate"].trigger()
        job = window.jobs["generate"]
        with qtbot.waitSignal(job.failed, timeout=60_000):
            pass
    finally:
        holder.kill()
        holder.wait()
    said = [d for d in dialogs if d[0] in ("box", "critical", "warning")]
    assert any(f"in use by process {holder.pid}" in d[2] for d in said), said
