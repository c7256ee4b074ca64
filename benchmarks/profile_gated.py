"""Where an LSTM or GRU forward+backward spends its time on the CPU: ``python -m benchmarks.profile_gated``.

For each cell, size and dtype asked for, one table of phases, each timed alone (interleaved, medians):
the whole forward+backward, the products hoisted out of the time loop, the two scans (the compiled
kernels where Numba imports, and the NumPy passes), and the scans' step products alone, so that the
difference, printed per scan as a share of its products, says what the elementwise gate updates cost.
PyTorch's forward+backward is timed twice, with its oneDNN (mkldnn) kernels on and off: the gap says
whether PyTorch runs a fused LSTM/GRU kernel for that dtype.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

import xrnn
from benchmarks.cpu import _blas_threads, _parse_sizes
from benchmarks.gated import CELLS, TITLES, backward, forward, forward_backward, torch_model
from benchmarks.harness import Candidate, blas_threads, format_time, log, render_text, time_interleaved
from benchmarks.workload import GATES, Size, make_gated_problem, xrnn_flops
from xrnn.activations import softmax_unchecked
from xrnn.backends import _numpy_gated
from xrnn.backends._numpy_operands import StepProduct
from xrnn.backends.numpy import gated_scans
from xrnn.cells import get_cell
from xrnn.cells._cell import OUTPUT
from xrnn.cells._engine import logits
from xrnn.cells._projected import weights


def _projection(inputs_rows: np.ndarray, w_x: np.ndarray, p: dict[str, Any], cell: str) -> np.ndarray:
    """The input projection plus the stacked biases, as the engine makes it (in the cell's gate order)."""
    biases = np.concatenate([p[block.bias] for block in _scan(cell).blocks], axis=0)
    return inputs_rows @ w_x.T + biases.T


def _joint_weight_gradient(dz_rows: np.ndarray, states_rows: np.ndarray, inputs_rows: np.ndarray) -> np.ndarray:
    return np.concatenate([dz_rows.T @ states_rows, dz_rows.T @ inputs_rows], axis=1)


def _scan(cell: str) -> Any:
    return get_cell(cell).scan


def _phases(cell: str, size: Size, dtype: str, torch: Any, budget: float) -> list[list[str]]:
    problem = make_gated_problem(size, cell, dtype)
    p, da = problem["parameters"], problem["da"]
    t_x, m, n_a, g = size.t_x, size.m, size.n_a, GATES[cell]
    w_a, w_x = weights(np, get_cell(cell), p, n_a)
    _, cache = forward(xrnn, cell, problem)
    inputs_rows = np.asarray(cache.inputs).reshape(t_x * m, -1)
    states_rows = np.asarray(cache.states).reshape(t_x * m, n_a)
    projection = _projection(inputs_rows, w_x, p, cell).reshape(t_x, m, g * n_a)
    buffer = np.empty_like(projection)
    dstates = np.ascontiguousarray(da.transpose(2, 1, 0))
    a0_rows = problem["a0"].T
    if cell == "lstm":
        c0_rows = problem["c0"].T
        scan_args: tuple[Any, ...] = (dstates, cache.gates, cache.cells, c0_rows, w_a)
        forward_args: tuple[Any, ...] = (w_a, a0_rows, c0_rows)
    else:
        scan_args = (dstates, cache.gates, cache.states, a0_rows, w_a)
        forward_args = (w_a, a0_rows)
    dz = getattr(_numpy_gated, f"{cell}_backward_scan")(*scan_args)[0]

    def scans(module: ModuleType) -> tuple[Callable[[], object], Callable[[], object]]:
        """``module``'s forward scan (on a copy of the projection) and backward scan."""
        forward_scan, backward_scan = (getattr(module, f"{cell}_{d}_scan") for d in ("forward", "backward"))

        def forward_run() -> object:
            np.copyto(buffer, projection)
            return forward_scan(buffer, *forward_args)

        return forward_run, lambda: backward_scan(*scan_args)

    running = gated_scans()
    implementations = {"fast path": running}
    if running is not _numpy_gated:
        implementations = {"compiled kernels": running, "NumPy passes": _numpy_gated}
    timed_scans = {label: scans(module) for label, module in implementations.items()}

    dz_rows = dz.reshape(t_x * m, g * n_a)

    def weight_gradients() -> object:
        return _joint_weight_gradient(dz_rows, states_rows, inputs_rows)

    forward_steps, backward_steps = _step_products(cell, m, n_a, t_x, w_a)
    phases: list[tuple[str, Callable[[], object]]] = [
        ("total: forward + backward", lambda: forward_backward(xrnn, cell, problem)),
        ("forward (public function)", lambda: forward(xrnn, cell, problem)),
        ("forward: input projection + biases", lambda: _projection(inputs_rows, w_x, p, cell)),
        *((f"forward: scan ({label}, incl. a buffer copy)", runs[0]) for label, runs in timed_scans.items()),
        ("forward: the scan's step products alone", forward_steps),
        ("forward: output layer + softmax", lambda: softmax_unchecked(np, logits(np, states_rows, p, OUTPUT), axis=1)),
        ("backward (public function)", lambda: backward(xrnn, cell, da, cache)),
        *((f"backward: scan ({label})", runs[1]) for label, runs in timed_scans.items()),
        ("backward: the scan's step products alone", backward_steps),
        (
            "backward: weight gradients (two products)",
            lambda: _joint_weight_gradient(dz_rows, states_rows, inputs_rows),
        ),
        ("backward: dx", lambda: dz_rows @ w_x),
        ("reference: buffer copy (T_x m g n_a)", lambda: np.copyto(buffer, projection)),
    ]
    candidates = [Candidate(name, run) for name, run in phases]
    if torch is not None:
        model = torch_model(torch, cell, problem, dtype)

        def torch_without_onednn() -> None:
            # The attribute, not mkldnn.flags(): that also sets a TF32 flag, which warns on CPU-only builds.
            enabled = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
            try:
                model.forward_backward()
            finally:
                torch.backends.mkldnn.enabled = enabled

        candidates.append(Candidate("torch: forward + backward", model.forward_backward, group="torch"))
        candidates.append(Candidate("torch: forward + backward, oneDNN off", torch_without_onednn, group="torch"))
    stats = time_interleaved(candidates, budget_s=budget, min_rounds=3, warmup=1).stats()
    total = stats[phases[0][0]].median
    rows = [[c.name, format_time(stats[c.name].median), f"{stats[c.name].median / total:.2f}"] for c in candidates]
    copy = stats["reference: buffer copy (T_x m g n_a)"].median
    for label in timed_scans:
        for direction, extra in (("forward", copy), ("backward", 0.0)):
            scan_name = f"{direction}: scan ({label}, incl. a buffer copy)" if extra else f"{direction}: scan ({label})"
            products = stats[f"{direction}: the scan's step products alone"].median
            elementwise = stats[scan_name].median - extra - products
            name = f"{direction}: elementwise in the scan ({label})"
            share = f"{elementwise / products:.2f} of its products"
            rows.append([name, format_time(max(elementwise, 0.0)), "", share])
    return [row + [""] * (4 - len(row)) for row in rows]


def _step_products(
    cell: str, m: int, n_a: int, t_x: int, w_a: np.ndarray
) -> tuple[Callable[[], object], Callable[[], object]]:
    """The products the scans do per step, ``T_x`` times, with the operand layouts and the calls
    (:class:`~xrnn.backends._numpy_operands.StepProduct`) the fast paths use."""
    rng = np.random.default_rng(0)
    dtype = w_a.dtype
    rows = rng.standard_normal((m, n_a)).astype(dtype)
    blocks = [w_a] if cell == "lstm" else [w_a[: 2 * n_a], w_a[2 * n_a :]]
    forward_products = [StepProduct(np.ascontiguousarray(block.T), m) for block in blocks]
    backward_products = [StepProduct(np.ascontiguousarray(block), m) for block in blocks]
    outputs = [np.empty((m, block.shape[0]), dtype=dtype) for block in blocks]
    dz_blocks = [rng.standard_normal((m, block.shape[0])).astype(dtype) for block in blocks]
    carry = np.empty((m, n_a), dtype=dtype)

    def forward_steps() -> None:
        for _ in range(t_x):
            for product, out in zip(forward_products, outputs, strict=True):
                product(rows, out)

    def backward_steps() -> None:
        for _ in range(t_x):
            for dz, product in zip(dz_blocks, backward_products, strict=True):
                product(dz, carry)

    return forward_steps, backward_steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_gated", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated: lstm,gru")
    parser.add_argument("--sizes", default="small,medium", help="as in benchmarks.cpu")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--budget", type=float, default=10.0, help="timing seconds per table")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: BLAS's own)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    cells = [cell for cell in args.cells.split(",") if cell]
    if unknown := set(cells) - set(CELLS):
        parser.error(f"unknown cells {sorted(unknown)}; choose from {', '.join(CELLS)}")
    torch = None if args.no_torch else _torch()
    with _blas_threads(args.threads):
        threads = args.threads or blas_threads()
        if torch is not None:
            torch.set_num_threads(threads)
        log(f"BLAS threads: {threads}; PyTorch: {'not installed' if torch is None else torch.__version__}")
        for cell in cells:
            for size in _parse_sizes(args.sizes):
                for dtype in [d for d in args.dtypes.split(",") if d]:
                    gflop = xrnn_flops(size, GATES[cell]) / 1e9
                    log(f"\n=== {TITLES[cell]} {size.label} (n_x x n_a x m x T_x) {dtype}: {gflop:.2f} GFLOP per f+b")
                    rows = _phases(cell, size, dtype, torch, args.budget)
                    log(render_text(["phase", "median", "of xrnn's total", "elementwise"], rows))
    return 0


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


if __name__ == "__main__":
    raise SystemExit(main())
