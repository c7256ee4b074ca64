"""The compiled gated steps against the NumPy passes, the twins and PyTorch: ``python -m benchmarks.fused``.

For each cell (LSTM, GRU), size ``n_x x n_a x m x T_x`` and dtype, one table of forward+backward times
through the cell interface (``get_cell(cell).forward(x, state, p)`` then ``.backward(da, cache)``: no
output layer, as ``nn.LSTM``/``nn.GRU`` have none), timed in interleaved rounds (medians):

* ``fused``: the NumPy backend's scans as they run here, the compiled kernels when Numba imports;
* ``numpy``: the NumPy passes (``_numpy_gated``), registered over the kernels for the call;
* ``twin``: the generic Array API scans (``fast_paths(False)``), left out above ``--twin-max`` steps x rows;
* ``torch``: ``nn.LSTM``/``nn.GRU`` with the same thread count (``benchmarks/torch_rnn.py``);

each with its ratio to torch's median and to the fused one's. ``--rounds-of N`` repeats the whole grid N
times in one run, since PyTorch's time moves by up to 2x between runs on shared machines.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import xrnn
from benchmarks.cpu import _blas_threads, _import_torch, _parse_sizes
from benchmarks.gated import CELLS, TITLES, torch_model
from benchmarks.harness import Candidate, blas_threads, format_time, log, render_text, time_interleaved
from benchmarks.workload import Size, make_gated_problem
from xrnn.backends import _numpy_gated, fast_paths, register_fast_path
from xrnn.backends.numpy import gated_scans


@contextlib.contextmanager
def numpy_passes(cell: str) -> Iterator[None]:
    """Run ``cell``'s NumPy passes instead of the compiled kernels inside the block."""
    names = [f"{cell}_{direction}_scan" for direction in ("forward", "backward")]
    for name in names:
        register_fast_path("numpy", name, getattr(_numpy_gated, name))
    try:
        yield
    finally:
        for name in names:
            register_fast_path("numpy", name, None)


def cell_forward_backward(cell: str, problem: dict[str, Any]) -> dict[str, Any]:
    """Forward then backward of ``cell`` through the cell interface (no output layer)."""
    spec = xrnn.cells.get_cell(cell)
    state = (problem["a0"], problem["c0"]) if cell == "lstm" else (problem["a0"],)
    a, cache = spec.forward(problem["x"], state, problem["parameters"])
    return {"a": a, **spec.backward(problem["da"], cache)}


def candidates(cell: str, problem: dict[str, Any], dtype: str, torch: Any, twin: bool) -> list[Candidate]:
    def numpy_run() -> object:
        with numpy_passes(cell):
            return cell_forward_backward(cell, problem)

    def twin_run() -> object:
        with fast_paths(False):
            return cell_forward_backward(cell, problem)

    chosen = [Candidate("fused", lambda: cell_forward_backward(cell, problem)), Candidate("numpy", numpy_run)]
    if twin:
        chosen.append(Candidate("twin", twin_run))
    if torch is not None:
        chosen.append(Candidate("torch", torch_model(torch, cell, problem, dtype).forward_backward, group="torch"))
    return chosen


def measure(cell: str, size: Size, dtype: str, torch: Any, args: argparse.Namespace) -> list[str]:
    """One row: the medians, and the ratios to torch and to fused."""
    problem = make_gated_problem(size, cell, dtype)
    twin = size.t_x * size.m <= args.twin_max
    timing = time_interleaved(
        candidates(cell, problem, dtype, torch, twin),
        budget_s=args.budget,
        min_rounds=3,
        warmup=1,
        switch_gap_s=args.switch_gap,
        visit_s=4 * args.switch_gap,
    )
    stats = timing.stats()
    medians = {name: stats[name].median if name in stats else None for name in ("fused", "numpy", "twin", "torch")}
    row = [TITLES[cell], size.label, dtype, str(timing.rounds)]
    row += [format_time(value) if value else "-" for value in medians.values()]
    for base, names in (("torch", ("fused", "numpy", "twin")), ("fused", ("numpy", "twin"))):
        for name in names:
            value, reference = medians[name], medians[base]
            row.append(f"{value / reference:.2f}" if value and reference else "-")
    return row


HEADER = ["cell", "size", "dtype", "rounds", "fused", "numpy", "twin", "torch"]
HEADER += ["fused/torch", "numpy/torch", "twin/torch", "numpy/fused", "twin/fused"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fused", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated: lstm,gru")
    parser.add_argument("--sizes", default="small,medium", help="as in benchmarks.cpu (n_x x n_a x m x T_x)")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--budget", type=float, default=8.0, help="timing seconds per row")
    parser.add_argument("--rounds-of", type=int, default=1, help="repeat the whole grid this many times")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: BLAS's own)")
    parser.add_argument("--twin-max", type=int, default=3200, help="time the twins up to this T_x * m")
    parser.add_argument("--switch-gap", type=float, default=0.25, help="seconds of sleep between NumPy and torch")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    cells = [cell for cell in args.cells.split(",") if cell]
    if unknown := set(cells) - set(CELLS):
        parser.error(f"unknown cells {sorted(unknown)}; choose from {', '.join(CELLS)}")
    with _blas_threads(args.threads):
        threads = args.threads or blas_threads()
        torch, note = (None, "left out (--no-torch)") if args.no_torch else _import_torch(threads)
        log(f"BLAS threads: {threads}; PyTorch: {note or torch.__version__}; gated scans: {gated_scans().__name__}")
        for repeat in range(args.rounds_of):
            rows = [
                measure(cell, size, dtype, torch, args)
                for cell in cells
                for size in _parse_sizes(args.sizes)
                for dtype in [d for d in args.dtypes.split(",") if d]
            ]
            log(f"\nrun {repeat + 1} of {args.rounds_of}: forward+backward through the cell interface, medians")
            log(render_text(HEADER, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
