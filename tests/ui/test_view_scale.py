"""Amplitude steps of 1-2-5, as EDFbrowser and MNE's browser step (500 -> 200 -> 100 uV)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.ui.conftest import make_recording
from ui.view_scale import step_scale


def test_steps_walk_the_1_2_5_ladder_both_ways():
    down, value = [], 500.0
    for _ in range(6):
        value = step_scale(value, 0.8)
        down.append(value)
    assert down == [200.0, 100.0, 50.0, 20.0, 10.0, 5.0]
    up, value = [], 0.05
    for _ in range(4):
        value = step_scale(value, 1.25)
        up.append(value)
    assert up == [0.1, 0.2, 0.5, 1.0]


def test_a_value_between_steps_lands_on_the_next_step():
    assert step_scale(256.0, 0.8) == 200.0 and step_scale(256.0, 1.25) == 500.0
    assert step_scale(105.0, 0.8) == 100.0 and step_scale(105.0, 1.25) == 200.0
    assert step_scale(500.0, 0.5) == 200.0  # one step, whatever the factor


def test_plus_and_minus_keys_step_the_viewer_through_1_2_5(make_viewer, qtbot):
    viewer = make_viewer(800, 500)
    viewer.set_recording(make_recording(channels=3, seconds=20.0, rate=100.0))
    viewer.set_scale("uV", 500.0)
    seen = []
    for _ in range(3):
        qtbot.keyClick(viewer, Qt.Key.Key_Plus)
        seen.append(viewer.scales["uV"])
    assert seen == [200.0, 100.0, 50.0]  # was 400, 320, 256 (x 0.8 a press)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)
    assert viewer.scales["uV"] == 100.0
    assert viewer.scale_bars.bars[0][1] == "100 uV"


@pytest.mark.parametrize("start", [1.0, 3.7, 1e-4, 12345.0])
def test_steps_are_monotonic_and_never_stay(start):
    assert step_scale(start, 0.8) < start < step_scale(start, 1.25)
