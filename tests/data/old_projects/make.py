"""How the projects in this folder were made: a tiny project trained by an old VQ Studio.

    git worktree add /tmp/v01 c0ada72^   # VQ Studio 0.1 (before one stage loop for both stages)
    git worktree add /tmp/v02 c1884b9    # VQ Studio 0.2 (the last version writing schema 1)
    cd /tmp/v01 && /path/to/.venv/bin/python /path/to/tests/data/old_projects/make.py OUT/v0_1
    cd /tmp/v02 && /path/to/.venv/bin/python /path/to/tests/data/old_projects/make.py OUT/v0_2

Run from the old checkout, with its `vqstudio` first on the path. The models are shrunk (a few
thousand weights) so the folders stay small; everything else is what that version wrote.
"""

import os
import sys

sys.path.insert(0, os.getcwd())

import numpy as np

from vqstudio.models import tokenizer
from vqstudio.priors import config

tokenizer.PRESETS["small"] = {
    "hidden": 4,
    "max_width": 8,
    "strides": (2, 2, 2),
    "res_units": 1,
    "latent_dim": 8,
    "code_dim": 4,
    "codebook_size": 16,
}
config._PRESETS["small"] = {"width": 8, "depth": 1, "heads": 1, "mlp_ratio": 1.0}

try:
    from vqstudio.data.recording import Recording

    from vqstudio.cli import main
except ImportError:  # 0.1 kept these at the top of the package
    from vqstudio.cli import main
    from vqstudio.recording import Recording
from vqstudio.io import write_recording  # noqa: E402

out = os.path.abspath(sys.argv[1])
os.makedirs(out, exist_ok=True)
rate = 64.0
t = np.arange(int(40 * rate)) / rate
rng = np.random.default_rng(0)
x = np.stack([20 * np.sin(2 * np.pi * (4 + 3 * c) * t) for c in range(2)]) + rng.normal(0, 2, (2, t.size))
source = os.path.join(out, "source.edf")
write_recording(Recording.from_array(x, rate, ["C3", "C4"], "uV"), source)
argv = [
    "train",
    source,
    "--project",
    os.path.join(out, "project"),
    "--window",
    "2",
    "--preset",
    "small",
    "--tokenizer-steps",
    "4",
    "--prior-steps",
    "2",
    "--device",
    "cpu",
]
sys.exit(main(argv))
