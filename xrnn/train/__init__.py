"""The training toolkit: optimisers, gradient clipping, checkpoints and the character-model trainer.

Everything here works on parameter mappings of any backend; :mod:`xrnn.train.trainer` is what
``xrnn train`` runs.
"""

from xrnn.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from xrnn.train.clipping import clip_by_global_norm, clip_by_value, global_norm
from xrnn.train.optimizers import SGD, Adam, Optimizer, make_optimizer, optimizer_from_state
from xrnn.train.trainer import CharTrainer, StepRecord, TrainConfig, Vocabulary, default_corpus, load_model

__all__ = [
    "SGD",
    "Adam",
    "CharTrainer",
    "Checkpoint",
    "Optimizer",
    "StepRecord",
    "TrainConfig",
    "Vocabulary",
    "clip_by_global_norm",
    "clip_by_value",
    "default_corpus",
    "global_norm",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "optimizer_from_state",
    "save_checkpoint",
]
