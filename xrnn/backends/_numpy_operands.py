"""What the NumPy fast paths of the RNN and the gated cells share: how they hand the recurrent weights
to BLAS, how they run a step's product, how they read a mask, and where their backward loops start."""

from __future__ import annotations

from typing import Any

import numpy as np

# The forward scans copy W^T into C order only for at least this many rows per step and steps.
_COPY_MIN_ROWS = 16
_COPY_MIN_STEPS = 4


def step_weight(w: np.ndarray, m: int, t_x: int) -> np.ndarray:
    """``w.T`` for the forward step product ``rows @ w.T``: a C-contiguous copy, or the transposed view.

    With enough rows and steps, the copy (made once per call) lets OpenBLAS run the step product as an
    untransposed row-major GEMM. Against the transposed view the RNN's forward scan took 0.67x the time
    at n_a = 128, 0.84x at 512 and 0.91x at 1024 (m = 32-64) in float32, 0.90x at 128 and 1.00-1.04x at
    512-1024 in float64 (2 cores, OpenBLAS 0.3.31). With a few rows (m = 2-4) the copy and the
    untransposed product were slower (1.3-1.9x), hence the thresholds. ``benchmarks/profile_cpu.py``
    times the step product alone.
    """
    return transposed(w) if m >= _COPY_MIN_ROWS and t_x >= _COPY_MIN_STEPS else w.T


# OpenBLAS's SkylakeX kernels (NumPy's wheels on AVX-512 CPUs) run a product of M N K up to about 10^6 with
# its small-matrix kernels, without packing the operands: in float32 91-105 GFLOP/s here against 64-85 just
# above (32 x 128 @ 128 x 512: 54.7 us whole, 42.2 us as four blocks of 8 rows). Blocks of other row counts
# than multiples of 8 can be slower than the whole (float64, 11 rows: 1.35x). docs/cpu/fused-kernels-profile.txt.
_SMALL_PRODUCT = 900_000
_BLOCK_ROWS = 8


class StepProduct:
    """``rows @ weight`` into ``out``, ``rows`` (m, k) and ``weight`` (k, n): one step's product of a scan.

    Where the whole product is a few times OpenBLAS's small-matrix size, it runs as products of equal row
    blocks, multiples of 8 rows, that take the small-matrix kernels; smaller and larger ones run whole.
    """

    __slots__ = ("blocks", "weight")

    def __init__(self, weight: np.ndarray, m: int) -> None:
        self.weight = weight
        inner, cols = weight.shape
        fits = _SMALL_PRODUCT // max(inner * cols, 1) // _BLOCK_ROWS * _BLOCK_ROWS  # rows a block may have
        self.blocks: list[slice] = []
        if _BLOCK_ROWS <= fits < m:
            count = -(-m // fits)
            size = -(-m // (count * _BLOCK_ROWS)) * _BLOCK_ROWS
            self.blocks = [slice(start, start + size) for start in range(0, m, size)]

    def __call__(self, rows: np.ndarray, out: np.ndarray) -> None:
        if not self.blocks:
            np.dot(rows, self.weight, out=out)
            return
        for block in self.blocks:
            np.dot(rows[block], self.weight, out=out[block])


def transposed(matrix: np.ndarray, block: int = 64) -> np.ndarray:
    """``matrix.T`` as a new C-contiguous array, copied a block of rows at a time.

    One copy of the transposed view reads a whole column for each row it writes, which is about 3x
    slower at 1024 x 1024; a block of 64 rows stays in cache while its columns are written out.
    """
    rows, cols = matrix.shape
    if rows <= block:
        return np.ascontiguousarray(matrix.T)
    result = np.empty((cols, rows), dtype=matrix.dtype)
    for start in range(0, rows, block):
        result[:, start : start + block] = matrix[start : start + block].T
    return result


def dropped_rows(keep: np.ndarray | None) -> np.ndarray | None:
    """The padded rows, ``~keep`` (T_x, m, 1), for ``np.copyto(..., where=)``; ``None`` without a mask."""
    return None if keep is None else np.logical_not(keep)


def zero_dropped(dz: np.ndarray, drop: np.ndarray | None) -> None:
    """``dz (T_x, m, n) <- 0`` on the padded rows, once the backward loop is done: selected, not multiplied
    by a zero factor, which gives NaN where an inf or NaN gradient passes through a padded step."""
    if drop is not None:
        np.copyto(dz, 0, where=drop)


def incoming_gradient(dstates_t: np.ndarray, carried: np.ndarray, drop_t: np.ndarray | None, out: np.ndarray) -> None:
    """``out <- dstates_t + carried``, the gradient reaching a step's state, but only ``carried`` on the
    padded rows ``drop_t`` (a masked step ignores its ``dstates``)."""
    np.add(dstates_t, carried, out=out)
    if drop_t is not None:
        np.copyto(out, carried, where=drop_t)


def start_gradients(
    after: tuple[np.ndarray, ...] | None, shape: tuple[int, ...], dtype: Any, count: int
) -> list[np.ndarray]:
    """The ``count`` buffers ``shape`` a backward loop starts from: zeros, or writable C-contiguous copies
    of the gradients ``after`` the sequence (the caller's arrays are only read)."""
    if after is None:
        return [np.zeros(shape, dtype=dtype) for _ in range(count)]
    return [np.array(gradient, dtype=dtype, order="C") for gradient in after]
