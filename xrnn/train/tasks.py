"""The training tasks: their data, their validation sets and the baselines a model has to beat.

* ``char``: next-character prediction on a text (by default nine of Shakespeare's sonnets, in the package),
  validated on the held-out end of the text and scored in bits per character;
* ``adding``: the adding problem (Hochreiter and Schmidhuber 1997) in the form of Le, Jaitly and Hinton
  (2015): two channels of ``seq_len`` steps, values uniform in ``[0, 1)`` and a marker on one step of each
  half; the answer, read after the last step, is the sum of the two marked values, scored by the mean
  squared error. Always answering 1 scores ``1/6 = 0.167`` (the variance of the sum);
* ``copy``: the copy task of Arjovsky, Shah and Bengio (2016): 10 symbols out of 8, ``delay`` blanks
  and a delimiter later, must be written back. The memoryless baseline (blanks, then a uniform guess) scores
  a cross-entropy of ``10 log 8 / (delay + 20)`` and recalls 1 symbol in 8.

Every batch is drawn from Python's generator seeded by ``(task, seed, step)`` alone, on the host, so a
run is a pure function of its configuration and the same on every backend. The generated tasks validate
on 1000 sequences drawn from a seed of their own (the same for every run of that length), the char task
on every window of its held-out text. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

import array_api_compat

from xrnn._typing import Array
from xrnn.backends import asarray
from xrnn.train.config import TrainConfig
from xrnn.train.objectives import COPY_SYMBOLS, COPY_VOCABULARY, RECALLED, Adding, Copy, NextToken, adding_inputs

DEFAULT_CORPUS = "data/sonnets.txt"
#: Sequences in the generated tasks' validation sets.
VALIDATION_SIZE = 1000
#: Sequences (or windows) per forward pass of an evaluation: bounds its memory.
EVALUATION_CHUNK = 250


def default_corpus() -> str:
    """The text ``xrnn train`` learns when given none (about 5.6 kB, 57 distinct characters).

    Examples
    --------
    >>> from xrnn.train.tasks import default_corpus
    >>> default_corpus().splitlines()[2]
    "Shall I compare thee to a summer's day?"
    """
    return resources.files("xrnn").joinpath(DEFAULT_CORPUS).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, in sorted order; token ``i`` is ``chars[i]``.

    Examples
    --------
    >>> from xrnn.train.tasks import Vocabulary
    >>> vocab = Vocabulary.from_text("hello")
    >>> vocab.chars, vocab.encode("hole"), vocab.decode([3, 2, 0])
    ('ehlo', [1, 3, 2, 0], 'ole')
    """

    chars: str

    def __post_init__(self) -> None:
        if not isinstance(self.chars, str) or not self.chars:
            raise ValueError(f"a vocabulary is a non-empty string of characters, got {self.chars!r}")
        if len(set(self.chars)) != len(self.chars):  # a token would stand for two characters
            twice = sorted({char for char in self.chars if self.chars.count(char) > 1})
            raise ValueError(f"a vocabulary holds each character once, got {twice[:5]} more than once")

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


class Task(ABC):
    """A task's data: seeded batches, a fixed validation set and what its scores mean.

    Attributes
    ----------
    name : str
        ``"char"``, ``"adding"`` or ``"copy"``.
    kind : str
        The ``kind`` its checkpoints carry.
    n_x, n_y : int
        The model's input and output sizes.
    objective
        The loss of a batch (:mod:`xrnn.train.objectives`).
    scores : tuple of str
        The task's own validation scores, beside ``val_loss``.
    baseline_loss : float or None
        What a model that learned nothing it needs scores (1/6 for adding, ``10 log 8 / (T + 20)`` for copy).
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    scores: ClassVar[tuple[str, ...]] = ()
    #: The validation loss of a model that learned nothing it needs, when the task has one.
    baseline_loss: float | None = None

    def __init__(self, config: TrainConfig, n_x: int, n_y: int, objective: Any) -> None:
        self.config, self.n_x, self.n_y, self.objective = config, n_x, n_y, objective
        self._validation: list[tuple[Array, ...]] | None = None

    def _rng(self, step: int) -> random.Random:
        return random.Random(f"xrnn-{self.name}:{self.config.seed}:{step}")

    def _on_backend(self, rows: Sequence[Sequence[Any]], floating: bool = False) -> Array:
        config = self.config
        return asarray(rows, backend=config.backend, dtype=config.dtype if floating else None)

    @abstractmethod
    def batch(self, step: int) -> tuple[Array, ...]:
        """The compact batch of ``step`` (every array ``m`` first), for ``objective``."""

    @abstractmethod
    def _validation_batches(self) -> list[tuple[Array, ...]]:
        """The validation set, in chunks of at most ``EVALUATION_CHUNK`` sequences."""

    @abstractmethod
    def _scores(self, sums: Mapping[str, float], terms: int, sequences: int) -> dict[str, float]:
        """``val_loss`` and the task's scores from the evaluation sums."""

    def evaluate(self, parameters: Mapping[str, Array]) -> dict[str, float]:
        """``val_loss`` and the task's scores on the validation set (forward passes only)."""
        if self._validation is None:
            self._validation = self._validation_batches()
        sums: dict[str, float] = {}
        terms = sequences = 0
        for chunk in self._validation:
            for key, value in self.objective.evaluate(parameters, *chunk).items():
                sums[key] = sums.get(key, 0.0) + value
            terms += self.objective.terms(*chunk)
            sequences += int(chunk[0].shape[0])
        return self._scores(sums, terms, sequences)

    def baseline(self) -> str | None:
        """A line on what a model that learned nothing scores, or None."""
        return None

    def metadata(self) -> dict[str, Any]:
        """What a checkpoint must hold beyond the configuration to resume this task."""
        return {}

    def check_metadata(self, metadata: Mapping[str, Any]) -> None:  # noqa: B027 - most tasks have nothing to check
        """``ValueError`` when a checkpoint's ``metadata`` does not belong to this task's data."""


class CharTask(Task):
    """Next-character prediction; the last ``val_fraction`` of the text is held out.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration (``task="char"``).
    text : str
        The corpus: at least ``seq_len + 1`` characters, and as many in its held-out part.
    vocabulary : Vocabulary, optional
        By default every character of ``text``.
    text_path : str, optional
        Where ``text`` came from (saved in checkpoints).

    Examples
    --------
    >>> from xrnn.train.config import TrainConfig
    >>> from xrnn.train.tasks import CharTask
    >>> task = CharTask(TrainConfig(seq_len=4, batch=2, val_fraction=0.5), "abcdefghijklmnopqrst")
    >>> task.train_text, task.validation_text
    ('abcdefghij', 'klmnopqrst')
    >>> windows, = task.batch(1)
    >>> windows.shape  # token ids: the inputs are windows[:, :-1], the labels windows[:, 1:]
    (2, 5)
    """

    name = "char"
    kind = "char-lm"
    scores = ("val_bpc",)

    def __init__(
        self,
        config: TrainConfig,
        text: str,
        vocabulary: Vocabulary | None = None,
        *,
        text_path: str | None = None,
    ) -> None:
        if not text:
            raise ValueError("the training text is empty")
        needed = config.seq_len + 1
        if len(text) < needed:
            raise ValueError(
                f"the training text has {len(text)} characters; seq_len {config.seq_len} needs at least {needed}"
            )
        held_out = int(len(text) * config.val_fraction)
        if config.val_fraction > 0 and held_out < needed:
            raise ValueError(
                f"val_fraction {config.val_fraction} of the text's {len(text)} characters holds out {held_out}; "
                f"seq_len {config.seq_len} needs at least {needed} (use a longer text, or val_fraction 0)"
            )
        if len(text) - held_out < needed:
            raise ValueError(
                f"val_fraction {config.val_fraction} leaves {len(text) - held_out} characters to train on; "
                f"seq_len {config.seq_len} needs at least {needed}"
            )
        self.vocabulary = vocabulary or Vocabulary.from_text(text)
        super().__init__(
            config, len(self.vocabulary), len(self.vocabulary), NextToken(config.cell, len(self.vocabulary))
        )
        self.text_path = text_path
        self.text_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
        tokens = self.vocabulary.encode(text)
        split = len(text) - held_out
        self.train_text, self.validation_text = text[:split], text[split:]
        self._train, self._held_out = tokens[:split], tokens[split:]

    def batch(self, step: int) -> tuple[Array, ...]:
        """Token windows ``(batch, seq_len + 1)`` starting at random offsets of the training part."""
        length = self.config.seq_len
        rng = random.Random(f"xrnn-batch:{self.config.seed}:{step}")  # the seed of the runs before tasks
        starts = [rng.randrange(len(self._train) - length) for _ in range(self.config.batch)]
        return (self._on_backend([self._train[s : s + length + 1] for s in starts]),)

    def _validation_batches(self) -> list[tuple[Array, ...]]:
        length = self.config.seq_len
        windows = [self._held_out[s : s + length + 1] for s in range(0, len(self._held_out) - length, length)]
        return [
            (self._on_backend(windows[i : i + EVALUATION_CHUNK]),) for i in range(0, len(windows), EVALUATION_CHUNK)
        ]

    def _scores(self, sums: Mapping[str, float], terms: int, sequences: int) -> dict[str, float]:
        loss = sums["loss"] / terms
        return {"val_loss": loss, "val_bpc": loss / math.log(2)}

    def metadata(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary.chars, "text": self.text_path, "text_sha256": self.text_sha256}

    def check_metadata(self, metadata: Mapping[str, Any]) -> None:
        if metadata.get("text_sha256") != self.text_sha256:
            raise ValueError("the text differs from the one the checkpoint was trained on")


class GeneratedTask(Task):
    """A task whose data a seeded generator draws: each batch from ``(task, seed, step)``, the validation set of
    ``VALIDATION_SIZE`` sequences from a seed of its own, the same for every run that shares
    :meth:`_validation_seed`."""

    def batch(self, step: int) -> tuple[Array, ...]:
        """The ``batch`` sequences of ``step`` (the class says what they hold)."""
        return self._draw(self._rng(step), self.config.batch)

    def _validation_batches(self) -> list[tuple[Array, ...]]:
        rng = random.Random(f"xrnn-{self.name}-validation:{self._validation_seed()}")
        return [self._draw(rng, size) for size in _chunk_sizes()]

    @abstractmethod
    def _draw(self, rng: random.Random, m: int) -> tuple[Array, ...]:
        """``m`` sequences drawn from ``rng``, as a batch holds them."""

    @abstractmethod
    def _validation_seed(self) -> int:
        """What fixes the validation set beside the task (the sequences' length, the copy task's delay)."""


class AddingTask(GeneratedTask):
    """The adding problem: ``n_x = 2`` (values, markers), one output, mean squared error.

    A batch is the values ``(batch, seq_len)`` and the marked positions ``(batch, 2)``.

    Examples
    --------
    >>> from xrnn.train.config import TrainConfig
    >>> from xrnn.train.tasks import AddingTask
    >>> task = AddingTask(TrainConfig(task="adding", seq_len=10, batch=3))
    >>> values, positions = task.batch(1)
    >>> values.shape, positions.shape, bool((positions[:, 0] < 5).all() and (positions[:, 1] >= 5).all())
    ((3, 10), (3, 2), True)
    >>> task.baseline()[:52]
    'always answering 1 scores a mean squared error of 0.'
    """

    name = "adding"
    kind = "adding"

    baseline_loss = 1 / 6

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config, 2, 1, Adding(config.cell))

    def _draw(self, rng: random.Random, m: int) -> tuple[Array, Array]:
        length = self.config.seq_len
        half = length // 2
        values = [[rng.random() for _ in range(length)] for _ in range(m)]
        positions = [[rng.randrange(half), rng.randrange(half, length)] for _ in range(m)]
        return self._on_backend(values, floating=True), self._on_backend(positions)

    def _validation_seed(self) -> int:
        return self.config.seq_len

    def _scores(self, sums: Mapping[str, float], terms: int, sequences: int) -> dict[str, float]:
        return {"val_loss": sums["loss"] / terms}

    def baseline(self) -> str:
        if self._validation is None:
            self._validation = self._validation_batches()
        squared = 0.0
        for values, positions in self._validation:
            error = adding_inputs(values, positions)[1] - 1.0
            squared += float(array_api_compat.array_namespace(error).sum(error * error))
        return (
            f"always answering 1 scores a mean squared error of 0.167 (1/6, the variance of the sum); "
            f"{squared / VALIDATION_SIZE:.4f} on the validation set"
        )


class CopyTask(GeneratedTask):
    """The copy task: ``n_x = n_y = 10`` (8 symbols, blank, delimiter), ``delay + 20`` steps.

    A batch is the symbols to copy, ``(batch, 10)``.

    Examples
    --------
    >>> from xrnn.train.config import TrainConfig
    >>> from xrnn.train.tasks import CopyTask
    >>> task = CopyTask(TrainConfig(task="copy", delay=5, batch=2))
    >>> symbols, = task.batch(1)
    >>> symbols.shape, task.config.seq_len
    ((2, 10), 25)
    >>> task.baseline()
    'the memoryless baseline scores a cross-entropy of 10 log 8 / (T + 20) = 0.8318 and recalls 1 symbol in 8'
    """

    name = "copy"
    kind = "copy"
    scores = ("val_accuracy",)
    objective: Copy

    def __init__(self, config: TrainConfig) -> None:
        assert config.delay is not None  # TrainConfig.check: the copy task has a delay
        super().__init__(config, COPY_VOCABULARY, COPY_VOCABULARY, Copy(config.cell, config.delay))
        self.baseline_loss = RECALLED * math.log(COPY_SYMBOLS) / config.seq_len

    def _draw(self, rng: random.Random, m: int) -> tuple[Array]:
        return (self._on_backend([[rng.randrange(COPY_SYMBOLS) for _ in range(RECALLED)] for _ in range(m)]),)

    def _validation_seed(self) -> int:
        return self.objective.delay

    def _scores(self, sums: Mapping[str, float], terms: int, sequences: int) -> dict[str, float]:
        return {"val_loss": sums["loss"] / terms, "val_accuracy": sums["correct"] / (RECALLED * sequences)}

    def baseline(self) -> str:
        return (
            f"the memoryless baseline scores a cross-entropy of 10 log 8 / (T + 20) = {self.baseline_loss:.4f} "
            "and recalls 1 symbol in 8"
        )


def _chunk_sizes() -> list[int]:
    """The generated validation sets' ``VALIDATION_SIZE`` sequences in chunks of ``EVALUATION_CHUNK``."""
    return [min(EVALUATION_CHUNK, VALIDATION_SIZE - i) for i in range(0, VALIDATION_SIZE, EVALUATION_CHUNK)]


def make_task(
    config: TrainConfig,
    *,
    text: str | None = None,
    vocabulary: Vocabulary | None = None,
    text_path: str | None = None,
) -> Task:
    """The task of ``config``; the char task learns ``text`` (by default :func:`default_corpus`).

    Examples
    --------
    >>> from xrnn.train.config import TrainConfig
    >>> from xrnn.train.tasks import make_task
    >>> task = make_task(TrainConfig(task="adding", seq_len=100))
    >>> task.name, task.n_x, task.n_y, task.scores
    ('adding', 2, 1, ())
    """
    config.check()
    if config.task == "char":
        return CharTask(config, default_corpus() if text is None else text, vocabulary, text_path=text_path)
    if text is not None or vocabulary is not None:
        raise ValueError(f"the {config.task} task generates its data; it takes no text")
    return AddingTask(config) if config.task == "adding" else CopyTask(config)
