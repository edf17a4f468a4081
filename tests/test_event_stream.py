"""Engine events as lines of JSON (`vqstudio.event_stream`): every event type comes back equal,
arrays with their dtype and shape; a reader tailing the file sees whole lines only; a job's
events are recorded as it yields them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from vqstudio.event_stream import EVENT_TYPES, EventReader, EventWriter, decode, encode, recorded
from vqstudio.events import (
    CheckpointWritten,
    LogLine,
    LongRun,
    Progress,
    ReconstructionPreview,
    SamplePreview,
    Validation,
)

RNG = np.random.default_rng(0)
EVENTS = [
    Progress("prepare", 0, None, 0.5, None, 0.0),
    Progress(
        "tokenizer", 12, 100, 3.25, 40.125, 0.12, {"total": 0.1 + 0.2, "lr": 3e-4}, 812.5, codebook_used=0.75
    ),
    Progress("prior", 3, None, 1.0, 2.0, 0.5, {"loss": float("nan"), "grad": float("inf")}),
    Validation("tokenizer", 20, {"snr_db": 4.123456789012345, "usage_fraction": 0.5, "count": 3}),
    ReconstructionPreview(
        7,
        64.0,
        ("C3", "C4"),
        ("uV", "uV"),
        RNG.normal(size=(2, 128)).astype(np.float32),
        RNG.normal(size=(2, 128)).astype(np.float32),
    ),
    SamplePreview(9, 256.0, ("ECG",), ("mV",), RNG.normal(size=(1, 5)), label="awake"),
    SamplePreview(9, 256.0, (), (), np.zeros((0, 0), np.float32)),
    CheckpointWritten("tokenizer", 20, "/tmp/p q/tokenizer.safetensors"),
    LogLine('préparé: 2 files, "quoted"\nsecond line', "warning"),
    LongRun("prior", 3600.0, "about an hour"),
]


def _same(a: object, b: object) -> bool:
    """Equal field by field: arrays in values, dtype and shape; NaN equals NaN."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        )
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a):
        fields = [f.name for f in dataclasses.fields(a)]
        return type(a) is type(b) and all(_same(getattr(a, n), getattr(b, n)) for n in fields)
    return type(a) is type(b) and a == b


def test_every_event_type_round_trips_exactly():
    assert {type(e).__name__ for e in EVENTS} == set(EVENT_TYPES)
    for event in EVENTS:
        line = encode(event)
        assert "\n" not in line and f'"type":"{type(event).__name__}"' in line
        back = decode(line)
        assert _same(event, back), (event, back)
    # Plain events compare equal as dataclasses too (no arrays in them).
    assert decode(encode(EVENTS[1])) == EVENTS[1]


def test_numpy_scalars_in_losses_are_written_as_numbers():
    event = Progress("tokenizer", 1, 2, 0.0, None, 0.5, {"total": np.float32(0.25)})
    assert decode(encode(event)).losses == {"total": 0.25}


def test_a_line_that_is_not_an_event_is_refused():
    for line in ('{"type":"Nothing"}', "[1,2]", '{"step":3}'):
        with pytest.raises(ValueError, match="not an event"):
            decode(line)


def test_a_reader_sees_whole_lines_as_they_are_appended(tmp_path):
    path = str(tmp_path / "events.jsonl")
    reader = EventReader(path)
    assert reader.read() == []  # not written yet
    with EventWriter(path) as writer:
        writer.write(EVENTS[0])
        assert reader.read() == [EVENTS[0]]
        line = encode(EVENTS[1])
        with open(path, "a", encoding="utf-8") as f:  # a line cut in two by the writer's timing
            f.write(line[:10])
        assert reader.read() == []
        with open(path, "a", encoding="utf-8") as f:
            f.write(line[10:] + "\n")
        assert reader.read() == [EVENTS[1]]
        writer.write(EVENTS[5])
    assert [type(e) for e in reader.read()] == [SamplePreview]
    assert reader.read() == []


def test_a_recorded_job_yields_and_writes_each_event_and_returns_its_result(tmp_path):
    path = str(tmp_path / "events.jsonl")

    def job():
        yield EVENTS[0]
        yield EVENTS[3]
        return "result"

    wrapped = recorded(job(), path)
    seen = []
    while True:
        try:
            seen.append(next(wrapped))
        except StopIteration as done:
            assert done.value == "result"
            break
    assert seen == [EVENTS[0], EVENTS[3]]
    assert EventReader(path).read() == seen
