"""Training: one stage loop (`loop.run_stage`), the two stages it runs (`tokenizer_stage`,
`prior_stage`), their clocks, budget, schedule and optimizer, and the top-level `train` job.

Import `train`, `TrainSettings`, `TrainResult` from here; importing this package does not load
torch (the stage modules do, when the job runs).
"""

from vqstudio.training.budget import Budget
from vqstudio.training.job import TrainResult, train
from vqstudio.training.lr_schedule import lr_at
from vqstudio.training.settings import PRIOR_OPTIM, TOKENIZER_OPTIM, OptimConfig, TrainSettings

__all__ = [
    "PRIOR_OPTIM",
    "TOKENIZER_OPTIM",
    "Budget",
    "OptimConfig",
    "TrainResult",
    "TrainSettings",
    "lr_at",
    "train",
]
