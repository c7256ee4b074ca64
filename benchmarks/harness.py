"""Timing, statistics, machine description and report writing shared by the CPU and GPU suites.

Timing is interleaved: every round calls each candidate once, in an order that rotates from round to
round, so a slow spell of a shared, noisy machine lands on every candidate alike and the ratios of
medians stay meaningful. Spread is reported as the interquartile range and the min-max range.
"""

from __future__ import annotations

import csv
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Stats:
    """Summary of timing samples, in seconds."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples to summarise")
        ordered = sorted(samples)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), q1, q3, ordered[0], ordered[-1], len(ordered))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Candidate:
    """One thing to time. ``setup`` (untimed) runs before every timed call of ``run``."""

    name: str
    run: Callable[[], object]
    setup: Callable[[], object] | None = None
    #: Candidates of one library share its thread pools; see ``switch_gap_s`` of :func:`time_interleaved`.
    group: str = ""


@dataclass
class Timing:
    """Samples per candidate, and the candidates that failed (name -> error message)."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    rounds: int = 0
    per_round: list[dict[str, float]] = field(default_factory=list)

    def stats(self) -> dict[str, Stats]:
        return {name: Stats.of(values) for name, values in self.samples.items() if values}

    def paired_ratio(self, numerator: str, denominator: str) -> float | None:
        """Median over rounds of ``numerator / denominator`` timed in the same round: less sensitive to
        a slow spell of the machine than the ratio of the two medians."""
        ratios = [r[numerator] / r[denominator] for r in self.per_round if numerator in r and denominator in r]
        return statistics.median(ratios) if ratios else None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _call(candidate: Candidate, synchronize: Callable[[], object]) -> float:
    if candidate.setup is not None:
        candidate.setup()
    synchronize()
    t0 = time.perf_counter()
    candidate.run()
    synchronize()
    return time.perf_counter() - t0


def time_interleaved(
    candidates: Sequence[Candidate],
    *,
    budget_s: float,
    min_rounds: int = 3,
    max_rounds: int = 1000,
    warmup: int = 1,
    sync: Callable[[], object] | None = None,
    deadline: float | None = None,
    switch_gap_s: float = 0.0,
    visit_s: float = 1.0,
) -> Timing:
    """Time ``candidates`` round-robin for about ``budget_s`` seconds (at least ``min_rounds`` rounds).

    Each round visits every ``group`` of candidates once, in an order that rotates from round to round;
    a visit runs its candidates round-robin too (rotating), for about ``visit_s`` seconds when
    ``switch_gap_s`` is set, else once each. With ``switch_gap_s``, a change of group first sleeps that
    long and makes one untimed call: thread pools of another library that still spin after their last
    call (OpenBLAS's for about 0.1 s) would otherwise compete for the cores with the candidate timed
    next. ``per_round`` keeps each candidate's median within the round, for paired ratios.

    A candidate that raises is dropped with its error recorded; the others go on. ``sync`` runs just
    before and after each timed call (device synchronisation). ``deadline`` (a ``time.perf_counter``
    value) stops further rounds once passed, as long as ``min_rounds`` rounds are done; so does spending
    twice ``budget_s`` (the round count comes from the warm-up, which a machine that slows down belies).
    """
    synchronize = sync if sync is not None else (lambda: None)
    timing = Timing(samples={c.name: [] for c in candidates})
    groups: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.group, []).append(candidate)
    estimate: dict[str, float] = {}  # seconds per call, from the warm-up
    for candidate in candidates:  # warm-up calls, untimed
        try:
            started = time.perf_counter()
            for _ in range(warmup):
                _call(candidate, synchronize)
            estimate[candidate.name] = (time.perf_counter() - started) / max(warmup, 1)
        except Exception as error:
            timing.errors[candidate.name] = _describe(error)
    gapped = switch_gap_s > 0 and len(groups) > 1
    sweeps: dict[str, int] = {}
    round_s = 0.0
    for name, members in groups.items():
        sweep_s = sum(estimate.get(c.name, 0.0) for c in members)
        sweeps[name] = max(1, int(visit_s / sweep_s)) if gapped and sweep_s > 0 else 1
        round_s += sweeps[name] * sweep_s + (switch_gap_s if gapped else 0.0)
    rounds = max_rounds if round_s <= 0 else int(budget_s / round_s)
    rounds = max(min_rounds, min(max_rounds, rounds))
    order = list(groups)
    previous_group: str | None = None
    timed_from = time.perf_counter()
    for r in range(rounds):
        now = time.perf_counter()
        if r >= min_rounds and ((deadline is not None and now > deadline) or now - timed_from > 2 * budget_s):
            break
        this_round: dict[str, list[float]] = {}
        shift = r % len(order)
        for group in order[shift:] + order[:shift]:
            live = [c for c in groups[group] if c.name not in timing.errors]
            if not live:
                continue
            if gapped and group != previous_group:
                time.sleep(switch_gap_s)
                try:
                    _call(live[0], synchronize)
                except Exception as error:
                    timing.errors[live[0].name] = _describe(error)
            previous_group = group
            for sweep in range(sweeps[group]):
                turn = (r + sweep) % len(live)
                for candidate in live[turn:] + live[:turn]:
                    if candidate.name in timing.errors:
                        continue
                    try:
                        elapsed = _call(candidate, synchronize)
                    except Exception as error:
                        timing.errors[candidate.name] = _describe(error)
                        continue
                    timing.samples[candidate.name].append(elapsed)
                    this_round.setdefault(candidate.name, []).append(elapsed)
        timing.per_round.append({name: statistics.median(values) for name, values in this_round.items()})
        timing.rounds = r + 1
    return timing


def traced_peak_bytes(run: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's allocator hooks (NumPy's data buffers included) by ``run``.

    What ``run`` returns is still alive at the end, so outputs count. Allocations that bypass
    tracemalloc (PyTorch's CPU allocator, device memory) are not seen.
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    del result
    if not was_tracing:
        tracemalloc.stop()
    return max(peak - base, 0)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_info() -> dict[str, Any]:
    """threadpoolctl's view of the BLAS/OpenMP pools, or a note that it is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"threadpoolctl": None, "note": "threadpoolctl is not installed; thread pools not inspected"}
    return {"threadpoolctl": threadpool_info()}


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (threadpoolctl), else the CPUs this process may run on."""
    pools = thread_info().get("threadpoolctl") or []
    for pool in pools:
        if pool.get("user_api") == "blas" and "numpy" in str(pool.get("filepath", "")):
            return int(pool["num_threads"])
    for pool in pools:
        if pool.get("user_api") == "blas":
            return int(pool["num_threads"])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_ENV_KEYS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "CUDA_VISIBLE_DEVICES",
)


def machine_info() -> dict[str, Any]:
    """Where and when the numbers were taken."""
    import numpy as np

    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numpy": np.__version__,
        "environment": {key: os.environ.get(key) for key in _ENV_KEYS},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        config = np.show_config(mode="dicts")
        info["numpy_blas"] = config["Build Dependencies"]["blas"]
    except Exception as error:  # the layout of show_config's dict is not a stable API
        info["numpy_blas"] = {"error": _describe(error)}
    info.update(thread_info())
    return info


def format_time(seconds: float | None) -> str:
    """``1.23 s``, ``12.3 ms``, ``123 us`` (three significant digits)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}x"


def render_text(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table with aligned columns."""
    table = [list(headers), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_markdown(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" ---: " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` atomically (a temporary file, then a rename), so a killed run leaves valid JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(path)


def write_csv(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """One line per record; the columns are the union of the records' keys, in first-seen order."""
    columns: list[str] = []
    for record in records:
        columns += [key for key in record if key not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)


def log(message: str) -> None:
    """Print and flush at once (long runs are watched live, and may be killed mid-way)."""
    print(message, flush=True)
