"""What gives synthetic recordings away: the discriminator's accuracy band by band and on the
spectrum alone, and the features a clinician or an EEG analyst reads, real against synthetic.

    python bench/tells.py PROJECT --synthetic FILE... [--real FILE...] [--rate HZ]
        [--ecg CHANNEL] [--max-windows N] [--seed N] [--smoke]

Real windows are the project's held-out split (or `--real` recordings); synthetic ones come from
the files, prepared as the project prepares its data. Prints one JSON line:

* `cnn`: the 1D CNN's accuracy (`vqstudio.evaluation.cnn`) on the windows as they are, on
  band-limited copies of both sets (below 15 Hz, 15-45 Hz, above 45 Hz, where the rate has
  them), and on phase-randomized copies of both (the spectrum alone: what is left to tell when
  every waveform shape is gone). A band where the accuracy stays high holds a tell; the
  spectrum-only accuracy against the full one says how much of it is shape.
* `features`: per feature, the two-sample Kolmogorov-Smirnov statistic between the real and
  synthetic windows' values (all channels pooled) and the standardised mean difference: EEG
  band powers (delta to gamma), alpha peak frequency, 1/f slope, line length, kurtosis.
* `ecg` (with `--ecg CHANNEL`, or a channel named ECG/EKG): beats a minute, RR variation,
  longest RR, share of RR changes over 150 ms, QRS height and width, from each whole
  recording (the held-out stretch of the project's sources for real).
* `tells`: the features ordered by KS statistic, largest first: where to look next.

`--smoke` trains a tiny project and generates from it in a temporary folder (PROJECT optional).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke  # noqa: E402
from cli_runs import generated_paths, run_vqstudio  # noqa: E402
from prior_ablation import qrs_times  # noqa: E402

BANDS_CNN = {"below_15hz": (0.0, 15.0), "15_45hz": (15.0, 45.0), "above_45hz": (45.0, None)}
EEG_BANDS = {
    "delta": (0.5, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}
RR_JUMP_S = 0.15  # a change between successive RR intervals this large is a rhythm break


def _band_limited(windows: np.ndarray, rate: float, lo: float, hi: float | None) -> np.ndarray:
    """Each window filtered (zero phase) to lo-hi Hz (hi None: up to Nyquist)."""
    from scipy.signal import butter, sosfiltfilt

    nyq = rate / 2
    if hi is not None and hi >= nyq:
        hi = None
    if lo <= 0:
        sos = butter(4, hi, btype="low", fs=rate, output="sos")
    elif hi is None:
        sos = butter(4, lo, btype="high", fs=rate, output="sos")
    else:
        sos = butter(4, [lo, hi], btype="band", fs=rate, output="sos")
    return sosfiltfilt(sos, windows.astype(np.float64), axis=-1).astype(np.float32)


def cnn_tells(real: np.ndarray, synthetic: np.ndarray, rate: float, seed: int, max_windows: int) -> dict:
    """CNN accuracy, with its interval, on the windows, per band, and on the spectrum alone."""
    from vqstudio.evaluation.cnn import cnn_accuracy
    from vqstudio.evaluation.surrogate import phase_randomized_surrogate

    def score(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        r = cnn_accuracy(a, b, seed=seed, max_windows=max_windows)
        return {
            "accuracy": round(r.accuracy, 3),
            "ci95": [round(v, 3) for v in r.ci95],
            "windows": r.windows_per_class,
        }

    out = {"full": score(real, synthetic)}
    for name, (lo, hi) in BANDS_CNN.items():
        if lo >= rate / 2 * 0.95:
            continue  # the band lies above what the rate holds
        out[name] = score(_band_limited(real, rate, lo, hi), _band_limited(synthetic, rate, lo, hi))
    rng = np.random.default_rng(seed)
    out["spectrum_only"] = score(
        phase_randomized_surrogate(real, rng), phase_randomized_surrogate(synthetic, rng)
    )
    return out


def window_features(windows: np.ndarray, rate: float) -> dict[str, np.ndarray]:
    """Per window and channel (flattened): the features an analyst reads."""
    from vqstudio.spectra import welch_psd

    x = windows.astype(np.float64)
    freqs, psd = welch_psd(x, rate, min(x.shape[-1], int(2 * rate)))
    out: dict[str, np.ndarray] = {}
    for name, (lo, hi) in EEG_BANDS.items():
        inside = (freqs >= lo) & (freqs < min(hi, rate / 2))
        if inside.any():
            out[f"logpower_{name}"] = np.log(psd[..., inside].mean(axis=-1) + 1e-30).ravel()
    alpha = (freqs >= 7.0) & (freqs <= 14.0)
    if alpha.any():
        out["alpha_peak_hz"] = freqs[alpha][np.argmax(psd[..., alpha], axis=-1)].ravel()
    fit = (freqs >= 2.0) & (freqs <= min(40.0, rate / 2))
    if fit.sum() >= 3:
        lf, lp = np.log(freqs[fit]), np.log(psd[..., fit] + 1e-30)
        slope = ((lp - lp.mean(-1, keepdims=True)) * (lf - lf.mean())).sum(-1) / ((lf - lf.mean()) ** 2).sum()
        out["spectral_slope"] = slope.ravel()
    out["line_length"] = np.abs(np.diff(x, axis=-1)).mean(axis=-1).ravel()
    centred = x - x.mean(axis=-1, keepdims=True)
    out["kurtosis"] = ((centred**4).mean(-1) / ((centred**2).mean(-1) ** 2 + 1e-30) - 3.0).ravel()
    return out


def feature_tells(real: np.ndarray, synthetic: np.ndarray, rate: float) -> dict[str, dict[str, float]]:
    """Per feature: KS statistic and standardised mean difference, real against synthetic."""
    from scipy.stats import ks_2samp

    a, b = window_features(real, rate), window_features(synthetic, rate)
    out = {}
    for name in a:
        spread = float(np.std(a[name])) or 1.0
        out[name] = {
            "ks": round(float(ks_2samp(a[name], b[name]).statistic), 3),
            "mean_difference_sd": round(float((np.mean(b[name]) - np.mean(a[name])) / spread), 3),
            "real_mean": round(float(np.mean(a[name])), 4),
            "synthetic_mean": round(float(np.mean(b[name])), 4),
        }
    return out


def beat_tells(signals: list[np.ndarray], rate: float, threshold: float | None) -> dict[str, float]:
    """Rhythm and QRS figures over whole signals of one lead (physical units)."""
    from scipy.signal import butter, sosfiltfilt

    rr, heights, widths, beats, minutes = [], [], [], 0, 0.0
    sos = butter(2, [5.0, min(30.0, rate / 2.5)], btype="band", fs=rate, output="sos")
    for s in signals:
        times, threshold = qrs_times(s, rate, threshold)
        beats += times.size
        minutes += s.size / rate / 60
        rr.append(np.diff(times))
        band = np.abs(sosfiltfilt(sos, s))
        for t in times:
            i = int(t * rate)
            piece = band[max(0, i - int(0.1 * rate)) : i + int(0.1 * rate)]
            if piece.size:
                heights.append(float(piece.max()))
                widths.append(float((piece > piece.max() / 2).sum() / rate))
    intervals = np.concatenate(rr) if rr else np.zeros(0)
    jumps = np.concatenate([np.abs(np.diff(r)) for r in rr if r.size > 1]) if rr else np.zeros(0)
    return {
        "beats_per_min": round(beats / max(minutes, 1e-9), 1),
        "rr_variation": round(float(intervals.std() / intervals.mean()), 3) if intervals.size > 1 else None,
        "longest_rr_s": round(float(intervals.max()), 2) if intervals.size else None,
        "rr_jump_share": round(float((jumps > RR_JUMP_S).mean()), 3) if jumps.size else None,
        "qrs_height": round(float(np.median(heights)), 4) if heights else None,
        "qrs_width_s": round(float(np.median(widths)), 4) if widths else None,
    }


def _ecg_channel(labels: list[str], asked: str | None) -> int | None:
    if asked is not None:
        if asked not in labels:
            raise SystemExit(f"--ecg {asked}: the project has no such channel; it has {', '.join(labels)}")
        return labels.index(asked)
    found = [i for i, name in enumerate(labels) if "ECG" in name.upper() or "EKG" in name.upper()]
    return found[0] if found else None


def _real_series(project: Any, channel: int) -> list[np.ndarray]:
    """The held-out stretch of each source recording, one lead, at the project's rate (physical)."""
    from vqstudio.project.windows import prepare_from_project

    prepared = prepare_from_project(project)
    return [prepared.physical(prepared.val.data)[channel]]


def _synthetic_series(prepared: Any, channel: int) -> list[np.ndarray]:
    return [prepared.physical(prepared.train.data)[channel]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", nargs="?")
    parser.add_argument("--synthetic", nargs="+", default=[])
    parser.add_argument("--real", nargs="+")
    parser.add_argument("--rate", type=float, help="rate of CSV files without a time column")
    parser.add_argument("--ecg", help="the ECG channel (default: one named ECG or EKG, if any)")
    parser.add_argument("--max-windows", type=int, default=256, help="windows per set for the CNN")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    smoke.apply_smoke(parser, args, max_windows=16, ecg="C3")  # C3: the beat path runs too
    if args.smoke and not args.project:
        args.project = smoke.tiny_project()
        out = os.path.join(os.path.dirname(args.project), "synthetic.edf")
        run_vqstudio(
            "generate", args.project, "--seconds", "40", "--count", "2", "--out", out, "--device", "cpu"
        )
        args.synthetic = generated_paths(out, 2)
    if not args.project or not args.synthetic:
        parser.error("give PROJECT and --synthetic FILE... (or --smoke)")

    from vqstudio.evaluation.assessment import prepare_like_project
    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project

    project = Project.open(args.project)
    rate = project.rate
    if args.real:
        real_prepared = prepare_like_project(args.real, project, rate=args.rate)
        real = real_prepared.physical(real_prepared.windows("train"))
    else:
        real_prepared = prepare_from_project(project)
        real = real_prepared.physical(real_prepared.windows("val"))
    syn_prepared = prepare_like_project(args.synthetic, project, rate=args.rate)
    synthetic = syn_prepared.physical(syn_prepared.windows("train"))
    features = feature_tells(real, synthetic, rate)
    figures: dict[str, Any] = {
        "bench": "tells",
        "project": os.path.basename(os.path.abspath(args.project)),
        "rate": rate,
        "windows": {"real": len(real), "synthetic": len(synthetic)},
        "cnn": cnn_tells(real, synthetic, rate, args.seed, args.max_windows),
        "features": features,
        "tells": sorted(features, key=lambda k: -features[k]["ks"]),
    }
    channel = _ecg_channel(project.channel_labels, args.ecg)
    if channel is not None:
        real_series = (
            [real_prepared.physical(real_prepared.train.data)[channel]]
            if args.real
            else _real_series(project, channel)
        )
        threshold = qrs_times(real_series[0], rate, None)[1]
        figures["ecg"] = {
            "channel": project.channel_labels[channel],
            "real": beat_tells(real_series, rate, threshold),
            "synthetic": beat_tells(_synthetic_series(syn_prepared, channel), rate, threshold),
        }
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
