"""The gradient flow page: the RNN, the LSTM and the GRU on the adding problem, side by side.

Each cell trains on the adding problem (the loss reads the last state only) with the same settings, and
every ``--every`` steps :class:`xrnn.cli.flow.FlowRecorder` keeps the mean norm of the gradient reaching
each time step's hidden state. The figure puts the three heatmaps on one log colour scale, beside the
profile across time at the first and the last recorded step; the numbers go to ``docs/flow/flow.json``
and a summary table to ``docs/flow/summary.md``, which ``docs/gradient-flow.md`` includes::

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.flow
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.figures import LABELS, colour, save
from benchmarks.harness import log, render_markdown, write_json
from xrnn.cli.flow import FlowRecorder
from xrnn.train import TrainConfig, make_trainer

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "flow"
CELLS = ("rnn", "lstm", "gru")
SETTINGS = {"task": "adding", "hidden": 64, "batch": 32, "lr": 1e-3, "clip": 1.0, "dtype": "float64", "seed": 0}


def record(cell: str, seq_len: int, steps: int, every: int) -> dict[str, Any]:
    """Train ``cell`` and keep its gradient flow every ``every`` steps."""
    config = TrainConfig(cell=cell, seq_len=seq_len, steps=steps, eval_every=steps, **SETTINGS)
    trainer = make_trainer(config)
    recorder = FlowRecorder(every)
    began = time.perf_counter()
    while trainer.step < steps:
        recorder.maybe_record(trainer, trainer.train_step().step)
    seconds = time.perf_counter() - began
    loss = trainer.history[-1].loss
    return {"cell": cell, "rows": recorder.rows, "seconds": seconds, "final_loss": loss, "config": dict(SETTINGS)}


def summary(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Per cell: how much of the gradient at the last step reaches the first, at the start and the end."""
    rows = [["cell", "first recorded step: norm at t=0 / t=T-1", "last recorded step: same", "final loss", "time"]]
    for run in runs:
        (first_step, first), (last_step, last) = run["rows"][0], run["rows"][-1]
        rows.append(
            [
                LABELS[run["cell"]],
                f"{first[0] / first[-1]:.1e} (step {first_step})",
                f"{last[0] / last[-1]:.1e} (step {last_step})",
                f"{run['final_loss']:.4f}",
                f"{run['seconds']:.0f} s",
            ]
        )
    return rows


def figure(runs: Sequence[dict[str, Any]], path: Path, seq_len: int) -> None:
    """Three heatmaps on one log colour scale, and the profiles across time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    values = [norm for run in runs for _, norms in run["rows"] for norm in norms if norm > 0]
    scale = LogNorm(vmin=min(values), vmax=max(values))
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(11, 3.4), layout="constrained")
    for axis, run in zip(axes, runs, strict=False):
        steps = [step for step, _ in run["rows"]]
        image = axis.imshow(
            [[max(n, scale.vmin) for n in norms] for _, norms in run["rows"]],
            aspect="auto",
            origin="lower",
            norm=scale,
            cmap="viridis",
            interpolation="nearest",
        )
        ticks = list(range(0, len(steps), max(1, len(steps) // 4)))
        axis.set_yticks(ticks, [str(steps[t]) for t in ticks])
        axis.set(title=LABELS[run["cell"]], xlabel="time step t")
    axes[0].set_ylabel("training step")
    fig.colorbar(image, ax=axes[: len(runs)], label="mean ||dL/da<t>||", shrink=0.9)
    profile = axes[-1]
    for run in runs:
        for (step, norms), style in zip((run["rows"][0], run["rows"][-1]), (":", "-"), strict=True):
            label = f"{LABELS[run['cell']]}, step {step}"
            profile.plot(range(seq_len), norms, style, color=colour(run["cell"]), label=label)
    profile.set(yscale="log", xlabel="time step t", title="first (dotted), last step")
    profile.legend(fontsize=6)
    save(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flow", description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    runs = []
    for cell in CELLS:
        log(f"- {cell}: adding T={args.seq_len}, {args.steps} steps ...")
        runs.append(record(cell, args.seq_len, args.steps, args.every))
        log(f"  {runs[-1]['seconds']:.1f} s, final loss {runs[-1]['final_loss']:.4f}")
    result = {"seq_len": args.seq_len, "steps": args.steps, "every": args.every, "runs": runs}
    write_json(args.output / "flow.json", result)
    table = summary(runs)
    (args.output / "summary.md").write_text(render_markdown(table[0], table[1:]) + "\n", encoding="utf-8")
    figure(runs, args.output / "flow.png", args.seq_len)
    log(f"wrote {args.output}/flow.json, summary.md and flow.png")
    return 0 if all(math.isfinite(run["final_loss"]) for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
