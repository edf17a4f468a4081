"""The Report tab on a 62 s recording (issue 21, items 2-4 and 8): its heading follows generation
("No report yet" stayed after generating); a failed evaluation says its whole reason, where the
flat stretch is included (the progress bar cut it to "failed: evaluate: need"); the training
file added as a reference is named and not used; the CNN's figure is a verdict only when its
references support it."""

from __future__ import annotations

import threading

import pytest

from tests import kinds
from tests.ui.conftest import save_screenshot
from ui.report_panel import NO_REPORT, READY

pytest.importorskip("vqstudio.generation.sampling")


@pytest.fixture(scope="module")
def short(tmp_path_factory) -> tuple[str, str, str]:
    """A project trained by the engine on a 62 s EEG + ECG (last 2 s flat), and another 62 s
    recording of the same kind to compare with."""
    from vqstudio.events import run_to_end
    from vqstudio.training import TrainSettings, train

    folder = tmp_path_factory.mktemp("short")
    source = kinds.eeg_ecg_62s(str(folder), rate=128.0)
    other = kinds.eeg_ecg_62s(str(folder), rate=128.0, seed=1, name="other subject")
    settings = TrainSettings(
        inputs=(source,),
        preset="small",
        tokenizer_steps=40,
        prior_steps=40,
        val_every=20,
        batch_size=8,
        device="cpu",
        threads=1,
    )
    project = str(folder / "project")
    run_to_end(train(settings, project, threading.Event()))
    return project, source, other


def _evaluate(window, qtbot, signal: str):
    window.actions["evaluate"].trigger()
    job = window.jobs["evaluate"]
    with qtbot.waitSignal(getattr(job, signal), timeout=240_000):
        pass


def test_report_on_a_62_s_recording(window, qtbot, short, dialogs):
    project, source, other = short
    assert window.load_path(source) and window.open_project(project)
    report = window.report
    assert report.title.text() == NO_REPORT
    window.generation.seconds.setValue(30.0)
    window.generation.count.setValue(1)
    window.actions["generate"].trigger()
    with qtbot.waitSignal(window.jobs["generate"].finished, timeout=120_000):
        pass
    assert report.title.text() == READY  # no longer "generate recordings" once they are

    _evaluate(window, qtbot, "failed")
    assert report.progress.format() == "failed"
    said = report.status.text()
    assert report.status.isVisibleTo(report) and "Evaluation failed" in said
    assert "1 more left out for a flat or saturated stretch (short.edf 57.8-61.8 s)" in said
    assert "reference recordings" in said  # what to do, in the app's words (not --real)
    window.tabs.setCurrentWidget(report)
    save_screenshot(window, "report_62s_failed")

    # The training file itself as a reference is named and left out; the other recording is used.
    report.set_real_paths([source, other])
    _evaluate(window, qtbot, "finished")
    heading = report.title.text()
    assert "short.edf was not used as real data: it is one of the training recordings" in heading
    assert not report.status.isVisibleTo(report)
    assert report.real_label.text() == (
        "compared with: other subject.edf (short.edf left out: one of the training recordings)"
    )
    cnn = next(i for i, row in enumerate(report.rows) if row.key == "cnn_accuracy")
    cell = report.rows[cnn].cells[0]
    details = report.report.metrics["cnn_accuracy"].details
    if details.get("judged") is False:
        assert cell.text == "not enough data to judge" and "is no verdict" in cell.note
    else:
        assert cell.text.endswith("]")
    # The heading and the table count the same left-out windows.
    excluded = report.report.excluded_flat
    flat_cell = next(r for r in report.rows if r.key == "excluded_flat").cells[0].text
    if excluded.get("real"):
        assert f"{excluded['real']} real and" in heading and flat_cell.endswith(f"(+{excluded['real']} real)")
    memorization = next(r for r in report.rows if r.key == "memorization_verdict").cells[0].text
    assert memorization in ("no", "YES", "not enough held-out data")
    window.tabs.setCurrentWidget(report)
    save_screenshot(window, "report_62s")
