"""`vqstudio info`: tables, JSON, bad input (exit 2, one line, nothing on stdout), no torch or Qt."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vqstudio.cli import main
from vqstudio.io import FILE_FILTER, READABLE_EXTENSIONS, write_recording
from vqstudio.recording import Annotation, Channel, Recording


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    psg = Recording(
        [
            Channel.from_samples("EEG Fpz-Cz", rng.standard_normal(1000), 100, "uV"),
            Channel.from_samples("Fc5.", rng.standard_normal(1000), 100, "uV"),
            Channel.from_samples("SpO2", 95 + rng.standard_normal(10), 1, "%"),
        ],
        [Annotation(1, 0, "T0"), Annotation(2, 0, "T1"), Annotation(3, 0, "T0")],
    )
    edf = tmp_path / "psg.edf"
    write_recording(psg, str(edf))
    csv = tmp_path / "ecg.csv"
    csv.write_text("time_s,II_mV\n" + "\n".join(f"{i / 250:.3f},{np.sin(i):.4f}" for i in range(500)))
    bare = tmp_path / "bare.csv"
    bare.write_text("a,b\n1,2\n3,4\n")
    return edf, csv, bare


def test_info_table(files, capsys):
    edf, csv, _ = files
    assert main(["info", str(edf), str(csv)]) == 0
    out = capsys.readouterr().out
    assert "EDF+C" in out and "EEG Fpz-Cz" in out and "Fc5." in out and "SpO2" in out
    assert "'T0' x2" in out and "3 annotations" in out
    assert "CSV" in out and "II" in out and "250" in out


def test_info_json_one_file_is_an_object(files, capsys):
    edf, _, _ = files
    assert main(["info", str(edf), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["format"] == "EDF+C" and s["annotation_count"] == 3 and s["duration_s"] == 10.0
    assert [c["rate"] for c in s["channels"]] == [100.0, 100.0, 1.0]
    assert [c["name"] for c in s["channels"]] == ["EEG Fpz-Cz", "Fc5", "SpO2"]
    assert s["channels"][0]["physical_min"] < s["channels"][0]["physical_max"]
    assert s["channels"][2]["samples"] == 10 and s["start"] == "1985-01-01T00:00:00"


def test_info_json_several_files_is_a_list_and_rate_applies(files, capsys):
    edf, csv, bare = files
    assert main(["info", str(edf), str(csv), str(bare), "--rate", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["format"] for s in out] == ["EDF+C", "CSV", "CSV"]
    assert out[1]["channels"][0]["rate"] == 50.0  # --rate wins over the time column, with a note
    assert out[1]["notes"] and out[2]["channels"][0]["rate"] == 50.0


def test_info_bad_file_among_good_ones_prints_nothing_on_stdout(files, tmp_path, capsys):
    edf, _, _ = files
    (tmp_path / "empty.edf").write_bytes(b"")
    assert main(["info", str(edf), str(tmp_path / "empty.edf"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "empty.edf: the file is empty" in captured.err


def test_info_csv_without_rate_says_what_to_do(files, capsys):
    _, _, bare = files
    assert main(["info", str(bare)]) == 2
    assert "--rate HZ" in capsys.readouterr().err


def test_info_subprocess_no_traceback_no_torch_no_qt(files, tmp_path):
    edf, _, _ = files
    code = (
        "import sys\nfrom vqstudio.cli import main\n"
        f"rc = main(['info', {str(edf)!r}])\n"
        "assert 'torch' not in sys.modules and 'PySide6' not in sys.modules, 'heavy import'\n"
        "sys.exit(rc)\n"
    )
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "trunc.edf").write_bytes(edf.read_bytes()[:3000])
    bad = subprocess.run(
        [sys.executable, "-m", "vqstudio", "info", str(tmp_path / "trunc.edf")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and "trunc.edf" in bad.stderr


def test_file_filter_lists_every_readable_extension():
    for ext in READABLE_EXTENSIONS:
        assert f"*{ext}" in FILE_FILTER and f"*{ext.upper()}" in FILE_FILTER
    assert FILE_FILTER.startswith("Recordings (")


def test_info_on_a_generated_npy_batch(tmp_path, capsys):
    from vqstudio.io import write_npy_batch

    write_npy_batch(np.zeros((3, 2, 100), np.float32), str(tmp_path / "s.npy"), rate=50, labels=["II", "V"])
    assert main(["info", str(tmp_path / "s.npy"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["items"] == 3 and s["format"] == "NPY" and s["duration_s"] == 2.0 and s["synthetic"] is True
