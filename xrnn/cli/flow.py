"""``xrnn train --flow flow.png``: the mean state-gradient norm at every time step, over training.

Every ``--flow-every`` steps the trainer's current parameters run the step's batch forward and back once
(:func:`xrnn.gradient_flow`), and the norm of the gradient reaching each hidden state, averaged over the
batch, is kept for every time step. The figure is a heatmap, training step against time step on a log colour
scale (the vanishing gradient, seen); the numbers go to a long CSV beside it (``flow.csv``: ``step, t, norm``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from xrnn.backends import to_numpy
from xrnn.flow import gradient_flow


class FlowRecorder:
    """The mean state-gradient norm per time step, at the recorded training steps."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.rows: list[tuple[int, list[float]]] = []

    def maybe_record(self, trainer: Any, step: int) -> None:
        """Record ``step`` when it is due (a multiple of ``every``, or the first step)."""
        if step % self.every and step != 1:
            return
        batch = trainer.task.batch(step)
        da, cache = trainer.task.objective.state_gradient(trainer.parameters, *batch)
        norms = to_numpy(gradient_flow(da, cache).state_norms).mean(axis=1)
        self.rows.append((step, [float(n) for n in norms]))

    @staticmethod
    def csv_path(figure: str) -> Path:
        """Where the numbers of ``figure`` go: beside it, ``.csv`` for its suffix."""
        return Path(figure).with_suffix(".csv")

    def write(self, figure: str, title: str) -> None:
        """The long CSV and the heatmap. Raises ``OSError`` when either cannot be written."""
        with open(self.csv_path(figure), "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(["step", "t", "norm"])
            writer.writerows([step, t, repr(norm)] for step, norms in self.rows for t, norm in enumerate(norms))
        if self.rows:
            _heatmap(self.rows, figure, title)


def _heatmap(rows: list[tuple[int, list[float]]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    steps = [step for step, _ in rows]
    values = [[max(norm, 1e-30) for norm in norms] for _, norms in rows]
    figure, axes = plt.subplots(figsize=(6, 3.8), layout="constrained")
    image = axes.imshow(
        values,
        aspect="auto",
        origin="lower",
        norm=LogNorm(),
        cmap="viridis",
        extent=(-0.5, len(values[0]) - 0.5, 0, len(steps)),
        interpolation="nearest",
    )
    ticks = list(range(0, len(steps), max(1, len(steps) // 6)))
    axes.set_yticks([tick + 0.5 for tick in ticks], [str(steps[tick]) for tick in ticks])
    axes.set(xlabel="time step t", ylabel="training step", title=title)
    figure.colorbar(image, ax=axes, label="mean ||dL/da<t>||")
    try:
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)
