"""The Train tab's tokenizer choice (issue 20): shared, the pretrained per-channel codec (offered
where the installation holds it), or the per-channel codec from scratch; a project shows its own."""

from __future__ import annotations

import pytest

import vqstudio.codec
from tests.tiny import train_tiny, write_input
from ui.codec_choice import codec_box

pytest.importorskip("vqstudio.training")


def test_the_pretrained_codec_is_offered_only_where_it_is_installed(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(vqstudio.codec, "SHIPPED_CODEC", str(tmp_path / "none.safetensors"))
    assert [codec_box().itemData(i) for i in range(codec_box().count())] == ["shared", "per-channel"]
    (tmp_path / "codec.safetensors").write_bytes(b"x")
    monkeypatch.setattr(vqstudio.codec, "SHIPPED_CODEC", str(tmp_path / "codec.safetensors"))
    assert codec_box().findData("pretrained") == 1


def test_the_choice_reaches_the_settings_and_a_project_shows_its_own(window, tmp_path):
    panel = window.training
    assert panel.settings_kwargs()["per_channel"] is False  # the engine's default
    panel.codec.setCurrentIndex(panel.codec.findData("per-channel"))
    chosen = panel.settings_kwargs()
    assert chosen["per_channel"] is True and chosen["from_scratch"] is True
    source = write_input(tmp_path, "subject", channels=2, seconds=60.0)
    project = train_tiny([source], tmp_path / "project")  # a shared tokenizer
    assert window.load_path(source) and window.open_project(project)
    assert panel.codec.currentData() == "shared"
