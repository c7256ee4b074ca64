"""The project's figures: one colour per candidate on every figure, and the ratio figure of the benchmark pages.

Every figure the docs show is drawn with :data:`PALETTE` (Okabe and Ito's colour-blind-safe colours),
so a candidate keeps its colour from page to page. :func:`ratio_figure` draws xrnn's time over each
peer's as bars from a line at 1.0 on a log axis, where 0.5x and 2x are equally far from the line and
a 1.2x difference shows; :func:`save` writes a figure sized for the docs' text column. matplotlib is
imported only when a figure is drawn (``pip install "xrnn[bench]"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One colour per candidate, the same on every figure. Add a name here before drawing it.
PALETTE = {
    "xrnn": "#0072B2",  # blue
    "torch": "#D55E00",  # vermilion: PyTorch on the CPU
    "cudnn": "#CC79A7",  # reddish purple: PyTorch on the GPU, through cuDNN
    "naive": "#E69F00",  # orange: the tutorial's per-step loop
    "floor": "#009E73",  # bluish green: xrnn's FLOPs at the rate of one large product
    "generic": "#56B4E9",  # sky blue: xrnn with the fast paths off
    "numpy-cpu": "#000000",  # black: xrnn on NumPy, on the GPU machine's CPU
    # The cells, on the pages that compare them (the tasks, the gradient flow).
    "rnn": "#0072B2",
    "lstm": "#D55E00",
    "gru": "#009E73",
}
LABELS = {
    "xrnn": "xrnn",
    "torch": "PyTorch (CPU)",
    "cudnn": "cuDNN (PyTorch)",
    "naive": "naive loop",
    "floor": "matrix-product floor",
    "generic": "xrnn, fast paths off",
    "numpy-cpu": "xrnn on NumPy (CPU)",
    "rnn": "RNN",
    "lstm": "LSTM",
    "gru": "GRU",
}
TEXT_COLUMN_PX = 736  # the width of furo's text column in a 1280 px wide window
DPI = 200  # drawn at twice the column's pixels, so the figure stays sharp on high-density screens
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def colour(candidate: str) -> str:
    """The candidate's colour on every figure; a name missing from :data:`PALETTE` is an error."""
    if candidate not in PALETTE:
        raise ValueError(f"candidate: expected one of {', '.join(PALETTE)}, got {candidate!r}")
    return PALETTE[candidate]


@dataclass(frozen=True)
class Panel:
    """One panel of a ratio figure: a title, one label per group of bars, for each candidate one ratio
    per group (``None`` where it was not measured), and what the groups are, if their labels need it."""

    title: str
    groups: Sequence[str]
    ratios: Mapping[str, Sequence[float | None]]
    xlabel: str = ""


def _rotated(panel: Panel) -> bool:
    """Whether the panel's value labels stand on end (too many bars for them to lie flat)."""
    return len(panel.ratios) * len(panel.groups) > 12


def _limits(panels: Sequence[Panel]) -> tuple[float, float]:
    values = [v for p in panels for series in p.ratios.values() for v in series if v is not None and v > 0]
    low, high = min([1.0, *values]), max([1.0, *values])
    room = 4.0 if any(_rotated(p) for p in panels) else 1.8  # for the value labels, longer standing on end
    return low / room, high * room


def ratio_label(value: float) -> str:
    """``12``, ``1.06``, ``0.074``: three digits at most, enough to tell 1.06 from 1.09."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}" if value >= 0.1 else f"{value:#.2g}"


def _tick(value: float, _position: float) -> str:
    return f"{value:g}x"


def ratio_figure(panels: Sequence[Panel], columns: int = 2, ylabel: str = "xrnn's time / theirs") -> Any:
    """A figure of ``panels`` on one shared log axis, with a line at 1.0: a bar below it is a peer that
    xrnn beats. Each bar is labelled with its ratio; the legend, above the panels, names the candidates
    in :data:`PALETTE`'s colours. Returns the matplotlib ``Figure`` (see :func:`save`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if not panels:
        raise ValueError("panels: expected at least one panel, got none")
    rows = math.ceil(len(panels) / columns)
    width = TEXT_COLUMN_PX / 100
    figure, axes = plt.subplots(
        rows, columns, figsize=(width, 0.6 + 2.7 * rows), sharey=True, squeeze=False, layout="constrained"
    )
    low, high = _limits(panels)
    candidates = list(dict.fromkeys(name for p in panels for name in p.ratios))
    for axis, panel in zip(axes.flat, panels, strict=False):
        bar = 0.8 / len(panel.ratios)
        for i, (name, series) in enumerate(panel.ratios.items()):
            for j, value in enumerate(series):
                if value is None or value <= 0:
                    continue
                x = j - 0.4 + (i + 0.5) * bar
                axis.bar(x, value - 1.0, bar * 0.92, bottom=1.0, color=colour(name), gid=name)
                axis.annotate(
                    ratio_label(value),
                    (x, value),
                    xytext=(0, 2 if value >= 1 else -2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom" if value >= 1 else "top",
                    fontsize=6.5,
                    rotation=90 if _rotated(panel) else 0,
                )
        axis.axhline(1.0, color="#333333", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_ylim(low, high)
        axis.yaxis.set_major_locator(FixedLocator([t for t in TICKS if low <= t <= high]))
        axis.yaxis.set_major_formatter(FuncFormatter(_tick))
        axis.yaxis.set_minor_locator(NullLocator())
        axis.grid(axis="y", color="#dddddd", linewidth=0.5)
        axis.set_axisbelow(True)
        axis.set_xticks(range(len(panel.groups)), panel.groups, fontsize=7.5)
        axis.tick_params(axis="y", labelsize=8)
        axis.set_xlim(-0.5, len(panel.groups) - 0.5)
        axis.set_title(panel.title, fontsize=9.5)
        axis.set_xlabel(panel.xlabel, fontsize=8)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
    for axis in axes.flat[len(panels) :]:
        axis.set_axis_off()
    for axis in axes[:, 0]:
        axis.set_ylabel(ylabel, fontsize=8.5)
    handles = [Rectangle((0, 0), 1, 1, color=colour(name)) for name in candidates]
    figure.legend(
        handles, [LABELS.get(n, n) for n in candidates], loc="outside upper center", ncol=len(candidates), fontsize=8.5
    )
    return figure


def save(figure: Any, path: Path) -> None:
    """Write ``figure`` as a PNG for the docs (twice the text column's pixels) and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(figure)
