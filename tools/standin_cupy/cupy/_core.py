"""Stand-in cupy.ndarray: a wrapper (not a subclass) around a NumPy array, so array-api-compat and xrnn
see a CuPy array, NumPy refuses implicit conversion (as with device memory), and NumPy arrays are refused
where CuPy refuses them. Work issued while a stream captures is recorded (see cuda/__init__.py)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as _np

from cupy import _state


class _MemoryPointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


def _is_host(x: Any) -> bool:
    return isinstance(x, _np.ndarray)


def unwrap(x: Any, strict: bool = True) -> Any:
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np.ndarray):
        if strict:
            raise TypeError(f"Unsupported type {type(x)} (stand-in cupy: a NumPy array where a CuPy array is needed)")
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(v, strict) for v in x)
    if isinstance(x, dict):
        return {k: unwrap(v, strict) for k, v in x.items()}
    return x


def wrap(x: Any) -> Any:
    if isinstance(x, _np.ndarray):
        return ndarray._wrap(x)
    if isinstance(x, _np.generic) and not isinstance(x, (_np.str_, _np.bytes_, _np.void)):
        return ndarray._wrap(_np.asarray(x))
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    if isinstance(x, tuple):  # namedtuple
        return type(x)(*(wrap(v) for v in x))
    return x


def _restore_outs(result: Any, outs: Any, out_wrappers: Any) -> Any:
    """A ufunc given ``out=`` returns the out wrapper itself, as CuPy does."""
    if out_wrappers is None:
        return wrap(result)
    pairs = [(u, w) for u, w in zip(outs, out_wrappers, strict=True) if w is not None]

    def one(r: Any) -> Any:
        for u, w in pairs:
            if r is u:
                return w
        return wrap(r)

    if isinstance(result, tuple):
        return tuple(one(r) for r in result)
    return one(result)


def call(fn: Any, name: str, args: tuple, kwargs: dict, *, strict: bool = True) -> Any:
    """Run NumPy's ``fn`` on unwrapped arguments; record it instead while a stream captures (only calls
    that write into existing arrays can be captured: anything else would allocate or synchronize)."""
    out_wrappers = None
    outs = None
    if "out" in kwargs and kwargs["out"] is not None:
        out = kwargs["out"]
        out_wrappers = out if isinstance(out, tuple) else (out,)
        for w in out_wrappers:
            if w is not None and not isinstance(w, ndarray):
                raise TypeError(f"out must be a cupy.ndarray, got {type(w)}")
    u_args = unwrap(args, strict)
    u_kwargs = unwrap(kwargs, strict)
    if out_wrappers is not None:
        outs = u_kwargs["out"] if isinstance(u_kwargs["out"], tuple) else (u_kwargs["out"],)
    if _state.capturing():
        if name in ("matmul", "dot", "tensordot", "einsum", "inner", "vdot"):
            raise RuntimeError(
                "cuBLAS Error: calling cuBLAS API during stream capture is currently unsupported (stand-in)"
            )
        if out_wrappers is None:
            raise RuntimeError(f"stand-in cupy: {name} would allocate memory during stream capture")
        _state.record(lambda: fn(*u_args, **u_kwargs), name)
        return out_wrappers[0] if len(out_wrappers) == 1 else tuple(out_wrappers)
    _state.count(name)
    result = fn(*u_args, **u_kwargs)
    return _restore_outs(result, outs, out_wrappers)


_NO_CAPTURE_READS = "stand-in cupy: reading device memory on the host during stream capture"


class ndarray:  # noqa: N801 (CuPy's name)
    """Stand-in for ``cupy.ndarray``."""

    __slots__ = ("__weakref__", "_a")
    __array_priority__ = 100

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None, order: str = "C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("stand-in cupy.ndarray(memptr=, strides=)")
        if _state.capturing():
            raise RuntimeError("stand-in cupy: allocation during stream capture")
        self._a = _np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _wrap(cls, a: _np.ndarray) -> ndarray:
        obj = object.__new__(cls)
        obj._a = a
        return obj

    # -- attributes -------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._wrap(self._a.T))
    mT = property(lambda self: ndarray._wrap(_np.swapaxes(self._a, -1, -2)))  # noqa: N815
    base = property(lambda self: None if self._a.base is None else ndarray._wrap(self._a.base))
    real = property(lambda self: ndarray._wrap(self._a.real))
    imag = property(lambda self: ndarray._wrap(self._a.imag))

    @property
    def data(self) -> _MemoryPointer:
        return _MemoryPointer(int(self._a.__array_interface__["data"][0]))

    @property
    def device(self) -> Any:
        from cupy import cuda

        return cuda.Device(0)

    def get(self, stream: Any = None, order: str = "C", out: Any = None, blocking: bool = True) -> _np.ndarray:
        if _state.capturing():
            raise RuntimeError(_NO_CAPTURE_READS)
        if out is not None:
            out[...] = self._a
            return out
        return _np.array(self._a, order=order, copy=True)

    def set(self, arr: Any, stream: Any = None) -> None:
        self._a[...] = arr

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return wrap(attr)
        return _Method(self, name, attr)

    def fill(self, value: Any) -> None:
        if _state.capturing():
            a = self._a
            _state.record(lambda: a.fill(value), "fill")
            return
        _state.count("fill")
        self._a.fill(value)

    def copy(self, order: str = "C") -> ndarray:
        return call(_np.array, "copy", (self,), {"order": order, "copy": True})

    def astype(
        self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None, copy: bool = True
    ) -> ndarray:
        if not copy and _np.dtype(dtype) == self.dtype:
            return self
        return call(lambda a: a.astype(dtype, order=order, copy=True), "astype", (self,), {})

    # -- conversion --------------------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def _host_scalar(self, why: str = "") -> Any:
        if _state.capturing():
            raise RuntimeError(_NO_CAPTURE_READS)
        if why:
            _state.count(f"host:{why}")
        return self._a

    def __float__(self) -> float:
        return float(self._host_scalar("float"))

    def __int__(self) -> int:
        return int(self._host_scalar("int"))

    def __complex__(self) -> complex:
        return complex(self._host_scalar())

    def __bool__(self) -> bool:
        return bool(self._host_scalar("bool"))

    def __index__(self) -> int:
        return operator.index(self._host_scalar("index"))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __repr__(self) -> str:
        return repr(self._host_scalar()).replace("array(", "array(", 1)

    def __str__(self) -> str:
        return str(self._host_scalar())

    def __format__(self, spec: str) -> str:
        return format(self._host_scalar(), spec)

    def __reduce__(self) -> Any:
        return (_rebuild, (self._host_scalar().copy(),))

    def __copy__(self) -> ndarray:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> ndarray:
        return self.copy()

    __hash__ = None  # type: ignore[assignment]

    # -- indexing ----------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> ndarray:
        u_key = unwrap(key, strict=False)
        result = self._a[u_key]
        if isinstance(result, _np.ndarray) and not _np.shares_memory(result, self._a) and result.size:
            if _state.capturing():
                raise RuntimeError("stand-in cupy: advanced indexing would allocate during stream capture")
            _state.count("getitem-copy")
        return wrap(result)

    def __setitem__(self, key: Any, value: Any) -> None:
        u_key = unwrap(key, strict=False)
        if _state.capturing():
            if _is_host(value):
                raise RuntimeError("stand-in cupy: host-to-device copy during stream capture")
            u_value = unwrap(value)
            a = self._a
            _state.record(lambda: a.__setitem__(u_key, u_value), "setitem")
            return
        _state.count("setitem")
        self._a[u_key] = unwrap(value, strict=False)

    # -- NumPy protocols ---------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        target = ufunc if method == "__call__" else getattr(ufunc, method)
        return call(target, ufunc.__name__, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        import cupy

        ours = getattr(cupy, func.__name__, None)
        if ours is None:
            return NotImplemented
        return ours(*args, **kwargs)


def _rebuild(host: _np.ndarray) -> ndarray:
    return ndarray._wrap(host)


class _Method:
    __slots__ = ("attr", "name", "owner")

    def __init__(self, owner: ndarray, name: str, attr: Any) -> None:
        self.owner, self.name, self.attr = owner, name, attr

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.name in ("item", "tolist", "tobytes"):
            self.owner._host_scalar(self.name)
            return self.attr(*args, **kwargs)
        if self.name in ("reshape", "view", "transpose", "swapaxes", "squeeze", "ravel", "flatten", "diagonal"):
            result = self.attr(*unwrap(args), **unwrap(kwargs))
            if isinstance(result, _np.ndarray) and not _np.shares_memory(result, self.owner._a) and result.size:
                if _state.capturing():
                    raise RuntimeError(f"stand-in cupy: {self.name} would copy during stream capture")
                _state.count(self.name)
            return wrap(result)
        return call(lambda *a, **k: getattr(self.owner._a, self.name)(*a, **k), self.name, args, kwargs)


# Python's operator names -> NumPy's ufuncs.
_UFUNCS = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "truediv": "true_divide",
    "floordiv": "floor_divide",
    "mod": "remainder",
    "pow": "power",
    "matmul": "matmul",
    "and": "bitwise_and",
    "or": "bitwise_or",
    "xor": "bitwise_xor",
    "lshift": "left_shift",
    "rshift": "right_shift",
    "divmod": "divmod",
}
_COMPARISONS = {
    "lt": "less",
    "le": "less_equal",
    "eq": "equal",
    "ne": "not_equal",
    "gt": "greater",
    "ge": "greater_equal",
}


def _binary(name: str, reflected: bool = False) -> Any:
    ufunc_name = {**_UFUNCS, **_COMPARISONS}[name]
    fn = getattr(_np, ufunc_name)

    def method(self: ndarray, other: Any) -> Any:
        if name in ("eq", "ne") and not isinstance(
            other, (ndarray, _np.ndarray, int, float, complex, bool, _np.generic)
        ):
            return NotImplemented
        args = (other, self) if reflected else (self, other)
        return call(fn, ufunc_name, args, {})

    return method


def _inplace(name: str) -> Any:
    ufunc_name = _UFUNCS[name]
    fn = getattr(_np, ufunc_name)

    def method(self: ndarray, other: Any) -> ndarray:
        call(fn, ufunc_name, (self, other), {"out": self})
        return self

    return method


for _name in _UFUNCS:
    setattr(ndarray, f"__{_name}__", _binary(_name))
    setattr(ndarray, f"__r{_name}__", _binary(_name, reflected=True))
    if _name != "divmod":
        setattr(ndarray, f"__i{_name}__", _inplace(_name))
for _name in _COMPARISONS:
    setattr(ndarray, f"__{_name}__", _binary(_name))
for _name, _fn in (("neg", "negative"), ("pos", "positive"), ("abs", "absolute"), ("invert", "invert")):
    setattr(ndarray, f"__{_name}__", (lambda f, n: lambda self: call(f, n, (self,), {}))(getattr(_np, _fn), _fn))
