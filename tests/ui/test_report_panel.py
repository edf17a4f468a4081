"""The Report tab: every metric beside its references, tooltips that define each metric, an
"n/a" that says why, and reference recordings added through a file dialog."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from ui.jobs import evaluation_job
from ui.report_panel import ReportPanel, SavedReport
from vqstudio.evaluation import evaluate_windows


@pytest.fixture(scope="module")
def assessment_json() -> dict:
    """A report with the held-out and surrogate references but no reconstruction (no tokenizer)."""
    rng = np.random.default_rng(0)
    real = rng.standard_normal((12, 2, 128)).astype(np.float32)
    synthetic = (2.0 * rng.standard_normal((12, 2, 128))).astype(np.float32)
    train = rng.standard_normal((30, 2, 128)).astype(np.float32)
    report = evaluate_windows(real, synthetic, train, 64.0, ["A", "B"])
    reference = evaluate_windows(real[:6], real[6:], train, 64.0, ["A", "B"])
    data = report.to_dict()
    data["references"] = {"held_out_half": reference.to_dict(), "surrogate": reference.to_dict()}
    data["reference_notes"] = {"reconstruction": "the project has no trained tokenizer yet"}
    return data


@pytest.fixture
def panel(qtbot) -> ReportPanel:
    widget = ReportPanel({"evaluate": QAction("Evaluate")})
    qtbot.addWidget(widget)
    return widget


def _row(panel: ReportPanel, title: str) -> int:
    titles = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    return next(i for i, t in enumerate(titles) if t.startswith(title))  # the PSD title ends with its band


def test_every_metric_sits_beside_its_references(panel, assessment_json) -> None:
    panel.set_report(SavedReport(assessment_json))
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    assert headers[1:5] == ["synthetic", "held-out real", "reconstruction", "surrogate"]
    cnn = _row(panel, "Real-vs-synthetic accuracy, 1D CNN")
    tip = panel.table.item(cnn, 0).toolTip()
    assert "50 % = indistinguishable" in tip and "blocked" in tip
    assert "%" in panel.table.item(cnn, 1).text() and "%" in panel.table.item(cnn, 2).text()
    psd = _row(panel, "PSD log-spectral distance")
    assert "lower is better" in panel.table.item(psd, 0).toolTip().lower()
    assert panel.table.item(psd, 3).text() == "n/a"
    assert panel.table.item(psd, 3).toolTip() == "n/a: the project has no trained tokenizer yet"
    tstr = _row(panel, "Train-on-synthetic/test-on-real accuracy")
    assert "labels" in panel.table.item(tstr, 1).toolTip()
    assert _row(panel, "Windows left out: flat or saturated") >= 0
    assert "no sign of copying" in panel.title.text()


def _assess_arguments(panel: ReportPanel, monkeypatch, tmp_path) -> dict:
    """The keyword arguments `assess` gets from the evaluation job (`ui.jobs.evaluation_job`) made
    with what the panel holds, as the window makes it (a fake `assess` that runs nothing)."""
    seen: dict = {}

    def fake_assess(project_dir, synthetic_paths, **kwargs):
        seen.update(kwargs)
        return None
        yield  # a generator, like the real job

    monkeypatch.setattr("vqstudio.evaluation.assessment.assess", fake_assess)
    job = evaluation_job(str(tmp_path), ["synth.edf"], **panel.evaluation_options())
    for _ in job(threading.Event()):
        pass
    return seen


def test_reference_recordings_are_added_by_a_dialog_and_given_to_the_evaluation(
    panel, monkeypatch, tmp_path
) -> None:
    chosen = [str(tmp_path / "a.edf"), str(tmp_path / "b.edf")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (chosen, ""))
    assert panel.add_real.text() == "Add reference recordings..."
    panel.add_real.click()
    assert panel.real_paths == chosen and "a.edf, b.edf" in panel.real_label.text()
    seen = _assess_arguments(panel, monkeypatch, tmp_path)
    assert seen["real_paths"] == chosen and seen["references"] is True
    panel.clear_real.click()
    assert panel.real_paths == [] and "held-out split" in panel.real_label.text()


def test_the_psd_band_is_off_by_default_and_given_to_the_evaluation(panel, monkeypatch, tmp_path) -> None:
    assert not panel.band_check.isChecked() and not panel.band_lo.isEnabled()
    assert _assess_arguments(panel, monkeypatch, tmp_path)["band"] is None  # 0.5 Hz to Nyquist
    panel.band_check.setChecked(True)
    assert panel.band_lo.isEnabled() and panel.band_hi.isEnabled()
    panel.band_lo.setValue(1.0)
    panel.band_hi.setValue(40.0)
    assert _assess_arguments(panel, monkeypatch, tmp_path)["band"] == (1.0, 40.0)
    panel.band_lo.setValue(50.0)  # the top follows, so the band stays one the engine accepts
    assert panel.band_hi.value() > 50.0
