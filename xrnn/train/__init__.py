"""The training toolkit: optimisers, gradient clipping, checkpoints, the tasks and the trainer.

Everything here works on parameter mappings of any backend; :mod:`xrnn.train.trainer` is what
``xrnn train`` runs, on the tasks of :mod:`xrnn.train.tasks` (``char``, ``adding``, ``copy``).
"""

from xrnn.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from xrnn.train.clipping import clip_by_global_norm, clip_by_value, global_norm
from xrnn.train.config import TrainConfig
from xrnn.train.optimizers import SGD, Adam, Optimizer, make_optimizer, optimizer_from_state
from xrnn.train.tasks import AddingTask, CharTask, CopyTask, Task, Vocabulary, default_corpus, make_task
from xrnn.train.trainer import CharTrainer, StepRecord, Trainer, load_model, make_trainer

__all__ = [
    "SGD",
    "Adam",
    "AddingTask",
    "CharTask",
    "CharTrainer",
    "Checkpoint",
    "CopyTask",
    "Optimizer",
    "StepRecord",
    "Task",
    "TrainConfig",
    "Trainer",
    "Vocabulary",
    "clip_by_global_norm",
    "clip_by_value",
    "default_corpus",
    "global_norm",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "make_task",
    "make_trainer",
    "optimizer_from_state",
    "save_checkpoint",
]
