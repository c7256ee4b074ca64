"""The configuration of a training run: everything that determines it, saved in its checkpoints.

:func:`cell_named` is the one place the training code turns a configuration's cell name into a
:class:`xrnn.cells.Cell`; the trainer, the tasks' objectives (on dask workers too) and the command line
all go through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xrnn._validation import expect_fraction, expect_integer, expect_positive, whole_number
from xrnn.cells import Cell, get_cell
from xrnn.train.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from xrnn.train.schedules import SCHEDULES, rate

TASKS = ("char", "adding", "copy")
#: Steps per sequence when ``seq_len`` is not given: the window of the char task, the adding problem's T.
DEFAULT_SEQ_LEN = {"char": 25, "adding": 50}
DEFAULT_DELAY = 100
#: The copy task's sequence: 10 symbols, ``delay - 1`` blanks, the delimiter, 10 blanks.
COPY_EXTRA_STEPS = 20
DEFAULT_VAL_FRACTION = 0.1


def cell_named(name: str) -> Cell:
    """The :class:`~xrnn.cells.Cell` a configuration names (``ValueError`` for an unknown name).

    Examples
    --------
    >>> from xrnn.train.config import cell_named
    >>> cell_named("gru").output_keys
    ('Wy', 'by')
    """
    return get_cell(name)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and is saved in its checkpoints).

    The defaults train a 128-unit RNN with Adam in float32 on the character task. On the default
    corpus and two CPU cores the loss falls from ``log(57) = 4.04`` to about 2.1 by step 200 and
    about 1.2 by step 1000, the default, in well under a minute (about 5 to 15 s).

    Attributes
    ----------
    cell : str
        The cell's name for :func:`xrnn.cells.get_cell`.
    hidden, batch, steps, lr, optimizer, momentum, clip, backend, dtype, seed
        The model's ``n_a``, sequences per step, total steps, the optimizer, the gradient clipping
        threshold (0: off), the arrays' library and dtype, and the seed of the parameters and batches.
    task : str
        ``"char"`` (next-character prediction on a text), ``"adding"`` or ``"copy"``.
    seq_len : int
        Steps per sequence: 25 for ``char`` and 50 for ``adding`` unless given; for ``copy`` always
        ``delay + 20``.
    delay : int or None
        The copy task's ``T`` (100 unless given); ``None`` for the other tasks.
    val_fraction : float
        The char task's held-out share of the text, taken from its end (0.1 unless given; 0 for the
        generated tasks, which validate on a fixed-seed set of their own).
    eval_every : int
        Steps between evaluations on the validation set.
    schedule : str
        ``"constant"``, ``"cosine"`` or ``"step"`` (see :mod:`xrnn.train.schedules`).
    decay_steps : int or None
        The cosine and step schedules' horizon: ``steps`` unless given (kept when a resumed run changes
        ``steps``); ``None`` for the constant schedule.
    patience : int
        Stop after this many evaluations without a new best validation loss; 0: never.

    Examples
    --------
    >>> from xrnn.train.config import TrainConfig
    >>> config = TrainConfig(task="copy", delay=10, steps=400, schedule="cosine")
    >>> config.seq_len, config.val_fraction, config.decay_steps, config.learning_rate(401)
    (30, 0.0, 400, 0.0001)
    """

    cell: str = "rnn"
    hidden: int = 128
    seq_len: int = None  # type: ignore[assignment]  # resolved from the task in __post_init__
    batch: int = 32
    steps: int = 1000
    lr: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    clip: float = 5.0
    backend: str = "numpy"
    dtype: str = "float32"
    seed: int = 0
    task: str = "char"
    delay: int | None = None
    val_fraction: float = None  # type: ignore[assignment]  # resolved from the task in __post_init__
    eval_every: int = 100
    schedule: str = "constant"
    decay_steps: int | None = None
    patience: int = 0

    def __post_init__(self) -> None:
        def resolve(name: str, value: object) -> None:
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

        if self.task == "copy":
            resolve("delay", DEFAULT_DELAY if self.seq_len is None else self.seq_len - COPY_EXTRA_STEPS)
            resolve("seq_len", self.delay + COPY_EXTRA_STEPS if isinstance(self.delay, int) else None)
        resolve("seq_len", DEFAULT_SEQ_LEN.get(self.task))
        resolve("val_fraction", DEFAULT_VAL_FRACTION if self.task == "char" else 0.0)
        if self.schedule != "constant":
            resolve("decay_steps", self.steps)

    @classmethod
    def from_saved(cls, saved: object) -> TrainConfig:
        """The configuration of a checkpoint's JSON, checked; ``ValueError`` says what does not fit.

        A checkpoint from before held-out evaluation resumes without it (``val_fraction`` 0).
        """
        if not isinstance(saved, Mapping):
            raise ValueError(f"config must be a JSON object, got a {type(saved).__name__}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(saved) - set(fields))
        if unknown:
            raise ValueError(f"config has unknown options {unknown}")
        for name, value in saved.items():
            if not _fits(str(fields[name].type), value):
                raise ValueError(f"config[{name!r}] must be {fields[name].type}, got {value!r}")
        config = cls(**{"val_fraction": 0.0, **saved})
        config.check()
        return config

    def check(self) -> None:
        """Raise ``ValueError`` for a value no run can use, ``TypeError`` for one of the wrong type (a
        step count of 2.5: integers of any integer type, numbers of any real type)."""
        cell_named(self.cell)
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(TASKS)}")
        for name in ("hidden", "seq_len", "batch", "eval_every", "steps", "patience", "seed"):
            low = 0 if name in ("steps", "patience", "seed") else 1
            expect_integer(name, getattr(self, name), low=low, kind="an int")
        expect_positive("lr", self.lr)
        if self.clip != 0:
            expect_positive("clip (0: off)", self.clip)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
        expect_fraction("momentum", self.momentum)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.schedule == "constant" and self.decay_steps is not None:
            raise ValueError(f"decay_steps is for the cosine and step schedules, not constant; got {self.decay_steps}")
        if self.decay_steps is not None:
            expect_integer("decay_steps", self.decay_steps, low=1, kind="an int or None")
        self._check_task()

    def _check_task(self) -> None:
        if self.task == "copy":
            delay = whole_number(self.delay)
            if delay is None or delay < 1:
                raise ValueError(
                    f"the copy task needs a delay of at least 1, so a seq_len (delay + {COPY_EXTRA_STEPS}) of at least "
                    f"{COPY_EXTRA_STEPS + 1}; got delay {self.delay!r} and seq_len {self.seq_len!r}"
                )
            if self.seq_len != delay + COPY_EXTRA_STEPS:
                raise ValueError(
                    f"the copy task's sequences have delay + {COPY_EXTRA_STEPS} = {delay + COPY_EXTRA_STEPS} "
                    f"steps, got seq_len {self.seq_len}"
                )
        elif self.delay is not None:
            raise ValueError(f"delay is the copy task's; the {self.task} task has none, got {self.delay}")
        if self.task == "adding" and self.seq_len < 2:
            raise ValueError(
                f"the adding problem needs seq_len of at least 2 (a marker in each half), got {self.seq_len}"
            )
        if self.task == "char":
            expect_fraction("val_fraction", self.val_fraction)
        if self.task != "char" and self.val_fraction != 0:
            raise ValueError(
                f"val_fraction is the char task's; the {self.task} task validates on a fixed-seed set of its own, "
                f"got {self.val_fraction}"
            )
        if self.patience and self.task == "char" and self.val_fraction == 0:
            raise ValueError("patience counts evaluations on held-out text: it needs val_fraction above 0")

    @property
    def evaluates(self) -> bool:
        """Whether the run has a validation set (the char task with ``val_fraction`` 0 has none)."""
        return self.task != "char" or self.val_fraction > 0

    def learning_rate(self, step: int) -> float:
        """The learning rate of ``step`` (1-based) under this run's schedule."""
        return rate(self.schedule, self.lr, step, self.decay_steps or self.steps)  # checked by check()

    def make_optimizer(self) -> Optimizer:
        """A fresh optimizer of this configuration."""
        if self.optimizer == "sgd":
            return make_optimizer("sgd", lr=self.lr, momentum=self.momentum)
        return make_optimizer(self.optimizer, lr=self.lr)


def _fits(annotation: str, value: Any) -> bool:
    """Whether a JSON ``value`` fits a field annotated ``annotation`` (the dataclass's string annotations)."""
    if value is None:
        return annotation == "int | None"
    if isinstance(value, bool):
        return False
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "float":
        return isinstance(value, (int, float))
    return isinstance(value, int)
