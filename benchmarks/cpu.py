"""The CPU suite: xrnn on NumPy against the naive per-step loop, PyTorch's nn.RNN and a matrix-product floor.

Run ``python -m benchmarks.cpu`` (about 8 minutes on 2 cores; ``--quick`` for a smoke test). For each
size ``(n_x, n_a, m, T_x)`` (``n_y = n_x``) and dtype it checks that the implementations agree, then
times, interleaved round by round:

* ``xrnn`` forward (``rnn_forward``), backward (``rnn_backward`` given the cache) and forward+backward;
* ``generic``: xrnn's forward+backward with the NumPy fast paths off (the Array API twins);
* ``naive``: the tutorial's per-step loops (``benchmarks/naive.py``), same three phases;
* ``torch``: ``nn.RNN(tanh)`` on the CPU with the same thread count, same three phases;
* ``gemm``: one ``(T_x m, n_a) @ (n_a, n_a)`` product, whose rate sets the floor: xrnn's FLOPs at
  that rate.

Then the same for the LSTM and the GRU (``--cells``, default ``rnn,lstm,gru``; see ``benchmarks.gated``):
xrnn's forward, backward and forward+backward, the naive per-step loops (``benchmarks/naive_gated.py``,
up to the small size), ``nn.LSTM`` / ``nn.GRU`` and the floor, in fewer rounds (``--gated-budget``).

It prints the tables (medians with interquartile ranges, ratios, GFLOP/s, peak memory), checks the
targets of issue 4 (the gated cells have the RNN's), and writes ``cpu.json``, ``cpu.csv`` (RNN),
``cpu-gated.csv`` (LSTM and GRU) and ``cpu.png`` (if matplotlib imports) into ``--output``;
``--markdown PATH`` also writes the page (see ``benchmarks.docs``) and the JSON beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import xrnn
from benchmarks import gated, naive
from benchmarks.harness import (
    Candidate,
    Stats,
    Timing,
    blas_threads,
    format_ratio,
    log,
    machine_info,
    render_text,
    time_interleaved,
    traced_peak_bytes,
    write_csv,
    write_json,
)
from benchmarks.report import gated_rows, memory_rows, ratio_plot, summary_rows
from benchmarks.workload import (
    AGREEMENT,
    GATES,
    GRADIENT_KEYS,
    Size,
    floor_gemm,
    floor_gemm_shape,
    make_gated_problem,
    make_problem,
    relative_errors,
    torch_flops,
    xrnn_flops,
)

SIZES = {
    "toy": Size(3, 5, 10, 4),
    "small": Size(64, 128, 32, 100),
    "medium": Size(256, 512, 64, 100),
    "large": Size(512, 1024, 64, 50),
}
DTYPES = ("float32", "float64")
BASELINES = ("naive", "torch", "generic", "gemm")
CELLS = ("rnn", *gated.CELLS)

# Issue 4's targets: (description, size it applies to (None: every size but the toy), metric, bound).
TARGETS: tuple[tuple[str, Size | None, str, float], ...] = (
    ("fwd+bwd <= 0.85x torch", None, "xrnn/torch", 0.85),
    ("fwd+bwd <= 1.25x floor", SIZES["medium"], "xrnn/floor", 1.25),
    ("fwd+bwd <= 1.25x floor", SIZES["large"], "xrnn/floor", 1.25),
    ("fwd+bwd <= 0.7x naive", SIZES["small"], "xrnn/naive", 0.7),
    ("fwd+bwd <= 1.0x naive", SIZES["toy"], "xrnn/naive", 1.0),
)


def _parse_sizes(text: str) -> list[Size]:
    return [SIZES[item] if item in SIZES else Size.parse(item) for item in text.split(";" if ";" in text else ",")]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds per cell: a smoke test, not a measurement")
    parser.add_argument(
        "--sizes",
        default="toy,small,medium,large",
        help=f"names ({', '.join(f'{k}={v.label}' for k, v in SIZES.items())}) or n_xxn_axmxT_x, comma-separated",
    )
    parser.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated: float32,float64")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated: rnn,lstm,gru")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="folder for JSON/CSV/PNG")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown page here")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timing per size and dtype")
    parser.add_argument(
        "--gated-budget",
        type=float,
        default=None,
        help="seconds of timing per size and dtype of the LSTM and GRU (default 6; --budget's with --quick)",
    )
    parser.add_argument(
        "--gated-naive-everywhere",
        action="store_true",
        help="time the LSTM and GRU naive loops at every size (default: up to the small size's work)",
    )
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: BLAS's own)")
    parser.add_argument("--skip", default="", help=f"comma-separated baselines to leave out: {', '.join(BASELINES)}")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument(
        "--baseline-phases",
        action="store_true",
        help="also time the baselines' forward and backward alone (longer rounds, so fewer of them)",
    )
    parser.add_argument(
        "--switch-gap",
        type=float,
        default=None,
        help="seconds of sleep before switching between NumPy and torch (default 0.25; 0.01 with --quick)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.size_list = _parse_sizes(args.sizes)
    args.dtype_list = [d for d in args.dtypes.split(",") if d]
    for dtype in args.dtype_list:
        if dtype not in DTYPES:
            parser.error(f"--dtypes takes float32 and float64, got {dtype!r}")
    args.cell_list = [c for c in args.cells.split(",") if c]
    if not args.cell_list or set(args.cell_list) - set(CELLS):
        parser.error(f"--cells takes {', '.join(CELLS)}, got {args.cells!r}")
    args.skipped = {s for s in args.skip.split(",") if s}
    if args.skipped - set(BASELINES):
        parser.error(f"--skip takes {', '.join(BASELINES)}, got {', '.join(sorted(args.skipped - set(BASELINES)))}")
    if args.budget is None:
        args.budget = 0.3 if args.quick else 20.0
    if args.gated_budget is None:
        args.gated_budget = args.budget if args.quick else 6.0
    if args.switch_gap is None:
        args.switch_gap = 0.01 if args.quick else 0.25
    return args


@contextlib.contextmanager
def _blas_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl (pip install threadpoolctl)") from None
    with threadpool_limits(threads, user_api="blas"):
        yield


def _import_torch(threads: int) -> tuple[Any, str | None]:
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed"
    try:
        import torch
    except Exception as error:
        return None, f"torch failed to import ({error})"
    torch.set_num_threads(threads)
    return torch, None


def _agreement(problem: dict[str, Any], dtype: str, torch: Any) -> dict[str, Any]:
    """xrnn's hidden states and gradients against the naive loop's and PyTorch's."""
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]
    a, _, cache = xrnn.rnn_forward(x, a0, p)
    ours = {"a": a, **xrnn.rnn_backward(da, cache)}
    a_naive, _, naive_cache = naive.rnn_forward(x, a0, p)
    references = {"naive": {"a": a_naive, **naive.rnn_backward(da, naive_cache)}}
    if torch is not None:
        from benchmarks.torch_rnn import TorchRNN

        references["torch"] = TorchRNN(torch, x, a0, da, p, dtype=dtype).results()
    with xrnn.backends.fast_paths(False):
        a_generic, _, generic_cache = xrnn.rnn_forward(x, a0, p)
        references["generic"] = {"a": a_generic, **xrnn.rnn_backward(da, generic_cache)}
    report: dict[str, Any] = {}
    for name, reference in references.items():
        errors = relative_errors(ours, {k: reference[k] for k in ("a", *GRADIENT_KEYS)})
        worst = max(errors.values())
        report[name] = {"worst": worst, "agrees": worst <= AGREEMENT[dtype], "errors": errors}
    return report


def _candidates(
    problem: dict[str, Any], size: Size, dtype: str, torch: Any, skipped: set[str], phases: bool
) -> list[Candidate]:
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]
    _, _, cache = xrnn.rnn_forward(x, a0, p)

    def xrnn_fb() -> object:
        _, _, c = xrnn.rnn_forward(x, a0, p)
        return xrnn.rnn_backward(da, c)

    def generic_fb() -> object:
        with xrnn.backends.fast_paths(False):
            return xrnn_fb()

    candidates = [
        Candidate("xrnn fwd", lambda: xrnn.rnn_forward(x, a0, p)),
        Candidate("xrnn bwd", lambda: xrnn.rnn_backward(da, cache)),
        Candidate("xrnn f+b", xrnn_fb),
    ]
    if "generic" not in skipped:
        candidates.append(Candidate("generic f+b", generic_fb))
    if "naive" not in skipped:

        def naive_fb() -> object:
            _, _, c = naive.rnn_forward(x, a0, p)
            return naive.rnn_backward(da, c)

        candidates.append(Candidate("naive f+b", naive_fb))
        if phases:
            _, _, naive_cache = naive.rnn_forward(x, a0, p)
            candidates += [
                Candidate("naive fwd", lambda: naive.rnn_forward(x, a0, p)),
                Candidate("naive bwd", lambda: naive.rnn_backward(da, naive_cache)),
            ]
    if torch is not None and "torch" not in skipped:
        from benchmarks.torch_rnn import TorchRNN

        model = TorchRNN(torch, x, a0, da, p, dtype=dtype)
        candidates.append(Candidate("torch f+b", model.forward_backward, group="torch"))
        if phases:
            candidates += [
                Candidate("torch fwd", model.forward, group="torch"),
                Candidate("torch bwd", model.backward, setup=model.prepare_backward, group="torch"),
            ]
    if "gemm" not in skipped:
        candidates.append(Candidate("gemm", floor_gemm(size, dtype)))
    return candidates


def _peaks(problem: dict[str, Any], skipped: set[str]) -> dict[str, int]:
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]

    def xrnn_fb() -> object:
        _, _, c = xrnn.rnn_forward(x, a0, p)
        return xrnn.rnn_backward(da, c)

    def naive_fb() -> object:
        _, _, c = naive.rnn_forward(x, a0, p)
        return naive.rnn_backward(da, c)

    peaks = {"xrnn f+b": traced_peak_bytes(xrnn_fb)}
    if "naive" not in skipped:
        peaks["naive f+b"] = traced_peak_bytes(naive_fb)
    return peaks


def _ratio(numerator: Stats | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator.median / denominator


def measure_cell(size: Size, dtype: str, args: argparse.Namespace, torch: Any) -> dict[str, Any]:
    """Everything for one size and dtype, as a JSON-able record."""
    problem = make_problem(size, dtype, seed=args.seed)
    record: dict[str, Any] = {"size": size.label, "n_x": size.n_x, "n_a": size.n_a, "n_y": size.n_y}
    record.update({"m": size.m, "T_x": size.t_x, "dtype": dtype})
    record["agreement"] = _agreement(problem, dtype, None if "torch" in args.skipped else torch)
    for name, result in record["agreement"].items():
        if not result["agrees"]:
            log(f"  WARNING: xrnn and {name} disagree at {size.label} {dtype}: {result['errors']}")
    candidates = _candidates(problem, size, dtype, torch, args.skipped, args.baseline_phases)
    timing = time_interleaved(
        candidates,
        budget_s=args.budget,
        min_rounds=3 if args.quick else 5,
        max_rounds=20 if args.quick else 2000,
        warmup=1 if args.quick else 2,
        switch_gap_s=args.switch_gap,
        visit_s=4 * args.switch_gap,
    )
    _summarise(record, timing, size, gates=1)
    itemsize = np.dtype(dtype).itemsize
    record["activation_bytes"] = size.activation_bytes(itemsize)
    record["peak_bytes"] = _peaks(problem, args.skipped)
    return record


def _summarise(record: dict[str, Any], timing: Timing, size: Size, gates: int) -> None:
    """Medians, FLOPs, the floor, ratios (of medians and paired) and GFLOP/s, into ``record``."""
    stats = timing.stats()
    record["rounds"] = timing.rounds
    record["errors"] = timing.errors
    record["timings"] = {name: s.as_dict() for name, s in stats.items()}
    flops, flops_torch = xrnn_flops(size, gates), torch_flops(size, gates)
    record["flops"] = {"xrnn": flops, "torch": flops_torch}
    rows, inner, cols = floor_gemm_shape(size, gates)
    gemm = stats.get("gemm")
    gemm_rate = 2 * rows * inner * cols / gemm.median if gemm else None
    floor = flops / gemm_rate if gemm_rate else None
    record["gemm"] = {"shape": [rows, inner, cols], "gflops": gemm_rate / 1e9 if gemm_rate else None}
    record["floor_s"] = floor
    ours = stats.get("xrnn f+b")
    record["ratios"] = {
        "xrnn/torch": _ratio(ours, stats["torch f+b"].median if "torch f+b" in stats else None),
        "xrnn/floor": _ratio(ours, floor),
        "xrnn/naive": _ratio(ours, stats["naive f+b"].median if "naive f+b" in stats else None),
        "xrnn/generic": _ratio(ours, stats["generic f+b"].median if "generic f+b" in stats else None),
    }
    record["paired_ratios"] = {
        f"xrnn/{name}": timing.paired_ratio("xrnn f+b", f"{name} f+b") for name in ("torch", "naive", "generic")
    }
    gemm_share = timing.paired_ratio("xrnn f+b", "gemm")
    record["paired_ratios"]["xrnn/floor"] = (
        gemm_share * 2 * rows * inner * cols / flops if gemm_share is not None else None
    )
    record["gflops"] = {
        name: (count / stats[key].median / 1e9 if key in stats else None)
        for name, key, count in (("xrnn", "xrnn f+b", flops), ("torch", "torch f+b", flops_torch))
    }


def gated_naive(size: Size, everywhere: bool = False) -> bool:
    """Whether the gated cells' naive loops are timed at ``size``: up to the small size's work by default
    (where the naive targets apply; at the medium and large sizes one LSTM loop takes seconds)."""

    def work(s: Size) -> int:
        return s.t_x * s.m * s.n_a * (s.n_a + s.n_x)

    return everywhere or work(size) <= work(SIZES["small"])


def measure_gated(cell: str, size: Size, dtype: str, args: argparse.Namespace, torch: Any) -> dict[str, Any]:
    """Everything for one gated cell (``"lstm"``/``"gru"``), size and dtype, as a JSON-able record: the
    keys of :func:`measure_cell`'s, and ``cell``."""
    problem = make_gated_problem(size, cell, dtype, seed=args.seed)
    naive = "naive" not in args.skipped and gated_naive(size, args.gated_naive_everywhere)
    torch = None if "torch" in args.skipped else torch
    record: dict[str, Any] = {"cell": cell, "size": size.label, "n_x": size.n_x, "n_a": size.n_a, "n_y": size.n_y}
    record.update({"m": size.m, "T_x": size.t_x, "dtype": dtype})
    record["agreement"] = gated.agreement(cell, problem, dtype, torch, naive)
    for name, result in record["agreement"].items():
        if result.get("agrees") is False:
            log(f"  WARNING: xrnn and {name} disagree at {cell} {size.label} {dtype}: {result['errors']}")
    candidates = gated.candidates(cell, problem, size, dtype, torch, naive=naive, gemm="gemm" not in args.skipped)
    timing = time_interleaved(
        candidates,
        budget_s=args.gated_budget,
        min_rounds=3,
        max_rounds=20 if args.quick else 2000,
        warmup=1,
        switch_gap_s=args.switch_gap,
        visit_s=4 * args.switch_gap,
    )
    _summarise(record, timing, size, GATES[cell])
    record["activation_bytes"] = size.activation_bytes(np.dtype(dtype).itemsize)
    record["peak_bytes"] = gated.peaks(cell, problem, naive)
    return record


LEGEND = [
    "Forward+backward: `xrnn.rnn_forward` (hidden states, output layer and softmax, n_y = n_x) then "
    "`xrnn.rnn_backward(da, cache)`. Medians over interleaved rounds, [first-third quartile]: every "
    "round times each candidate, in rotating order; NumPy-based candidates and PyTorch run in separate "
    "visits of about a second each, after a 0.25 s pause, so that one library's idle threads (which "
    "spin for about 0.1 s after a call) do not compete with the other's for the cores.",
    "generic: xrnn with the NumPy fast paths off (`xrnn.backends.fast_paths(False)`). naive: "
    "`benchmarks/naive.py`, the tutorial's per-step loops (dWaa fixed). torch: `nn.RNN(tanh)` on the "
    "CPU with the same thread count, x, h0 and the weights requiring gradients, backward of "
    "`(out * da).sum()`; it has no output layer, so it does 2 T_x m n_y n_a fewer FLOPs than xrnn. "
    "floor: xrnn's FLOPs at the rate of one (T_x m, n_a) @ (n_a, n_a) product timed in the same rounds.",
    "x/torch, x/floor, x/naive: xrnn's forward+backward median over theirs. GFLOP/s x/t/gemm: xrnn and "
    "torch (each with its own FLOP count) and the floor product. peak/act: tracemalloc's peak during one "
    "xrnn forward+backward (its outputs included) over the size of the hidden states n_a m T_x.",
]


GATED_LEGEND = [
    "LSTM and GRU: `xrnn.lstm_forward` (with c0) / `xrnn.gru_forward` (hidden states, output layer and softmax) "
    "then `lstm_backward` / `gru_backward`, timed as the RNN is, in fewer rounds (`--gated-budget`, 6 s per "
    "size and dtype by default: one LSTM forward+backward takes up to a second at the large size). torch: "
    "`nn.LSTM` / `nn.GRU` loaded with xrnn's weights, backward of `(out * da).sum()` with x, h0 (and c0) and "
    "the weights requiring gradients; the gate orders differ (PyTorch's i, f, g, o and r, z, n), which "
    "changes nothing in the work. PyTorch's GRU is not the lectures' GRU: its candidate is "
    "tanh(W_in x + b_in + r * (W_hn h + b_hn)), the reset gate applied after the recurrent product, where "
    "xrnn's is tanh(Wc [r * a_prev; x] + bc); the multiply-adds are the same (the recurrent product of the "
    "candidate is n_a x n_a in both, only its position differs), so the times compare, the results do not "
    "(xrnn's LSTM is checked against nn.LSTM, its GRU against the naive loop only).",
    "FLOPs: the RNN's formula per gate product, 2 T_x m (g (3 n_a^2 + 3 n_x n_a) + n_y n_a) with g = 4 "
    "(LSTM) or 3 (GRU) gate products per step; torch without the output layer. floor: those FLOPs at the "
    "rate of one (T_x m, n_a) @ (n_a, g n_a) product. naive: `benchmarks/naive_gated.py`, the tutorial's "
    "per-step LSTM loops (four gate products per step) and a GRU written in the same style, timed up to "
    "the small size's work (at the medium and large sizes one loop takes seconds; `--gated-naive-everywhere` "
    "times them too). peak/act: as for the RNN, over the hidden states n_a m T_x alone (the caches also "
    "hold the gates: 5 more such arrays for the LSTM, 3 for the GRU).",
]


def check_targets(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 4's targets, each as met / missed / not measured, per dtype (and per cell, for records that
    name one: the gated cells have the RNN's targets)."""
    results = []
    for record in records:
        size = Size(record["n_x"], record["n_a"], record["m"], record["T_x"])
        for description, where, metric, bound in TARGETS:
            applies = size != SIZES["toy"] if where is None else size == where
            if not applies:
                continue
            value = record["ratios"].get(metric)
            status = "not measured" if value is None else "met" if value <= bound else "missed"
            paired = record.get("paired_ratios", {}).get(metric)
            cell = {"cell": record["cell"]} if "cell" in record else {}
            results.append(
                cell
                | {"target": description, "size": record["size"], "dtype": record["dtype"], "value": value}
                | {"paired": paired, "bound": bound, "status": status}
            )
    return results


def _flat(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for r in records:
        for name, s in r["timings"].items():
            keys = ("cell",) * ("cell" in r) + ("size", "n_x", "n_a", "n_y", "m", "T_x", "dtype")
            row = {key: r[key] for key in keys}
            flat.append(row | {"candidate": name} | s)
    return flat


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    started = time.perf_counter()
    with _blas_threads(args.threads):
        threads = args.threads or blas_threads()
        torch, torch_note = (None, "skipped (--skip torch)") if "torch" in args.skipped else _import_torch(threads)
        info = machine_info()
        info["threads"] = threads
        info["torch"] = torch.__version__ if torch is not None else None
        info["torch_threads"] = torch.get_num_threads() if torch is not None else None
        info["torch_note"] = torch_note
        info["xrnn"] = xrnn.__version__
        result: dict[str, Any] = {"suite": "cpu", "machine": info, "quick": args.quick, "records": []}
        result["settings"] = {
            "cells": args.cell_list,
            "budget_s": args.budget,
            "gated_budget_s": args.gated_budget,
            "gated_naive_everywhere": args.gated_naive_everywhere,
            "seed": args.seed,
            "skipped": sorted(args.skipped),
            "baseline_phases": args.baseline_phases,
            "switch_gap_s": args.switch_gap,
            "command": "python -m benchmarks.cpu " + " ".join(sys.argv[1:] if argv is None else argv),
        }
        result["legend"] = LEGEND
        log(f"xrnn CPU benchmark: {info['cpu_model']}, {threads} BLAS threads, numpy {info['numpy']}")
        log(f"torch: {info['torch'] or torch_note} (threads {info['torch_threads']})")
        if info.get("threadpoolctl") is None:
            log(info["note"])
        else:
            pools = ", ".join(f"{p['internal_api']} {p.get('num_threads')}" for p in info["threadpoolctl"])
            log(f"thread pools (threadpoolctl): {pools}")
        log(f"load average at start: {info['load_average']}")
        if info["load_average"] and info["load_average"][0] > 0.5 * (info["usable_cpus"] or 1):
            log(
                "WARNING: the 1-minute load average is high: other processes (or an earlier run) were using the "
                "CPUs; if they still are, timings (torch's above all) will be noisy"
            )
        args.output.mkdir(parents=True, exist_ok=True)
        gated_cells = [c for c in args.cell_list if c != "rnn"]
        if gated_cells:
            result["gated_legend"] = GATED_LEGEND
            result["gated_records"] = []
        for cell in args.cell_list:
            for size in args.size_list:
                for dtype in args.dtype_list:
                    cell_started = time.perf_counter()
                    if cell == "rnn":
                        log(f"- {size.label} {dtype} ...")
                        record = measure_cell(size, dtype, args, torch)
                        result["records"].append(record)
                        row = summary_rows([record])[1][0][2:]
                    else:
                        log(f"- {gated.TITLES[cell]} {size.label} {dtype} ...")
                        record = measure_gated(cell, size, dtype, args, torch)
                        result["gated_records"].append(record)
                        row = gated_rows([record])[1][0][3:]
                    write_json(args.output / "cpu.json", result)
                    log(f"  {record['rounds']} rounds, {time.perf_counter() - cell_started:.1f} s: " + ", ".join(row))
    result["targets"] = check_targets(result["records"])
    if gated_cells:
        result["gated_targets"] = check_targets(result["gated_records"])
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["wall_s"] = time.perf_counter() - started
    log("")
    if result["records"]:
        for line in LEGEND:
            log(line.replace("`", ""))
        log(render_text(*summary_rows(result["records"])))
        log("")
        log(render_text(*memory_rows(result["records"])))
        log("")
    if gated_cells:
        for line in GATED_LEGEND:
            log(line.replace("`", ""))
        log(render_text(*gated_rows(result["gated_records"])))
        log("")
    for target in result["targets"] + result.get("gated_targets", []):
        where = f"{gated.TITLES[target['cell']]} " if "cell" in target else ""
        log(
            f"target {target['target']:<24} {where}{target['size']:>16} {target['dtype']}: "
            f"{format_ratio(target['value'])} (paired {format_ratio(target.get('paired'))}) -> {target['status']}"
        )
    for record in result["records"] + result.get("gated_records", []):
        for name, error in record["errors"].items():
            log(f"error: {record['size']} {record['dtype']} {name}: {error}")
    if not args.no_plot:
        why = ratio_plot(result, args.output / "cpu.png")
        result["plot"] = None if why else "cpu.png"
        log(why or f"plot: {args.output / 'cpu.png'}")
    write_json(args.output / "cpu.json", result)
    write_csv(args.output / "cpu.csv", _flat(result["records"]))
    csvs = "cpu.csv"
    if gated_cells:
        write_csv(args.output / "cpu-gated.csv", _flat(result["gated_records"]))
        csvs += ", cpu-gated.csv"
    log(f"wrote {args.output / 'cpu.json'} and {csvs} in {result['wall_s']:.0f} s")
    if args.markdown is not None:
        from benchmarks.docs import write_page

        write_json(args.markdown.with_suffix(".json"), result)
        write_page(result, args.markdown, source=args.markdown.with_suffix(".json"))
        log(f"wrote {args.markdown} and {args.markdown.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
