"""Annotations from a separate EDF+ file: a Sleep-EDF hypnogram (annotations only) is read, `vqstudio
info` lists it, and a recording takes added, edited and removed annotations in time order."""

from __future__ import annotations

import json

import pytest
from sleep_edf import PSG_START, STAGES, write_hypnogram, write_psg

from vqstudio.cli import main
from vqstudio.errors import FormatError
from vqstudio.io import annotations_only, read_annotations, read_recording, write_recording
from vqstudio.recording import Annotation, Channel, Recording


@pytest.fixture
def hypnogram(tmp_path) -> str:
    path = str(tmp_path / "night1-Hypnogram.edf")
    write_hypnogram(path)
    return path


def test_a_hypnogram_is_read_with_its_start(hypnogram):
    assert annotations_only(hypnogram)
    found = read_annotations(hypnogram)
    assert found.signals == 0 and found.format == "EDF+C"
    assert found.start == PSG_START
    assert [(a.onset, a.duration, a.text) for a in found.annotations] == list(STAGES)
    assert found.end == 420.0


def test_opening_a_hypnogram_as_a_recording_says_what_to_do(hypnogram):
    with pytest.raises(FormatError, match=r"annotations only.*add its annotations to the recording"):
        read_recording(hypnogram)


def test_annotations_of_a_file_with_signals_and_refusals(tmp_path):
    psg = str(tmp_path / "psg.edf")
    rec = write_psg(psg, seconds=60.0)
    assert not annotations_only(psg)
    rec.annotations = [Annotation(5.0, 2.0, "arousal")]
    with_notes = str(tmp_path / "with_notes.edf")
    write_recording(rec, with_notes)
    found = read_annotations(with_notes)
    assert found.signals == 7 and [a.text for a in found.annotations] == ["arousal"]
    csv = tmp_path / "notes.csv"
    csv.write_text("onset,duration,text\n1,0,x\n")
    with pytest.raises(FormatError, match="EDF\\+ or BDF\\+"):
        read_annotations(str(csv))
    assert not annotations_only(str(csv)) and not annotations_only(str(tmp_path / "missing.edf"))


def test_info_lists_a_hypnogram(hypnogram, capsys):
    assert main(["info", hypnogram]) == 0
    out = capsys.readouterr().out
    assert "annotations only (no signal)" in out and "7 annotations over 420 s" in out
    assert "Sleep stage R" in out and "1989-03-24T16:13:00" in out
    assert main(["info", hypnogram, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["annotations_only"] is True and s["channel_count"] == 0 and s["channels"] == []
    assert s["annotations"][2] == {"onset_s": 90.0, "duration_s": 90.0, "text": "Sleep stage 2"}
    assert s["annotation_count"] == 7 and s["duration_s"] == 420.0


def test_recording_annotation_edits_keep_time_order_and_skip_duplicates():
    rec = Recording([Channel.from_samples("C3", [0.0] * 100, 10, "uV")], [Annotation(5.0, 0.0, "b")])
    same_list = rec.annotations
    added = rec.add_annotations(
        [Annotation(1.0, 2.0, "a"), Annotation(5.0, 0.0, "b"), Annotation(1.0, 2.0, "a")]
    )
    assert added == 1 and [a.text for a in rec.annotations] == ["a", "b"]
    assert rec.annotations is same_list  # edited in place: every holder sees the change
    rec.replace_annotation(Annotation(1.0, 2.0, "a"), Annotation(7.0, 1.0, "c"))
    assert [(a.onset, a.text) for a in rec.annotations] == [(5.0, "b"), (7.0, "c")]
    assert rec.remove_annotation(Annotation(5.0, 0.0, "b")) and not rec.remove_annotation(
        Annotation(5.0, 0.0, "b")
    )
    with pytest.raises(KeyError):
        rec.replace_annotation(Annotation(9.0, 0.0, "gone"), Annotation(1.0, 0.0, "x"))
