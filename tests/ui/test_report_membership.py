"""The Report tab shows the membership-inference figures: one row per attack with its AUC and
interval, TPR at 1 % FPR and per-file AUC (or why there is none), and a paragraph saying what
they mean and which attack was strongest; a report saved before they existed says so."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QAction

from ui.report_panel import ReportPanel, SavedReport
from vqstudio.evaluation import evaluate_windows
from vqstudio.evaluation.membership import Candidates, distance_scorer, domias_scorer, membership_inference


@pytest.fixture(scope="module")
def assessment_json() -> dict:
    """A report whose synthetic windows copy the training windows, with the membership figures
    the attacks compute on them (per file not judged)."""
    rng = np.random.default_rng(0)
    train = rng.standard_normal((30, 2, 128)).astype(np.float32)
    real = rng.standard_normal((30, 2, 128)).astype(np.float32)
    synthetic = train + 0.01 * rng.standard_normal(train.shape).astype(np.float32)
    data = evaluate_windows(real[:12], synthetic, train, 64.0, ["A", "B"]).to_dict()
    attacks = {
        "domias": domias_scorer(real[12:], synthetic, 64.0),
        "distance": distance_scorer(list(synthetic)),
    }
    note = "not defined for this project: each recording gave training and held-out windows"
    data["membership"] = membership_inference(
        attacks,
        Candidates(train[:18], real[:18]),
        None,
        file_note=note,
        unavailable={"prior": "the project has no trained prior yet"},
    )
    return data


@pytest.fixture
def panel(qtbot) -> ReportPanel:
    widget = ReportPanel({"evaluate": QAction("Evaluate")})
    qtbot.addWidget(widget)
    return widget


def test_the_report_shows_each_attack_and_what_it_means(panel, assessment_json) -> None:
    panel.set_report(SavedReport(assessment_json))
    table = panel.privacy_table
    assert not table.isHidden()
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["Attack", "AUC per window [95 %]", "TPR at 1 % FPR", "AUC per file [95 %]"]
    titles = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert titles == [
        "DOMIAS (synthetic density / real density)",
        "Distance to the nearest synthetic window",
        "Prior loss on the window's codes",
    ]
    distance = assessment_json["membership"]["attacks"]["distance"]["window"]
    lo, hi = distance["auc_ci95"]
    assert table.item(1, 1).text() == f"{distance['auc']:.2f} [{lo:.2f}-{hi:.2f}]"
    assert distance["auc"] > 0.9  # copies are caught, and the cell shows it
    assert "Black box" in table.item(1, 0).toolTip()
    # 18 non-members: no threshold has 1 % FPR, and the cell's tooltip says so.
    assert "no threshold has 1 % FPR" in table.item(1, 2).toolTip()
    assert table.item(1, 3).text() == "n/a" and "not defined" in table.item(1, 3).toolTip()
    assert table.item(2, 1).text() == "n/a" and "no trained prior" in table.item(2, 1).toolTip()
    summary = panel.privacy_summary.text()
    assert "Strongest membership attack" in summary and "learns nothing" in summary
    best = assessment_json["membership"]["strongest"]
    assert best["title"] in summary and f"AUC {best['auc']:.2f}" in summary
    assert "at 0 % FPR: fewer than 100 non-members" in summary
    assert "its interval lies above 0.5" in summary and "Per file: not defined" in summary


def test_a_report_saved_before_membership_figures_says_so(panel, assessment_json) -> None:
    old = {k: v for k, v in assessment_json.items() if k != "membership"}
    panel.set_report(SavedReport(old))
    assert panel.privacy_table.rowCount() == 0 and panel.privacy_table.isHidden()
    assert "not run for this report" in panel.privacy_summary.text()
