"""The self-test's check of training on 2 processes: it passes where `--nproc` works, and says
why where it does not."""

from __future__ import annotations

import sys

import pytest

from ui import selftest

pytestmark = pytest.mark.slow  # starts Python and torch in three processes, and trains


def test_the_self_test_trains_on_two_processes_through_the_command_line(tmp_path) -> None:
    st = selftest._State(work=tmp_path)
    selftest.check_demo(st)
    said = selftest.check_distributed(st)
    assert said.startswith("2 processes (gloo)")
    assert "'tokenizer': 4" in said and "'prior': 4" in said
    assert (tmp_path / "project-2-processes" / "prior.safetensors").is_file()


def test_a_command_line_that_fails_fails_the_check_with_its_last_line(tmp_path, monkeypatch) -> None:
    import vqstudio.cli.launch

    broken = [
        sys.executable,
        "-c",
        "import sys; print('vqstudio: no gloo here', file=sys.stderr); sys.exit(3)",
    ]
    monkeypatch.setattr(vqstudio.cli.launch, "command_line", lambda: broken)
    st = selftest._State(work=tmp_path)
    selftest.check_demo(st)
    with pytest.raises(AssertionError, match="exit 3: vqstudio: no gloo here"):
        selftest.check_distributed(st)


def test_without_a_demo_recording_the_check_is_not_available(tmp_path) -> None:
    with pytest.raises(selftest.NotAvailable):
        selftest.check_distributed(selftest._State(work=tmp_path))
