"""Shared test settings.

numpy's BLAS and torch each start a thread per core; on a 2-core machine running both (and a
Qt event loop) the threads fight and small matrix work becomes 100x slower. One BLAS thread
keeps the tests quick and their timings steady. Set before numpy is first imported.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest


@pytest.fixture
def small_disk(tmp_path):
    """A 48 MB tmpfs to fill (skipped where mounting needs root we lack)."""
    from guards import mount_small_disk

    folder = tmp_path / "disk"
    if not mount_small_disk(folder, "48m"):
        pytest.skip("mounting a small tmpfs needs root")
    yield folder
    os.system(f"umount {folder}")
