"""Checkpointed BPTT against full BPTT: the peak memory and the time of one loss-and-gradients call.

For every cell, sequence length ``T_x`` and budget ``N`` (``checkpoints=N``), one call of
:func:`xrnn.patterns.many_to_many_loss_and_gradients` (integer labels, a loss at every step) is measured
three ways:

- **peak memory**: on NumPy, tracemalloc's peak from after the inputs (``x``, the labels, the parameters)
  exist to the end of the call, with what it returns (``dx`` included) still alive; on CuPy, the peak of
  the bytes CuPy's memory pool hands out during the call (a memory hook; not run on this project's
  machines, which have no GPU);
- **steps run**: every chunk of steps the engine runs forward is counted as it runs (the sequence
  runners are wrapped), so the recomputed steps are counted, not computed from the schedule's formula,
  and set beside revolve's optimum for the schedule's snapshots (``chunk * minimal_advances``);
- **time**: every budget and full BPTT are timed interleaved, round after round (:mod:`benchmarks.harness`),
  untraced and uncounted; the medians, and each budget's time over full BPTT's in the same round.

Full BPTT is run only where its peak, estimated from a traced call at ``T_x = 100`` scaled to ``T_x``,
fits in a fraction (``--memory-fraction``) of the memory the machine has available; the record says
where it was skipped and why. The JSON, a markdown table (``docs/checkpointing.md`` includes it) and the
figure go to ``docs/checkpointing/``::

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.memory
    python -m benchmarks.memory --quick --output /tmp/memory   # a smoke run on tiny sizes
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import xrnn
from benchmarks.figures import Panel, ratio_figure, save
from benchmarks.harness import (
    Candidate,
    format_ratio,
    format_time,
    log,
    machine_info,
    render_markdown,
    render_text,
    time_interleaved,
    traced_peak_bytes,
    write_json,
)
from xrnn.cells import _checkpointed, _engine, get_cell
from xrnn.cells._checkpoint import minimal_advances, plan

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "checkpointing"
LABELS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
PROBE_T_X = 100  # full BPTT's peak is traced here, then scaled to the case's T_x (the estimate)


@dataclass(frozen=True)
class Workload:
    """Sizes, dtype and the sequence lengths and cells they are run at."""

    name: str
    n_x: int
    n_a: int
    n_y: int
    m: int
    dtype: str
    lengths: tuple[int, ...]
    cells: tuple[str, ...]
    #: cells run only up to this T_x (a cell absent runs at every length)
    longest: dict[str, int] = field(default_factory=dict)

    def runs(self, cell: str, t_x: int) -> bool:
        return cell in self.cells and t_x <= self.longest.get(cell, t_x)

    @property
    def label(self) -> str:
        return f"n_x {self.n_x}, n_a {self.n_a}, n_y {self.n_y}, m {self.m}, {self.dtype}"


#: The issue's two workloads: its first target's sizes at T_x = 1000, and its second's at every length.
WORKLOADS = (
    Workload("target-1000", 8, 128, 16, 16, "float64", (1000,), ("rnn", "lstm", "gru")),
    Workload("long", 4, 64, 16, 8, "float32", (100, 1000, 10_000, 100_000), ("rnn", "lstm", "gru"), {"gru": 10_000}),
)
QUICK = (Workload("quick", 2, 4, 3, 2, "float64", (9, 40), ("rnn", "lstm", "gru"), {"gru": 9}),)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: a checkpointed case and its bounds."""

    workload: str
    t_x: int
    budget: int
    cells: tuple[str, ...]
    memory_ratio: float | None = None  # peak over full BPTT's, at most
    time_ratio: float | None = None  # time over full BPTT's, at most
    peak_mib: float | None = None  # traced peak in MiB, at most

    def describe(self) -> str:
        parts = []
        if self.memory_ratio is not None:
            parts.append(f"peak <= {self.memory_ratio:.0%} of full")
        if self.time_ratio is not None:
            parts.append(f"time <= {self.time_ratio}x full")
        if self.peak_mib is not None:
            parts.append(f"peak <= {self.peak_mib:g} MiB")
        return ", ".join(parts)


TARGETS = (
    Target("target-1000", 1000, 64, ("rnn", "lstm"), memory_ratio=0.10, time_ratio=1.6),
    Target("long", 100_000, 317, ("rnn",), peak_mib=64.0),
)


def budgets(t_x: int) -> list[int]:
    """``N`` in {sqrt(T_x), 2 sqrt(T_x), log2(T_x)}, each rounded up to an int (at least 1), ascending.

    Rounded up, these are the issue's budgets: 64 at ``T_x = 1000`` and 317 at ``T_x = 100 000``.
    """
    root = math.sqrt(t_x)
    return sorted({max(1, math.ceil(value)) for value in (root, 2 * root, math.log2(t_x))})


# -- one call, and what it costs --------------------------------------------------------------------------
class Problem:
    """Seeded inputs of one cell on one backend: ``x (n_x, m, T_x)``, integer labels ``(m, T_x)`` and the
    cell's own initial parameters, all made before anything is traced."""

    def __init__(self, workload: Workload, cell: str, t_x: int, backend: str, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        host_x = rng.standard_normal((workload.n_x, workload.m, t_x)).astype(workload.dtype)
        host_labels = rng.integers(0, workload.n_y, (workload.m, t_x))
        self.cell = cell
        self.x = xrnn.backends.asarray(host_x, backend=backend)
        self.labels = xrnn.backends.asarray(host_labels, backend=backend)
        self.parameters = get_cell(cell).init(
            workload.n_x, workload.n_a, workload.n_y, seed=seed, dtype=workload.dtype, backend=backend
        )

    def call(self, budget: int | None) -> Callable[[], object]:
        """The loss-and-gradients call with ``checkpoints=budget`` (``None``: full BPTT)."""

        def run() -> object:
            return xrnn.patterns.many_to_many_loss_and_gradients(
                self.x, self.labels, self.parameters, cell=self.cell, checkpoints=budget
            )

        return run


@contextlib.contextmanager
def counted_steps() -> Iterator[list[int]]:
    """Count the steps the engine runs forward: every run of a whole sequence or of a chunk of it goes
    through ``run_forward``, which is wrapped here to add its ``x``'s ``T_x`` to the list yielded."""
    steps: list[int] = []
    originals = {module: module.run_forward for module in (_engine, _checkpointed)}

    def counting(original: Callable[..., Any]) -> Callable[..., Any]:
        def run_forward(cell: Any, checked: Any, x: Any, *rest: Any) -> Any:
            steps.append(int(x.shape[2]))
            return original(cell, checked, x, *rest)

        return run_forward

    for module, original in originals.items():
        module.run_forward = counting(original)  # type: ignore[attr-defined]
    try:
        yield steps
    finally:
        for module, original in originals.items():
            module.run_forward = original  # type: ignore[attr-defined]


def cupy_peak_bytes(run: Callable[[], object]) -> int:
    """Peak bytes CuPy's default memory pool hands out while ``run`` runs, above what it held before
    (what ``run`` returns is still alive at the end, so outputs count). Written, not run: no GPU here."""
    import cupy

    pool = cupy.get_default_memory_pool()

    class Peak(cupy.cuda.MemoryHook):  # type: ignore[misc]
        name = "PeakHook"

        def __init__(self) -> None:
            self.peak = pool.used_bytes()

        def malloc_postprocess(self, *_: Any, **__: Any) -> None:  # after each block the pool hands out
            self.peak = max(self.peak, pool.used_bytes())

    cupy.cuda.Device().synchronize()
    base = pool.used_bytes()
    hook = Peak()
    with hook:
        result = run()
        cupy.cuda.Device().synchronize()
    del result
    return max(int(hook.peak) - int(base), 0)


def available_bytes(backend: str) -> int:
    """Memory available now: ``MemAvailable`` of ``/proc/meminfo`` on the host, the free device memory on CuPy."""
    if backend == "cupy":
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return int(free) + int(cupy.get_default_memory_pool().free_bytes())  # the pool's cached blocks too
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def measure(problem: Problem, budget: int | None, backend: str) -> dict[str, Any]:
    """One traced and counted call: its peak memory, the steps it ran forward and the schedule's optimum."""
    t_x = int(problem.x.shape[2])
    peak_of = cupy_peak_bytes if backend == "cupy" else traced_peak_bytes
    gc.collect()
    with counted_steps() as steps:
        peak = peak_of(problem.call(budget))
    record: dict[str, Any] = {"budget": budget, "peak_bytes": peak, "steps_run": sum(steps), "chunk_runs": len(steps)}
    record["recomputed"] = sum(steps) - t_x
    if budget is not None and budget < t_x:
        schedule = plan(t_x, budget)
        advances = minimal_advances(schedule.chunks, schedule.snapshots)
        record["plan"] = {"chunk": schedule.chunk, "snapshots": schedule.snapshots, "chunks": schedule.chunks}
        record["minimal_advances"] = advances
        record["optimum"] = schedule.forward_steps - t_x  # chunk * minimal_advances: revolve's recomputed steps
    else:
        record["optimum"] = 0
    return record


# -- the run ----------------------------------------------------------------------------------------------
def run_case(
    workload: Workload, cell: str, t_x: int, args: argparse.Namespace, sync: Callable[[], object] | None
) -> dict[str, Any]:
    """Every budget and (where it fits) full BPTT for one cell and length: traced, counted, then timed."""
    case: dict[str, Any] = {"workload": workload.name, "cell": cell, "t_x": t_x, "budgets": budgets(t_x)}
    probe = Problem(workload, cell, min(t_x, PROBE_T_X), args.backend)
    probe_peak = measure(probe, None, args.backend)["peak_bytes"]
    del probe
    estimate = probe_peak * t_x / min(t_x, PROBE_T_X)
    available = available_bytes(args.backend)
    limit = args.memory_fraction * available
    case["full_estimate_bytes"], case["full_limit_bytes"] = int(estimate), int(limit)
    run_full = estimate <= limit
    if not run_full:
        case["full_skipped"] = (
            f"estimated peak {estimate / 2**20:.0f} MiB > {args.memory_fraction:.0%} of the "
            f"{available / 2**20:.0f} MiB available"
        )
    problem = Problem(workload, cell, t_x, args.backend)
    runs: list[int | None] = [*([None] if run_full else []), *case["budgets"]]
    case["measurements"] = []
    for budget in runs:  # the traced call is also each candidate's warm-up
        case["measurements"].append(measure(problem, budget, args.backend))
        got = case["measurements"][-1]
        log(f"  {_name(budget):>5}: peak {_mib(got['peak_bytes'])}, {got['recomputed']} recomputed ({got['optimum']})")
    candidates = [Candidate(_name(budget), problem.call(budget)) for budget in runs]
    timing = time_interleaved(candidates, budget_s=args.budget, min_rounds=args.rounds, warmup=0, sync=sync)
    stats = timing.stats()
    case["rounds"], case["errors"] = timing.rounds, timing.errors
    full = next((m for m in case["measurements"] if m["budget"] is None), None)
    for got in case["measurements"]:
        name = _name(got["budget"])
        got["time"] = stats[name].as_dict() if name in stats else None
        if full is not None and got is not full:
            got["time_ratio"] = timing.paired_ratio(name, "full")
            got["memory_ratio"] = got["peak_bytes"] / full["peak_bytes"] if full["peak_bytes"] else None
    return case


def _name(budget: int | None) -> str:
    return "full" if budget is None else f"N={budget}"


def _mib(value: float | None) -> str:
    """``13.9 MiB``, ``2.38 GiB``: bytes in three digits."""
    if value is None:
        return "-"
    return f"{value / 2**30:.3g} GiB" if value >= 2**30 else f"{value / 2**20:.3g} MiB"


def check_targets(cases: Sequence[dict[str, Any]], targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Each target, per cell: the measured numbers and ``met``, ``missed`` or ``not measured``."""
    checked = []
    for target in targets:
        for cell in target.cells:
            found = [
                m
                for case in cases
                if (case["workload"], case["cell"], case["t_x"]) == (target.workload, cell, target.t_x)
                for m in case["measurements"]
                if m["budget"] == target.budget
            ]
            row: dict[str, Any] = {"target": target.describe(), **asdict(target), "cell": cell}
            if not found:
                checked.append({**row, "status": "not measured"})
                continue
            got = found[0]
            verdicts = []
            if target.memory_ratio is not None:
                verdicts.append(got.get("memory_ratio") is not None and got["memory_ratio"] <= target.memory_ratio)
            if target.time_ratio is not None:
                verdicts.append(got.get("time_ratio") is not None and got["time_ratio"] <= target.time_ratio)
            if target.peak_mib is not None:
                verdicts.append(got["peak_bytes"] <= target.peak_mib * 2**20)
            measured = {k: got.get(k) for k in ("peak_bytes", "memory_ratio", "time_ratio")}
            checked.append({**row, **measured, "status": "met" if all(verdicts) else "missed"})
    return checked


# -- tables and the figure --------------------------------------------------------------------------------
HEADERS = ["cell", "T_x", "N", "peak", "time", "peak / full", "time / full", "recomputed (optimum)"]


def table_rows(cases: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per measurement: full BPTT first, then each budget with its ratios to full BPTT's."""
    rows = []
    for case in cases:
        for got in case["measurements"]:
            time_s = None if got.get("time") is None else got["time"]["median"]
            rows.append(
                [
                    LABELS[case["cell"]],
                    _spaced(case["t_x"]),
                    "full" if got["budget"] is None else str(got["budget"]),
                    _mib(got["peak_bytes"]),
                    format_time(time_s),
                    _ratio(got.get("memory_ratio"), got["budget"], case),
                    _ratio(got.get("time_ratio"), got["budget"], case),
                    "-" if got["budget"] is None else f"{_spaced(got['recomputed'])} ({_spaced(got['optimum'])})",
                ]
            )
    return rows


def _spaced(number: int) -> str:
    """``100 000``: thousands apart by a space, as the docs write them."""
    return f"{number:,}".replace(",", " ")


def _ratio(value: float | None, budget: int | None, case: dict[str, Any]) -> str:
    if budget is None:
        return "1"
    if "full_skipped" in case:
        return "full skipped"
    return "-" if value is None else f"{value:.3g}" if value < 0.1 else f"{value:.2f}"


def target_rows(targets: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for t in targets:
        measured = [_mib(t.get("peak_bytes"))]
        if t.get("memory_ratio") is not None:
            measured.append(f"{t['memory_ratio']:.1%} of full")
        if t.get("time_ratio") is not None:
            measured.append(format_ratio(t["time_ratio"]) + " full's time")
        where = f"T_x = {_spaced(t['t_x'])}, N = {t['budget']}"
        rows.append([t["target"], LABELS[t["cell"]], where, ", ".join(measured), f"**{t['status']}**"])
    return rows


def markdown(result: dict[str, Any]) -> str:
    """The tables ``docs/checkpointing.md`` includes: the targets, then one table per workload."""
    parts = []
    if result["targets"]:
        parts += ["**The issue's targets**", ""]
        parts += [render_markdown(["target", "cell", "case", "measured", ""], target_rows(result["targets"])), ""]
    for workload in result["workloads"]:
        cases = [c for c in result["cases"] if c["workload"] == workload["name"]]
        if not cases:
            continue
        parts += [f"**{workload['label']}**", "", render_markdown(HEADERS, table_rows(cases)), ""]
        skipped = [c for c in cases if "full_skipped" in c]
        for case in skipped:
            parts.append(
                f"- full BPTT skipped for {LABELS[case['cell']]} at T_x = {case['t_x']}: {case['full_skipped']}"
            )
        if skipped:
            parts.append("")
    return "\n".join(parts)


def _short(t_x: int) -> str:
    """``100``, ``1000``, ``10k``, ``100k``: a length that fits under its bars."""
    return f"{t_x // 1000}k" if t_x >= 10_000 and t_x % 1000 == 0 else str(t_x)


def panels(result: dict[str, Any]) -> list[Panel]:
    """For the workload with the most lengths (the sweep over ``T_x``): the peak memory over full BPTT's,
    then the time over full BPTT's, one bar per cell. The other workload's numbers are in the tables."""
    out = []
    swept = max(result["workloads"], key=lambda w: len(w["lengths"]), default=None)
    for workload in [] if swept is None else [swept]:
        cases = [c for c in result["cases"] if c["workload"] == workload["name"] and "full_skipped" not in c]
        keys = sorted({(c["t_x"], m["budget"]) for c in cases for m in c["measurements"] if m["budget"] is not None})
        if not keys:
            continue
        groups = [f"{_short(t_x)}\nN={budget}" for t_x, budget in keys]
        cells = [cell for cell in LABELS if any(c["cell"] == cell for c in cases)]
        for quantity, title in (("memory_ratio", "peak memory"), ("time_ratio", "time")):
            ratios: dict[str, list[float | None]] = {}
            for cell in cells:
                found = {
                    (c["t_x"], m["budget"]): m.get(quantity)
                    for c in cases
                    if c["cell"] == cell
                    for m in c["measurements"]
                }
                ratios[cell] = [found.get(key) for key in keys]
            where = f"{workload['dtype']}, n_a {workload['n_a']}, m {workload['m']}"
            out.append(Panel(f"{title}, {where}", groups, ratios, xlabel="T_x, checkpoints N"))
    return out


def figure(result: dict[str, Any], path: Path) -> str | None:
    """Draw the ratio figure into ``path``; returns why not, if it cannot."""
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed (pip install '.[bench]'); no plot"
    drawn = panels(result)
    if not drawn:
        return "no ratios measured; no plot"
    save(ratio_figure(drawn, columns=1, ylabel="checkpointed / full BPTT"), path)
    return None


def _commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, T_x 9 and 40")
    parser.add_argument("--render", type=Path, default=None, help="measure nothing: redraw this JSON's table and plot")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="folder for memory.json, table.md, memory.png")
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    parser.add_argument("--workloads", default=None, help="comma-separated workload names (default: all)")
    parser.add_argument("--lengths", default=None, help="comma-separated T_x, each within its workload's")
    parser.add_argument("--cells", default=None, help="comma-separated cells (default: each workload's)")
    parser.add_argument("--budget", type=float, default=20.0, help="timing seconds per case (at least --rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per case, at least")
    parser.add_argument(
        "--memory-fraction", type=float, default=0.5, help="full BPTT runs if its estimated peak fits this much"
    )
    args = parser.parse_args(argv)
    chosen: tuple[Workload, ...] = QUICK if args.quick else WORKLOADS
    if args.workloads:
        names = args.workloads.split(",")
        chosen = tuple(w for w in chosen if w.name in names)
    if args.lengths or args.cells:
        lengths = [int(v) for v in args.lengths.split(",")] if args.lengths else None
        cells = args.cells.split(",") if args.cells else None
        chosen = tuple(
            Workload(
                w.name,
                w.n_x,
                w.n_a,
                w.n_y,
                w.m,
                w.dtype,
                tuple(t for t in w.lengths if lengths is None or t in lengths),
                tuple(c for c in w.cells if cells is None or c in cells),
                w.longest,
            )
            for w in chosen
        )
    if args.quick:
        args.budget = min(args.budget, 0.05)
    args.chosen = chosen
    return args


def render(result: dict[str, Any], output: Path) -> None:
    """Write the table (``table.md``) and the figure (``memory.png``) of ``result`` into ``output``."""
    why_not = figure(result, output / "memory.png")
    if why_not is not None:
        log(why_not)
    result["plot"] = None if why_not else "memory.png"
    (output / "table.md").write_text(markdown(result), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.render is not None:
        render(json.loads(args.render.read_text(encoding="utf-8")), args.render.parent)
        log(f"wrote {args.render.parent}/table.md and memory.png from {args.render}")
        return 0
    sync = xrnn.backends.get_backend(args.backend).synchronize if args.backend == "cupy" else None
    started = time.perf_counter()
    result: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.memory", *(sys.argv[1:] if argv is None else argv)]),
        "commit": _commit(),
        "backend": args.backend,
        "memory_fraction": args.memory_fraction,
        "machine": machine_info(),
        "workloads": [{**asdict(w), "label": w.label} for w in args.chosen],
        "cases": [],
    }
    for workload in args.chosen:
        for t_x in workload.lengths:
            for cell in workload.cells:
                if not workload.runs(cell, t_x):
                    continue
                log(f"- {workload.name} {cell} T_x={t_x} ({workload.label}) ...")
                result["cases"].append(run_case(workload, cell, t_x, args, sync))
                result["targets"] = check_targets(result["cases"], [] if args.quick else TARGETS)
                result["seconds"] = time.perf_counter() - started
                write_json(args.output / "memory.json", result)  # a run cut short keeps its numbers
    result["targets"] = check_targets(result["cases"], [] if args.quick else TARGETS)
    result["seconds"] = time.perf_counter() - started
    render(result, args.output)
    write_json(args.output / "memory.json", result)
    log(render_text(HEADERS, table_rows(result["cases"])))
    for row in target_rows(result["targets"]):
        log("target: " + " | ".join(row))
    log(f"wrote {args.output}/memory.json, table.md{' and memory.png' if result['plot'] else ''}")
    return 0 if all(not case["errors"] for case in result["cases"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
