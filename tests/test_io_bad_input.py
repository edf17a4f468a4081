"""Bad input: each case raises a typed error naming the file, and leaves no output file behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vqstudio.errors import ChannelError, FormatError, InputFileError, OutputError, VQStudioError
from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Annotation, Recording


@pytest.fixture
def good_edf(tmp_path):
    rng = np.random.default_rng(0)
    rec = Recording.from_array(
        rng.standard_normal((2, 1000)), 100, ["Fp1", "Fp2"], "uV", [Annotation(1, 0, "x")]
    )
    path = tmp_path / "good.edf"
    write_recording(rec, str(path))
    return path


def only(folder, *names):
    """The folder holds exactly these files: no partial output, no temporary file left."""
    assert sorted(os.listdir(folder)) == sorted(names)


def read_then_write(path, out, **kw):
    """What a command does: read, then write; the error must come before any output exists."""
    rec = read_recording(str(path), **kw)
    write_recording(rec, str(out))


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nothere.edf: no such file"):
        read_then_write(tmp_path / "nothere.edf", tmp_path / "out.edf")
    only(tmp_path)


@pytest.mark.parametrize("name", ["empty.edf", "empty.bdf", "empty.csv", "empty.npy"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputFileError, match=f"{name}: the file is empty"):
        read_then_write(tmp_path / name, tmp_path / "out.edf")
    only(tmp_path, name)


def test_truncated_edf_in_header(tmp_path, good_edf):
    cut = tmp_path / "cut.edf"
    cut.write_bytes(good_edf.read_bytes()[:600])
    with pytest.raises(FormatError, match=r"cut.edf: the file is truncated inside its header"):
        read_then_write(cut, tmp_path / "out.edf")
    only(tmp_path, "good.edf", "cut.edf")


def test_truncated_edf_in_data(tmp_path, good_edf):
    cut = tmp_path / "cut.edf"
    data = good_edf.read_bytes()
    cut.write_bytes(data[: len(data) - 500])
    with pytest.raises(
        FormatError, match=r"cut.edf: the file is truncated: the header promises 10 data records"
    ):
        read_then_write(cut, tmp_path / "out.edf")
    only(tmp_path, "good.edf", "cut.edf")


@pytest.mark.parametrize(
    "offset, value, message",
    [
        (236, b"ten     ", "'number of data records' is 'ten'"),
        (252, b"x   ", "'number of signals' is 'x'"),
        (244, b"-1      ", "data record duration"),
        (184, b"99999   ", "header size field says 99999"),
        (256 + 3 * (16 + 80 + 8), b"abc     ", r"'physical minimum' of signal 1 \(Fp1\) is 'abc'"),
        (256 + 3 * (16 + 80 + 8 + 8 + 8 + 8), b"-40000  ", "digital range -32768..-40000 of signal 1"),
        (0, b"1       ", "not an EDF or BDF file"),
    ],
)
def test_edf_with_a_corrupt_header_field(tmp_path, good_edf, offset, value, message):
    bad = tmp_path / "bad.edf"
    data = bytearray(good_edf.read_bytes())
    data[offset : offset + len(value)] = value
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=f"bad.edf: .*{message}"):
        read_then_write(bad, tmp_path / "out.edf")
    only(tmp_path, "good.edf", "bad.edf")


def test_random_bytes_named_edf(tmp_path):
    noise = tmp_path / "noise.edf"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(FormatError, match=r"noise.edf: not an EDF or BDF file"):
        read_recording(str(noise))


def test_bdf_read_as_edf(tmp_path):
    rec = Recording.from_array(np.zeros((1, 100)), 100, ["A"], "uV")
    write_recording(rec, str(tmp_path / "real.bdf"))
    os.rename(tmp_path / "real.bdf", tmp_path / "renamed.edf")
    with pytest.raises(
        FormatError, match=r"renamed.edf: the file holds BDF \(24-bit\) data .* rename it to .bdf"
    ):
        read_then_write(tmp_path / "renamed.edf", tmp_path / "out.edf")
    only(tmp_path, "renamed.edf")


def test_edf_read_as_bdf(tmp_path, good_edf):
    os.rename(good_edf, tmp_path / "renamed.bdf")
    with pytest.raises(FormatError, match=r"renamed.bdf: the file holds EDF \(16-bit\) data"):
        read_recording(str(tmp_path / "renamed.bdf"))


def test_csv_text_in_a_number_column(tmp_path):
    (tmp_path / "text.csv").write_text("time_s,a,b\n0,1,2\n0.01,x,3\n0.02,3,4\n")
    with pytest.raises(FormatError, match=r"text.csv: line 3, column 'a' holds 'x', not a number"):
        read_then_write(tmp_path / "text.csv", tmp_path / "out.edf")
    only(tmp_path, "text.csv")


def test_csv_empty_cell(tmp_path):
    (tmp_path / "hole.csv").write_text("time_s,a\n0,1\n0.01,\n0.02,3\n")
    with pytest.raises(FormatError, match=r"hole.csv: line 3, column 'a' is empty"):
        read_recording(str(tmp_path / "hole.csv"))


def test_csv_no_numeric_columns(tmp_path):
    (tmp_path / "words.csv").write_text("name,city\nann,paris\nbob,rome\n")
    with pytest.raises(FormatError, match=r"words.csv: no numeric column .*'name', 'city'"):
        read_then_write(tmp_path / "words.csv", tmp_path / "out.edf")
    only(tmp_path, "words.csv")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_csv_nan_and_inf(tmp_path, value):
    (tmp_path / "nan.csv").write_text(f"time_s,a,b\n0,1,2\n0.01,2,{value}\n0.02,3,4\n")
    with pytest.raises(FormatError, match=f"nan.csv: line 3, column 'b' is {value} .*finite"):
        read_then_write(tmp_path / "nan.csv", tmp_path / "out.edf")
    only(tmp_path, "nan.csv")


def test_csv_ragged_rows(tmp_path):
    (tmp_path / "ragged.csv").write_text("time_s,a,b\n0,1,2\n0.01,2\n")
    with pytest.raises(FormatError, match=r"ragged.csv: line 3 has 2 cells but the table has 3 columns"):
        read_recording(str(tmp_path / "ragged.csv"))


def test_csv_time_going_backwards(tmp_path):
    (tmp_path / "back.csv").write_text("time,a\n0,1\n0.02,2\n0.01,3\n")
    with pytest.raises(FormatError, match=r"back.csv: line 4, column 'time'.*does not increase"):
        read_recording(str(tmp_path / "back.csv"))


def test_nan_in_npy(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan]], dtype=np.float32))
    with pytest.raises(FormatError, match=r"nan.npy: channel 'ch1' has NaN/Inf"):
        read_recording(str(tmp_path / "nan.npy"), rate=1)


def test_unknown_extension(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(FormatError, match=r"x.wav: unknown kind of file '.wav'"):
        read_recording(str(tmp_path / "x.wav"))


def test_channel_that_does_not_exist(good_edf):
    rec = read_recording(str(good_edf))
    with pytest.raises(ChannelError, match=r"no channel 'Cz' in good.edf; it has: Fp1, Fp2"):
        rec.channel("Cz")
    with pytest.raises(ChannelError):
        rec.select(["Fp1", "Oz"])


def test_output_folder_missing(tmp_path, good_edf):
    rec = read_recording(str(good_edf))
    for out in ["nofolder/out.edf", "nofolder/out.csv", "nofolder/out.npy"]:
        with pytest.raises(OutputError, match=r"folder .* does not exist"):
            write_recording(rec.select(["Fp1"]), str(tmp_path / out))
    only(tmp_path, "good.edf")


def test_output_folder_is_a_file(tmp_path, good_edf):
    """Runs as root too: a path under a regular file cannot be written by anyone."""
    rec = read_recording(str(good_edf))
    with pytest.raises(OutputError):
        write_recording(rec, str(good_edf / "out.edf"))
    only(tmp_path, "good.edf")


@pytest.mark.parametrize("ext", [".edf", ".bdf", ".csv", ".npy"])
def test_output_folder_not_writable(tmp_path, good_edf, ext):
    """Judged by the permission bits, so it holds for root too (root passes os.access)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"not writable|read-only"):
            write_recording(read_recording(str(good_edf)), str(locked / f"out{ext}"))
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("ext", [".edf", ".csv", ".npy"])
def test_read_only_file_is_never_replaced(tmp_path, good_edf, ext):
    """A read-only recording (shared data sets are) is not replaced, even by root."""
    target = tmp_path / f"shared{ext}"
    target.write_bytes(b"original")
    target.chmod(0o444)
    with pytest.raises(OutputError, match=r"read-only"):
        write_recording(read_recording(str(good_edf)), str(target))
    assert target.read_bytes() == b"original"
    only(tmp_path, "good.edf", f"shared{ext}")


def test_output_is_a_folder(tmp_path, good_edf):
    (tmp_path / "dir.edf").mkdir()
    with pytest.raises(OutputError, match=r"it is a folder"):
        write_recording(read_recording(str(good_edf)), str(tmp_path / "dir.edf"))


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, good_edf):
    out = tmp_path / "out.edf"
    out.write_bytes(b"previous")
    rec = read_recording(str(good_edf))
    rec.channels[0] = rec.channels[0].with_samples(np.array([0.0, np.inf] * 500))
    with pytest.raises(OutputError, match=r"NaN/Inf"):
        write_recording(rec, str(out))
    assert out.read_bytes() == b"previous"
    only(tmp_path, "good.edf", "out.edf")


def test_every_error_is_one_line():
    for cls in (InputFileError, FormatError, OutputError):
        assert issubclass(cls, VQStudioError)
        assert "\n" not in str(cls("a\nb  c"))
