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


class CapturableProducts:
    """``out = a @ w.T`` and ``out = a @ w`` for C-contiguous ``(rows, n_a)`` blocks and a square weight.

    A row-major product is the column-major GEMM of the transposes, ``out.T = op(w.T) @ a.T``, so no
    operand is copied. Create it before ``stream.begin_capture()``: it binds the handle to ``stream``.
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
        n_a, rows = int(w.shape[0]), int(a.shape[0])
        status = self._gemm(
            self.handle, w_op, _OP_N, n_a, rows, n_a,
            self.one.ctypes.data, w.data.ptr, n_a, a.data.ptr, n_a,
            self.zero.ctypes.data, out.data.ptr, n_a,
        )  # fmt: skip
        _check(status, "cublasGemm")

    def times_transpose(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w.T``."""
        self._product(_OP_T, a, w, out)

    def times(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w``."""
        self._product(_OP_N, a, w, out)
