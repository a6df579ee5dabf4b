"""Self-supervised training of ACM-Net: the loop, the views, the losses, the checkpoints."""

from acmnet.train.loop import Preempted, train
from acmnet.train.step import TrainingError

__all__ = ["Preempted", "TrainingError", "train"]
