"""A training run in a checkpoint: the metadata the trainer writes, and the checks of what it reads back.

The metadata is JSON: ``kind`` (the task's), ``config`` (every :class:`~xrnn.train.config.TrainConfig`
field), ``step``, ``history`` (one ``[step, loss, grad_norm, lr, validation]`` row per step; checkpoints
from before held-out evaluation have ``[step, loss, grad_norm]``), ``best`` (``[step, val_loss]`` or
null), ``stale`` (evaluations since the best) and what the task needs (for the char task ``vocabulary``,
``text`` and ``text_sha256``). Reading checks each of them and raises ``ValueError`` saying what does
not fit, so that a damaged or foreign checkpoint ends in one clear line rather than somewhere in a step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.backends import asarray
from xrnn.train.checkpoint import Checkpoint
from xrnn.train.config import TrainConfig

if TYPE_CHECKING:
    from xrnn.train.tasks import Task

#: The ``kind`` of each task's checkpoints.
KINDS = {"char-lm": "char", "adding": "adding", "copy": "copy"}
#: The options a resumed run may change; the others are the run's.
RESUMABLE_OVERRIDES = ("steps", "backend", "dtype")
HistoryRow = tuple[int, float, float, float, dict[str, float] | None]


@dataclass(frozen=True)
class SavedRun:
    """A checkpoint's run, checked: its configuration (with any overrides), metadata, step and history."""

    config: TrainConfig
    metadata: Mapping[str, Any]
    step: int
    history: list[HistoryRow]
    best: tuple[int, float] | None
    stale: int


def run_metadata(
    task: Task, step: int, history: Sequence[Any], best: tuple[int, float] | None, stale: int
) -> dict[str, Any]:
    """The checkpoint metadata of a run of ``task`` after ``step`` steps (``history``: its StepRecords)."""
    rows = [[r.step, r.loss, r.grad_norm, r.lr, None if r.validation is None else dict(r.validation)] for r in history]
    return {
        "kind": task.kind,
        "config": dataclasses.asdict(task.config),
        "step": step,
        "history": rows,
        "best": None if best is None else list(best),
        "stale": stale,
        **task.metadata(),
    }


def read_run(checkpoint: Checkpoint, **overrides: Any) -> SavedRun:
    """The run in ``checkpoint``, its configuration changed by ``overrides`` (``steps``, ``backend``, ``dtype``)."""
    metadata = checkpoint.metadata
    kind = metadata.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"its metadata has no known 'kind' (xrnn train writes one), got {kind!r}")
    if "config" not in metadata:
        raise ValueError("its metadata has no 'config'")
    config = TrainConfig.from_saved(metadata["config"])
    if config.task != KINDS[metadata["kind"]]:
        raise ValueError(f"its kind {metadata['kind']!r} does not match its task {config.task!r}")
    unknown = sorted(set(overrides) - set(RESUMABLE_OVERRIDES))
    if unknown:
        raise ValueError(f"a resumed run keeps its options; only {', '.join(RESUMABLE_OVERRIDES)} may change")
    config = dataclasses.replace(config, **overrides)
    config.check()
    if config.task == "char":
        for key in ("vocabulary", "text_sha256"):
            if not isinstance(metadata.get(key), str) or not metadata[key]:
                raise ValueError(f"its metadata has no {key!r} (a char-task checkpoint needs it)")
    if checkpoint.optimizer is None:
        raise ValueError("it has no optimizer state to resume from")
    if checkpoint.optimizer["name"] != config.optimizer:
        raise ValueError(
            f"its optimizer state is {checkpoint.optimizer['name']!r} but its config says {config.optimizer!r}"
        )
    step = metadata.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"its metadata 'step' must be a non-negative int, got {step!r}")
    history = _history(metadata.get("history"), step, config.lr)
    best, stale = _best(metadata.get("best")), metadata.get("stale", 0)
    if not isinstance(stale, int) or isinstance(stale, bool) or stale < 0:
        raise ValueError(f"its metadata 'stale' must be a non-negative int, got {stale!r}")
    return SavedRun(config, metadata, step, history, best, stale)


def saved_parameters(
    saved: Mapping[str, Array], expected: Mapping[str, Array], sizes: str, *, backend: str, dtype: object = None
) -> dict[str, Array]:
    """``saved`` on ``backend`` (and ``dtype``), after checking its keys and shapes against ``expected``'s.

    ``sizes`` says what fixed the expected shapes, for the message (``"a vocabulary of 57 characters"``).
    """
    if sorted(saved) != sorted(expected):
        raise ValueError(f"it holds parameters {sorted(saved)}, but the run's cell has {sorted(expected)}")
    for key, value in expected.items():
        if tuple(saved[key].shape) != tuple(value.shape):
            raise ValueError(
                f"its parameter {key!r} has shape {tuple(saved[key].shape)}; the run's configuration with "
                f"{sizes} needs {tuple(value.shape)}"
            )
        xp = namespace_of(saved[key])  # the checkpoint's, loaded onto any backend
        if saved[key].dtype not in (xp.float32, xp.float64):
            raise ValueError(f"its parameter {key!r} has dtype {saved[key].dtype}; a run's are float32 or float64")
    return {key: asarray(saved[key], backend=backend, dtype=dtype) for key in expected}


def _history(rows: object, step: int, lr: float) -> list[HistoryRow]:
    if not isinstance(rows, list) or len(rows) != step:
        raise ValueError(f"its metadata 'history' must be a list of {step} rows, one per step")
    history: list[HistoryRow] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) not in (3, 5) or row[0] != number:
            raise ValueError(f"its history row {number} must be [step, loss, grad_norm(, lr, validation)], got {row!r}")
        numbers = row[1:4]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise ValueError(f"its history row {number} holds something other than numbers: {row!r}")
        validation = row[4] if len(row) == 5 else None
        if validation is not None and (
            not isinstance(validation, dict) or not all(isinstance(v, (int, float)) for v in validation.values())
        ):
            raise ValueError(f"its history row {number} has a validation that is not an object of numbers")
        rate = float(row[3]) if len(row) == 5 else lr  # before schedules, every step had the run's lr
        history.append((number, float(row[1]), float(row[2]), rate, validation))
    return history


def _best(best: object) -> tuple[int, float] | None:
    if best is None:
        return None
    if (
        not isinstance(best, list)
        or len(best) != 2
        or not isinstance(best[0], int)
        or not isinstance(best[1], (int, float))
        or math.isnan(best[1])
    ):
        raise ValueError(f"its metadata 'best' must be [step, val_loss] or null, got {best!r}")
    return int(best[0]), float(best[1])
