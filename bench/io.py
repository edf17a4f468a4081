"""Reading speed of `vqstudio.io` against raw bytes, edfio and pyedflib; prints one JSON line.

    python bench/io.py [PATH...] [--make-64ch] [--keep-64ch NEW_PATH] [--repeats N] [--no-compare] [--smoke]

For each file (page cache warm: the raw read runs first):
- raw_mb_s: reading the file's bytes into memory (the ceiling);
- whole_mb_s: `read_recording(path)` then every channel's samples as float32 physical values
  (file bytes / seconds, best of N); whole_vs_raw = whole_mb_s / raw_mb_s;
- span_ms: a 10 s span of every channel from a freshly opened (lazy) recording, median over
  20 positions; span_mb_s is the span's stored bytes / time;
- *_cpu: the same per CPU second (process time), a fairer figure when other work loads the
  machine (see load_average_1min);
- open_ms: header and annotations only;
- peak_mb_whole / data_mb: tracemalloc peak while reading everything vs the float32 samples
  returned; peak_mb_span / span_data_mb the same for one span;
- for EDF/BDF, the same whole-file and span figures for edfio (lazy) and pyedflib's readSignal.
`--make-64ch` writes the 64-channel, 1-hour, 256 Hz EDF+ (118 MB) with annotations, with our
writer, into a fresh temporary folder (removed afterwards) and measures it first;
`--keep-64ch NEW_PATH` writes it to NEW_PATH instead, which must not exist (never a PATH:
the bench only ever creates files). `--smoke`: one read of a tiny recording and of a 1-minute
64-channel file, both written into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

from vqstudio.io import read_recording, write_recording
from vqstudio.recording import Annotation, Recording

SPAN_S = 10.0


def make_64ch(path: str, seconds: int = 3600) -> float:
    """Writes the 64-channel, 1-hour (`seconds`), 256 Hz EDF+ benchmark file; returns seconds taken."""
    rng = np.random.default_rng(0)
    rate = 256
    data = (rng.standard_normal((64, rate * seconds), dtype=np.float32) * 40).cumsum(axis=1, dtype=np.float32)
    data -= data.mean(axis=1, keepdims=True)
    data = np.clip(data, -3000, 3000)
    notes = [Annotation(30.0 * i, 30.0, f"Sleep stage {'WN123R'[i % 6]}") for i in range(seconds // 30)]
    rec = Recording.from_array(data, rate, [f"EEG {i:02d}" for i in range(64)], "uV", notes)
    t0 = time.perf_counter()
    write_recording(rec, path)
    return time.perf_counter() - t0


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `fn()`: CPU time is what the work costs when other
    processes compete for the cores (wall time then also counts the waiting)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def raw_read(path: str) -> float:
    size = os.path.getsize(path)
    buf = bytearray(size)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        view = memoryview(buf)
        got = 0
        while got < size:
            n = f.readinto(view[got:])
            if not n:
                break
            got += n
    return time.perf_counter() - t0


def whole_ours(path: str, rate: float | None) -> float:
    t0 = time.perf_counter()
    rec = read_recording(path, rate=rate)
    for c in rec.channels:
        _ = c.samples
    return time.perf_counter() - t0


def spans_ours(path: str, rate: float | None, starts: list[float]) -> list[float]:
    out = []
    for s in starts:
        rec = read_recording(path, rate=rate)  # fresh: nothing loaded
        t0 = time.perf_counter()
        rec.span(s, s + SPAN_S)
        out.append(time.perf_counter() - t0)
    return out


def peak(fn) -> tuple[float, object]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 1e6, result


def edfio_figures(path: str, starts: list[float]) -> dict[str, float]:
    import edfio

    bdf = path.lower().endswith(".bdf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
        for s in edf.signals:
            _ = s.data
        whole, whole_cpu = time.perf_counter() - t0, time.process_time() - c0
        spans = []
        for st in starts:
            edf = edfio.read_bdf(path) if bdf else edfio.read_edf(path, lazy_load_data=True)
            t0 = time.perf_counter()
            for s in edf.signals:
                s.get_data_slice(st, st + SPAN_S)
            spans.append(time.perf_counter() - t0)
    size = os.path.getsize(path) / 1e6
    return {
        "edfio_whole_mb_s": round(size / whole, 1),
        "edfio_whole_mb_s_cpu": round(size / max(whole_cpu, 1e-9), 1),
        "edfio_span_ms": round(statistics.median(spans) * 1e3, 3),
    }


def pyedflib_figures(path: str, starts: list[float]) -> dict[str, float]:
    import pyedflib

    with pyedflib.EdfReader(path) as r:
        t0 = time.perf_counter()
        for i in range(r.signals_in_file):
            r.readSignal(i)
        whole = time.perf_counter() - t0
        rates = r.getSampleFrequencies()
        spans = []
        for st in starts[:5]:
            t0 = time.perf_counter()
            for i in range(r.signals_in_file):
                r.readSignal(i, int(st * rates[i]), int(SPAN_S * rates[i]))
            spans.append(time.perf_counter() - t0)
    size = os.path.getsize(path) / 1e6
    return {
        "pyedflib_whole_mb_s": round(size / whole, 1),
        "pyedflib_span_ms": round(statistics.median(spans) * 1e3, 3),
    }


def measure(path: str, rate: float | None, repeats: int, compare: bool) -> dict[str, object]:
    size = os.path.getsize(path)
    raw = min(raw_read(path) for _ in range(repeats))
    t0 = time.perf_counter()
    rec = read_recording(path, rate=rate)
    open_s = time.perf_counter() - t0
    duration = rec.duration
    whole = min(whole_ours(path, rate) for _ in range(repeats))
    raw_cpu = min(timed(lambda: raw_read(path))[1] for _ in range(repeats))
    whole_cpu = min(timed(lambda: whole_ours(path, rate))[1] for _ in range(repeats))
    rng = np.random.default_rng(0)
    starts = [float(s) for s in rng.uniform(0, max(0.0, duration - SPAN_S), 20)]
    spans = spans_ours(path, rate, starts)
    span_bytes = sum(c.rate * SPAN_S for c in rec.channels) * (
        size / max(1, sum(c.n_samples for c in rec.channels))
    )
    data_mb = sum(c.n_samples for c in rec.channels) * 4 / 1e6
    peak_whole, _ = peak(lambda: whole_ours(path, rate))
    fresh = read_recording(path, rate=rate)
    peak_span, got = peak(lambda: fresh.span(starts[0], starts[0] + SPAN_S))
    span_data_mb = sum(x.nbytes for x in got) / 1e6  # type: ignore[attr-defined]
    span_s = statistics.median(spans)
    out: dict[str, object] = {
        "file": os.path.basename(path),
        "format": rec.source.format if rec.source else None,
        "mb": round(size / 1e6, 2),
        "channels": len(rec.channels),
        "duration_s": round(duration, 3),
        "raw_mb_s": round(size / 1e6 / raw, 1),
        "open_ms": round(open_s * 1e3, 2),
        "whole_mb_s": round(size / 1e6 / whole, 1),
        "whole_vs_raw": round(raw / whole, 3),
        "raw_mb_s_cpu": round(size / 1e6 / max(raw_cpu, 1e-9), 1),
        "whole_mb_s_cpu": round(size / 1e6 / max(whole_cpu, 1e-9), 1),
        "span_ms": round(span_s * 1e3, 3),
        "span_mb_s": round(span_bytes / 1e6 / span_s, 1),
        "span_vs_raw": round((span_bytes / span_s) / (size / raw), 3),
        "data_mb": round(data_mb, 2),
        "peak_mb_whole": round(peak_whole, 2),
        "span_data_mb": round(span_data_mb, 3),
        "peak_mb_span": round(peak_span, 3),
    }
    if compare and path.lower().endswith((".edf", ".bdf")):
        out.update(edfio_figures(path, starts))
        out.update(pyedflib_figures(path, starts))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument(
        "--make-64ch", action="store_true", help="make the 64-channel 1-hour EDF+ in a temp folder"
    )
    p.add_argument("--keep-64ch", metavar="NEW_PATH", help="make it at NEW_PATH (must not exist) and keep it")
    p.add_argument("--rate", type=float, help="rate of CSV files without a time column")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-compare", action="store_true", help="skip the edfio and pyedflib figures")
    smoke.add_smoke_flag(p)
    args = p.parse_args(argv)
    smoke.apply_smoke(p, args, repeats=1, make_64ch=True)
    paths = list(args.paths)
    if args.smoke and not paths:
        paths = smoke.write_recordings(smoke.scratch_folder(), count=1)
    made = None
    tmp = None
    if args.make_64ch or args.keep_64ch:
        target = args.keep_64ch
        if target and os.path.lexists(target):
            p.error(f"--keep-64ch {target}: the path exists; the bench never writes over a file")
        seconds = 60 if args.smoke else 3600
        if not target:
            tmp = tempfile.TemporaryDirectory()
            target = os.path.join(
                tmp.name, "bench_64ch_1min_256hz.edf" if args.smoke else "bench_64ch_1h_256hz.edf"
            )
        made = {"path": target, "write_s": round(make_64ch(target, seconds), 2)}
        paths.insert(0, target)
    if not paths:
        p.error("give at least one PATH or --make-64ch")
    try:
        results = [measure(path, args.rate, args.repeats, not args.no_compare) for path in paths]
    finally:
        if tmp is not None:
            tmp.cleanup()
    line = {
        "bench": "io",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),  # other work on the machine slows every figure
        "made_64ch": made,
        "files": results,
    }
    if args.smoke:
        line["smoke"] = True
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
