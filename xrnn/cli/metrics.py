"""What ``xrnn train`` writes besides checkpoints: the metrics CSV (settings first, on ``#`` lines) and the plot.

The CSV reads with ``pandas.read_csv(path, comment="#")`` or ``numpy.genfromtxt(path, delimiter=",",
names=True)``; the ``#`` lines give the run's settings (every configuration option, the model's sizes and
the xrnn version), so a curve carries what made it. Validation columns are empty between evaluations.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from typing import Any, TextIO

from xrnn.train.tasks import Task
from xrnn.train.trainer import StepRecord


def columns(task: Task) -> list[str]:
    """The header of ``task``'s metrics: ``step, loss, grad_norm, lr, val_loss`` and the task's scores."""
    return ["step", "loss", "grad_norm", "lr", "val_loss", *task.scores]


def write_metrics(stream: TextIO, task: Task, history: Sequence[StepRecord], version: str) -> None:
    """The run's settings on ``#`` lines, then one CSV row per step (``repr`` of each float: exact)."""
    config = task.config
    settings: dict[str, Any] = {"xrnn": version, **dataclasses.asdict(config), "n_x": task.n_x, "n_y": task.n_y}
    settings["n_a"] = config.hidden
    for key, value in settings.items():
        stream.write(f"# {key}: {value}\n")
    writer = csv.writer(stream, lineterminator="\n")
    header = columns(task)
    writer.writerow(header)
    for record in history:
        validation = record.validation or {}
        scores = [repr(validation[name]) if name in validation else "" for name in header[4:]]
        writer.writerow([record.step, repr(record.loss), repr(record.grad_norm), repr(record.lr), *scores])


def plot(history: Sequence[StepRecord], path: str, task: Task) -> None:
    """The training loss at every step, the validation loss at each evaluation and the task's baseline.

    Raises ``OSError`` when ``path`` cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = task.config
    figure, axes = plt.subplots(figsize=(6, 3.5), layout="constrained")
    axes.plot([r.step for r in history], [r.loss for r in history], linewidth=1, label="training")
    evaluated = [r for r in history if r.validation is not None]
    if evaluated:
        losses = [r.validation["val_loss"] for r in evaluated if r.validation is not None]
        axes.plot([r.step for r in evaluated], losses, marker="o", markersize=3, label="validation")
    if task.baseline_loss is not None:
        axes.axhline(task.baseline_loss, color="grey", linestyle="--", linewidth=1, label="baseline")
    ylabel = "mean squared error" if config.task == "adding" else "mean cross-entropy (nats)"
    title = f"xrnn train: {config.task}, {config.cell}, {config.hidden} hidden"
    axes.set(xlabel="step", ylabel=ylabel, title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    try:
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)
