"""Where one forward+backward spends its time on the CPU: ``python -m benchmarks.profile_cpu``.

Three views, for each size and dtype asked for:

1. cProfile of xrnn's forward+backward, the functions with the most own time;
2. the phases, each timed alone (interleaved, medians): the NumPy fast paths on the real shapes, each
   hoisted product with the operand layouts ``xrnn/rnn.py`` gives BLAS, the layout copies and the
   softmax, against the measured total;
3. the step product ``(m, n_a) @ (n_a, n_a)`` with ``Waa^T`` as a transposed view (what the fast path
   did before) and as a C-contiguous copy (what it does now), the untransposed ``Waa`` of the backward,
   and the same FLOPs as one all-steps product: the rate the recurrence can reach against the rate
   the floor assumes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from collections.abc import Sequence
from typing import Any

import numpy as np

import xrnn
from benchmarks.cpu import SIZES, _blas_threads, _parse_sizes
from benchmarks.harness import Candidate, blas_threads, format_time, log, render_text, time_interleaved
from benchmarks.workload import Size, make_problem, xrnn_flops
from xrnn.backends.numpy import rnn_backward_scan, rnn_forward_scan


def _cprofile(problem: dict[str, Any], repeats: int, top: int) -> str:
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]

    def fb() -> object:
        _, _, cache = xrnn.rnn_forward(x, a0, p)
        return xrnn.rnn_backward(da, cache)

    fb()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeats):
        fb()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:])


def _phases(size: Size, dtype: str, problem: dict[str, Any], budget: float) -> list[list[str]]:
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]
    t_x, m, n_a = size.t_x, size.m, size.n_a
    _, _, cache = xrnn.rnn_forward(x, a0, p)
    states = np.asarray(cache.states)
    states_rows = states.reshape(t_x * m, n_a)
    inputs_rows = np.asarray(cache.inputs).reshape(t_x * m, -1)
    preactivation = inputs_rows @ p["Wax"].T + p["ba"].T
    dstates = np.ascontiguousarray(da.transpose(2, 1, 0))
    dz, _ = rnn_backward_scan(dstates, states, p["Waa"])
    dz_rows = dz.reshape(t_x * m, n_a)
    buffer = np.empty_like(preactivation)
    logits = states_rows @ p["Wya"].T

    def softmax() -> object:
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)

    def forward_scan() -> object:
        np.copyto(buffer, preactivation)
        return rnn_forward_scan(buffer.reshape(t_x, m, n_a), p["Waa"], a0.T)

    def fb() -> object:
        _, _, c = xrnn.rnn_forward(x, a0, p)
        return xrnn.rnn_backward(da, c)

    phases = [
        ("total: rnn_forward + rnn_backward", fb),
        ("forward: x to time-major rows (copy)", lambda: np.reshape(x.transpose(2, 1, 0), (t_x * m, -1))),
        ("forward: input projection + ba", lambda: inputs_rows @ p["Wax"].T + p["ba"].T),
        ("forward: fast path scan (incl. a buffer copy)", forward_scan),
        ("forward: output layer + by", lambda: states_rows @ p["Wya"].T + p["by"].T),
        ("forward: softmax", softmax),
        ("forward: copy of a for the caller", lambda: np.array(states.transpose(2, 1, 0))),
        ("backward: da to time-major rows (copy)", lambda: np.reshape(da.transpose(2, 1, 0), (t_x * m, n_a))),
        ("backward: fast path scan", lambda: rnn_backward_scan(dstates, states, p["Waa"])),
        ("backward: dWaa", lambda: dz_rows[m:].T @ states_rows[: (t_x - 1) * m]),
        ("backward: dx", lambda: dz_rows @ p["Wax"]),
        ("backward: dWax", lambda: dz_rows.T @ inputs_rows),
        ("backward: dba", lambda: dz_rows.sum(axis=0)),
        ("reference: buffer copy (T_x m n_a)", lambda: np.copyto(buffer, preactivation)),
    ]
    timing = time_interleaved([Candidate(n, f) for n, f in phases], budget_s=budget, min_rounds=5, warmup=1)
    stats = timing.stats()
    total = stats[phases[0][0]].median
    parts = sum(stats[name].median for name, _ in phases[1:-1])
    rows = [[name, format_time(stats[name].median), f"{stats[name].median / total:.1%}"] for name, _ in phases]
    rows.append(["sum of the phases (without the reference)", format_time(parts), f"{parts / total:.1%}"])
    return rows


def _step_products(size: Size, dtype: str, budget: float) -> list[list[str]]:
    rng = np.random.default_rng(0)
    m, n_a, t_x = size.m, size.n_a, size.t_x
    waa = rng.standard_normal((n_a, n_a)).astype(dtype)
    waa_t = np.ascontiguousarray(waa.T)
    rows_ = rng.standard_normal((m, n_a)).astype(dtype)
    all_rows = rng.standard_normal((t_x * m, n_a)).astype(dtype)
    out = np.empty((m, n_a), dtype=dtype)
    out_all = np.empty((t_x * m, n_a), dtype=dtype)
    scale = t_x  # one all-steps product does the FLOPs of T_x step products
    products = [
        ("step: rows @ Waa.T (transposed view)", lambda: np.matmul(rows_, waa.T, out=out), 1),
        ("step: rows @ WaaT (C-contiguous copy)", lambda: np.matmul(rows_, waa_t, out=out), 1),
        ("step: rows @ Waa (backward, C-contiguous)", lambda: np.matmul(rows_, waa, out=out), 1),
        ("all steps at once: (T_x m) rows @ WaaT", lambda: np.matmul(all_rows, waa_t, out=out_all), scale),
    ]
    timing = time_interleaved([Candidate(n, f) for n, f, _ in products], budget_s=budget, min_rounds=5, warmup=2)
    stats = timing.stats()
    table = []
    for name, _, steps in products:
        seconds = stats[name].median
        rate = 2 * m * n_a * n_a * steps / seconds / 1e9
        table.append([name, format_time(seconds), format_time(seconds / steps), f"{rate:.0f}"])
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="large", help=f"as in benchmarks.cpu: {', '.join(SIZES)} or n_xxn_axmxT_x")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--budget", type=float, default=8.0, help="timing seconds per table")
    parser.add_argument("--repeats", type=int, default=5, help="forward+backward calls under cProfile")
    parser.add_argument("--top", type=int, default=12, help="functions listed from cProfile")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: BLAS's own)")
    args = parser.parse_args(argv)
    with _blas_threads(args.threads):
        log(f"BLAS threads: {args.threads or blas_threads()}")
        _profile(args)
    return 0


def _profile(args: argparse.Namespace) -> None:
    for size in _parse_sizes(args.sizes):
        for dtype in [d for d in args.dtypes.split(",") if d]:
            problem = make_problem(size, dtype)
            log(f"\n=== {size.label} (n_x x n_a x m x T_x) {dtype}: {xrnn_flops(size) / 1e9:.2f} GFLOP per fwd+bwd")
            log(f"\ncProfile, {args.repeats} forward+backward calls, by own time:")
            log(_cprofile(problem, args.repeats, args.top))
            log("\nphases, each timed alone (medians, interleaved):")
            log(render_text(["phase", "median", "of total"], _phases(size, dtype, problem, args.budget)))
            log(f"\nthe step product ({size.m}, {size.n_a}) @ ({size.n_a}, {size.n_a}):")
            log(render_text(["product", "median", "per step", "GFLOP/s"], _step_products(size, dtype, args.budget)))


if __name__ == "__main__":
    raise SystemExit(main())
