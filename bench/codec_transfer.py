"""The tokenizer alone on people it never saw: the shipped codec as it is, fine-tuned for some
minutes, or a tokenizer trained from scratch in the same minutes, judged by the app's own
evaluation of its reconstructions against the real recordings.

    python bench/codec_transfer.py --train FILE... --test FILE... --out DIR
        [--variants pretrained,finetuned,scratch,shared] [--minutes 4] [--channels A,B,...]
        [--window S] [--band LO,HI] [--threads N] [--smoke]

Each variant trains a project on `--train` with the command line (`vqstudio train ...
--prior-steps 0`): "pretrained" keeps the shipped codec as it is (`--tokenizer-steps 0`),
"finetuned" fine-tunes it for `--minutes`, "scratch" trains the per-channel codec from random
weights and "shared" the one-network tokenizer, each for `--minutes`. Every `--test` recording is
then reconstructed (`vqstudio reconstruct`) and evaluated against itself (`vqstudio evaluate
--real TEST... --synthetic RECONSTRUCTIONS --no-references`): the PSD log-spectral distance in
`--band`, the band-power error, the cross-channel correlation distance and the 1D CNN's accuracy
at telling the reconstruction from the real windows, with its 95 % interval and the windows per
class. Minutes are wall-clock: take them with nothing else running (the JSON says the load).

The issue's figures use the corpus's bench people (`corpus/manifest.json`, roles bench-train and
bench-test: eegmat, Zyma et al., PhysioNet 2018, doi:10.13026/C2JQ1P, ODC-By 1.0), never a
recording the codec was pretrained on.

`--smoke`: a tiny run of every variant on recordings it writes, with a codec it makes. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smoke

from vqstudio.cli import main as vqstudio
from vqstudio.project import Project

VARIANTS = ("pretrained", "finetuned", "scratch", "shared")
TRAIN_FLAGS = {
    "pretrained": ["--codec", "per-channel", "--tokenizer-steps", "0"],
    "finetuned": ["--codec", "per-channel"],
    "scratch": ["--codec", "per-channel", "--from-scratch"],
    "shared": ["--codec", "shared"],
}
METRICS = ("psd_lsd", "band_power", "correlation", "cnn_accuracy", "feature_accuracy")


def _run(argv: list[str]) -> None:
    code = vqstudio(argv)
    if code != 0:
        raise SystemExit(f"vqstudio {' '.join(argv[:2])} failed with exit {code}")


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """The metrics this bench reports, from an evaluation's JSON."""
    out: dict[str, Any] = {"windows": report["windows"]}
    for key in METRICS:
        m = report["metrics"].get(key) or {}
        out[key] = None if m.get("value") is None else round(float(m["value"]), 3)
        ci = (m.get("details") or {}).get("accuracy_ci95")
        if ci:
            out[f"{key}_ci95"] = [round(100 * float(v), 1) for v in ci]
    return out


def run_variant(variant: str, args: argparse.Namespace, folder: str) -> dict[str, Any]:
    """Trains the variant's project, reconstructs the test recordings, evaluates them."""
    project = os.path.join(folder, variant)
    train = ["train", *args.train, "--project", project, "--prior-steps", "0", "--device", args.device]
    train += TRAIN_FLAGS[variant]
    if variant != "pretrained":
        train += ["--tokenizer-steps", str(args.steps)] if args.steps else ["--minutes", str(args.minutes)]
    for flag, value in (
        ("--channels", args.channels),
        ("--window", args.window),
        ("--threads", args.threads),
    ):
        if value:
            train += [flag, str(value)]
    t0 = time.monotonic()
    _run(train)
    trained_s = time.monotonic() - t0
    reconstructions = []
    for i, test in enumerate(args.test):
        out = os.path.join(folder, f"{variant}_{i}.edf")
        _run(["reconstruct", project, test, "--out", out])
        reconstructions.append(out)
    report_path = os.path.join(folder, f"{variant}.json")
    evaluate = ["evaluate", project, "--real", *args.test, "--synthetic", *reconstructions]
    evaluate += ["--json", report_path, "--no-references", "--seed", str(args.seed)]
    if args.band:
        evaluate += ["--band", args.band]
    _run(evaluate)
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    steps = Project.open(project).stage("tokenizer").step
    return {"train_s": round(trained_s, 1), "tokenizer_steps": steps, **_figures(report)}


def _smoke(args: argparse.Namespace, folder: str) -> None:
    """Tiny recordings, a few steps, and a codec made here standing in for the shipped one."""
    import vqstudio.codec
    from vqstudio.models.tokenizer import Tokenizer, preset_config

    paths = smoke.write_recordings(folder, count=3, seconds=60.0)
    args.train, args.test, args.steps, args.window = paths[:2], paths[2:], 2, 2.0
    codec = os.path.join(folder, "codec.safetensors")
    model = Tokenizer(preset_config("codec", channels=1, window=128))
    vqstudio.codec.save_codec(
        codec, model, {"settings": {"preset": "codec"}, "provenance": {"version": "smoke"}}
    )
    vqstudio.codec.SHIPPED_CODEC = codec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", nargs="+", default=[])
    p.add_argument("--test", nargs="+", default=[])
    p.add_argument("--out", default="")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--minutes", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=0, help="steps instead of minutes (0: minutes)")
    p.add_argument("--channels", default="")
    p.add_argument("--window", type=float, default=0.0)
    p.add_argument("--band", default="")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    with tempfile.TemporaryDirectory() as scratch:
        if args.smoke:
            _smoke(args, scratch)
        folder = args.out or scratch
        os.makedirs(folder, exist_ok=True)
        load = os.getloadavg()[0]
        results = {v: run_variant(v, args, folder) for v in variants}
    print(
        json.dumps(
            {
                "bench": "codec_transfer",
                "smoke": args.smoke,
                "train": [os.path.basename(p) for p in args.train],
                "test": [os.path.basename(p) for p in args.test],
                "minutes": args.minutes,
                "steps": args.steps,
                "load_average_1min_before": round(load, 2),
                "load_average_1min_after": round(os.getloadavg()[0], 2),
                "variants": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
