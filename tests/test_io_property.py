"""Property: any finite float signal written to EDF/BDF reads back within one step, never clipped."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Channel, Recording

# Finite float32 values the 8-character physical range field can hold (|x| < 1e7 leaves headroom).
values = st.floats(min_value=-9e6, max_value=9e6, allow_nan=False, allow_infinity=False, width=32)
signals = arrays(np.float32, st.integers(min_value=1, max_value=300), elements=values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=signals, bdf=st.booleans(), kept=st.booleans())
def test_finite_signal_round_trips_within_one_step(tmp_path, x, bdf, kept):
    ext, levels = (".bdf", (1 << 24) - 1) if bdf else (".edf", 65535)
    # a stated source range the data may or may not fit (then it must be widened, not clipped)
    rng = (-100.0, 100.0) if kept else None
    ch = Channel.from_samples("X", x, 100, "uV", physical_range=rng)
    out = str(tmp_path / f"p{ext}")
    write_recording(Recording([ch]), out)
    back = read_recording(out).channels[0]
    assert back.physical_min <= float(x.min()) and back.physical_max >= float(x.max())  # never clipped
    step = (back.physical_max - back.physical_min) / levels
    got = back.samples[: x.size].astype(np.float64)
    err = np.abs(got - x.astype(np.float64))
    assert np.all(err <= step + np.abs(x.astype(np.float64)) * 2.0**-23 + 1e-12), (err.max(), step)
