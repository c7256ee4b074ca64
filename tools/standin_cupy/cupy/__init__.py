"""A stand-in ``cupy`` for CPU-only machines (xrnn's CuPy paths; NOT CuPy). Arrays are
:class:`cupy._core.ndarray` wrappers around NumPy arrays; functions are NumPy's on unwrapped arrays;
``ElementwiseKernel`` compiles its CUDA C body with the C++ compiler; ``cuda`` has streams, capture into replayable
graphs, and a fake cuBLAS (see ``cuda/device.py``)."""

from __future__ import annotations

import types as _types
from typing import Any

import numpy as _np

from cupy import _state, cuda
from cupy._core import call as _call
from cupy._core import ndarray
from cupy._core import unwrap as _unwrap
from cupy._kernel import ElementwiseKernel, RawKernel

__version__ = "13.99.0+standin"

_SKIP = {
    "ndarray",
    "matrix",
    "memmap",
    "recarray",
    "chararray",
    "asarray",
    "array",
    "asanyarray",
    "asnumpy",
    "get_array_module",
    "broadcast",
    "nditer",
    "ndindex",
    "ndenumerate",
    "vectorize",
    "frompyfunc",
    "testing",
    "random",
    "linalg",
    "fft",
    "cuda",
    "show_config",
    "info",
    "source",
    "lookfor",
}
_PASS = {
    "dtype",
    "finfo",
    "iinfo",
    "result_type",
    "can_cast",
    "promote_types",
    "issubdtype",
    "isscalar",
    "min_scalar_type",
    "isdtype",
    "ndim",
    "shape",
    "size",
    "format_float_positional",
    "set_printoptions",
    "get_printoptions",
    "printoptions",
    "errstate",
    "seterr",
    "geterr",
    "common_type",
    "mintypecode",
    "typename",
    "obj2sctype",
    "sctype2char",
    "broadcast_shapes",
    "byte_bounds",
}


def _make(name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _call(fn, name, args, kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f"stand-in cupy.{name}: numpy.{name} on the wrapped arrays"
    return wrapper


def _populate(namespace: dict[str, Any], source: Any, skip: set[str]) -> list[str]:
    names = []
    for name in dir(source):
        if name.startswith("_") or name in skip:
            continue
        obj = getattr(source, name)
        if isinstance(obj, _types.ModuleType):
            continue
        if name in _PASS or isinstance(obj, type) or not callable(obj):
            namespace[name] = obj
        else:
            namespace[name] = _make(name, obj)
        names.append(name)
    return names


__all__ = _populate(globals(), _np, _SKIP)


def array(
    obj: Any,
    dtype: Any = None,
    copy: bool = True,
    order: str = "K",
    subok: bool = False,
    ndmin: int = 0,
    blocking: bool = False,
) -> ndarray:
    if _state.capturing():
        raise RuntimeError("stand-in cupy: allocation during stream capture")
    if isinstance(obj, ndarray) and not copy and (dtype is None or _np.dtype(dtype) == obj.dtype):
        return obj
    host = _unwrap(obj, strict=False)
    _state.count("array")
    return ndarray._wrap(_np.array(host, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: bool = False) -> ndarray:
    if isinstance(a, ndarray) and (dtype is None or _np.dtype(dtype) == a.dtype):
        return a
    if isinstance(a, ndarray):
        return a.astype(dtype)
    return array(a, dtype=dtype, copy=True, order=order or "K")


asanyarray = asarray


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> _np.ndarray:
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


from cupy import fft, linalg, random, testing  # noqa: E402

__all__ += [
    "ElementwiseKernel",
    "RawKernel",
    "array",
    "asanyarray",
    "asarray",
    "asnumpy",
    "cuda",
    "fft",
    "get_array_module",
    "linalg",
    "ndarray",
    "random",
    "testing",
]
