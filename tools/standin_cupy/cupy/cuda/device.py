"""Stand-in cupy.cuda.device: the handle of the fake cuBLAS (``fake_cublas.c``, built on first import as
``libcublas.so.12`` and loaded with RTLD_GLOBAL, so that xrnn's dlopen by that soname finds this copy) and
the capture hook that hands GEMMs issued on a capturing stream to the graph."""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from cupy import _build, _state
from cupy.cuda import runtime

_device_stack: list[int] = []


class Device:
    def __init__(self, device: Any = None) -> None:
        if device is None:
            device = _device_stack[-1] if _device_stack else 0
        if isinstance(device, Device):
            device = device.id
        self.id = int(device)

    def __enter__(self) -> Device:
        if self.id >= runtime.getDeviceCount() or self.id < 0:
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        _device_stack.append(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        _device_stack.pop()

    def use(self) -> None:
        pass

    def synchronize(self) -> None:
        if _state.capturing():
            raise RuntimeError("stand-in: device synchronize during stream capture")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("Device", self.id))

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"

    def __int__(self) -> int:
        return self.id


_SOURCE = _build.HERE.parent / "fake_cublas.c"
_LIB = _build.shared_library(_SOURCE.read_text(), "libcublas.so.12", ("-Wl,-soname,libcublas.so.12", "-lpthread"))
_cublas = ctypes.CDLL(str(_LIB), mode=ctypes.RTLD_GLOBAL)
_cublas.standin_new_handle.restype = ctypes.c_void_p
_cublas.standin_handle_stream.restype = ctypes.c_void_p
_cublas.standin_handle_stream.argtypes = [ctypes.c_void_p]
_cublas.standin_set_capturing.argtypes = [ctypes.c_void_p, ctypes.c_int]
_cublas.standin_gemm_calls.restype = ctypes.c_long


class GemmRecord(ctypes.Structure):
    _fields_ = [
        ("dbl", ctypes.c_int),
        ("ta", ctypes.c_int),
        ("tb", ctypes.c_int),
        ("m", ctypes.c_int),
        ("n", ctypes.c_int),
        ("k", ctypes.c_int),
        ("alpha", ctypes.c_double),
        ("beta", ctypes.c_double),
        ("A", ctypes.c_void_p),
        ("lda", ctypes.c_int),
        ("B", ctypes.c_void_p),
        ("ldb", ctypes.c_int),
        ("C", ctypes.c_void_p),
        ("ldc", ctypes.c_int),
    ]


_HOOK_TYPE = ctypes.CFUNCTYPE(None, ctypes.POINTER(GemmRecord))


def _hook(record: ctypes._Pointer[GemmRecord]) -> None:
    copy = GemmRecord.from_buffer_copy(record.contents)
    stream = _cublas.standin_handle_stream(ctypes.c_void_p(_handles.handle))
    _state.record(lambda: _cublas.standin_gemm_exec(ctypes.byref(copy)), "cublasGemm", stream_ptr=stream or 0)


_hook_c = _HOOK_TYPE(_hook)
_cublas.standin_set_hook(_hook_c)

_handles = threading.local()


def get_cublas_handle() -> int:
    """One handle per thread, as CuPy keeps them."""
    if not hasattr(_handles, "handle"):
        _handles.handle = int(_cublas.standin_new_handle())
    return _handles.handle


def get_device_id() -> int:
    return 0
