"""Honest evaluation of small data (issue 21, items 2-4): training warns when the held-out part is
too small to evaluate; evaluation says where a flat stretch it left out is; a reference recording
that is one of the training files is named as such and not used as held-out data; the CNN's
figure for synthetic is a verdict only once it has judged its own references right."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest

from tests import kinds
from tests.guards import refused
from tests.tiny import tiny_cli_args, train_tiny
from vqstudio.cli import main
from vqstudio.evaluation.report import EvaluationReport, MetricResult
from vqstudio.evaluation.table import comparison_rows, format_table
from vqstudio.evaluation.verdicts import NOT_ENOUGH, judge_cnn
from vqstudio.io import write_recording
from vqstudio.recording import Recording

pytest.importorskip("torch")


def _generate(project: str, out: str, seconds: str = "30") -> str:
    assert (
        main(["generate", project, "--seconds", seconds, "--device", "cpu", "--threads", "1", "--out", out])
        == 0
    )
    return out


@pytest.fixture(scope="module")
def short_project(tmp_path_factory) -> dict[str, str]:
    """A 62 s EEG + ECG whose last 2 s are flat, trained tiny with the default 4 s window; what
    training wrote on stderr."""
    folder = tmp_path_factory.mktemp("short")
    source = kinds.eeg_ecg_62s(str(folder), rate=128.0)
    project = str(folder / "project")
    tiny = tiny_cli_args()
    at = tiny.index("--window")  # the default window: 4 s
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["train", source, "--project", project, *tiny[:at], *tiny[at + 2 :]]) == 0
    return {"source": source, "project": project, "err": err.getvalue()}


def test_training_warns_that_the_held_out_part_is_too_small(short_project):
    """Training said "52 training and 1 held-out windows" without a word; evaluate then failed."""
    warning = next(line for line in short_project["err"].splitlines() if line.startswith("warning: only"))
    assert "only 1 held-out window of 4 s" in warning and "last 6.2 s" in warning
    assert "1 more holds a flat or saturated stretch: short.edf 57.8-61.8 s" in warning
    assert "needs at least 2" in warning and "--real" in warning and "--window" in warning


def test_evaluation_says_where_the_flat_stretch_is(short_project, capsys, tmp_path):
    synthetic = _generate(short_project["project"], str(tmp_path / "synthetic.edf"))
    capsys.readouterr()
    line = refused(capsys, ["evaluate", short_project["project"], "--synthetic", synthetic], synthetic)
    assert "need at least 2 real windows of 4 s, got 1" in line
    assert "1 more left out for a flat or saturated stretch (short.edf 57.8-61.8 s)" in line


def _noise_recording(folder: str, name: str, seed: int) -> str:
    """120 s of two channels of a stationary AR(2) process (a damped 13 Hz resonance) at 64 Hz:
    signal whose phase-randomized surrogate is the same process, so only a CNN that has learned
    nothing in particular (too few windows) cannot tell it apart, as in the issue."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    x = lfilter([1.0], [1.0, -0.6, 0.8], rng.standard_normal((2, 120 * 64 + 500)), axis=1)[:, 500:] * 20
    path = os.path.join(folder, f"{name}.edf")
    write_recording(Recording.from_array(x, 64.0, ["C3", "C4"], "uV"), path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, str]:
    """A tiny project on 120 s (a 12 s held-out part: 11 held-out windows of 2 s), and as its
    "synthetic" set another recording of the same process (what a perfect generator would give)."""
    folder = tmp_path_factory.mktemp("trained")
    source = _noise_recording(str(folder), "subject", seed=1)
    project = train_tiny([source], folder / "project")
    synthetic = _noise_recording(str(folder), "another subject", seed=2)
    return {"source": source, "project": project, "synthetic": synthetic, "folder": str(folder)}


def test_a_training_file_given_as_reference_is_named_and_not_used(trained, capsys):
    """The report said "no sign of copying" while its held-out column said Memorization YES: the
    reference was the training file itself."""
    out = trained["folder"] + "/report.json"
    args = ["evaluate", trained["project"], "--synthetic", trained["synthetic"], "--real", trained["source"]]
    assert main([*args, "--json", out, "--plots", trained["folder"] + "/plots"]) == 0
    err = capsys.readouterr().err
    assert "warning: subject.edf is one of the project's training recordings (same sha256)" in err
    assert "the project's held-out split is used instead" in err
    with open(out) as f:
        saved = json.load(f)
    assert saved["sources"]["real"] == ["held-out split of the project"]
    assert list(saved["references_left_out"]) == [trained["source"]]
    held_out = saved["references"]["held_out_half"]["memorization_verdict"]
    assert held_out != "yes"  # real against real copies nothing


def test_the_cnn_on_few_windows_is_not_enough_data_to_judge(trained, capsys):
    """On 29 windows a class the CNN said 53 % ("indistinguishable") and scored the surrogate
    45 %: it had learned nothing, and its figure said nothing either."""
    out = trained["folder"] + "/few.json"
    args = ["evaluate", trained["project"], "--synthetic", trained["synthetic"], "--json", out]
    assert main([*args, "--plots", trained["folder"] + "/plots"]) == 0
    table = capsys.readouterr().out
    with open(out) as f:
        saved = json.load(f)
    cnn = saved["metrics"]["cnn_accuracy"]
    assert cnn["value"] is not None and cnn["details"]["judged"] is False, cnn
    row = next(r for r in comparison_rows(saved)[1] if r.key == "cnn_accuracy")
    assert row.cells[0].text == NOT_ENOUGH and "is no verdict" in row.cells[0].note
    assert "surrogate" in row.cells[0].note
    assert row.cells[1].text.endswith("]")  # the references keep their figures
    assert f"{NOT_ENOUGH}[" in table and "is no verdict" in table


def _report(accuracy: float | None, ci: tuple[float, float] = (0.35, 0.65), n: int = 30) -> EvaluationReport:
    details = (
        {"accuracy_ci95": list(ci), "windows_per_class": n} if accuracy is not None else {"skipped": "few"}
    )
    cnn = MetricResult("cnn_accuracy", "CNN", accuracy, "%", "chance", "", details=details)
    return EvaluationReport(128.0, ["C3"], 256, n, n, n, 0, {"cnn_accuracy": cnn})


def test_the_cnn_figure_is_a_verdict_once_its_references_are_judged_right():
    calibrated = {"held_out_half": _report(51.0, (0.4, 0.62)), "surrogate": _report(92.0, (0.85, 0.96))}
    synthetic = _report(55.0, (0.45, 0.64))
    judge_cnn(synthetic, calibrated, {}, asked=True)
    assert synthetic.metrics["cnn_accuracy"].details["judged"] is True
    row = next(
        r
        for r in comparison_rows({"metrics": {"cnn_accuracy": synthetic.metrics["cnn_accuracy"].to_dict()}})[
            1
        ]
    )
    assert row.cells[0].text == "55.0 % [45-64]"

    # Told apart (interval above chance) with the halves at chance: a verdict, surrogate or not.
    apart = _report(100.0, (0.93, 1.0))
    judge_cnn(
        apart, {"held_out_half": _report(51.0), "surrogate": _report(45.0, (0.33, 0.58))}, {}, asked=True
    )
    assert apart.metrics["cnn_accuracy"].details["judged"] is True

    cases = {
        "surrogate": {"held_out_half": _report(51.0), "surrogate": _report(45.0, (0.33, 0.58))},
        "held-out half": {
            "held_out_half": _report(80.0, (0.7, 0.88)),
            "surrogate": _report(92.0, (0.85, 0.96)),
        },
        "could not be checked": {"surrogate": _report(92.0, (0.85, 0.96))},
    }
    for said, references in cases.items():
        synthetic = _report(53.0, (0.41, 0.66))
        judge_cnn(synthetic, references, {"held_out_half": "too few"}, asked=True)
        details = synthetic.metrics["cnn_accuracy"].details
        assert details["judged"] is False and details["verdict"] == NOT_ENOUGH
        assert said in details["not_judged"], details["not_judged"]
    synthetic = _report(53.0)
    judge_cnn(synthetic, {}, {}, asked=False)
    assert synthetic.metrics["cnn_accuracy"].details["verdict"] == "not calibrated"
    text = format_table(*comparison_rows({"metrics": {k: m.to_dict() for k, m in synthetic.metrics.items()}}))
    assert "not calibrated[1]" in text and "[1] 53.0 % [35-65] is no verdict" in text
