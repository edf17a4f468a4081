"""The installer end to end: build the bundle from this checkout, install the archive into a
temporary prefix, and run the installed app's self-test with no network.

Marked `packaging` (excluded from the default run; `.ci/run` runs it as its own step):

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -m packaging tests/packaging -q

Set VQSTUDIO_BUNDLE_ARCHIVE to an already built archive to skip the build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The first test builds the bundle in its setup: a cold build (venv + PyInstaller) takes minutes.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(2400)]


def _no_network_prefix() -> list[str]:
    """The command prefix that runs a program in a new network namespace: only its own loopback,
    brought up (the self-test's 2 processes meet on localhost), no way out."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to run the self-test without network")
    loopback_up = [sys.executable, str(Path(__file__).with_name("loopback_up.py"))]
    for prefix in ([unshare, "-n"], [unshare, "-rn"]):
        if subprocess.run([*prefix, *loopback_up, shutil.which("true") or "/bin/true"]).returncode == 0:
            return [*prefix, *loopback_up]
    pytest.fail("cannot make a network namespace (unshare -n / -rn): run as root or enable user namespaces")


@pytest.fixture(scope="module")
def archive() -> Path:
    given = os.environ.get("VQSTUDIO_BUNDLE_ARCHIVE")
    if given:
        return Path(given)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py")], capture_output=True, text=True, timeout=3000
    )
    if done.returncode != 0:
        pytest.fail(f"packaging/build.py failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nbuild: {time.perf_counter() - t0:.0f} s, {json.dumps(figures)}")
    return Path(figures["archive"])


@pytest.fixture(scope="module")
def installed(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unpacks the archive and runs its install.sh into a fresh prefix; returns the prefix."""
    base = tmp_path_factory.mktemp("bundle")
    with tarfile.open(archive) as tar:
        tar.extractall(base / "unpacked", filter="tar")
    (top,) = list((base / "unpacked").iterdir())
    prefix = base / "prefix"
    subprocess.run(["sh", str(top / "install.sh"), "--prefix", str(prefix)], check=True, capture_output=True)
    shutil.rmtree(base / "unpacked")  # the installed app must not lean on the unpacked archive
    return prefix


def test_installed_cli_reports_its_version(installed: Path):
    import vqstudio

    out = subprocess.run(
        [str(installed / "bin" / "vqstudio"), "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"vqstudio {vqstudio.__version__}"


def test_installed_app_passes_its_self_test_offline(installed: Path, tmp_path: Path):
    pyedflib = pytest.importorskip("pyedflib")
    out_dir = tmp_path / "selftest"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "VQSTUDIO_SELFTEST_DIR": str(out_dir),
        "HOME": str(tmp_path / "home"),  # no settings or caches from this machine's user
    }
    env.pop("PYTHONPATH", None)
    cmd = [*_no_network_prefix(), str(installed / "bin" / "vqstudio-gui"), "--self-test"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - t0
    print(f"\nself-test ({took:.1f} s):\n{done.stdout}{done.stderr[-3000:]}")
    assert done.returncode == 0, (
        f"self-test failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}"
    )
    assert "FAIL" not in done.stdout
    assert "PASS train on 2 processes: 2 processes (gloo)" in done.stdout
    edf = out_dir / "selftest.edf"
    assert edf.is_file(), f"the self-test left no {edf.name}"
    with pyedflib.EdfReader(str(edf)) as reader:
        assert reader.signals_in_file >= 1
        for i in range(reader.signals_in_file):
            x = reader.readSignal(i)
            assert x.size > 0 and float(x.std()) > 0.0, f"signal {reader.getLabel(i)} is empty or flat"


def test_installed_bundle_carries_the_licence_notices(installed: Path):
    lic = installed / "lib" / "vqstudio" / "licenses"
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in (lic / "LGPL-3.0.txt").read_text()
    assert "replace" in (lic / "PySide6-Qt-LGPL-NOTICE.txt").read_text()
    listed = (lic / "README.txt").read_text()
    for dist in ("torch", "numpy", "scipy", "pyqtgraph", "pyEDFlib", "edfio", "safetensors", "matplotlib"):
        assert f"{dist} " in listed, dist
    for dev in ("pytest", "hypothesis", "mne"):
        assert f"{dev} " not in listed


def test_installed_bundle_carries_the_shipped_codec(installed: Path):
    """The pretrained codec travels with the app (offline), with its training data's attribution."""
    found = list(installed.rglob("weights/codec.safetensors"))
    assert len(found) == 1 and found[0].stat().st_size > 100_000
    notes = (installed / "lib" / "vqstudio" / "licenses" / "codec-training-data.md").read_text()
    assert "ODC-By" in notes and "PhysioNet" in notes


def test_uninstall_removes_everything(installed: Path):
    # runs last in this module (pytest keeps file order)
    subprocess.run([str(installed / "lib" / "vqstudio" / "uninstall.sh")], check=True, capture_output=True)
    left = [p for p in installed.rglob("*") if p.is_file() or p.is_symlink()]
    assert left == []
