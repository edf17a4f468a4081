"""Shared test settings.

numpy's BLAS and torch each start a thread per core; on a 2-core machine running both (and a
Qt event loop) the threads fight and small matrix work becomes 100x slower. One BLAS thread
keeps the tests quick and their timings steady. Set before numpy is first imported.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
