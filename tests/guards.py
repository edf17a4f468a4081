"""Helpers of the nothing-lost tests: file digests, a refused command, a small full disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vqstudio.cli import main


def digest(path: str | Path) -> str:
    """sha256 of a file's content."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def refused(capsys, argv: list[str], *files: str | Path) -> str:
    """Runs `vqstudio ARGV`; asserts exit 2, one line on stderr, no traceback and `files`
    untouched. Returns that line."""
    before = {f: digest(f) for f in files}
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's bad-argument exit
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("vqstudio")
    for f, was in before.items():
        assert digest(f) == was, f"{f} was changed"
    return last


def mount_small_disk(folder: Path, size: str) -> bool:
    """Mounts a tmpfs of `size` at `folder` (made here); False where that needs root we lack."""
    folder.mkdir()
    return os.geteuid() == 0 and os.system(f"mount -t tmpfs -o size={size} tmpfs {folder} 2>/dev/null") == 0


def fill(disk: Path, leave: int = 0) -> None:
    """Fills the disk up to its last `leave` bytes (to its last byte by default)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        if leave:
            st = os.statvfs(disk)
            os.write(fd, b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
            return
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
