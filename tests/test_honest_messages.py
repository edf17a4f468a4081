"""Honest messages (issue 18, item 9): an EDF+ with an unknown start date opens; a flat
synthetic file is named as such by `evaluate`; a CSV value too large for float32 is one clean
line; a generated recording beyond its source's physical range says the range was widened.

Each test failed on the code before its fix.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import train_tiny, write_edf_plus_d, write_input

from vqstudio.cli import main
from vqstudio.errors import FormatError
from vqstudio.io import read_recording, write_recording
from vqstudio.io.edf_read import EdfHeader
from vqstudio.recording import Recording

RATE = 64.0


def _refused(capsys, argv: list[str]) -> str:
    """Runs the command; asserts exit 2 and one `vqstudio:` line, no traceback; returns it."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vqstudio:"), err
    return last


# ---------------------------------------------------------------- EDF+ "Startdate X"


def test_edf_plus_d_with_an_unknown_start_date_opens(tmp_path, capsys):
    """pyedflib refuses every EDF+D; edfio read it but raised on its start date ('Startdate X')."""
    path = str(tmp_path / "unknown_date.edf")
    write_edf_plus_d(path)
    with open(path, "r+b") as f:
        f.seek(88)  # the recording identification field, 80 bytes
        f.write(b"Startdate X X X X".ljust(80))
    rec = read_recording(path)
    assert rec.source.format == "EDF+D" and rec.channels[0].n_samples == 400
    assert [(g.start, g.stop) for g in rec.gaps] == [(2.0, 5.0)]
    assert [(a.onset, a.text) for a in rec.annotations] == [(0.5, "start")]
    assert rec.start == EdfHeader.parse(path).start_from_fields()  # the header's date and time fields
    assert any("Startdate X" in n and "unknown" in n for n in rec.notes)
    assert main(["info", path]) == 0
    assert "Traceback" not in capsys.readouterr().err


# ---------------------------------------------------------------- CSV beyond float32


def _csv(path, value: str, events: bool = False) -> str:
    """A 100 Hz table with `value` in column A on line 52; an `event` column (text) makes the
    reader take its careful, cell-by-cell path instead of numpy's parser."""
    rows = []
    for i in range(300):
        cells = [f"{i / 100}", f"{np.sin(i):.4f}", f"{np.cos(i):.4f}"] + (
            ["x" if i == 3 else ""] if events else []
        )
        rows.append(cells)
    rows[50][1] = value
    head = "time,A,B" + (",event" if events else "")
    path.write_text("\n".join([head, *(",".join(r) for r in rows)]) + "\n")
    return str(path)


@pytest.mark.parametrize("with_events", [False, True], ids=["fast-path", "careful-path"])
def test_csv_value_beyond_float32_is_one_clean_line(tmp_path, capsys, with_events):
    path = _csv(tmp_path / "huge.csv", "1e308", with_events)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = _refused(capsys, ["info", path])
        with pytest.raises(FormatError, match=r"huge\.csv: line 52, column 'A' holds 1e308, too large"):
            read_recording(path)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert "huge.csv" in line and "column 'A'" in line and "line 52" in line
    assert "32-bit" in line and "float32" in line and "NaN" not in line


def test_csv_value_within_float32_still_reads(tmp_path):
    rec = read_recording(_csv(tmp_path / "big.csv", "-3e38"))
    assert rec.channels[0].samples[50] == np.float32(-3e38)


# ---------------------------------------------------------------- a trained project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small trained project (seconds on a CPU) and its folder."""
    before = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("honest")
    train_tiny([write_input(folder, "source")], folder / "project")
    yield str(folder / "project")
    torch.set_num_threads(before)


# ---------------------------------------------------------------- evaluate: flat synthetic files


def _write(path, x: np.ndarray) -> str:
    write_recording(Recording.from_array(x, RATE, ["C3", "C4"], "uV"), str(path))
    return str(path)


def test_evaluate_names_a_flat_synthetic_file(project, tmp_path, capsys):
    flat = _write(tmp_path / "flat.edf", np.full((2, int(20 * RATE)), 5.0))
    argv = ["evaluate", project, "--json", str(tmp_path / "r.json"), "--plots", str(tmp_path / "plots")]
    line = _refused(capsys, [*argv, "--synthetic", flat])
    assert line.startswith("vqstudio: synthetic recording flat.edf")
    assert "flat (constant) or saturated" in line and "C3 100%" in line and "C4 100%" in line
    assert "left out of the evaluation" in line and "generate it again" in line
    assert "training data" not in line and "the recordings carry" not in line


def test_evaluate_names_saturated_and_half_flat_files(project, tmp_path, capsys):
    t = np.arange(int(20 * RATE)) / RATE
    half = _write(tmp_path / "half.edf", np.stack([np.full(t.size, 5.0), 20 * np.sin(2 * np.pi * 5 * t)]))
    clipped = np.clip(np.stack([40 * np.sin(2 * np.pi * t)] * 2), -10, 10)  # pinned at its rails
    sat = _write(tmp_path / "sat.edf", clipped)
    argv = ["evaluate", project, "--json", str(tmp_path / "r.json"), "--plots", str(tmp_path / "plots")]
    line = _refused(capsys, [*argv, "--synthetic", half, sat])
    assert line.startswith("vqstudio: synthetic recordings half.edf") and "sat.edf" in line
    assert "C3 100%" in line and "--channels" not in line and "generate them again" in line
    line = _refused(capsys, [*argv, "--synthetic", half, "--real", sat])
    assert line.startswith("vqstudio: real recording sat.edf") and "(--real)" in line


def test_evaluate_counts_the_flat_windows_it_left_out(project, tmp_path, capsys):
    """A flat file beside a good one: its windows were dropped before the comparison, and the
    report said 0 windows left out."""
    flat = _write(tmp_path / "flat.edf", np.full((2, int(20 * RATE)), 5.0))
    good = str(tmp_path / "good.edf")
    assert main(["generate", project, "--seconds", "8", "--out", good]) == 0
    report = tmp_path / "r.json"
    argv = ["evaluate", project, "--synthetic", flat, good, "--json", str(report), "--no-references"]
    assert main([*argv, "--plots", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr()
    assert "left out 19 synthetic window(s) holding a flat" in printed.out + printed.err
    assert json.loads(report.read_text())["excluded_flat"]["synthetic"] == 19


# ---------------------------------------------------------------- generate: widened ranges


def _ranges(path: str) -> list[tuple[float, float]]:
    return [(c.physical_min, c.physical_max) for c in read_recording(path).channels]


def test_generate_keeps_the_source_range_where_it_holds(project, tmp_path, capsys):
    out = str(tmp_path / "kept.edf")
    assert main(["generate", project, "--seconds", "4", "--out", out]) == 0
    assert "widened" not in capsys.readouterr().out
    stated = json.loads((Path(project) / "project.json").read_text())["data"]["channels"]
    expected = [(c["physical_min"], c["physical_max"]) for c in stated]
    assert np.allclose(_ranges(out), expected)


def test_generate_beyond_the_source_range_says_widened(project, tmp_path, capsys):
    """The project's channels state a range of +-0.5 uV, which the samples exceed: the EDF is
    written with a wider range and a note (before: the range silently became the data's)."""
    narrow = str(tmp_path / "narrow")
    shutil.copytree(project, narrow)
    meta = json.loads((Path(narrow) / "project.json").read_text())
    for c in meta["data"]["channels"]:
        c["physical_min"], c["physical_max"] = -0.5, 0.5
    (Path(narrow) / "project.json").write_text(json.dumps(meta, indent=2))
    out = str(tmp_path / "wide.edf")
    assert main(["generate", narrow, "--seconds", "4", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "note: physical range widened to fit the data (never clipped) for: C3, C4" in printed
    back = read_recording(out)
    for c, (lo, hi) in zip(back.channels, _ranges(out), strict=True):
        assert lo < -0.5 or hi > 0.5  # wider than stated ...
        assert lo <= c.samples.min() and c.samples.max() <= hi  # ... and holding every sample
