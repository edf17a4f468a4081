"""The Train tab's differential-privacy choice (issue 23): off by default, an epsilon that
reaches the engine's settings (`--dp-epsilon`), and a private project shows its target and the
epsilon it spent."""

from __future__ import annotations

from tests.tiny import train_tiny, write_input
from vqstudio.training import TrainSettings


def test_the_choice_reaches_the_settings_and_a_project_shows_its_privacy(window, tmp_path):
    panel = window.training
    assert panel.privacy.text() == "off"
    assert panel.settings_kwargs()["dp_epsilon"] is None  # the engine's default: no privacy
    panel.privacy.setValue(3.0)
    chosen = panel.settings_kwargs()
    assert chosen["dp_epsilon"] == 3.0
    assert TrainSettings(inputs=("a.edf",), **{k: v for k, v in chosen.items() if k != "channels"}).private
    panel.privacy.setValue(0.05)  # between off and the lowest epsilon: the lowest
    assert panel.settings_kwargs()["dp_epsilon"] == 0.1
    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    private = train_tiny([source], tmp_path / "private", dp_epsilon=8.0)
    plain = train_tiny([source], tmp_path / "plain")
    assert window.load_path(source) and window.open_project(private)
    assert panel.privacy.value() == 8.0
    assert "spent of 8 at delta" in panel.project_label.text()
    settings_column = [panel.runs.item(r, 3).text() for r in range(panel.runs.rowCount())]
    assert settings_column
    assert all("dp_epsilon=" in text and "of 8 per window" in text for text in settings_column)
    assert window.open_project(plain)
    assert panel.privacy.text() == "off"
    assert "differential privacy: off" in panel.project_label.text()
