"""`ui/jobs.py`, the one place the app turns what the user chose into engine calls: each entry
point does what the window (or the self-test) asks of it, on a tiny project trained through
`training_job` the way the window trains one (its settings, the open recording and its path)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import make_recording
from ui import jobs, selftest

pytest.importorskip("vqstudio.generation.sampling")
io = pytest.importorskip("vqstudio.io")

STEPS = 10  # per stage: the jobs' plumbing is under test here, not the models


def _run(job: jobs.JobFunction) -> Any:
    """Drains a job as the worker thread does, and returns its result."""
    from vqstudio.events import run_to_end

    return run_to_end(job(threading.Event()))


def _write(path: Path, seed: int, seconds: float = 60.0) -> str:
    io.write_recording(make_recording(channels=3, seconds=seconds, rate=64.0, seed=seed), str(path))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[str, str, Any]:
    """(project folder, its source recording, the training result)."""
    folder = tmp_path_factory.mktemp("jobs")
    source = _write(folder / "real.edf", seed=0)
    options = {
        "window_s": 2.0,
        "preset": "small",
        "tokenizer_steps": STEPS,
        "prior_steps": STEPS,
        "val_every": STEPS,
        "batch_size": 8,
        "device": "cpu",
        "threads": 1,
        "inputs": (source,),
    }
    project = str(folder / "project")
    result = _run(jobs.training_job(options, project, False, [io.read_recording(source)]))
    return project, source, result


def test_the_training_job_trains_the_open_recording_into_the_project(trained) -> None:
    from vqstudio.project import Project

    project, source, result = trained
    assert result.tokenizer_step == STEPS and result.prior_step == STEPS
    assert os.path.isfile(os.path.join(project, "prior.safetensors"))
    # The recording's path is kept, so the project reopens with it and refuses to overwrite it.
    assert [os.path.abspath(p) for p in Project.open(project).source_paths] == [os.path.abspath(source)]


def test_the_generation_job_keeps_what_it_generates_in_the_project(trained) -> None:
    project, _, _ = trained
    options = {"seconds": 4.0, "count": 2, "seed": 0, "steps": 4, "device": "cpu", "threads": 1}
    recs, paths = _run(jobs.generation_job(project, options))
    assert len(recs) == 2 and all(r.duration == pytest.approx(4.0) for r in recs)
    samples = os.path.join(project, "samples")
    assert len(paths) == 2 and all(os.path.dirname(p) == samples and os.path.isfile(p) for p in paths)


def test_the_evaluation_job_takes_the_chosen_references_and_band_and_writes_into_reports(
    trained, tmp_path
) -> None:
    project, _, _ = trained
    # Files of the project's channels and rate stand for generated ones: what they hold is
    # the engine's business; which files, references and band reach it is the job's.
    synthetic = [_write(tmp_path / "synthetic.edf", seed=1, seconds=30.0)]
    reference = _write(tmp_path / "reference.edf", seed=2, seconds=30.0)
    result = _run(jobs.evaluation_job(project, synthetic, real_paths=[reference], band=(1.0, 20.0)))
    reports = os.path.join(project, "reports")
    assert result.json_path == os.path.join(reports, "report.json")
    with open(result.json_path, encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["sources"]["real"] == [os.path.abspath(reference)]
    assert saved["sources"]["synthetic"] == [os.path.abspath(synthetic[0])]
    assert saved["psd_band_hz"] == [1.0, 20.0]
    assert "held_out_half" in saved["references"] or "held_out_half" in saved["reference_notes"]
    assert result.plots and all(os.path.dirname(p) == os.path.join(reports, "plots") for p in result.plots)


def test_the_evaluation_job_waits_for_no_other_run_of_the_project(trained, tmp_path) -> None:
    from vqstudio.errors import ProjectError
    from vqstudio.project.lock import ProjectLock

    project, _, _ = trained
    synthetic = [_write(tmp_path / "synthetic.edf", seed=1, seconds=30.0)]
    with ProjectLock(project, "vqstudio train"), pytest.raises(ProjectError, match="vqstudio train"):
        _run(jobs.evaluation_job(project, synthetic))


def test_export_writes_each_recording_the_way_generate_out_does(trained, tmp_path) -> None:
    project, _, _ = trained
    recs = [
        make_recording(channels=3, seconds=4.0, rate=64.0, seed=s).marked_synthetic("test") for s in (3, 4)
    ]
    reports = jobs.export_generated(recs, str(tmp_path / "synth.bdf"), [], project)
    assert [os.path.basename(r.path) for r in reports] == ["synth_1.bdf", "synth_2.bdf"]
    back = io.read_recording(reports[0].path)
    assert back.labels == recs[0].labels and back.duration == pytest.approx(4.0)


def test_export_refuses_a_recording_open_in_the_app_and_writes_nothing(tmp_path) -> None:
    from vqstudio.errors import OutputError

    opened = _write(tmp_path / "open_1.edf", seed=5, seconds=10.0)
    before = Path(opened).read_bytes()
    recs = [make_recording(channels=3, seconds=4.0, rate=64.0, seed=s) for s in (3, 4)]
    with pytest.raises(OutputError, match="open in VQ Studio"):
        jobs.export_generated(recs, str(tmp_path / "open.edf"), [opened], None)
    assert Path(opened).read_bytes() == before and not (tmp_path / "open_2.edf").exists()


def test_export_refuses_a_recording_the_project_was_trained_on(trained) -> None:
    from vqstudio.errors import OutputError

    project, source, _ = trained
    before = Path(source).read_bytes()
    rec = make_recording(channels=3, seconds=4.0, rate=64.0, seed=3)
    with pytest.raises(OutputError, match="training recording"):
        jobs.export_generated([rec], source, [], project)
    assert Path(source).read_bytes() == before


def test_the_self_test_trains_generates_and_exports_through_the_app_jobs(tmp_path, monkeypatch) -> None:
    called: list[str] = []
    for name in ("training_job", "generation_job", "export_generated"):
        real = getattr(jobs, name)

        def spy(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            called.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(jobs, name, spy)
    st = selftest._State(work=tmp_path)
    for check in (selftest.check_demo, selftest.check_train, selftest.check_generate, selftest.check_export):
        check(st)
    assert called == ["training_job", "generation_job", "export_generated"]
    # What only the app's jobs do: the generated recording is kept in the project's samples/.
    assert len(list((tmp_path / "project" / "samples").glob("gui_*.edf"))) == 1
    assert (tmp_path / selftest.EDF_NAME).is_file()
