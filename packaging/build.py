"""Build the VQ Studio installer: one command, from a clean checkout, no network at run time.

    python packaging/build.py [--allow-cuda] [--deb] [--venv DIR] [--out DIR]

Steps: make (or reuse) the build venv `build/venv-bundle` holding only the runtime dependencies and
PyInstaller (dev tools never get in); refuse a CUDA torch unless --allow-cuda; run PyInstaller on
packaging/vqstudio.spec (onedir: `vqstudio-gui` and `vqstudio` sharing one `_internal/`); add the
licence notices; check the bundle starts and holds no dev tool; wrap it as
`dist/vqstudio-<version>-linux-<arch>.tar.gz` (install.sh, uninstall.sh, .desktop entry, icon),
and with --deb also a .deb. Prints progress to stderr and one JSON line of figures to stdout.
Exit codes: 0 built, 2 refused (CUDA torch, missing file), 1 a step failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))

import bundle_config as cfg  # noqa: E402

DEFAULT_TORCH = "torch==2.13.0"  # the CPU build on this project's machines (see the Makefile)
PYINSTALLER = "pyinstaller>=6.11,<7"
# Directories that must never be in the bundle: dev tools and CUDA.
FORBIDDEN_DIRS = ("pytest", "_pytest", "hypothesis", "mne", "IPython", "tensorboard", "pytestqt")
CUDA_FILE = re.compile(r"lib(cudart|cublas|cudnn|cufft|curand|cusolver|cusparse|nccl|nvrtc)[^/]*\.so", re.I)


class BuildError(Exception):
    """A step of the build failed or was refused; the message says which and what to do."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def log(msg: str) -> None:
    print(f"build: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def read_version() -> str:
    """vqstudio.__version__, read from the source (the build python need not import the package)."""
    text = (ROOT / "vqstudio" / "__init__.py").read_text()
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.M)
    if not m:
        raise BuildError("vqstudio/__init__.py has no __version__ line", 2)
    return m.group(1)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(venv: Path, torch_spec: str, rebuild: bool) -> float:
    """Make the build venv unless one with the same inputs exists; return the seconds spent."""
    # The venv is reused while pyproject.toml and the requested torch/PyInstaller are unchanged.
    key = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + torch_spec.encode() + PYINSTALLER.encode()
    ).hexdigest()
    marker = venv / ".vqstudio-bundle-venv"
    if not rebuild and marker.is_file() and marker.read_text().strip() == key and venv_python(venv).exists():
        log(f"reusing {venv}")
        return 0.0
    t0 = time.perf_counter()
    if venv.exists():
        shutil.rmtree(venv)
    log(f"making the build venv {venv} (runtime dependencies + PyInstaller only)")
    run([sys.executable, "-m", "venv", venv])
    py = venv_python(venv)
    pip = [py, "-m", "pip", "install", "-q"]
    # torch first, alone, so the CPU build is the one chosen; then the app's runtime deps with the
    # GUI extra (no dev extra) and PyInstaller; then the app itself out again: the spec takes
    # vqstudio and ui from the checkout, so a stale installed copy can never be bundled.
    run([*pip, torch_spec])
    run([*pip, f"{ROOT}[gui]", PYINSTALLER])
    run([py, "-m", "pip", "uninstall", "-y", "-q", "vqstudio"])
    marker.write_text(key + "\n")
    return time.perf_counter() - t0


def check_cuda(py: Path, allow_cuda: bool) -> None:
    """Refuse a torch with CUDA libraries unless it was asked for."""
    probe = (
        "import json, importlib.metadata as md, torch.version as v;"
        "print(json.dumps({'cuda': v.cuda, 'nvidia': [d.metadata['Name'] for d in md.distributions()"
        " if (d.metadata['Name'] or '').lower().startswith('nvidia-')]}))"
    )
    out = subprocess.run([str(py), "-c", probe], check=True, capture_output=True, text=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    problem = cfg.cuda_problem(info["cuda"], info["nvidia"])
    if problem and not allow_cuda:
        raise BuildError(problem, 2)
    if problem:
        log(f"--allow-cuda: building with CUDA ({problem.split(':')[0]})")


def system_library_notices(app: Path, out: Path) -> list[str]:
    """Copyright files of the system libraries PyInstaller bundled (Debian: /usr/share/doc/PKG/copyright).

    Libraries at the top of `_internal/` came from the build machine, not from a wheel; dpkg says
    which package each belongs to. Returns the packages whose notice was copied.
    """
    if shutil.which("dpkg-query") is None:
        return []
    found: dict[str, Path] = {}
    for lib in sorted((app / "_internal").glob("*.so*")):
        if lib.name.startswith("libpython"):
            continue  # CPython's licence is already there
        for d in (
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
        ):
            cand = Path(d) / lib.name
            if cand.exists():
                res = subprocess.run(["dpkg-query", "-S", str(cand)], capture_output=True, text=True)
                if res.returncode == 0 and ":" in res.stdout:  # (/lib is a link to /usr/lib: try both)
                    pkg = res.stdout.split(":")[0].strip()
                    doc = Path("/usr/share/doc") / pkg / "copyright"
                    if doc.is_file():
                        found[pkg] = doc
                    break
    if found:
        out.mkdir(parents=True, exist_ok=True)
        for pkg, doc in found.items():
            shutil.copyfile(doc, out / f"{pkg}.copyright")
    return sorted(found)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def pyz_top_level(py: Path, pyz: Path) -> set[str]:
    """Top-level module names inside a PYZ archive (read with the build venv's PyInstaller)."""
    code = (
        "import sys; from PyInstaller.archive.readers import ZlibArchiveReader as R;"
        "print('\\n'.join(sorted({n.split('.')[0] for n in R(sys.argv[1]).toc})))"
    )
    out = subprocess.run([str(py), "-c", code, str(pyz)], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def verify_bundle(app: Path, version: str, allow_cuda: bool, pyz_modules: set[str]) -> None:
    """The bundle holds both programs, no dev tool, no CUDA, and `vqstudio --version` answers."""
    for exe in (cfg.GUI_EXE, cfg.CLI_EXE):
        if not (app / exe).is_file():
            raise BuildError(f"the bundle has no {exe} ({app})")
    internal = app / "_internal"
    # dev tools as files (packages with extensions or data) or as modules in the PYZ
    bad = sorted({d for d in FORBIDDEN_DIRS if (internal / d).exists()} | (pyz_modules & set(FORBIDDEN_DIRS)))
    if bad:
        raise BuildError(f"dev-only packages got into the bundle: {', '.join(bad)} (check the build venv)")
    if not allow_cuda:
        cuda = [str(p.relative_to(app)) for p in internal.rglob("*.so*") if CUDA_FILE.search(p.name)]
        if cuda:
            raise BuildError(f"CUDA libraries got into the CPU bundle: {', '.join(cuda[:3])}")
    out = subprocess.run(
        [str(app / cfg.CLI_EXE), "--version"], capture_output=True, text=True, timeout=120
    ).stdout.strip()
    if out != f"vqstudio {version}":
        raise BuildError(f"the bundled `vqstudio --version` printed {out!r}, expected 'vqstudio {version}'")


def desktop_entry(version: str) -> str:
    """The .desktop entry: resources/vqstudio.desktop when the app ships one, else ours."""
    src = ROOT / "resources" / "vqstudio.desktop"
    text = src.read_text() if src.is_file() else (PACKAGING / "linux" / "vqstudio.desktop").read_text()
    if re.search(r"^Version=", text, re.M) is None:
        text = text.replace("[Desktop Entry]\n", "[Desktop Entry]\nVersion=1.5\n", 1)
    for key, value in (("Exec", "vqstudio-gui %F"), ("Icon", "vqstudio"), ("TryExec", "vqstudio-gui")):
        if re.search(rf"^{key}=", text, re.M) is None:
            text = text.rstrip("\n") + f"\n{key}={value}\n"
    return text


def icon_svg() -> Path:
    for p in (ROOT / "resources" / "vqstudio.svg", PACKAGING / "linux" / "vqstudio.svg"):
        if p.is_file():
            return p
    raise BuildError("no icon: resources/vqstudio.svg is missing", 2)


def stage(app: Path, stage_dir: Path, version: str) -> None:
    """Lay out the archive's contents: app/, install.sh, uninstall.sh, the entry, the icon."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    shutil.move(str(app), stage_dir / "app")
    for name in ("install.sh", "uninstall.sh"):
        shutil.copyfile(PACKAGING / "linux" / name, stage_dir / name)
        (stage_dir / name).chmod(0o755)
    (stage_dir / "vqstudio.desktop").write_text(desktop_entry(version))
    shutil.copyfile(icon_svg(), stage_dir / "vqstudio.svg")
    (stage_dir / "README.txt").write_text(
        f"VQ Studio {version} for Linux ({platform.machine()}), CPU build.\n\n"
        "Install:   ./install.sh              (as a user: ~/.local; as root: /opt/vqstudio)\n"
        "           ./install.sh --prefix DIR\n"
        "Start:     from the menu (VQ Studio), or `vqstudio-gui`; the command line is `vqstudio`.\n"
        "Check:     vqstudio-gui --self-test\n"
        "Remove:    <install folder>/uninstall.sh\n\n"
        "No network is needed to install or run. Licences of the bundled software: app/licenses/.\n"
    )


def make_tar(stage_dir: Path, archive: Path) -> None:
    """tar.gz of the staged folder, owned by root in the archive (gzip's default level, 6)."""
    archive.unlink(missing_ok=True)
    tmp = archive.with_name(archive.name + ".partial")
    run(
        [
            "tar",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-czf",
            tmp,
            "-C",
            stage_dir.parent,
            stage_dir.name,
        ],
    )
    tmp.replace(archive)


def make_deb(stage_dir: Path, out: Path, version: str) -> Path:
    """A .deb: the app in /opt/vqstudio, commands in /usr/bin, the menu entry and icon in /usr/share."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    root = out / "deb-root"
    if root.exists():
        shutil.rmtree(root)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "opt").mkdir()
    shutil.copytree(stage_dir / "app", root / "opt" / "vqstudio", symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    for exe in (cfg.GUI_EXE, cfg.CLI_EXE):
        (root / "usr" / "bin" / exe).symlink_to(f"/opt/vqstudio/{exe}")
    apps = root / "usr" / "share" / "applications"
    icons = root / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps"
    apps.mkdir(parents=True)
    icons.mkdir(parents=True)
    shutil.copyfile(stage_dir / "vqstudio.svg", icons / "vqstudio.svg")
    (apps / "vqstudio.desktop").write_text(desktop_entry(version))
    size_kb = dir_size(root) // 1024
    (root / "DEBIAN" / "control").write_text(
        f"Package: vqstudio\nVersion: {version}\nSection: science\nPriority: optional\n"
        f"Architecture: {arch}\nInstalled-Size: {size_kb}\n"
        "Maintainer: VQ Studio developers <vqstudio@localhost>\n"
        "Depends: libc6, libgl1, libegl1, libxkbcommon0, libfontconfig1, libglib2.0-0, libdbus-1-3\n"
        "Description: synthesize EEG/ECG/PSG recordings (desktop app and command line)\n"
        " VQ Studio trains a VQ-VAE tokenizer and a prior on biosignal recordings and\n"
        " generates synthetic recordings. CPU build; runs offline.\n"
    )
    deb = out / f"vqstudio_{version}_{arch}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb], stdout=subprocess.DEVNULL)
    shutil.rmtree(root)
    return deb


def build(args: argparse.Namespace) -> dict:
    version = read_version()
    venv = args.venv.resolve()
    out = args.out.resolve()
    work = (ROOT / "build" / "pyinstaller").resolve()
    t_start = time.perf_counter()
    venv_s = ensure_venv(venv, args.torch, args.rebuild_venv)
    py = venv_python(venv)
    check_cuda(py, args.allow_cuda)

    t0 = time.perf_counter()
    env = {**os.environ, "VQSTUDIO_ALLOW_CUDA": "1" if args.allow_cuda else "0", "PYTHONNOUSERSITE": "1"}
    distpath = work / "dist"
    run(
        [py, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath", distpath,
         "--workpath", work / "work", PACKAGING / "vqstudio.spec"],
        env=env,
    )  # fmt: skip
    pyinstaller_s = time.perf_counter() - t0
    app = distpath / cfg.APP_NAME
    # One executable serves both programs (entry_gui.py looks at the name it was started under).
    cli = app / cfg.CLI_EXE
    if not cli.exists():
        cli.symlink_to(cfg.GUI_EXE)

    log("collecting licence notices")
    lic = subprocess.run(
        [str(py), str(PACKAGING / "licenses.py"), "--pyproject", str(ROOT / "pyproject.toml"),
         "--out", str(app / "licenses"), "--excluded-modules", ",".join(cfg.EXCLUDED_MODULES)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    licences = json.loads(lic.stdout.strip().splitlines()[-1])
    system_notices = system_library_notices(app, app / "licenses" / "system-libraries")
    shutil.copyfile(ROOT / "LICENSE", app / "LICENSE")
    # The shipped codec learned from public recordings whose licence (ODC-By) asks for attribution.
    shutil.copyfile(ROOT / "corpus" / "README.md", app / "licenses" / "codec-training-data.md")

    log("checking the bundle")
    pyz_modules = pyz_top_level(py, work / "work" / cfg.APP_NAME / "PYZ-00.pyz")
    verify_bundle(app, version, args.allow_cuda, pyz_modules)
    bundle_bytes = dir_size(app)
    dropped = (work / "work" / "vqstudio" / "dropped-files.txt").read_text().split()

    arch = platform.machine()
    name = f"vqstudio-{version}-linux-{arch}"
    out.mkdir(parents=True, exist_ok=True)
    stage_dir = out / name
    stage(app, stage_dir, version)
    t1 = time.perf_counter()
    archive = out / f"{name}.tar.gz"
    log(f"writing {archive}")
    make_tar(stage_dir, archive)
    archive_s = time.perf_counter() - t1
    result = {
        "version": version,
        "archive": str(archive),
        "archive_mb": round(archive.stat().st_size / 1e6, 1),
        "bundle_mb": round(bundle_bytes / 1e6, 1),
        "bundle_files": sum(1 for p in (stage_dir / "app").rglob("*") if p.is_file()),
        "dropped_files": len(dropped),
        "licences": licences["distributions"],
        "licences_missing": licences["without_licence_file"],
        "system_library_notices": len(system_notices),
        "venv_s": round(venv_s, 1),
        "pyinstaller_s": round(pyinstaller_s, 1),
        "archive_s": round(archive_s, 1),
    }
    if args.deb:
        t2 = time.perf_counter()
        deb = make_deb(stage_dir, out, version)
        result |= {"deb": str(deb), "deb_mb": round(deb.stat().st_size / 1e6, 1)}
        result["deb_s"] = round(time.perf_counter() - t2, 1)
    result["total_s"] = round(time.perf_counter() - t_start, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the VQ Studio installer (PyInstaller onedir + .tar.gz).")
    ap.add_argument("--allow-cuda", action="store_true", help="build even if torch carries CUDA libraries")
    ap.add_argument("--deb", action="store_true", help="also build a .deb")
    ap.add_argument("--venv", type=Path, default=ROOT / "build" / "venv-bundle", help="the build venv")
    ap.add_argument(
        "--torch", default=DEFAULT_TORCH, help=f"torch requirement for the venv ({DEFAULT_TORCH})"
    )
    ap.add_argument("--rebuild-venv", action="store_true", help="make the build venv anew")
    ap.add_argument("--out", type=Path, default=ROOT / "dist", help="where the archive goes (dist/)")
    args = ap.parse_args(argv)
    if sys.platform != "linux":
        log(
            "this script builds the Linux installer; on Windows/macOS run pyinstaller packaging/vqstudio.spec"
        )
        return 2
    try:
        result = build(args)
    except BuildError as e:
        log(f"error: {e}")
        return e.code
    except subprocess.CalledProcessError as e:
        log(f"error: a step failed (exit {e.returncode}): {' '.join(map(str, e.cmd))}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
