"""Collect the licence notices of everything the bundle ships into `<bundle>/licenses/`.

Run with the build venv's Python (it reads that venv's installed metadata):

    build/venv-bundle/bin/python packaging/licenses.py --pyproject pyproject.toml --out DIR

The shipped distributions are the runtime requirements of vqstudio (with the `gui` extra) and
everything they require in turn, read from the installed metadata; each one's licence files come
from its dist-info. CPython's own licence and, for PySide6/Qt (LGPL-3.0), the LGPL and GPL texts
and a note on replacing the Qt libraries are added. Prints one JSON line: what was collected.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import shutil
import sys
import sysconfig
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
# Licence files that live outside dist-info/licenses in older wheels' metadata.
LICENCE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)

PYSIDE_NOTE = """\
PySide6 and Qt (LGPL-3.0)
=========================

This bundle contains PySide6 {version} and the Qt 6 libraries it ships (the PySide6-Essentials and
shiboken6 wheels), used under the GNU Lesser General Public License version 3 (LGPL-3.0-only).
The full texts are in LGPL-3.0.txt and GPL-3.0.txt beside this file.

The libraries are dynamically linked and kept as separate files, so you may replace them with
your own modified or rebuilt versions: they are in `_internal/PySide6/` (libpyside6*.so, the
Qt*.abi3.so modules, Qt/lib/libQt6*.so.6, Qt/plugins/) and `_internal/shiboken6/`. Put your
builds of the same major version in their place; VQ Studio loads them at start.

The source code of Qt and PySide6 is available from the Qt Project (code.qt.io, qt/qtbase and
pyside/pyside-setup), tag v{version}; we will also provide it on request.
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(pyproject: Path) -> list[Requirement]:
    """vqstudio's dependencies plus its `gui` extra, as written in pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project.get("optional-dependencies", {}).get("gui", [])]
    return reqs


def top_level_names(dist: md.Distribution) -> set[str]:
    """The importable top-level names a distribution installs (from top_level.txt or its files)."""
    text = dist.read_text("top_level.txt")
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    names = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        names.add(first.split(".")[0] if f.suffix in (".py", ".so", ".pyd") and len(f.parts) == 1 else first)
    return names


def closure(roots: list[Requirement], excluded: frozenset[str] = frozenset()) -> dict[str, md.Distribution]:
    """Every installed distribution the roots need, following Requires-Dist with markers evaluated.

    A distribution whose every top-level module is in `excluded` (kept out of the bundle) is not
    shipped, so neither it nor what only it requires is listed.
    """
    found: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        env = default_environment()
        if req.marker is not None and not req.marker.evaluate(env | {"extra": ""}):
            continue
        key = _norm(req.name)
        if key in found:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue  # an optional dependency that is not installed, so not shipped
        names = top_level_names(dist)
        if names and names <= excluded:
            continue
        found[key] = dist
        for sub in dist.requires or []:
            r = Requirement(sub)
            # a requirement marked `extra == "x"` counts only when x was asked for
            if r.marker is None or any(r.marker.evaluate(env | {"extra": e}) for e in (req.extras or {""})):
                todo.append(r)
    return found


def licence_files(dist: md.Distribution) -> list[Path]:
    """The licence files a distribution installed (dist-info/licenses/** or LICENSE-like names)."""
    out = []
    for f in dist.files or []:
        parts = f.parts
        in_meta = parts and parts[0].endswith(".dist-info")
        if not in_meta:
            continue
        if (len(parts) > 2 and parts[1] == "licenses") or LICENCE_NAME.search(parts[-1]):
            p = Path(dist.locate_file(f))
            if p.is_file():
                out.append(p)
    return out


def licence_name(meta: md.PackageMetadata) -> str:
    """A short name of the licence: License-Expression, a one-line License, or the classifier."""
    if meta.get("License-Expression"):
        return meta["License-Expression"].strip()
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 60:
        return text
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    return classifiers[0] if classifiers else "see the files"


def collect(pyproject: Path, out: Path, excluded: frozenset[str] = frozenset()) -> dict:
    """Write the notices into `out`; return a summary (distribution -> licence, files copied)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dists = closure(runtime_requirements(pyproject), excluded)
    summary: dict[str, dict] = {}
    index = ["Third-party software in this VQ Studio bundle", "=" * 46, ""]
    for key in sorted(dists):
        dist = dists[key]
        meta = dist.metadata
        licence = licence_name(meta)
        folder = out / f"{meta['Name']}-{dist.version}"
        copied = []
        for src in licence_files(dist):
            rel = src.name
            # keep the sub-folders of dist-info/licenses (torch's third_party notices)
            parts = src.parts
            if "licenses" in parts:
                rel = str(Path(*parts[parts.index("licenses") + 1 :]))
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            copied.append(rel)
        summary[meta["Name"]] = {"version": dist.version, "license": licence, "files": len(copied)}
        index.append(f"{meta['Name']} {dist.version}: {licence}  ({folder.name}/)")
    # CPython, which the bundle carries as libpython and the standard library.
    py_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if py_licence.is_file():
        dest = out / f"Python-{sys.version.split()[0]}"
        dest.mkdir()
        shutil.copyfile(py_licence, dest / "LICENSE.txt")
        index.append(f"Python {sys.version.split()[0]}: PSF-2.0  ({dest.name}/)")
        summary["Python"] = {"version": sys.version.split()[0], "license": "PSF-2.0", "files": 1}
    # Qt / PySide6: LGPL texts and the note on replacing the libraries.
    pyside = dists.get("pyside6-essentials") or dists.get("pyside6")
    if pyside is not None:
        for name in ("LGPL-3.0.txt", "GPL-3.0.txt"):
            shutil.copyfile(HERE / "licenses" / name, out / name)
        (out / "PySide6-Qt-LGPL-NOTICE.txt").write_text(PYSIDE_NOTE.format(version=pyside.version))
        # their wheels carry no licence file: their folders get the LGPL text and the note
        for key in ("pyside6-essentials", "pyside6", "shiboken6"):
            if key in dists:
                name = dists[key].metadata["Name"]
                folder = out / f"{name}-{dists[key].version}"
                folder.mkdir(exist_ok=True)
                shutil.copyfile(HERE / "licenses" / "LGPL-3.0.txt", folder / "LGPL-3.0.txt")
                shutil.copyfile(out / "PySide6-Qt-LGPL-NOTICE.txt", folder / "NOTICE.txt")
                summary[name]["files"] = 2
        index.append("PySide6/Qt: LGPL-3.0-only, see PySide6-Qt-LGPL-NOTICE.txt, LGPL-3.0.txt, GPL-3.0.txt")
    index.append("")
    (out / "README.txt").write_text("\n".join(index))
    missing = sorted(k for k, v in summary.items() if v["files"] == 0)
    return {"distributions": len(summary), "without_licence_file": missing, "detail": summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyproject", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--excluded-modules", default="", help="modules kept out of the bundle, comma-separated")
    args = ap.parse_args(argv)
    excluded = frozenset(m for m in args.excluded_modules.split(",") if m)
    result = collect(args.pyproject, args.out, excluded)
    print(json.dumps({k: v for k, v in result.items() if k != "detail"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
