"""The long-term-dependency tasks from the papers, trained with the RNN, the LSTM and the GRU: the docs page.

``run`` trains every cell on each experiment (the adding problem at several ``T``, the copy task) with
:class:`xrnn.train.trainer.Trainer`, one after the other, and records each run's curves (every
evaluation's validation scores, the mean training loss since the one before) with its wall time into
``docs/tasks/results.json``, saved after every run, so a killed run keeps what is done and a second
``run`` skips it. ``page`` draws one figure per experiment and writes ``docs/tasks.md`` from the
recorded results and the papers' settings. Train with one BLAS thread, in the background::

    OPENBLAS_NUM_THREADS=1 nohup python -m benchmarks.tasks run > tasks.log 2>&1 &
    python -m benchmarks.tasks page
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xrnn
from benchmarks.harness import log, machine_info, render_markdown, write_json
from xrnn.train import TrainConfig, make_trainer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "tasks" / "results.json"
PAGE = ROOT / "docs" / "tasks.md"
CELLS = ("rnn", "lstm", "gru")
#: One fixed colour per cell on every figure (matplotlib's first three).
COLOURS = {"rnn": "#1f77b4", "lstm": "#d62728", "gru": "#2ca02c"}
#: (task, T, steps, cells): T is the adding problem's seq_len and the copy task's delay. The last is a
#: longer run of the cell that had not left the baseline at T = 100 by 10,000 steps.
EXPERIMENTS = (
    ("adding", 50, 10_000, CELLS),
    ("adding", 100, 10_000, CELLS),
    ("adding", 200, 10_000, CELLS),
    ("copy", 100, 15_000, CELLS),
    ("adding", 100, 40_000, ("lstm",)),
)
#: What every run shares: small enough for two CPU cores, the same for the three cells.
SETTINGS = {"hidden": 64, "batch": 32, "lr": 1e-3, "optimizer": "adam", "clip": 1.0, "dtype": "float32", "seed": 0}
EVAL_EVERY = 250


def config_for(task: str, length: int, cell: str, steps: int, eval_every: int = EVAL_EVERY) -> TrainConfig:
    """The configuration of one run."""
    size = {"delay": length, "seq_len": None} if task == "copy" else {"seq_len": length}
    return TrainConfig(task=task, cell=cell, steps=steps, eval_every=eval_every, **size, **SETTINGS)  # type: ignore[arg-type]


def train_one(config: TrainConfig) -> dict[str, Any]:
    """Train ``config``; its curves (one point per evaluation) and timings."""
    trainer = make_trainer(config)
    started = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - started
    points, window = [], []
    for record in trainer.history:
        window.append(record.loss)
        if record.validation is not None:
            points.append({"step": record.step, "train_loss": sum(window) / len(window), **record.validation})
            window = []
    return {
        "task": config.task,
        "T": config.delay if config.task == "copy" else config.seq_len,
        "cell": config.cell,
        "config": dataclasses.asdict(config),
        "steps": trainer.step,
        "seconds": seconds,
        "baseline": trainer.task.baseline_loss,
        "curve": points,
    }


Experiment = tuple[str, int, int, Sequence[str]]


def run(results_path: Path, experiments: Sequence[Experiment], eval_every: int) -> dict[str, Any]:
    """Train whatever ``results_path`` does not hold yet, saving after each run."""
    results = _load(results_path)
    done = {(r["task"], r["T"], r["cell"], r["config"]["steps"]) for r in results["runs"]}
    for task, length, steps, cells in experiments:
        for cell in cells:
            if (task, length, cell, steps) in done:
                continue
            config = config_for(task, length, cell, steps, eval_every)
            log(f"{task} T={length} {cell}: {steps} steps ...")
            outcome = train_one(config)
            last = outcome["curve"][-1] if outcome["curve"] else {}
            log(f"  {outcome['seconds']:.0f} s, last validation {last}")
            outcome["commit"] = _commit()
            results["runs"].append(outcome)
            results["machine"] = machine_info()
            write_json(results_path, results)
    return results


def _commit() -> str | None:
    """The checkout's commit, when it is a git checkout (the runs are only as reproducible as the code)."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _load(path: Path) -> dict[str, Any]:
    import json

    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    return {"xrnn": xrnn.__version__, "settings": SETTINGS, "runs": []}


# -- figures and the page -------------------------------------------------------------------------
def plot_curves(axes: Any, runs: Sequence[Mapping[str, Any]], score: str, baseline: float | None) -> None:
    """One line per cell (its fixed colour) of ``score`` against the step, and the baseline dashed."""
    shortest = min(outcome["steps"] for outcome in runs)
    for outcome in runs:
        curve = outcome["curve"]
        longer = outcome["steps"] > shortest  # a longer run of a cell: dashed, its length in the legend
        axes.plot(
            [p["step"] for p in curve],
            [p[score] for p in curve],
            color=COLOURS[outcome["cell"]],
            linestyle="--" if longer else "-",
            label=outcome["cell"].upper() + (f", {outcome['steps']} steps" if longer else ""),
            linewidth=1.5,
        )
    if baseline is not None:
        axes.axhline(baseline, color="grey", linestyle=":", linewidth=1.5, label="baseline")
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    axes.legend()


def draw(results: Mapping[str, Any], folder: Path) -> list[Path]:
    """One PNG per experiment in ``folder``: the validation loss (and the copy task's accuracy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for (task, length), runs in _experiments(results).items():
        scores = ["val_loss", "val_accuracy"] if task == "copy" else ["val_loss"]
        figure, panels = plt.subplots(1, len(scores), figsize=(5.5 * len(scores), 3.6), layout="constrained")
        panels = panels if len(scores) > 1 else [panels]
        for axes, score in zip(panels, scores, strict=True):
            baseline = runs[0]["baseline"] if score == "val_loss" else 1 / 8
            plot_curves(axes, runs, score, baseline)
            axes.set_ylabel(_LABELS[(task, score)])
            if score == "val_loss":
                axes.set_yscale("log")
        figure.suptitle(f"{task}, T = {length}: held-out validation, {SETTINGS['hidden']} hidden units")
        path = folder / f"{task}-{length}.png"
        folder.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


_LABELS = {
    ("adding", "val_loss"): "mean squared error",
    ("copy", "val_loss"): "cross-entropy (nats per step)",
    ("copy", "val_accuracy"): "recalled symbols correct",
}


def _experiments(results: Mapping[str, Any]) -> dict[tuple[str, int], list[Mapping[str, Any]]]:
    grouped: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for outcome in results["runs"]:
        grouped.setdefault((outcome["task"], outcome["T"]), []).append(outcome)
    return grouped


def _first(curve: Sequence[Mapping[str, Any]], test: Any) -> str:
    step = next((p["step"] for p in curve if test(p)), None)
    return "not reached" if step is None else str(step)


def table(results: Mapping[str, Any]) -> str:
    """The measured numbers, one row per run."""
    rows = []
    for (task, length), runs in _experiments(results).items():
        for outcome in runs:
            curve, baseline = outcome["curve"], outcome["baseline"]
            best = min(curve, key=lambda p: p["val_loss"])
            last = curve[-1]
            if task == "adding":
                solved = _first(curve, lambda p, limit=baseline / 10: p["val_loss"] < limit)
                score = "-"
            else:
                solved = _first(curve, lambda p: p["val_accuracy"] > 0.99)
                score = f"{last['val_accuracy']:.3f}"
            rows.append(
                [
                    f"{task} T={length} (baseline {baseline:.4f})",
                    outcome["cell"].upper(),
                    str(outcome["steps"]),
                    f"{outcome['seconds'] / 60:.1f}",
                    f"{best['val_loss']:.4f} (step {best['step']})",
                    f"{last['val_loss']:.4f}",
                    score,
                    solved,
                ]
            )
    headers = ["experiment", "cell", "steps", "minutes", "best val loss", "last val loss", "last recall", "solved at"]
    return render_markdown(headers, rows)


def summary(results: Mapping[str, Any]) -> str:
    """One line per experiment: which runs solved it (and when), which left the baseline, which stayed there."""
    lines = []
    for (task, length), runs in _experiments(results).items():
        solved, below, stayed = [], [], []
        for outcome in runs:
            curve, baseline = outcome["curve"], outcome["baseline"]
            name = outcome["cell"].upper() + (
                f" ({outcome['steps']} steps)" if outcome["steps"] != runs[0]["steps"] else ""
            )
            if task == "adding":
                step = _first(curve, lambda p, limit=baseline / 10: p["val_loss"] < limit)
            else:
                step = _first(curve, lambda p: p["val_accuracy"] > 0.99)
            last = curve[-1]["val_loss"]
            if step != "not reached":
                solved.append(f"{name} at step {step}")
            elif last < 0.9 * baseline:
                below.append(
                    f"{name} ({last:.4f}, from step {_first(curve, lambda p, b=baseline: p['val_loss'] < 0.9 * b)})"
                )
            else:
                stayed.append(f"{name} ({last:.4f})")
        parts = [f"solved by {', '.join(solved)}" if solved else "solved by none"]
        if below:
            parts.append(f"below the baseline but not solved: {', '.join(below)}")
        if stayed:
            parts.append(f"at the baseline to the end: {', '.join(stayed)}")
        lines.append(f"- **{task}, T = {length}** (baseline {runs[0]['baseline']:.4f}): " + "; ".join(parts) + ".")
    return "\n".join(lines)


def page(results: Mapping[str, Any], figures: Sequence[Path], path: Path) -> None:
    """Write the docs page: setup, the measured table, the figures, and the comparison with the papers."""
    machine = results.get("machine", {})
    images = "\n\n".join(f"![{p.stem}](tasks/{p.name})" for p in figures)
    minutes = sum(r["seconds"] for r in results["runs"]) / 60
    text = _PAGE.format(
        command='python -m pip install ".[bench]"  # the figures are drawn with matplotlib\n'
        "OPENBLAS_NUM_THREADS=1 python -m benchmarks.tasks run && python -m benchmarks.tasks page",
        settings=", ".join(f"{key} {value}" for key, value in SETTINGS.items()),
        eval_every=results["runs"][0]["config"]["eval_every"] if results["runs"] else EVAL_EVERY,
        table=table(results),
        summary=summary(results),
        images=images,
        minutes=f"{minutes:.0f}",
        cpu=machine.get("cpu_model", "unknown CPU"),
        cpus=machine.get("usable_cpus", "?"),
        date=machine.get("date", "?"),
        version=results.get("xrnn", "?"),
        commits=", ".join(sorted({str(r.get("commit", "?"))[:7] for r in results["runs"]})),
        load=", ".join(f"{v:.1f}" for v in machine.get("load_average") or []) or "?",
        copy_baseline=f"{10 * math.log(8) / 120:.4f}",
    )
    path.write_text(text, encoding="utf-8")


_PAGE = """# The tasks from the papers

`xrnn train --task adding` and `--task copy` generate the two classic long-term-dependency tasks
(nothing is downloaded), validate on a fixed-seed set of 1000 sequences of their own, and print the
baseline a model must beat. This page trains the RNN, the LSTM and the GRU on each, side by side with
those baselines. It is written by `benchmarks/tasks.py` from the curves it recorded in
`docs/tasks/results.json`:

```bash
{command}
```

## The tasks

- **Adding problem** (Hochreiter and Schmidhuber 1997, in the form of Le, Jaitly and Hinton 2015):
  two input channels of $T$ steps, values uniform in $[0, 1)$ and a marker on one step of each half;
  after the last step the network answers the sum of the two marked values (a linear output, mean
  squared error). Always answering 1 scores $1/6 = 0.167$, the variance of the sum.
- **Copy task** (Arjovsky, Shah and Bengio 2016): 10 symbols out of 8, then $T - 1$ blanks, a
  delimiter and 10 blanks ($T + 20$ steps); the network must output blanks until the delimiter has
  passed and then the 10 symbols. The loss is the cross-entropy averaged over all $T + 20$ steps. The
  memoryless baseline (blanks, then a uniform guess among the 8 symbols) scores $10 \\log 8 / (T + 20)$
  ({copy_baseline} at $T = 100$) and recalls 1 symbol in 8.

## What was run

Every run: {settings}; xrnn's default initialisation (weights drawn with standard deviation 0.01,
zero biases, the forget gate's included); evaluation every {eval_every} steps on the task's validation
set. One seed per run. One process, one BLAS thread, {minutes} minutes of training in all, on {cpus}
shared cores ({cpu}; load average at the end {load}; xrnn {version} at commits {commits}, {date}).
"Solved" is the first evaluation with a mean squared error under a tenth of the baseline (adding), or
more than 99% of the recalled symbols right (copy). $T$ = 200 fitted for the adding problem (the LSTM,
the slowest, took 7 minutes for 10,000 steps); the copy task ran at $T = 100$ only.

{summary}

{table}

{images}

## Beside the papers

The search tool did not give us the papers' figures, so their curves' values are not quoted here;
what follows is their setups and the behaviour they report as we read them (check the papers before
citing it).

- **Le, Jaitly and Hinton (2015)** run the adding problem at $T$ = 150, 200, 300 and 400 and plot the
  test mean squared error against the 0.167 of always answering 1. Their tanh RNN does not get below
  that baseline; the LSTM and their IRNN (a ReLU RNN initialised with the identity, not in xrnn) do,
  and the paper's point is that the IRNN matches the LSTM. Here too the tanh RNN never stays below the
  baseline, at any $T$. The GRU (not in their comparison) solves every length tried within a few
  thousand steps.
- **Arjovsky, Shah and Bengio (2016)** run the copy task at $T$ = 100, 200, 300 and 500 and plot the
  cross-entropy against $10 \\log 8 / (T + 20)$: their LSTM and tanh RNN stay at (or barely under) the
  memoryless baseline, and their unitary RNN (uRNN, not in xrnn) falls well below it. Here the RNN and
  the LSTM stay on the baseline for all 15,000 steps at $T = 100$ (recalling 1 symbol in 8, a guess), as
  in the paper; the GRU starts to leave it near the end.

The LSTM here is slower than in the papers' reports at $T \\ge 100$. A likely reason, not tested here:
xrnn's initialiser gives the forget gate a zero bias, so at the start it keeps half the cell state a
step and the gradient over 100 steps shrinks like $2^{{-100}}$; the usual remedy is a forget-gate bias
of 1 (Gers, Schmidhuber and Cummins 2000; Jozefowicz, Zaremba and Sutskever 2015), which
`xrnn train` does not set. The longer LSTM run at $T = 100$ shows how long the plateau lasts with the
default.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("run", "page"), help="run: train what is missing; page: figures and page")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"(default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--page", type=Path, default=PAGE, help=f"(default {PAGE.relative_to(ROOT)})")
    parser.add_argument("--steps", type=int, help="steps of every run (default: each experiment's own)")
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY, help=f"(default {EVAL_EVERY})")
    parser.add_argument("--only", metavar="TASK:T", action="append", help="run only these experiments (repeatable)")
    args = parser.parse_args(argv)
    experiments = [(task, length, args.steps or steps, cells) for task, length, steps, cells in EXPERIMENTS]
    if args.only:
        chosen = {tuple(item.split(":")) for item in args.only}
        experiments = [e for e in experiments if (e[0], str(e[1])) in chosen]
    if args.action == "run":
        run(args.results, experiments, args.eval_every)
        return 0
    if importlib.util.find_spec("matplotlib") is None:
        print(f"{parser.prog} page: matplotlib draws the figures; pip install '.[bench]'", file=sys.stderr)
        return 2
    results = _load(args.results)
    figures = draw(results, args.results.parent)
    page(results, figures, args.page)
    log(f"wrote {args.page} and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
