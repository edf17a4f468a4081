"""Classifier-free guidance scale against label fidelity and realism, on one labelled project.

For each guidance scale, `vqstudio generate --label L --guidance G` draws the same number of
recordings for every label of the project (same seed), and two things are measured:

- label fidelity: a logistic regression on the evaluation's window features, trained on the
  project's labelled training windows, predicts the label of every synthetic window; the
  accuracy is the share it gives the label the window was generated for (chance is 1/labels).
  The same classifier on the held-out real windows is the reference ("real_accuracy").
- realism: `vqstudio evaluate --no-references` on all synthetic recordings together against the
  held-out split (or `--real`): PSD distance, band-power error, correlation distance, CNN
  accuracy, and train-on-synthetic/test-on-real accuracy (TSTR).

Guidance 1 is the plain conditional prior, 0 the unconditional one (labels ignored). Prints one
JSON line.

    python bench/guidance.py PROJECT --out DIR [--scales 0,1,2,3] [--seconds S] [--count N]
        [--steps N] [--real FILE...] [--band LO,HI] [--seed N] [--smoke]

`--smoke`: one scale, one short recording per label, from a tiny project it trains in a
temporary folder, a label per file (PROJECT and --out optional).

A project to measure on, a subject per label (eegmat: Zyma et al., PhysioNet 2018,
doi:10.13026/C2JQ1P, ODC-By 1.0; see ../shared/data/README.md):
    vqstudio train ../shared/data/eegmat/Subject02_2.edf ../shared/data/eegmat/Subject04_2.edf \\
        ../shared/data/eegmat/Subject31_1.edf --labels files --channels "EEG Fp1,...,EEG Pz" \\
        --minutes 8 --project /tmp/guided
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
from cli_runs import generated_paths, run_vqstudio, synthetic_metrics  # noqa: E402

from vqstudio.cli.argtypes import frequency_band  # noqa: E402

KEEP = ("psd_lsd", "band_power", "correlation", "cnn_accuracy", "tstr")


def _features(prepared: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Window features and label indices of a prepared split (its labelled windows only)."""
    from vqstudio.evaluation.features import window_features

    labels = (prepared.train if split == "train" else prepared.val).labels
    keep = np.flatnonzero(labels >= 0)
    windows = prepared.physical(prepared.windows(split, keep))
    return window_features(windows, prepared.rate), labels[keep]


def _synthetic_features(paths: list[str], project: Any) -> np.ndarray:
    """Features of non-overlapping windows of generated recordings, prepared as the project's data."""
    from vqstudio.evaluation.assessment import prepare_like_project
    from vqstudio.evaluation.features import window_features

    prepared = prepare_like_project(paths, project)
    return window_features(prepared.physical(prepared.windows("train")), prepared.rate)


def run_scale(
    scale: float, names: list[str], classifier: Any, project: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Generates every label at guidance `scale`; its label fidelity and realism figures."""
    out = os.path.join(args.out, f"guidance-{scale:g}")
    os.makedirs(out)
    paths, per_label, wall = [], {}, 0.0
    for index, name in enumerate(names):
        target = os.path.join(out, f"label-{index}.edf")
        gen = ["generate", args.project, "--label", name, "--guidance", repr(scale), "--out", target]
        gen += ["--seconds", str(args.seconds), "--count", str(args.count), "--seed", str(args.seed)]
        gen += ["--device", "cpu"]
        if args.steps:
            gen += ["--steps", str(args.steps)]
        wall += run_vqstudio(*gen)
        label_paths = generated_paths(target, args.count)
        predicted = classifier.predict(_synthetic_features(label_paths, project))
        per_label[name] = {"windows": int(predicted.size), "accuracy": float(np.mean(predicted == index))}
        paths += label_paths
    windows = sum(v["windows"] for v in per_label.values())
    metrics = synthetic_metrics(args.project, paths, out, real=args.real, band=args.band, seed=args.seed)
    return {
        "guidance": scale,
        "label_accuracy": sum(v["accuracy"] * v["windows"] for v in per_label.values()) / max(1, windows),
        "per_label": per_label,
        "generate_s": round(wall, 1),
        **{k: metrics[k]["value"] for k in KEEP if k in metrics},
        "trtr": metrics.get("tstr", {}).get("details", {}).get("trtr_accuracy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", help="a trained project whose prior is conditioned on labels")
    parser.add_argument("--out", help="folder for the samples and reports (required)")
    parser.add_argument("--scales", default="0,1,2,3", help="guidance scales, separated by commas")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each recording")
    parser.add_argument("--count", type=int, default=4, help="recordings per label and scale")
    parser.add_argument("--steps", type=int, default=0, help="diffusion sampler steps (default: the app's)")
    parser.add_argument("--real", nargs="+", help="real recordings to compare with (default: held-out split)")
    parser.add_argument("--band", type=frequency_band, metavar="LO,HI", help="PSD distance band (Hz)")
    parser.add_argument("--seed", type=int, default=0)
    smoke.add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        project = args.project or smoke.tiny_project(labels="files")
        out = args.out or os.path.join(smoke.scratch_folder(), "out")
        small = {"scales": "2", "seconds": 4.0, "count": 1, "steps": 4}
        smoke.apply_smoke(parser, args, project=project, out=out, **small)
    if not args.project or not args.out:
        parser.error("give PROJECT and --out DIR, or --smoke")
    if os.path.exists(args.out) and os.listdir(args.out):
        parser.error(f"--out {args.out} is not empty; give a new folder")

    from vqstudio.evaluation.classifier import LogisticRegression
    from vqstudio.priors.store import load_prior
    from vqstudio.project import Project
    from vqstudio.project.windows import prepare_from_project

    project = Project.open(args.project)
    names = load_prior(project.prior_path).label_names  # the labels `generate --label` takes
    if len(names) < 2:
        parser.error(f"{args.project} has {len(names)} label(s); guidance needs a prior trained --labels")
    os.makedirs(args.out, exist_ok=True)
    prepared = prepare_from_project(project)
    classifier = LogisticRegression().fit(*_features(prepared, "train"))
    real_x, real_y = _features(prepared, "val")
    figures: dict[str, Any] = {
        "bench": "guidance",
        "project": os.path.abspath(args.project),
        "labels": names,
        "chance": 1 / len(names),
        "real_accuracy": float(np.mean(classifier.predict(real_x) == real_y)) if real_y.size else None,
        "real_windows": int(real_y.size),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "scales": {},
    }
    for scale in (float(s) for s in args.scales.split(",") if s.strip()):
        row = run_scale(scale, names, classifier, project, args)
        figures["scales"][f"{scale:g}"] = row
        print(f"guidance {scale:g}: {json.dumps(row)}", file=sys.stderr, flush=True)
    if args.smoke:
        figures["smoke"] = True
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
