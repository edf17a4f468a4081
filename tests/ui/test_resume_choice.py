"""Resume continues the stage the user chooses in the Train tab (issue 21, item 5): the tokenizer
too, not only the prior."""

from __future__ import annotations

import pytest

from tests.tiny import train_tiny, write_input
from vqstudio.project import Project

pytest.importorskip("vqstudio.training")


def test_resume_continues_the_chosen_stage(window, qtbot, tmp_path):
    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    project = train_tiny([source], tmp_path / "project")  # 4 tokenizer steps, 2 prior steps
    panel = window.training
    assert not panel.resume_stage.isEnabled()  # no project yet: nothing to resume
    assert window.load_path(source) and window.open_project(project)
    assert panel.resume_stage.isEnabled() and panel.resume_stage.currentData() == "auto"
    panel.resume_stage.setCurrentIndex(panel.resume_stage.findData("tokenizer"))
    panel.extra_settings = {"tokenizer_steps": 9, "batch_size": 4}
    panel.device.setCurrentIndex(max(0, panel.device.findData("cpu")))
    prior_before = Project.open(project).stage("prior").step
    window.actions["resume"].trigger()
    with qtbot.waitSignal(window.jobs["train"].finished, timeout=120_000) as done:
        pass
    result = done.args[0]
    assert result.tokenizer_step == 9 and result.prior_step == prior_before
    opened = Project.open(project)
    assert opened.stage("tokenizer").step == 9 and opened.stage("prior").step == prior_before
    log = panel.log_pane.toPlainText()
    assert "resuming the tokenizer from step 4" in log
    assert "warning: the prior was trained on the codes of the tokenizer as it was" in log

    panel.resume_stage.setCurrentIndex(panel.resume_stage.findData("prior"))
    panel.extra_settings = {"prior_steps": 6, "batch_size": 4}
    window.actions["resume"].trigger()
    with qtbot.waitSignal(window.jobs["train"].finished, timeout=120_000) as done:
        pass
    assert (done.args[0].tokenizer_step, done.args[0].prior_step) == (9, 6)
