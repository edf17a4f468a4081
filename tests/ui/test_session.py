"""The app state without Qt: recordings, project, and the table of what is possible when."""

from __future__ import annotations

from ui.session import ACTION_NEEDS, Session


def test_session_imports_no_qt():
    import ui.session

    with open(ui.session.__file__, encoding="utf-8") as f:
        source = f.read()
    assert "PySide6" not in source and "pyqtgraph" not in source


def test_conditions_block_and_unblock(recording):
    s = Session()
    changes = []
    s.subscribe(changes.append)
    assert s.blocked("close") == "Open a recording first"
    s.add_recording(recording, "one")
    assert s.blocked("close") is None
    assert s.recording is recording
    assert s.blocked("train") is None
    assert s.blocked("resume") == "Train or open a project first"
    s.set_project("/somewhere")
    assert s.blocked("resume") is None
    s.set_job("train")
    assert "running job" in s.blocked("train")
    assert s.blocked("stop") is None
    s.close_current()
    assert s.recording is None
    assert changes[0] == "files"


def test_every_need_is_known():
    for needs in ACTION_NEEDS.values():
        for need in needs:
            assert need in ("recording", "a_project", "synthetic", "idle", "running")


def test_same_path_replaces(recording, tmp_path):
    s = Session()
    p = str(tmp_path / "a.edf")
    s.add_recording(recording, path=p)
    s.add_recording(recording, path=p)
    assert len(s.files) == 1 and s.files[0].title == "a.edf"
