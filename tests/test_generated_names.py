"""The app names generated files by the second: a second run within that second gets a name of
its own instead of writing over the first run's recordings."""

from __future__ import annotations

from vqstudio.generation.export import output_paths, unused_output


def test_a_free_name_is_kept(tmp_path):
    out = str(tmp_path / "gui_20261207-201500.edf")
    assert unused_output(out, 3) == out


def test_a_taken_name_gets_a_number(tmp_path):
    out = str(tmp_path / "gui_20261207-201500.edf")
    for path in output_paths(out, 2):  # the first run wrote _1 and _2
        open(path, "w").close()
    second = unused_output(out, 2)
    assert second == str(tmp_path / "gui_20261207-201500-2.edf")
    for path in output_paths(second, 2):
        open(path, "w").close()
    assert unused_output(out, 3) == str(tmp_path / "gui_20261207-201500-3.edf")
    # One file of the same name as the batch's stem writes over none of them.
    assert unused_output(out, 1) == out
    open(out, "w").close()
    assert unused_output(out, 1) == str(tmp_path / "gui_20261207-201500-2.edf")
