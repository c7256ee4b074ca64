"""Stand-in cupy.ElementwiseKernel: the CUDA C body compiled for the CPU with the C++ compiler (see
_build.py) and run through ctypes, one loop iteration per CUDA thread. Semantics as CuPy's: non-raw arrays
are broadcast together (outputs must have the broadcast shape), each is a (const) reference to its element;
raw arrays are indexed by a flat C-order index over their own shape and strides; type placeholders bind to
the first array's dtype and every other array of that placeholder must match; scalars take their
parameter's type.

STANDIN_ORDER=forward|reverse|shuffle runs the "threads" in that order (a difference between orders is a
race between threads on the GPU)."""

from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as _np

from cupy import _build, _state
from cupy._core import ndarray

_CTYPE = {
    "float32": "float",
    "float64": "double",
    "bool": "bool",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long long",
    "uint8": "unsigned char",
    "uint32": "unsigned int",
    "uint64": "unsigned long long",
    "float16": None,
}
_PRELUDE = r"""
#include <cmath>
#include <cstddef>
#include <cstdint>
using namespace std;
#define __device__
#define __host__
#define __global__
#define __forceinline__ inline
template <typename V> struct CArray {
  char *p; int nd; const long long *shape; const long long *strides; long long sz;
  V &operator[](ptrdiff_t idx) const {
    ptrdiff_t off = 0;
    for (int d = nd - 1; d >= 0; --d) { ptrdiff_t k = idx % shape[d]; idx /= shape[d]; off += k * strides[d]; }
    return *(V *)(p + off);
  }
  ptrdiff_t size() const { return sz; }
};
"""


class _Param:
    def __init__(self, text: str) -> None:
        words = text.split()
        self.raw = words[0] == "raw"
        if self.raw:
            words = words[1:]
        if len(words) != 2:
            raise ValueError(f"bad param {text!r}")
        self.type, self.name = words
        self.fixed = self.type in _CTYPE


def _params(text: str) -> list[_Param]:
    return [_Param(p.strip()) for p in text.split(",") if p.strip()]


class ElementwiseKernel:
    def __init__(
        self,
        in_params: str,
        out_params: str,
        operation: str,
        name: str = "kernel",
        reduce_dims: bool = True,
        preamble: str = "",
        no_return: bool = False,
        return_tuple: bool = False,
        loop_prep: str = "",
        after_loop: str = "",
        options: Any = (),
    ) -> None:
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.operation, self.name, self.preamble = operation, name, preamble
        self.return_tuple, self.no_return = return_tuple, no_return
        if loop_prep or after_loop:
            raise NotImplementedError("stand-in ElementwiseKernel: loop_prep/after_loop")
        self._compiled: dict[tuple, Any] = {}

    def _source(self, types: dict[str, str], kinds: list[tuple[_Param, str]]) -> str:
        lines = [_PRELUDE]
        lines += [f"typedef {_CTYPE[t]} {name};" for name, t in types.items()]
        lines.append(self.preamble)
        lines.append(
            'extern "C" void standin_kernel(char **ptrs, const long long *const *shapes,'
            " const long long *const *strides, const int *nds, const long long *sizes, const long long *bshape,"
            " int bnd, long long n, const long long *order) {"
        )
        elems = []
        for k, (p, kind) in enumerate(kinds):
            ct = p.type if not p.fixed else _CTYPE[p.type]
            if kind == "raw":
                lines.append(
                    f"  CArray<{ct}> {p.name} = {{ptrs[{k}], nds[{k}], shapes[{k}], strides[{k}], sizes[{k}]}};"
                )
            elif kind == "scalar":
                lines.append(f"  const {ct} {p.name} = *(const {ct} *)ptrs[{k}];")
            else:
                elems.append((k, p, ct, kind))
        lines.append("  for (long long _k = 0; _k < n; ++_k) {")
        lines.append("    const ptrdiff_t i = order ? (ptrdiff_t)order[_k] : (ptrdiff_t)_k;")
        for k, _, _, _ in elems:
            lines.append(f"    ptrdiff_t _o{k} = 0;")
        lines.append(
            "    { ptrdiff_t _rem = i; for (int _d = bnd - 1; _d >= 0; --_d) {"
            " ptrdiff_t _c = _rem % bshape[_d]; _rem /= bshape[_d];"
        )
        for k, _, _, _ in elems:
            lines.append(f"      _o{k} += _c * strides[{k}][_d];")
        lines.append("    } }")
        for k, p, ct, kind in elems:
            const = "const " if kind == "in" else ""
            lines.append(f"    {const}{ct} &{p.name} = *({const}{ct} *)(ptrs[{k}] + _o{k});")
        lines.append("    {\n" + self.operation + ";\n    }")
        lines.append("  }\n}")
        return "\n".join(lines)

    def _library(self, types: dict[str, str], kinds: list[tuple[_Param, str]]) -> Any:
        key = (tuple(sorted(types.items())), tuple(kind for _, kind in kinds))
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        so = _build.shared_library(self._source(types, kinds), f"{self.name}.so")
        lib = ctypes.CDLL(so)
        fn = lib.standin_kernel
        fn.restype = None
        self._compiled[key] = fn
        return fn

    def __call__(self, *args: Any, size: int | None = None, block_size: Any = None, stream: Any = None) -> Any:
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(
                f"Wrong number of arguments for {self.name!r}: {len(args)} (expected {self.nin} or {self.nargs})"
            )
        for a in args:
            if isinstance(a, _np.ndarray):
                raise TypeError(f"Unsupported type {type(a)}")
        params = self.in_params + self.out_params[: len(args) - self.nin]
        types: dict[str, str] = {}
        for p, a in zip(params, args, strict=True):  # bind placeholders from the arrays, in argument order
            if not p.fixed and isinstance(a, ndarray) and p.type not in types:
                types[p.type] = a.dtype.name
        for p, a in zip(params, args, strict=True):
            if not p.fixed and p.type not in types:
                types[p.type] = _np.asarray(a).dtype.name
        for p, a in zip(params, args, strict=True):
            if isinstance(a, ndarray) and not p.fixed and a.dtype.name != types[p.type]:
                raise TypeError(
                    f"Type is mismatched. {p.name} {a.dtype} {types[p.type]} (stand-in ElementwiseKernel {self.name})"
                )
        arrays_nonraw = [a for p, a in zip(params, args, strict=True) if isinstance(a, ndarray) and not p.raw]
        if arrays_nonraw:
            bshape = _np.broadcast_shapes(*(a.shape for a in arrays_nonraw))
        elif size is not None:
            bshape = (size,)
        else:
            raise ValueError("Loop size is undecided")
        if size is not None and arrays_nonraw:
            raise ValueError("size is given but there are non-raw arrays")
        outs = list(args[self.nin :])
        if len(args) == self.nin:  # allocate the outputs
            if _state.capturing():
                raise RuntimeError("stand-in ElementwiseKernel: allocation during stream capture")
            for p in self.out_params:
                dt = p.type if p.fixed else types[p.type]
                outs.append(ndarray._wrap(_np.empty(bshape, dtype=dt)))
        all_args = list(args[: self.nin]) + outs
        kinds: list[tuple[_Param, str]] = []
        keep_alive: list[Any] = []
        ptrs, shapes, strides, nds, sizes = [], [], [], [], []
        for k, (p, a) in enumerate(zip(self.in_params + self.out_params, all_args, strict=True)):
            is_out = k >= self.nin
            if isinstance(a, ndarray):
                host = a._a
                want = p.type if p.fixed else types[p.type]
                if host.dtype.name != want:
                    if is_out:
                        raise TypeError(f"Type is mismatched. {p.name} {host.dtype} {want}")
                    if _state.capturing():
                        raise RuntimeError(
                            f"stand-in ElementwiseKernel {self.name}: casting {p.name} would allocate during capture"
                        )
                    _state.count(f"kernel-cast:{self.name}:{p.name}")
                    host = host.astype(want)
                if p.raw:
                    kinds.append((p, "raw"))
                    shp, std = host.shape, host.strides
                else:
                    if is_out and host.shape != bshape:
                        raise ValueError(f"Out shape is mismatched ({p.name} {host.shape} vs {bshape})")
                    kinds.append((p, "out" if is_out else "in"))
                    view = _np.broadcast_to(host, bshape) if host.shape != bshape else host
                    shp, std = bshape, view.strides
                keep_alive.append(host)
                ptrs.append(host.__array_interface__["data"][0])
            else:
                if p.raw or is_out:
                    raise TypeError(f"{p.name}: a raw or output parameter needs an array, got {type(a)}")
                want = p.type if p.fixed else types[p.type]
                scalar = _np.array(a, dtype=want)
                keep_alive.append(scalar)
                kinds.append((p, "scalar"))
                ptrs.append(scalar.ctypes.data)
                shp, std = (), ()
            sh = (ctypes.c_longlong * max(1, len(shp)))(*shp)
            st = (ctypes.c_longlong * max(1, len(std)))(*std)
            keep_alive += [sh, st]
            shapes.append(ctypes.cast(sh, ctypes.c_void_p))
            strides.append(ctypes.cast(st, ctypes.c_void_p))
            nds.append(len(shp))
            sizes.append(int(_np.prod(shp)) if shp else 1)
        fn = self._library(types, kinds)
        n = int(_np.prod(bshape)) if bshape else 1
        order_mode = os.environ.get("STANDIN_ORDER", "forward")
        order = None
        if order_mode == "reverse":
            order = _np.arange(n - 1, -1, -1, dtype=_np.int64)
        elif order_mode == "shuffle":
            order = _np.random.default_rng(n).permutation(n).astype(_np.int64)
        elif order_mode != "forward":
            raise ValueError(f"STANDIN_ORDER={order_mode!r}")
        bsh = (ctypes.c_longlong * max(1, len(bshape)))(*bshape)
        nargs = len(ptrs)
        c_ptrs = (ctypes.c_void_p * nargs)(*ptrs)
        c_shapes = (ctypes.c_void_p * nargs)(*shapes)
        c_strides = (ctypes.c_void_p * nargs)(*strides)
        c_nds = (ctypes.c_int * nargs)(*nds)
        c_sizes = (ctypes.c_longlong * nargs)(*sizes)
        order_ptr = None if order is None else order.ctypes.data_as(ctypes.c_void_p)
        keep_alive.append(order)

        def launch(keep_alive: list[Any] = keep_alive) -> None:
            fn(
                c_ptrs,
                c_shapes,
                c_strides,
                c_nds,
                c_sizes,
                bsh,
                ctypes.c_int(len(bshape)),
                ctypes.c_longlong(n),
                order_ptr,
            )

        if _state.capturing():
            _state.record(launch, f"kernel:{self.name}")
        else:
            _state.count(f"kernel:{self.name}")
            launch()
        if self.no_return:
            return None
        if len(outs) == 1 and not self.return_tuple:
            return outs[0]
        return tuple(outs)


class RawKernel:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("stand-in cupy: RawKernel is not emulated")
