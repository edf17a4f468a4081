"""PNG plots of an evaluation: PSDs per channel, example windows, nearest-neighbour distances.

matplotlib is imported only when plotting, and only through `Figure` objects with the Agg
canvas: no pyplot, no global figure state, so a GUI worker thread can call this safely.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from vqstudio.errors import OutputError
from vqstudio.evaluation.report import EvaluationReport
from vqstudio.io.atomic import atomic_path
from vqstudio.io.write_guard import check_new_folder, check_target

__all__ = ["check_plots_folder", "save_plots"]

_REAL, _SYN = "#1f77b4", "#d62728"


def _figure(width: float, height: float, **spacing: float):  # -> matplotlib.figure.Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed spacing instead of a layout engine: constrained layout doubles the drawing time.
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(**{"left": 0.07, "right": 0.98, "bottom": 0.08, "top": 0.9, **spacing})
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _db(p: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(p, 1e-300))


def _psd_plot(report: EvaluationReport, units: Sequence[str] | None, path: str) -> str:
    names = report.channel_names
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(3.2 * cols, 2.3 * rows + 0.6, hspace=0.55, wspace=0.35, top=1 - 0.75 / (2.3 * rows + 0.6))
    lsd = report.metrics.get("psd_lsd")
    keep = report.freqs > 0
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        # dB on a linear axis: reads like a log plot and draws far faster (no log-axis minor ticks).
        ax.plot(report.freqs[keep], _db(report.psd_real[i, keep]), color=_REAL, lw=1.0, label="real")
        ax.plot(report.freqs[keep], _db(report.psd_synthetic[i, keep]), color=_SYN, lw=1.0, label="synthetic")
        extra = f"  LSD {lsd.per_channel[name]:.2f} dB" if lsd and lsd.per_channel else ""
        ax.set_title(f"{name}{extra}", fontsize=9)
        ax.tick_params(labelsize=7)
        if units or i % cols == 0:  # with units given, each panel says its own
            ax.set_ylabel(f"dB re 1 {units[i] if units else 'unit'}²/Hz", fontsize=8)
        if i >= len(names) - cols:
            ax.set_xlabel("Hz", fontsize=8)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle("Welch PSD averaged over windows: real (held out) vs synthetic", fontsize=10)
    return _save(fig, path)


def _stack(ax, window: np.ndarray, rate: float, scale: np.ndarray, color: str, names: list[str]) -> None:
    t = np.arange(window.shape[-1]) / rate
    for c in range(window.shape[0]):
        ax.plot(t, (window[c] - window[c].mean()) / scale[c] - c, color=color, lw=0.6)
    ax.set_yticks(-np.arange(window.shape[0]))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("s", fontsize=8)
    ax.tick_params(labelsize=7)


def _examples_plot(
    report: EvaluationReport, real: np.ndarray, synthetic: np.ndarray, examples: int, seed: int, path: str
) -> str:
    rng = np.random.default_rng(seed)
    k = int(min(examples, len(real), len(synthetic)))
    pick_r = np.sort(rng.choice(len(real), k, replace=False))
    pick_s = np.sort(rng.choice(len(synthetic), k, replace=False))
    # One scale per channel, from the real data, shared by both columns so amplitudes compare.
    scale = 6.0 * np.maximum(real.std(axis=(0, 2)), 1e-12)
    n_ch = real.shape[1]
    height = (0.35 * n_ch + 0.8) * k + 0.5
    fig = _figure(12, height, hspace=0.35, wspace=0.12, top=1 - 0.45 / height, bottom=0.35 / height)
    for row in range(k):
        for col, (data, pick, colour, what) in enumerate(
            ((real, pick_r, _REAL, "real"), (synthetic, pick_s, _SYN, "synthetic"))
        ):
            ax = fig.add_subplot(k, 2, 2 * row + col + 1)
            _stack(ax, data[pick[row]], report.rate, scale, colour, report.channel_names)
            ax.set_title(f"{what} window {pick[row]}", fontsize=9)
    fig.suptitle("Example windows (same vertical scale per channel in both columns)", fontsize=10)
    return _save(fig, path)


def _nearest_plot(report: EvaluationReport, path: str) -> str:
    fig = _figure(7, 4, left=0.1, bottom=0.13)
    ax = fig.add_subplot(1, 1, 1)
    both = np.concatenate([report.nn_real, report.nn_synthetic])
    bins = np.linspace(0.0, float(both.max()) * 1.05 + 1e-9, 40)
    ax.hist(
        report.nn_real, bins=bins, alpha=0.6, color=_REAL, label=f"held-out real (n={report.nn_real.size})"
    )
    ax.hist(
        report.nn_synthetic,
        bins=bins,
        alpha=0.6,
        color=_SYN,
        label=f"synthetic (n={report.nn_synthetic.size})",
    )
    for values, colour in ((report.nn_real, _REAL), (report.nn_synthetic, _SYN)):
        ax.axvline(float(np.median(values)), color=colour, ls="--", lw=1)
    mem = report.metrics.get("memorization")
    verdict = {"yes": "FLAGGED: copies of training stretches", "no": "not flagged"}.get(
        str(report.memorization_verdict), str(report.memorization_verdict)
    )
    ratio = f"median ratio {mem.value:.2f}, " if mem and mem.value is not None else ""
    ax.set_title(f"Distance to the nearest training window ({ratio}{verdict})", fontsize=10)
    ax.set_xlabel("shape distance sqrt(2(1 - correlation)) at the best time shift (0 = copy)")
    ax.set_ylabel("windows")
    ax.legend(fontsize=8)
    return _save(fig, path)


def check_plots_folder(folder: str) -> None:
    """Refuses (`OutputError`) a plots folder that is a file, or whose plots may not be written there."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"cannot write plots into {folder}: it is a file, not a folder")
    check_new_folder(folder)  # inside a project only its reports/ or samples/; a writable parent
    if os.path.isdir(folder):
        check_target(os.path.join(folder, "psd.png"))


def save_plots(
    report: EvaluationReport,
    real: np.ndarray,
    synthetic: np.ndarray,
    folder: str,
    *,
    units: Sequence[str] | None = None,
    examples: int = 3,
) -> list[str]:
    """Writes `psd.png`, `examples.png` and `nearest_neighbours.png` into `folder` (made if
    missing) from a report and the windows it was computed on; returns the paths written.

    Plots whose data the report lacks (a stopped evaluation) are left out.
    """
    check_plots_folder(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot make the plots folder {folder}: {e.strerror or e}") from e
    paths = []
    if report.psd_real.size:
        paths.append(_psd_plot(report, units, os.path.join(folder, "psd.png")))
    examples_path = os.path.join(folder, "examples.png")
    paths.append(
        _examples_plot(report, np.asarray(real), np.asarray(synthetic), examples, report.seed, examples_path)
    )
    if report.nn_real.size and report.nn_synthetic.size:
        paths.append(_nearest_plot(report, os.path.join(folder, "nearest_neighbours.png")))
    return paths
