"""cuBLAS GEMMs that a CUDA graph capture can record, called through ctypes.

CuPy's cuBLAS bindings bind the handle to the current stream before every call, and refuse to while
that stream captures ("calling cuBLAS API during stream capture is currently unsupported"), even
though cuBLAS itself supports capture. This module binds CuPy's handle to the capture stream once,
before the capture starts, and then calls ``cublas{S,D}gemm_v2`` from the already loaded library.
"""

from __future__ import annotations

import ctypes
from typing import Any

import cupy as cp
import numpy as np

_OP_N, _OP_T = 0, 1
_POINTER_MODE_HOST = 0
# handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc
_POINTER_AND_LEADING: list[Any] = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
# handle, transa, transb, m, n, k, (alpha, A, lda), (B, ldb), (beta, C, ldc)
_GEMM_ARGUMENTS: list[Any] = [
    ctypes.c_void_p, *[ctypes.c_int] * 5, *_POINTER_AND_LEADING, ctypes.c_void_p, ctypes.c_int, *_POINTER_AND_LEADING
]  # fmt: skip


def _library() -> ctypes.CDLL:
    """The libcublas CuPy loaded (dlopen by its soname finds the loaded copy)."""
    major = cp.cuda.runtime.runtimeGetVersion() // 1000
    return ctypes.CDLL(f"libcublas.so.{major}")


def _check(status: int, call: str) -> None:
    if status != 0:
        raise RuntimeError(f"{call} returned cuBLAS status {status}")


def _leading(matrix: cp.ndarray) -> int:
    """The leading dimension of a row-major ``(rows, cols)`` operand: its row stride in elements.

    Raises ``ValueError`` where the elements of a row are not adjacent (cuBLAS cannot read it as is).
    """
    itemsize = matrix.itemsize
    if matrix.ndim != 2 or (matrix.shape[1] > 1 and matrix.strides[1] != itemsize):
        raise ValueError(f"a captured product needs rows of adjacent elements, got strides {matrix.strides}")
    leading: int = max(int(matrix.strides[0]) // itemsize, int(matrix.shape[1]), 1)
    return leading


class CapturableProducts:
    """``out = a @ w.T`` and ``out = a @ w`` for row-major operands whose rows are contiguous (whole
    arrays, row blocks and column blocks of them: the gates' blocks of a step).

    A row-major product is the column-major GEMM of the transposes, ``out.T = op(w.T) @ a.T``, so no
    operand is copied; each operand's row stride is its leading dimension. Create it before
    ``stream.begin_capture()``: it binds the handle to ``stream``.
    """

    def __init__(self, dtype: Any, stream: cp.cuda.Stream) -> None:
        library = _library()
        self._gemm = library.cublasSgemm_v2 if dtype == np.float32 else library.cublasDgemm_v2
        self._gemm.argtypes = _GEMM_ARGUMENTS
        self._gemm.restype = ctypes.c_int
        self.handle = ctypes.c_void_p(cp.cuda.device.get_cublas_handle())
        self.one, self.zero = np.ones(1, dtype=dtype), np.zeros(1, dtype=dtype)  # captured by value
        _check(library.cublasSetStream_v2(self.handle, ctypes.c_void_p(stream.ptr)), "cublasSetStream_v2")
        _check(library.cublasSetPointerMode_v2(self.handle, _POINTER_MODE_HOST), "cublasSetPointerMode_v2")

    def _product(self, w_op: int, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        # column-major: out.T (columns x rows) = op(w.T) (columns x inner) @ a.T (inner x rows)
        rows, inner = int(a.shape[0]), int(a.shape[1])
        columns = int(out.shape[1])
        expected = (columns, inner) if w_op == _OP_T else (inner, columns)
        if tuple(w.shape) != expected or int(out.shape[0]) != rows:
            raise ValueError(f"product shapes do not match: a {a.shape}, w {w.shape}, out {out.shape}")
        status = self._gemm(
            self.handle, w_op, _OP_N, columns, rows, inner,
            self.one.ctypes.data, w.data.ptr, _leading(w), a.data.ptr, _leading(a),
            self.zero.ctypes.data, out.data.ptr, _leading(out),
        )  # fmt: skip
        _check(status, "cublasGemm")

    def times_transpose(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w.T``: ``a (rows, k)``, ``w (n, k)``, ``out (rows, n)``."""
        self._product(_OP_T, a, w, out)

    def times(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w``: ``a (rows, k)``, ``w (k, n)``, ``out (rows, n)``."""
        self._product(_OP_N, a, w, out)
