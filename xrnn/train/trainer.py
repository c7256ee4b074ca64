"""The resumable training loop of ``xrnn train``: any task, held-out evaluation, schedules, early stopping.

This is plain library code, usable without the command line. Every step draws its batch from a
generator seeded by ``(seed, step)``, the learning rate is a function of the step, and evaluations
happen at fixed steps (every ``eval_every``), so a run is a pure function of its configuration: the same
seed gives the same losses on the CPU, and a run resumed from a checkpoint continues exactly as if it
had never stopped, its validation scores, best step and early stopping included.

The default corpus, ``xrnn/data/sonnets.txt``, is nine of Shakespeare's sonnets (public domain).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xrnn._typing import Array
from xrnn.cells import CellImportError
from xrnn.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from xrnn.train.clipping import clip_by_global_norm, global_norm
from xrnn.train.config import TrainConfig, cell_named
from xrnn.train.optimizers import optimizer_from_state
from xrnn.train.saved_runs import KINDS, SavedRun, read_run, run_metadata, saved_parameters
from xrnn.train.tasks import CharTask, Task, Vocabulary, default_corpus, make_task

if TYPE_CHECKING:
    from xrnn.parallel.distributed import DataParallel

__all__ = [
    "CharModel",
    "CharTrainer",
    "StepRecord",
    "TrainConfig",
    "Trainer",
    "Vocabulary",
    "default_corpus",
    "load_char_model",
    "load_model",
    "make_trainer",
]


@dataclass(frozen=True)
class StepRecord:
    """One line of the metrics.

    Attributes
    ----------
    step : int
        The step number, from 1.
    loss : float
        The mean training loss of the step's batch.
    grad_norm : float
        The gradients' global norm before clipping.
    lr : float
        The learning rate the step used.
    validation : dict or None
        At an evaluation (every ``eval_every`` steps): ``val_loss`` and the task's scores
        (``val_bpc`` for the char task, ``val_accuracy`` for copy), after the step's update.
    """

    step: int
    loss: float
    grad_norm: float
    lr: float
    validation: Mapping[str, float] | None = None


@dataclass
class _Snapshot:
    step: int
    parameters: dict[str, Array]
    optimizer: dict[str, Any]
    history: list[StepRecord] = field(default_factory=list)
    best: tuple[int, float] | None = None  # (step, val_loss) of the best evaluation
    stale: int = 0  # evaluations since the best


class Trainer:
    """Train a model on a task, evaluating it on the task's validation set as it goes.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    task : Task, optional
        The task's data (:func:`xrnn.train.tasks.make_task`); by default the task of ``config`` (the char
        task on the default corpus).
    parallel : xrnn.parallel.distributed.DataParallel, optional
        Compute each step's loss and gradients on a ``dask.distributed`` cluster, the batch sharded along
        ``m`` and shipped as the task's token ids; the optimizer still updates once per step, here. The
        numbers equal those of a run without it up to the order of the additions over the shards (about
        ``1e-15`` relative per step in float64). Not part of the configuration: a run may resume with or
        without a cluster.

    Examples
    --------
    >>> from xrnn.train.trainer import Trainer, TrainConfig
    >>> config = TrainConfig(task="adding", cell="gru", hidden=16, seq_len=10, steps=60, eval_every=30)
    >>> trainer = Trainer(config)
    >>> records = trainer.run()
    >>> [r.step for r in records if r.validation], trainer.best_step  # evaluated every 30 steps
    ([30, 60], 60)
    >>> trainer.history[-1].validation["val_loss"] < 0.167  # below always answering 1
    True
    """

    def __init__(self, config: TrainConfig, task: Task | None = None, *, parallel: DataParallel | None = None) -> None:
        config.check()
        task = make_task(config) if task is None else task
        if task.config != config:
            raise ValueError("the task was made for another configuration")
        self.config = config
        self.task = task
        self.parallel = parallel
        cell = cell_named(config.cell)
        parameters = cell.init(
            task.n_x, config.hidden, task.n_y, backend=config.backend, dtype=config.dtype, seed=config.seed
        )
        self._snapshot = _Snapshot(0, parameters, config.make_optimizer().state_dict())

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

    @property
    def best_step(self) -> int | None:
        """The step of the lowest validation loss so far (None before the first evaluation)."""
        return None if self._snapshot.best is None else self._snapshot.best[0]

    @property
    def best_val_loss(self) -> float | None:
        """The lowest validation loss so far."""
        return None if self._snapshot.best is None else self._snapshot.best[1]

    @property
    def stopped(self) -> bool:
        """Whether ``patience`` evaluations in a row have not improved on the best: the run is over."""
        return 0 < self.config.patience <= self._snapshot.stale

    # -- training ---------------------------------------------------------------------------------
    def train_step(self) -> StepRecord:
        """One step of Adam or SGD on the next batch (then an evaluation, when one is due); its record."""
        snapshot, config, task = self._snapshot, self.config, self.task
        step = snapshot.step + 1
        batch = task.batch(step)
        if self.parallel is None:
            loss, gradients = task.objective.loss_and_gradients(snapshot.parameters, *batch)
        else:
            loss, gradients = self.parallel.batch_loss_and_gradients(task.objective, batch, snapshot.parameters)
        gradients = {"d" + key: gradients["d" + key] for key in snapshot.parameters}
        if config.clip > 0:
            gradients, norm = clip_by_global_norm(gradients, config.clip)
        else:
            norm = global_norm(gradients)
        optimizer = optimizer_from_state(snapshot.optimizer)
        optimizer.lr = config.learning_rate(step)
        parameters = optimizer.update(snapshot.parameters, gradients)
        validation = None
        best, stale = snapshot.best, snapshot.stale
        if config.evaluates and step % config.eval_every == 0:
            validation = task.evaluate(parameters)
            if best is None or validation["val_loss"] < best[1]:
                best, stale = (step, validation["val_loss"]), 0
            else:
                stale += 1
        record = StepRecord(step, float(loss), float(norm), optimizer.lr, validation)
        # One assignment commits the step: an interrupt before it leaves the previous step intact.
        history = [*snapshot.history, record]
        self._snapshot = _Snapshot(step, parameters, optimizer.state_dict(), history, best, stale)
        return record

    def run(self, steps: int | None = None, *, progress: bool = False) -> list[StepRecord]:
        """Train until ``steps`` (default ``config.steps``) steps are complete in all, or early stopping; the
        new records. ``progress=True`` shows a ``tqdm.auto`` bar (a widget in a notebook)."""
        target = self.config.steps if steps is None else steps
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=target, initial=self.step, unit="step", desc=f"{self.config.task} {self.config.cell}")
        records = []
        try:
            while self.step < target and not self.stopped:
                records.append(self.train_step())
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(_postfix(self), refresh=False)
        finally:
            if bar is not None:
                bar.close()
        return records

    def evaluate(self) -> dict[str, float]:
        """``val_loss`` and the task's scores for the current parameters (no record is written)."""
        return self.task.evaluate(self.parameters)

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state after the last completed step: parameters, optimizer, config, task data, history."""
        snapshot = self._snapshot
        metadata = run_metadata(self.task, snapshot.step, snapshot.history, snapshot.best, snapshot.stale)
        save_checkpoint(path, snapshot.parameters, optimizer=snapshot.optimizer, metadata=metadata)

    @classmethod
    def resume(
        cls,
        checkpoint: Checkpoint,
        *,
        text: str | None = None,
        text_path: str | None = None,
        parallel: DataParallel | None = None,
        **overrides: Any,
    ) -> Trainer:
        """Continue the run of ``checkpoint`` (a :class:`CharTrainer` for the char task, on ``text``, the
        text it was trained on; by default the default corpus).

        ``overrides`` may change ``steps``, ``backend`` and ``dtype``; the other options are the run's.
        ``parallel`` is as in :class:`Trainer`. ``ValueError`` says what does not fit: a checkpoint not
        written by a trainer, a configuration or history that cannot be read, parameters or a vocabulary
        that do not fit the configuration, another text, ``steps`` fewer than the run has done (as many is
        a run with nothing left to train).
        """
        saved = read_run(checkpoint, **overrides)
        if overrides.get("steps", saved.step) < saved.step:
            raise ValueError(
                f"steps {overrides['steps']} is fewer than the {saved.step} steps the run has done "
                "(steps counts those before the resume too)"
            )
        config = saved.config
        vocabulary = Vocabulary(saved.metadata["vocabulary"]) if config.task == "char" else None
        if vocabulary is not None:  # before the text is encoded with it: the weights must fit it first
            n = len(vocabulary)
            expected = cell_named(config.cell).init(n, config.hidden, n, seed=0)
            saved_parameters(checkpoint.parameters, expected, f"a vocabulary of {n} characters", backend="numpy")
        trainer = make_trainer(config, text=text, vocabulary=vocabulary, text_path=text_path, parallel=parallel)
        trainer.task.check_metadata(saved.metadata)
        trainer._restore(saved, checkpoint)
        return trainer

    def _restore(self, saved: SavedRun, checkpoint: Checkpoint) -> None:
        config = self.config
        move = {"backend": config.backend, "dtype": config.dtype}
        sizes = _sizes(self.task)
        parameters = saved_parameters(checkpoint.parameters, self._snapshot.parameters, sizes, **move)
        assert checkpoint.optimizer is not None  # read_run: a run's checkpoint has its optimizer
        optimizer = dict(checkpoint.optimizer)
        optimizer["slots"] = {
            slot: saved_parameters(values, self._snapshot.parameters, sizes, **move)
            for slot, values in checkpoint.optimizer["slots"].items()
        }
        history = [StepRecord(*row) for row in saved.history]
        self._snapshot = _Snapshot(saved.step, parameters, optimizer, history, saved.best, saved.stale)


class CharTrainer(Trainer):
    """Train a character-level language model (many-to-many: predict every next character).

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (``task="char"``).
    text, vocabulary, text_path
        The corpus, its characters and where it came from, as in :class:`xrnn.train.tasks.CharTask`
        (the path is saved in checkpoints, so that a resumed run can read the text again).
    parallel : xrnn.parallel.distributed.DataParallel, optional
        As in :class:`Trainer`.

    Examples
    --------
    >>> from xrnn.train.trainer import CharTrainer, TrainConfig
    >>> config = TrainConfig(hidden=16, seq_len=8, batch=4, steps=40, val_fraction=0)
    >>> trainer = CharTrainer(config, "abcabcabcabcabc")
    >>> records = trainer.run()
    >>> round(records[0].loss, 3), records[-1].loss < 0.1  # from log(3) = 1.099 to almost certain
    (1.099, True)
    >>> trainer.step, trainer.vocabulary.chars
    (40, 'abc')
    """

    task: CharTask

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
        if config.task != "char":
            raise ValueError(f"CharTrainer trains the char task, got task {config.task!r}; use Trainer")
        super().__init__(config, CharTask(config, text, vocabulary, text_path=text_path), parallel=parallel)

    @property
    def vocabulary(self) -> Vocabulary:
        """The characters the model knows."""
        return self.task.vocabulary

    @property
    def text_sha256(self) -> str:
        """The SHA-256 of the whole text (training and held-out parts)."""
        return self.task.text_sha256

    @property
    def text_path(self) -> str | None:
        """Where the text came from."""
        return self.task.text_path

    def batch(self, step: int) -> tuple[Array, Array]:
        """The inputs ``x (n_x, batch, seq_len)`` and next-character labels ``(batch, seq_len)`` of ``step``.

        The windows of the training part start at random offsets drawn from a generator seeded by
        ``(seed, step)`` alone.
        """
        x, labels = self.task.objective.inputs(self.parameters, *self.task.batch(step))
        return x, labels

    @classmethod
    def resume(  # type: ignore[override]  # the text is positional, as before the other tasks
        cls,
        checkpoint: Checkpoint,
        text: str,
        *,
        text_path: str | None = None,
        parallel: DataParallel | None = None,
        **overrides: Any,
    ) -> CharTrainer:
        """Continue the run of ``checkpoint`` on ``text``, the text it was trained on (see :meth:`Trainer.resume`)."""
        task = KINDS.get(str(checkpoint.metadata.get("kind")))
        if task is not None and task != "char":
            raise ValueError(f"the checkpoint is of the {task} task, not the char task")
        trainer = Trainer.resume(checkpoint, text=text, text_path=text_path, parallel=parallel, **overrides)
        assert isinstance(trainer, CharTrainer)  # make_trainer: the char task's trainer
        return trainer


def make_trainer(
    config: TrainConfig,
    *,
    text: str | None = None,
    vocabulary: Vocabulary | None = None,
    text_path: str | None = None,
    parallel: DataParallel | None = None,
) -> Trainer:
    """A trainer of ``config``'s task: a :class:`CharTrainer` on ``text`` (by default the default corpus)
    for the char task, a :class:`Trainer` on generated data for the others.

    Examples
    --------
    >>> from xrnn.train.trainer import TrainConfig, make_trainer
    >>> type(make_trainer(TrainConfig(task="copy", delay=5))).__name__, type(make_trainer(TrainConfig())).__name__
    ('Trainer', 'CharTrainer')
    """
    if config.task == "char":
        text = default_corpus() if text is None else text
        return CharTrainer(config, text, vocabulary, text_path=text_path, parallel=parallel)
    return Trainer(config, make_task(config, text=text, vocabulary=vocabulary), parallel=parallel)


@dataclass(frozen=True)
class CharModel:
    """What sampling needs from a char-task checkpoint: its parameters, vocabulary and cell's name."""

    parameters: dict[str, Array]
    vocabulary: Vocabulary
    cell: str


def load_char_model(path: str | os.PathLike[str], *, backend: str = "numpy") -> CharModel:
    """The parameters (in their saved dtype), vocabulary and cell of a char-task checkpoint of ``xrnn train``.

    ``ValueError`` names the file and the problem: not a char-task checkpoint, or a vocabulary or
    parameters that do not fit its configuration.
    """
    checkpoint = load_checkpoint(path, backend=backend)
    try:
        saved = read_run(checkpoint)
        if saved.config.task != "char":
            raise ValueError(f"it is of the {saved.config.task} task, which has no vocabulary to sample from")
        vocabulary = Vocabulary(saved.metadata["vocabulary"])
        n = len(vocabulary)
        expected = cell_named(saved.config.cell).init(n, saved.config.hidden, n, seed=0)
        parameters = saved_parameters(
            checkpoint.parameters, expected, f"a vocabulary of {n} characters", backend=backend
        )
    except CellImportError as error:  # the file is fine: the code of its cell is missing or broken here
        raise ValueError(f"{os.fspath(path)!r} needs its cell, which cannot be loaded here: {error}") from None
    except ValueError as error:
        raise ValueError(f"{os.fspath(path)!r} is not a model of xrnn train: {error}") from None
    return CharModel(parameters, vocabulary, saved.config.cell)


def load_model(path: str | os.PathLike[str], *, backend: str = "numpy") -> tuple[dict[str, Array], Vocabulary]:
    """The parameters (in their saved dtype) and vocabulary of a char-task checkpoint: see :func:`load_char_model`."""
    model = load_char_model(path, backend=backend)
    return model.parameters, model.vocabulary


def _postfix(trainer: Trainer) -> dict[str, str]:
    history = trainer._snapshot.history
    shown = {"loss": f"{history[-1].loss:.4f}"}
    for record in reversed(history):
        if record.validation is not None:
            shown.update({key: f"{value:.4f}" for key, value in record.validation.items()})
            break
    return shown


def _sizes(task: Task) -> str:
    """What fixes the parameters' shapes beside the configuration, for a message."""
    if isinstance(task, CharTask):
        return f"a vocabulary of {len(task.vocabulary)} characters"
    return f"the {task.name} task's {task.n_x} inputs and {task.n_y} outputs"
