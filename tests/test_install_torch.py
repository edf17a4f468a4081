"""scripts/install-torch.sh chooses the torch build on purpose (dry runs: nothing is installed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "install-torch.sh")


def _run(tmp_path, gpu: bool | None, **env: str) -> subprocess.CompletedProcess:
    """The script with a fake `nvidia-smi` (listing a GPU or not) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + ('echo "GPU 0: NVIDIA Test (UUID: GPU-0)"\n' if gpu else "exit 9\n"))
    fake.chmod(0o755)
    full = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TORCH_DRY_RUN": "1", **env}
    for name in ("TORCH_BUILD", "TORCH_INDEX", "TORCH_CUDA"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run(
        ["bash", SCRIPT, sys.executable, "2.13.0"], env=full, capture_output=True, text=True, timeout=60
    )


def test_no_gpu_means_the_cpu_index(tmp_path):
    run = _run(tmp_path, gpu=False, TORCH_SKIP_PROBE="1")
    assert run.returncode == 0, run.stderr
    assert "the cpu build (no NVIDIA GPU found)" in run.stdout
    assert "--index-url https://download.pytorch.org/whl/cpu" in run.stdout


def test_a_gpu_means_the_cuda_index(tmp_path):
    run = _run(tmp_path, gpu=True, TORCH_SKIP_PROBE="1")
    assert "the cuda build (nvidia-smi lists a GPU)" in run.stdout
    assert "--index-url https://download.pytorch.org/whl/cu128" in run.stdout


def test_the_choice_can_be_overridden(tmp_path):
    run = _run(tmp_path, gpu=True, TORCH_SKIP_PROBE="1", TORCH_BUILD="cpu")
    assert "/whl/cpu" in run.stdout
    run = _run(tmp_path, gpu=False, TORCH_SKIP_PROBE="1", TORCH_INDEX="https://mirror.example/whl")
    assert "--index-url https://mirror.example/whl" in run.stdout
    bad = _run(tmp_path, gpu=False, TORCH_BUILD="gpu")
    assert bad.returncode == 2 and "auto, cpu or cuda" in bad.stderr


@pytest.mark.timeout(60)
def test_an_unreachable_index_falls_back_to_the_default(tmp_path):
    # Port 9 (discard) on this machine refuses at once: what an offline CI sees, quickly.
    run = _run(tmp_path, gpu=False, TORCH_INDEX="http://127.0.0.1:9/whl/cpu")
    assert run.returncode == 0, run.stderr
    assert "cannot reach it" in run.stderr and "falling back to pip's default index" in run.stdout
    assert "--index-url" not in run.stdout.splitlines()[-1]
