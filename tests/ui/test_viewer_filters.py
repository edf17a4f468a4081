"""Display filters and re-referencing of the viewer, without Qt: ui.view_filters, ui.view_reference,
ui.view_page."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from ui.view_filters import ViewFilters, apply_filters, design, margin_seconds
from ui.view_page import read_page
from ui.view_reference import Reference, reference_members
from vqstudio.recording import Recording

RATE = 256.0


def sines(seconds: float = 60.0, rate: float = RATE) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(seconds * rate)) / rate
    return t, np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 50 * t)


def test_notch_removes_the_mains_sine_and_keeps_the_rest():
    t, x = sines()
    y = apply_filters(x[None, :], RATE, ViewFilters(notch=50.0))[0]
    middle = slice(len(t) // 4, 3 * len(t) // 4)
    np.testing.assert_allclose(y[middle], np.sin(2 * np.pi * 10 * t[middle]), atol=0.02)


def test_highpass_removes_a_dc_offset():
    t, x = sines()
    y = apply_filters(x[None, :] + 300.0, RATE, ViewFilters(highpass=0.5))[0]
    assert abs(y[len(t) // 4 : 3 * len(t) // 4].mean()) < 0.05


def test_designs_are_cached_and_corners_above_nyquist_are_left_out():
    f = ViewFilters(0.5, 40.0, 50.0)
    assert design(f, RATE) is design(ViewFilters(0.5, 40.0, 50.0), RATE)
    assert design(ViewFilters(lowpass=100.0, notch=60.0), 100.0) is None  # both at/above 50 Hz
    assert design(ViewFilters(), RATE) is None
    x = np.ones((1, 10))
    assert apply_filters(x, RATE, ViewFilters()) is x


def test_filters_check_their_corners_and_say_what_they_are():
    with pytest.raises(ValueError, match="highpass"):
        ViewFilters(highpass=-1.0)
    assert ViewFilters(0.5, 40.0, 50.0).describe() == "0.5-40 Hz, notch 50 Hz"
    assert margin_seconds(ViewFilters()) == 0.0
    assert margin_seconds(ViewFilters(lowpass=40.0)) == 1.0
    assert margin_seconds(ViewFilters(highpass=0.5)) == 4.0
    assert margin_seconds(ViewFilters(highpass=0.01)) == 10.0


def recording(channels: list[tuple[str, str, np.ndarray]], rate: float = RATE) -> Recording:
    data = np.array([x for _, _, x in channels], dtype=np.float32)
    return Recording.from_array(data, rate, [n for n, _, _ in channels], [u for _, u, _ in channels])


def test_a_page_has_no_filter_transient_at_its_edges():
    """The page is filtered with a margin: its edges match filtering the whole recording."""
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal(int(120 * RATE))) + 200.0  # drifting, with an offset
    rec = recording([("C3", "uV", x)])
    f = ViewFilters(0.5, 40.0, 50.0)
    whole = signal.sosfiltfilt(design(f, RATE), x.astype(np.float32).astype(np.float64))
    (row,) = read_page(rec, [0], 50.0, 60.0, bins=0, filters=f)
    s0 = int(50 * RATE)
    expected = whole[s0 : s0 + row.samples.size]
    scale = np.std(expected)
    assert np.max(np.abs(row.samples - expected)) < 0.01 * scale
    # Without the margin, the edges would carry the high-pass's start-up transient.
    bare = apply_filters(x[None, s0 : s0 + row.samples.size].astype(np.float32), RATE, f)[0]
    assert np.max(np.abs(bare[:20] - expected[:20])) > 0.05 * scale


def test_page_rows_give_values_and_decimated_points():
    t = np.arange(int(20 * RATE)) / RATE
    rec = recording([("A", "uV", t), ("B", "uV", -t)])
    rows = read_page(rec, [1, 0], 4.0, 6.0, bins=50)
    assert [r.index for r in rows] == [1, 0]
    assert rows[1].value_at(5.0) == pytest.approx(5.0, abs=1e-3)
    assert rows[0].value_at(5.0) == pytest.approx(-5.0, abs=1e-3)
    assert rows[0].value_at(30.0) is None
    assert rows[0].x.size <= 2 * 50 + 2 and rows[0].y.min() == pytest.approx(-6.0, abs=0.01)


def test_average_reference_uses_good_channels_of_the_same_unit_and_rate():
    n = int(10 * RATE)
    a, b, c = np.full(n, 10.0), np.full(n, 20.0), np.full(n, 60.0)
    ecg = np.full(n, 1.0)
    rec = recording([("Fp1.", "uV", a), ("Fp2.", "uV", b), ("Cz..", "uV", c), ("ECG", "mV", ecg)])
    avg = Reference("average")
    assert reference_members(rec.channels, 0, avg) == (0, 1, 2)
    assert reference_members(rec.channels, 3, avg) == ()  # a group of one stays as recorded
    rows = read_page(rec, [0, 1, 2, 3], 1.0, 2.0, bins=0, reference=avg)
    assert [r.samples[0] for r in rows] == pytest.approx([-20.0, -10.0, 30.0, 1.0])
    # A bad channel stays out of the average (it is still drawn, referenced).
    rows = read_page(rec, [0, 1, 2], 1.0, 2.0, bins=0, reference=avg, bad={"Cz"})
    assert [r.samples[0] for r in rows] == pytest.approx([-5.0, 5.0, 45.0])


def test_channel_reference_subtracts_that_channel_within_its_group():
    n = int(10 * RATE)
    rec = recording(
        [("C3", "uV", np.full(n, 5.0)), ("Cz", "µV", np.full(n, 2.0)), ("ECG", "mV", np.full(n, 1.0))]
    )
    ref = Reference("channel", "Cz")
    rows = read_page(rec, [0, 1, 2], 0.0, 1.0, bins=0, reference=ref)
    # uV and µV are one kind; the reference itself and the ECG stay as recorded.
    assert [r.samples[0] for r in rows] == pytest.approx([3.0, 2.0, 1.0])
    assert Reference("channel", "Cz").describe() == "reference Cz"
    with pytest.raises(ValueError):
        Reference("bipolar")
