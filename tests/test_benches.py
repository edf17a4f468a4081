"""Every bench in bench/ runs in its smoke mode, so none breaks unseen.

`python bench/NAME.py --smoke` makes its own tiny input in a temporary folder (recordings of
2 channels at 64 Hz, a project trained for a few steps through the engine's own training job:
bench/smoke.py) and runs the bench's whole code path in seconds. Each test runs one bench so, as
a user would, in a child process: it must exit 0, print as its last line a JSON object holding
the figures that bench promises (and `"smoke": true`), and leave nothing in the temporary folder.
The child gets one compute thread (OMP_NUM_THREADS=1: on a 2-core machine more threads fight)
and an offscreen Qt platform (bench/viewer.py, bench/gui_vs_cli.py, bench/startup.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HELPERS = {"cli_runs.py", "smoke.py"}  # shared by the benches, not benches themselves

# bench -> the figures its JSON line promises, each a path of keys into it.
PROMISES: dict[str, list[tuple[str, ...]]] = {
    "io": [("bench",), ("made_64ch", "write_s"), ("files",)],
    "train": [("bench",), ("train_windows_per_s",), ("train_ms_per_step",), ("encode_windows_per_s",)],
    "privacy": [
        ("bench",),
        ("runs", "none", "attacks", "strongest"),
        ("runs", "10", "epsilon_spent"),
        ("runs", "10", "psd_lsd_db"),
    ],
    "dp_cost": [
        ("bench",),
        ("tokenizer_plain_ms",),
        ("tokenizer_private_ms",),
        ("prior_private_ms",),
        ("epsilon_vs_steps", "table"),
    ],
    "ablation": [("bench",), ("summary", "default", "snr_db"), ("recordings",)],
    "codec": [
        ("bench",),
        ("variants", "shared", "psd_lsd_db"),
        ("variants", "per_channel", "snr_db"),
        ("variants", "per_channel_noise", "weights"),
        ("variants", "shared_noise", "noise_gain_mean"),
    ],
    "codec_transfer": [
        ("bench",),
        ("variants", "pretrained", "psd_lsd"),
        ("variants", "finetuned", "cnn_accuracy"),
        ("variants", "scratch", "tokenizer_steps"),
        ("variants", "shared", "windows", "real"),
    ],
    "viewer": [("bench",), ("open_first_draw_s",), ("frame_ms_median",), ("frame_cpu_ms_p95",)],
    "sample": [("diffusion_signal_s_per_s",), ("autoregressive_signal_s_per_s",), ("weights",)],
    "prior_quality": [
        ("synthetic", "psd_lsd"),
        ("held_out_half",),
        ("surrogate", "psd_lsd"),
        ("memorization_flag",),
        ("tstr",),
        ("signal_s_per_wall_s",),
    ],
    "prior_ablation": [
        ("real", "beats", "beats_per_min"),
        ("variants", "diffusion", "live", "psd_lsd_db"),
        ("variants", "diffusion_nosnap", "average", "std_ratio"),
        ("variants", "autoregressive", "live", "cnn_accuracy"),
    ],
    "sampler_steps": [("bench",), ("steps", "4", "signal_s_per_wall_s"), ("steps", "4", "beats_per_min")],
    "guidance": [("bench",), ("labels",), ("real_accuracy",), ("scales", "2", "label_accuracy")],
    "tokenizer_budget": [
        ("bench",),
        ("variants", "critic_light", "steps"),
        ("variants", "critic_light", "validation", "snr_db"),
        ("variants", "critic_light", "reconstruction", "psd_lsd"),
    ],
    "realism": [
        ("priors", "diffusion", "synthetic", "psd_lsd"),
        ("priors", "diffusion", "held_out_half"),
        ("priors", "diffusion", "reconstruction"),
        ("priors", "diffusion", "surrogate"),
        ("priors", "diffusion", "training", "tokenizer", "step"),
    ],
    "reconstruct": [("bench",), ("peak_rss_bytes",), ("peak_over_input",), ("wall_s",)],
    "scale": [("bench",), ("runs", 1, "windows_per_s"), ("runs", 1, "peak_rss_bytes"), ("speedup",)],
    "generate_memory": [("bench",), ("baseline_mb",), ("rows", 0, "estimate_over_added")],
    "train_memory": [("bench",), ("bytes_per_sample",), ("estimate_bytes_per_sample",)],
    "threads": [("bench",), ("runs", 0, "steps_per_min"), ("runs", 0, "log")],
    "gui_vs_cli": [("cli_steps_per_s",), ("gui_1t_steps_per_s",), ("gui_1t_timer_late", "p95_ms")],
    "startup": [
        ("bench",),
        ("app_shown_s",),
        ("bare_shown_s",),
        ("ratio",),
        ("app_with_file_opened_s",),
        ("load_average_before",),
    ],
    "tells": [
        ("cnn", "full", "accuracy"),
        ("cnn", "spectrum_only", "ci95"),
        ("features", "line_length", "ks"),
        ("tells",),
        ("ecg", "synthetic", "beats_per_min"),
    ],
}
# Over ~10 s each on a 2-core machine: Python and torch (and Qt) start in several child processes.
SLOW = {"tokenizer_budget", "realism", "sampler_steps", "guidance", "gui_vs_cli", "scale", "privacy"}
QT = {"viewer", "gui_vs_cli", "startup"}  # need PySide6 (the app's extra)


def dig(figures: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path` (keys and list indices) in a bench's JSON line; fails naming the path."""
    value = figures
    for i, key in enumerate(path):
        where = "/".join(str(k) for k in path[: i + 1])
        if isinstance(key, int):
            assert isinstance(value, list) and len(value) > key, f"no {where} in {figures}"
        else:
            assert isinstance(value, dict) and key in value, f"no {where} in {figures}"
        value = value[key]
    return value


def run_smoke(name: str, tmp: Path) -> dict[str, Any]:
    """Runs `bench/NAME.py --smoke` from the repository root with TMPDIR=`tmp`; its JSON line."""
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "QT_QPA_PLATFORM": "offscreen",
    }
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"bench/{name}.py --smoke exited {done.returncode}:\n{done.stderr[-4000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"bench/{name}.py --smoke printed nothing:\n{done.stderr[-4000:]}"
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict), lines[-1]
    return figures


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(PROMISES)]
)
def test_bench_smoke(name: str, tmp_path: Path) -> None:
    if name in QT:
        pytest.importorskip("PySide6")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    figures = run_smoke(name, tmp)
    assert figures.get("smoke") is True, "a smoke run's line must say so"
    for path in PROMISES[name]:
        dig(figures, path)
    # Torch and Qt may keep a cache or runtime folder in TMPDIR; the bench's own files must be gone.
    left = [p.name for p in tmp.iterdir() if not p.name.startswith(("torchinductor_", "runtime-"))]
    assert left == [], f"bench/{name}.py --smoke left {left} in its temporary folder"


def test_every_bench_has_a_smoke_test() -> None:
    benches = {p.stem for p in BENCH.glob("*.py") if p.name not in HELPERS}
    assert benches == set(PROMISES), f"benches without a smoke test: {sorted(benches - set(PROMISES))}"
