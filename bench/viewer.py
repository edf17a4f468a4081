"""Benchmark of the signal viewer: open + first draw, then frame times while paging.

Makes its own recording (64 channels, 1 hour, 256 Hz of 1/f-like noise with spikes): in memory
by default, or written to a temporary EDF and read back lazily with `--edf` (needs the engine's
`vqstudio.io`). Pages through it offscreen at 1600x1000; the first draw is timed up to
`widget.grab()`, which forces a real paint of the whole viewer (axes, traces, annotations)
into a pixmap; each paging frame is `repaint()` (a synchronous paint of the shown widget, as
on screen) then `processEvents()`. Prints one JSON line with wall-clock and main-thread CPU
frame times (the CPU figure is steadier when other processes share the machine; the load
average is printed too). Every channel is on the page (`--rows 0`) unless `--rows N` says otherwise.
`--filter 0.5,40,50` turns the display filters on (high-pass, low-pass, notch in Hz; 0 for off):
each page is then read with the filter margin, filtered (sosfiltfilt) and decimated.

    QT_QPA_PLATFORM=offscreen python bench/viewer.py [--frames 200] [--page 10] [--edf]
        [--rows 0] [--filter 0.5,40,50] [--smoke]

`--smoke`: a minute of 4 channels at 128 Hz, through the EDF writer and reader, filtered, 5 frames.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke


def make_recording(channels: int, seconds: float, rate: float):
    from scipy.signal import lfilter

    from vqstudio.recording import Annotation, Recording

    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    # AR(1) noise (a 1/f-like low-pass spectrum, as EEG) with a 10 Hz rhythm and sparse spikes, in uV.
    data = lfilter([1.0], [1.0, -0.95], rng.standard_normal((channels, n)).astype(np.float32), axis=1)
    data = data.astype(np.float32) * 5.0
    t = np.arange(n, dtype=np.float32) / rate
    data += 20.0 * np.sin(2 * np.pi * 10.0 * t, dtype=np.float32)
    spikes = rng.integers(0, n, size=(channels, 200))
    for ch in range(channels):
        data[ch, spikes[ch]] += 150.0
    ann = [Annotation(float(t), 2.0, f"event {k}") for k, t in enumerate(np.arange(5, seconds, 37.0))]
    labels = [f"EEG{i:02d}" for i in range(channels)]
    return Recording.from_array(data, rate, labels, "uV", annotations=ann)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--rate", type=float, default=256.0)
    parser.add_argument("--page", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--edf", action="store_true", help="write a temporary EDF and read it lazily")
    parser.add_argument("--rows", type=int, default=0, help="channels per page (0: all)")
    parser.add_argument(
        "--filter", default="", help="display filters HP,LP,NOTCH in Hz (0 for off), e.g. 0.5,40,50"
    )
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    small = {"channels": 4, "seconds": 60.0, "rate": 128.0, "frames": 5, "filter": "0.5,20,50"}
    smoke.apply_smoke(parser, args, edf=True, **small)

    from PySide6.QtWidgets import QApplication

    from ui.view_filters import ViewFilters
    from ui.viewer import SignalViewer

    corners = [float(v) or None for v in args.filter.split(",")] if args.filter else []
    filters = ViewFilters(*corners)

    app = QApplication.instance() or QApplication([])
    rec = make_recording(args.channels, args.seconds, args.rate)
    source = "memory"
    tmp = None
    if args.edf:
        from vqstudio.io import read_recording, write_recording

        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "bench.edf")
        write_recording(rec, path)
        source = "edf"
    viewer = SignalViewer()
    viewer.resize(1600, 1000)
    viewer.show()
    app.processEvents()

    t = time.perf_counter()
    if args.edf:
        rec = read_recording(path)
    viewer.set_page_length(args.page)
    viewer.set_channels_per_page(args.rows)
    viewer.set_filters(filters)
    viewer.set_recording(rec, "bench")
    viewer.grab()
    first = time.perf_counter() - t

    frames, cpu = [], []
    rng = np.random.default_rng(1)
    for k in range(args.frames):
        t, c = time.perf_counter(), time.thread_time()
        if k % 4 == 3:  # mostly sequential paging, sometimes a jump
            viewer.set_page(float(rng.uniform(0, viewer.max_start())))
        else:
            viewer.next_page()
        viewer.repaint()
        app.processEvents()
        frames.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    ms = np.array(frames) * 1000
    cpu_ms = np.array(cpu) * 1000
    line = {
        "bench": "viewer",
        "source": source,
        "channels": args.channels,
        "seconds": args.seconds,
        "rate": args.rate,
        "page_s": args.page,
        "rows": viewer.channels_per_page,
        "filters": filters.describe(),
        "size": [1600, 1000],
        "paint": "widget.repaint() + processEvents per frame",
        "open_first_draw_s": round(first, 3),
        "frame_ms_median": round(float(np.median(ms)), 2),
        "frame_ms_p95": round(float(np.percentile(ms, 95)), 2),
        "frame_cpu_ms_median": round(float(np.median(cpu_ms)), 2),
        "frame_cpu_ms_p95": round(float(np.percentile(cpu_ms, 95)), 2),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "frames": args.frames,
        "qt": __import__("PySide6").__version__,
        "pyqtgraph": __import__("pyqtgraph").__version__,
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))
    viewer.close()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
