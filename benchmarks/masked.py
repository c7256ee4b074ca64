"""What a mask costs on the CPU: ``python -m benchmarks.masked``.

Variable-length batches are the spec's first motivation, and a mask is how xrnn takes them. For each
cell, size and dtype this times forward+backward (the public functions) without a mask, with a mask
that pads every example to ``T_x`` from a length drawn in ``[T_x / 2, T_x]``, and with the same mask and
the NumPy fast paths off (the generic twins), interleaved; it prints medians and the ratios to the
unmasked time.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

import xrnn
from benchmarks.cpu import _blas_threads, _parse_sizes
from benchmarks.harness import Candidate, blas_threads, format_time, log, render_text, time_interleaved
from benchmarks.workload import Size, make_gated_problem, make_problem
from xrnn.backends import fast_paths

CELLS = ("rnn", "lstm", "gru")


def padding_mask(m: int, t_x: int, seed: int = 0) -> np.ndarray:
    """``(m, T_x)`` booleans: example ``i`` is real for its first ``length_i`` steps, a length drawn in
    ``[T_x / 2, T_x]``."""
    lengths = np.random.default_rng(seed).integers(max(1, t_x // 2), t_x + 1, size=(m, 1))
    return np.arange(t_x) < lengths


def _forward_backward(cell: str, problem: dict[str, Any], mask: np.ndarray | None) -> object:
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]
    kwargs: dict[str, Any] = {"mask": mask}
    if cell == "lstm":
        kwargs["c0"] = problem["c0"]
    outputs = getattr(xrnn, f"{cell}_forward")(x, a0, p, **kwargs)
    return getattr(xrnn, f"{cell}_backward")(da, outputs[-1])


def _generic(cell: str, problem: dict[str, Any], mask: np.ndarray) -> object:
    with fast_paths(False):
        return _forward_backward(cell, problem, mask)


def measure(cell: str, size: Size, dtype: str, budget: float) -> list[str]:
    """One table row: the three medians and the two ratios to the unmasked time."""
    problem = make_problem(size, dtype) if cell == "rnn" else make_gated_problem(size, cell, dtype)
    mask = padding_mask(size.m, size.t_x)
    candidates = [
        Candidate("no mask", lambda: _forward_backward(cell, problem, None)),
        Candidate("mask", lambda: _forward_backward(cell, problem, mask)),
        Candidate("mask, generic", lambda: _generic(cell, problem, mask)),
    ]
    timing = time_interleaved(candidates, budget_s=budget, min_rounds=3, warmup=1)
    stats = timing.stats()
    base = stats["no mask"].median
    row = [cell.upper(), size.label, dtype, *(format_time(stats[c.name].median) for c in candidates)]
    return [*row, f"{stats['mask'].median / base:.2f}x", f"{stats['mask, generic'].median / base:.2f}x"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.masked", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated: rnn,lstm,gru")
    parser.add_argument("--sizes", default="small,medium", help="as in benchmarks.cpu")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--budget", type=float, default=4.0, help="timing seconds per row")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: BLAS's own)")
    args = parser.parse_args(argv)
    cells = [cell for cell in args.cells.split(",") if cell]
    if unknown := set(cells) - set(CELLS):
        parser.error(f"unknown cells {sorted(unknown)}; choose from {', '.join(CELLS)}")
    with _blas_threads(args.threads):
        log(f"BLAS threads: {args.threads or blas_threads()}; lengths uniform in [T_x/2, T_x]")
        rows = [
            measure(cell, size, dtype, args.budget)
            for cell in cells
            for size in _parse_sizes(args.sizes)
            for dtype in (d for d in args.dtypes.split(",") if d)
        ]
    headers = ["cell", "size", "dtype", "no mask", "mask", "mask, generic", "mask/none", "generic/none"]
    log(render_text(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
