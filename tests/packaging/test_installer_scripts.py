"""Fast checks of the packaging logic that need no build: exclusion rules, the CUDA guard, and the
install/uninstall scripts run on a fake bundle (a shell script standing in for each program)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    """Loads packaging/<file> under a private name (`build` and `packaging` are taken on PyPI)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


cfg = _load("bundle_config", ROOT / "packaging" / "bundle_config.py")
build_mod = _load("vqstudio_bundle_build", ROOT / "packaging" / "build.py")


def test_dev_tools_and_unused_qt_are_excluded():
    for mod in ("pytest", "hypothesis", "mne", "IPython", "tensorboard", "torch.utils.tensorboard"):
        assert mod in cfg.EXCLUDED_MODULES
    for kept in cfg.QT_KEEP:
        assert f"PySide6.{kept}" not in cfg.EXCLUDED_MODULES
    # torch.utils.checkpoint imports torch.testing._internal.logging_tensor: the package must stay
    assert (
        "torch.testing._internal" not in cfg.EXCLUDED_MODULES and "torch.testing" not in cfg.EXCLUDED_MODULES
    )
    assert "PySide6.QtQml" in cfg.EXCLUDED_MODULES and "PySide6.QtNetwork" in cfg.EXCLUDED_MODULES
    # nothing the engine or the app imports is excluded
    for mod in ("torch", "numpy", "scipy", "pyedflib", "edfio", "safetensors", "matplotlib", "pyqtgraph"):
        assert not any(mod == e or mod.startswith(e + ".") for e in cfg.EXCLUDED_MODULES)


@pytest.mark.parametrize(
    ("path", "dropped"),
    [
        ("torch/bin/test_api", True),
        ("torch/bin/torch_shm_manager", False),
        ("torch/test/Dict_test", True),
        ("torch/lib/libtorchbind_test.so", True),
        ("torch/include/ATen/ATen.h", True),
        ("numpy/_core/tests/test_umath.py", True),
        ("PySide6\\Qt\\translations\\qtbase_de.qm", True),
        ("torch/lib/libtorch_cpu.so", False),
        ("torch/lib/libgomp.so.1", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),
        ("matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf", False),
    ],
)
def test_dropped_files(path, dropped):
    assert cfg.is_dropped(path) is dropped


def test_cuda_guard():
    assert cfg.cuda_problem(None, []) is None
    msg = cfg.cuda_problem("12.8", ["nvidia-cublas-cu12"])
    assert msg is not None and "CUDA 12.8" in msg and "nvidia-cublas-cu12" in msg and "--allow-cuda" in msg
    assert "CUDA packages" in (cfg.cuda_problem(None, ["nvidia-nccl-cu13"]) or "")


def test_version_comes_from_the_package():
    import vqstudio

    assert build_mod.read_version() == vqstudio.__version__


def test_desktop_entry_is_complete():
    text = build_mod.desktop_entry("1.2.3")
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert text.startswith("[Desktop Entry]")
    assert keys["Type"] == "Application" and keys["Name"] == "VQ Studio"
    assert keys["Exec"].startswith("vqstudio-gui") and keys["Icon"] == "vqstudio"
    assert build_mod.icon_svg().read_text().lstrip().startswith("<?xml")


def _fake_stage(tmp_path: Path) -> Path:
    """An unpacked archive whose programs are shell scripts: install.sh cannot tell the difference."""
    stage = tmp_path / "stage"
    app = stage / "app"
    (app / "_internal").mkdir(parents=True)
    for exe in ("vqstudio", "vqstudio-gui"):
        (app / exe).write_text(f'#!/bin/sh\necho {exe} "$@"\n')
        (app / exe).chmod(0o755)
    for name in ("install.sh", "uninstall.sh"):
        (stage / name).write_bytes((ROOT / "packaging" / "linux" / name).read_bytes())
        (stage / name).chmod(0o755)
    (stage / "vqstudio.desktop").write_text(build_mod.desktop_entry("0.0"))
    (stage / "vqstudio.svg").write_bytes(build_mod.icon_svg().read_bytes())
    return stage


def test_install_and_uninstall_into_a_prefix(tmp_path):
    stage = _fake_stage(tmp_path)
    prefix = tmp_path / "prefix with space"
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    subprocess.run(
        ["sh", str(stage / "install.sh"), "--prefix", str(prefix)], check=True, env=env, capture_output=True
    )
    appdir = prefix / "lib" / "vqstudio"
    out = subprocess.run(
        [str(prefix / "bin" / "vqstudio"), "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "vqstudio --version"
    desktop = (prefix / "share" / "applications" / "vqstudio.desktop").read_text()
    assert f'Exec="{appdir}/vqstudio-gui" %F' in desktop
    icon = prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "vqstudio.svg"
    assert f"Icon={icon}" in desktop and icon.is_file()
    # a second install over the first replaces it cleanly
    subprocess.run(
        ["sh", str(stage / "install.sh"), "--prefix", str(prefix)], check=True, env=env, capture_output=True
    )
    keep = prefix / "bin" / "someone-else"
    keep.write_text("not ours")
    subprocess.run([str(appdir / "uninstall.sh")], check=True, capture_output=True)
    assert not appdir.exists()
    left = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file() or p.is_symlink())
    assert left == ["bin/someone-else"]


def test_install_refuses_bad_options_and_incomplete_archive(tmp_path):
    stage = _fake_stage(tmp_path)
    bad = subprocess.run(["sh", str(stage / "install.sh"), "--frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option" in bad.stderr
    (stage / "app" / "vqstudio-gui").unlink()
    missing = subprocess.run(
        ["sh", str(stage / "install.sh"), "--prefix", str(tmp_path / "p")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "unpack the whole archive" in missing.stderr


def test_default_user_prefix_is_home_local(tmp_path):
    # A stand-in `id` makes the script see an ordinary user even when the tests run as root.
    stage = _fake_stage(tmp_path)
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "id").write_text("#!/bin/sh\necho 1000\n")
    (fakebin / "id").chmod(0o755)
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "PATH": f"{fakebin}:{os.environ['PATH']}"}
    env.pop("XDG_DATA_HOME", None)
    subprocess.run(["sh", str(stage / "install.sh")], check=True, env=env, capture_output=True)
    appdir = home / ".local" / "lib" / "vqstudio"
    assert (appdir / "vqstudio-gui").is_file()
    assert (home / ".local" / "bin" / "vqstudio-gui").resolve() == (appdir / "vqstudio-gui").resolve()
    assert (home / ".local" / "share" / "applications" / "vqstudio.desktop").is_file()


def test_orphaned_libraries_are_only_those_the_dropped_files_needed():
    top = {"libgtk-3.so.0", "libcairo.so.2", "libfontconfig.so.1", "libloaded_by_ctypes.so"}
    before = {"libgtk-3.so.0", "libcairo.so.2", "libfontconfig.so.1", "libc.so.6"}
    after = {"libfontconfig.so.1", "libc.so.6"}
    assert cfg.orphaned_libraries(top, before, after) == {"libgtk-3.so.0", "libcairo.so.2"}


def _fake_python(tmp_path: Path, cuda: str | None, nvidia: list[str]) -> Path:
    """A stand-in for the build venv's python that answers the CUDA probe."""
    import json

    tmp_path.mkdir(parents=True, exist_ok=True)
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho '{json.dumps({'cuda': cuda, 'nvidia': nvidia})}'\n")
    fake.chmod(0o755)
    return fake


def test_build_refuses_a_cuda_torch_unless_allowed(tmp_path):
    cuda_py = _fake_python(tmp_path / "cuda", "12.8", ["nvidia-cudnn-cu12"])
    with pytest.raises(build_mod.BuildError) as refused:
        build_mod.check_cuda(cuda_py, allow_cuda=False)
    assert refused.value.code == 2 and "--allow-cuda" in str(refused.value)
    build_mod.check_cuda(cuda_py, allow_cuda=True)  # asked for: builds
    build_mod.check_cuda(_fake_python(tmp_path / "cpu", None, []), allow_cuda=False)  # CPU torch: builds
