"""Character-level language models: the vocabulary, the batches and a resumable training loop.

This is what ``xrnn train`` runs; it is plain library code, usable without the command line.
Every step draws its batch from a generator seeded by ``(seed, step)``, so a run is a pure function
of its configuration: the same seed gives the same losses on the CPU, and a run resumed from a
checkpoint continues exactly as if it had never stopped.

The default corpus, ``xrnn/data/sonnets.txt``, is ten of Shakespeare's sonnets (public domain).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from xrnn._typing import Array
from xrnn.backends import asarray, get_backend
from xrnn.cells import get_cell
from xrnn.patterns import many_to_many_loss_and_gradients, one_hot
from xrnn.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from xrnn.train.clipping import clip_by_global_norm, global_norm
from xrnn.train.optimizers import Optimizer, make_optimizer, optimizer_from_state

if TYPE_CHECKING:
    from xrnn.parallel.distributed import DataParallel

DEFAULT_CORPUS = "data/sonnets.txt"


def default_corpus() -> str:
    """The text ``xrnn train`` learns when given none (about 5.6 kB, 57 distinct characters).

    Examples
    --------
    >>> from xrnn.train.trainer import default_corpus
    >>> default_corpus().splitlines()[2]
    "Shall I compare thee to a summer's day?"
    """
    return resources.files("xrnn").joinpath(DEFAULT_CORPUS).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, in sorted order; token ``i`` is ``chars[i]``.

    Examples
    --------
    >>> from xrnn.train.trainer import Vocabulary
    >>> vocab = Vocabulary.from_text("hello")
    >>> vocab.chars, vocab.encode("hole"), vocab.decode([3, 2, 0])
    ('ehlo', [1, 3, 2, 0], 'ole')
    """

    chars: str

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Every distinct character of ``text``."""
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Tokens of ``text``; raises ``ValueError`` naming the first character it does not know."""
        index = {char: i for i, char in enumerate(self.chars)}
        try:
            return [index[char] for char in text]
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the model's vocabulary") from None

    def decode(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens``."""
        return "".join(self.chars[t] for t in tokens)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and is saved in its checkpoints).

    The defaults train a 128-unit RNN with Adam in float32. On the default corpus and two CPU
    cores the loss falls from ``log(57) = 4.04`` to about 2.1 by step 200 and about 1.2 by step 1000,
    the default, in well under a minute (about 5 to 15 s).
    """

    cell: str = "rnn"
    hidden: int = 128
    seq_len: int = 25
    batch: int = 32
    steps: int = 1000
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    clip: float = 5.0
    backend: str = "numpy"
    dtype: str = "float32"
    seed: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` for a value no run can use."""
        get_cell(self.cell)
        for name in ("hidden", "seq_len", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"steps must be at least 0, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.clip < 0:
            raise ValueError(f"clip must be 0 (off) or positive, got {self.clip}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")

    def make_optimizer(self) -> Optimizer:
        """A fresh optimizer of this configuration."""
        if self.optimizer == "sgd":
            return make_optimizer("sgd", lr=self.lr, momentum=self.momentum)
        return make_optimizer(self.optimizer, lr=self.lr)


@dataclass(frozen=True)
class StepRecord:
    """One line of the metrics: the step number (1-based), the mean loss and the gradient norm before clipping."""

    step: int
    loss: float
    grad_norm: float


@dataclass
class _Snapshot:
    step: int
    parameters: dict[str, Array]
    optimizer: dict[str, Any]
    history: list[StepRecord] = field(default_factory=list)


class CharTrainer:
    """Train a character-level language model (many-to-many: predict every next character).

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    text : str
        The corpus; at least ``config.seq_len + 1`` characters.
    vocabulary : Vocabulary, optional
        By default every character of ``text``.
    text_path : str, optional
        Where ``text`` came from (saved in checkpoints, so that a resumed run can read it again).
    parallel : xrnn.distributed.DataParallel, optional
        Compute each step's loss and gradients on a ``dask.distributed`` cluster, the batch sharded along
        ``m``; the optimizer still updates once per step, here. The numbers equal those of a run without it
        up to the order of the additions over the shards (about ``1e-15`` relative per step in float64).
        It is not part of the configuration: a run may resume with or without a cluster.

    Examples
    --------
    >>> from xrnn.train.trainer import CharTrainer, TrainConfig
    >>> trainer = CharTrainer(TrainConfig(hidden=16, seq_len=8, batch=4, steps=40), "abcabcabcabcabc")
    >>> records = trainer.run()
    >>> round(records[0].loss, 3), records[-1].loss < 0.1  # from log(3) = 1.099 to almost certain
    (1.099, True)
    >>> trainer.step, trainer.vocabulary.chars
    (40, 'abc')
    """

    def __init__(
        self,
        config: TrainConfig,
        text: str,
        vocabulary: Vocabulary | None = None,
        *,
        text_path: str | None = None,
        parallel: DataParallel | None = None,
    ) -> None:
        config.check()
        if not text:
            raise ValueError("the training text is empty")
        if len(text) < config.seq_len + 1:
            raise ValueError(
                f"the training text has {len(text)} characters; seq_len {config.seq_len} needs at least "
                f"{config.seq_len + 1}"
            )
        self.config = config
        self.text_path = text_path
        self.parallel = parallel
        self.vocabulary = vocabulary or Vocabulary.from_text(text)
        self.text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self._data = self.vocabulary.encode(text)
        self._cell = get_cell(config.cell)
        self._adapter = get_backend(config.backend)
        n = len(self.vocabulary)
        parameters = self._cell.init(n, config.hidden, n, backend=config.backend, dtype=config.dtype, seed=config.seed)
        self._dtype = parameters[self._cell.output_keys[0]].dtype
        optimizer = config.make_optimizer()
        self._optimizer = optimizer
        self._snapshot = _Snapshot(0, parameters, optimizer.state_dict())

    # -- state ------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Number of completed steps."""
        return self._snapshot.step

    @property
    def parameters(self) -> dict[str, Array]:
        """The parameters after the last completed step."""
        return self._snapshot.parameters

    @property
    def history(self) -> list[StepRecord]:
        """One record per completed step, from the first step of the run (resumed runs included)."""
        return list(self._snapshot.history)

    # -- data -------------------------------------------------------------------------------------
    def batch(self, step: int) -> tuple[Array, Array]:
        """The inputs ``x (n_x, batch, seq_len)`` and next-character labels ``(batch, seq_len)`` of ``step``.

        The windows start at random offsets drawn from a generator seeded by ``(seed, step)`` alone.
        """
        config = self.config
        rng = random.Random(f"xrnn-batch:{config.seed}:{step}")
        starts = [rng.randrange(len(self._data) - config.seq_len) for _ in range(config.batch)]
        windows = [self._data[s : s + config.seq_len + 1] for s in starts]
        tokens = asarray(windows, backend=config.backend)
        return one_hot(tokens[:, :-1], len(self.vocabulary), dtype=self._dtype), tokens[:, 1:]

    # -- training ---------------------------------------------------------------------------------
    def train_step(self) -> StepRecord:
        """One step of Adam or SGD on the next batch; returns its record."""
        snapshot = self._snapshot
        x, labels = self.batch(snapshot.step + 1)
        if self.parallel is None:
            loss, gradients = many_to_many_loss_and_gradients(x, labels, snapshot.parameters, cell=self._cell)
        else:
            loss, gradients = self.parallel.loss_and_gradients(x, labels, snapshot.parameters)
        gradients = {"d" + key: gradients["d" + key] for key in snapshot.parameters}
        if self.config.clip > 0:
            gradients, norm = clip_by_global_norm(gradients, self.config.clip)
        else:
            norm = global_norm(gradients)
        optimizer = optimizer_from_state(snapshot.optimizer)
        parameters = optimizer.update(snapshot.parameters, gradients)
        record = StepRecord(snapshot.step + 1, float(loss), float(norm))
        # One assignment commits the step: an interrupt before it leaves the previous step intact.
        self._snapshot = _Snapshot(record.step, parameters, optimizer.state_dict(), [*snapshot.history, record])
        return record

    def run(self, steps: int | None = None) -> list[StepRecord]:
        """Train until ``steps`` (default ``config.steps``) steps are complete in all; the new records."""
        target = self.config.steps if steps is None else steps
        return [self.train_step() for _ in range(self.step, target)]

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state after the last completed step: parameters, optimizer, vocabulary, config, history."""
        snapshot = self._snapshot
        metadata = {
            "kind": "char-lm",
            "config": dataclasses.asdict(self.config),
            "vocabulary": self.vocabulary.chars,
            "step": snapshot.step,
            "text": self.text_path,
            "text_sha256": self.text_sha256,
            "history": [[r.step, r.loss, r.grad_norm] for r in snapshot.history],
        }
        save_checkpoint(path, snapshot.parameters, optimizer=snapshot.optimizer, metadata=metadata)

    @classmethod
    def resume(
        cls,
        checkpoint: Checkpoint,
        text: str,
        *,
        text_path: str | None = None,
        parallel: DataParallel | None = None,
        **overrides: Any,
    ) -> CharTrainer:
        """Continue the run of ``checkpoint`` on ``text`` (the same text it was trained on).

        ``overrides`` may change ``steps``, ``backend`` and ``dtype``; the other options are the run's.
        ``parallel`` is as in :class:`CharTrainer`.
        """
        metadata = checkpoint.metadata
        if metadata.get("kind") != "char-lm" or checkpoint.optimizer is None:
            raise ValueError("the checkpoint is not from xrnn train")
        config = dataclasses.replace(TrainConfig(**metadata["config"]), **overrides)
        trainer = cls(config, text, Vocabulary(metadata["vocabulary"]), text_path=text_path, parallel=parallel)
        if trainer.text_sha256 != metadata["text_sha256"]:
            raise ValueError("the text differs from the one the checkpoint was trained on")
        move = {"backend": config.backend, "dtype": config.dtype}
        parameters = {key: asarray(value, **move) for key, value in checkpoint.parameters.items()}
        optimizer = dict(checkpoint.optimizer)
        optimizer["slots"] = {
            slot: {key: asarray(value, **move) for key, value in values.items()}
            for slot, values in checkpoint.optimizer["slots"].items()
        }
        history = [StepRecord(int(s), float(loss), float(norm)) for s, loss, norm in metadata["history"]]
        trainer._snapshot = _Snapshot(int(metadata["step"]), parameters, optimizer, history)
        return trainer


def load_model(path: str | os.PathLike[str], *, backend: str = "numpy") -> tuple[dict[str, Array], Vocabulary]:
    """The parameters (in their saved dtype) and vocabulary of a checkpoint written by ``xrnn train``."""
    checkpoint = load_checkpoint(path, backend=backend)
    if checkpoint.metadata.get("kind") != "char-lm" or "vocabulary" not in checkpoint.metadata:
        raise ValueError(f"{os.fspath(path)!r} is not a checkpoint of xrnn train")
    return checkpoint.parameters, Vocabulary(checkpoint.metadata["vocabulary"])
