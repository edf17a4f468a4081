"""Training: the tokenizer stage loop, its schedule and budget, and the top-level `train` job.

Import `train`, `TrainSettings`, `TrainResult` from here; this package imports torch.
"""

from vqstudio.training.budget import Budget
from vqstudio.training.job import TrainResult, train
from vqstudio.training.schedule import lr_at
from vqstudio.training.settings import OptimConfig, TrainSettings

__all__ = ["Budget", "OptimConfig", "TrainResult", "TrainSettings", "lr_at", "train"]
