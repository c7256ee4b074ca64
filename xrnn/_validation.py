"""Argument checks that run before any work starts.

Messages name the argument and give the expected and the actual shape, dtype, library or device.
Shapes use the spec's symbols: ``n_x, n_a, n_y, m, T_x``.
"""

from __future__ import annotations

import math
import numbers
import operator
import reprlib
from collections.abc import Mapping, Sequence
from types import ModuleType

import array_api_compat

from xrnn._typing import Array
from xrnn.backends import namespace_backend


def check_parameters(parameters: object, keys: Sequence[str]) -> Mapping[str, Array]:
    """``parameters`` must be a mapping holding every key in ``keys``."""
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping with keys {list(keys)}, got {type(parameters).__name__}")
    missing = [key for key in keys if key not in parameters]
    if missing:
        raise ValueError(f"parameters is missing {missing}; expected keys {list(keys)}")
    return parameters


def library_name(x: object) -> str:
    """``"numpy"``, ``"cupy"``, ... from the array's type, without importing anything."""
    return type(x).__module__.split(".")[0]


def a_library_array(x: object) -> str:
    """``"a numpy array"``, ``"an array_api_strict array"``: ``x``'s library for an error message."""
    name = library_name(x)
    return f"{'an' if name[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {name} array"


# What the checks below learn once per array type and dtype: every public call asks again, and
# array_namespace and isdtype cost more than the rest of a toy-sized call's checks together.
_known_namespaces: dict[type, ModuleType] = {}
_dtype_kinds: dict[tuple[ModuleType, object, object], bool] = {}


def namespace_of(x: Array, name: str = "an array") -> ModuleType:
    """``array_api_compat.array_namespace(x)``, remembered per array type; a type its backend refuses (a
    NumPy masked array) raises ``TypeError`` naming ``name``."""
    kind = type(x)
    if kind not in _known_namespaces:
        xp = array_api_compat.array_namespace(x)
        backend = namespace_backend(xp)
        refused = None if backend is None else backend.refused_type(kind)
        if refused is not None:
            raise TypeError(f"{name} is {refused}")
        _known_namespaces[kind] = xp
    return _known_namespaces[kind]


def is_kind(xp: ModuleType, dtype: object, kind: str | tuple[object, ...]) -> bool:
    """``xp.isdtype(dtype, kind)``, remembered per namespace, dtype and kind (NumPy's isdtype is Python code)."""
    key = (xp, dtype, kind)
    known = _dtype_kinds.get(key)
    if known is None:
        known = _dtype_kinds[key] = bool(xp.isdtype(dtype, kind))
    return known


def common_namespace(arrays: Mapping[str, Array]) -> ModuleType:
    """Check that ``arrays`` share one library, one real floating dtype and one device.

    Returns the Array API namespace of that library. ``arrays`` maps argument names to arrays.
    """
    values = list(arrays.values())
    first = values[0]
    kind = type(first)
    # Fast path: one array type (so one library), one dtype, one device; else the detailed checks below.
    # Loops, not all() over generators: every public call runs this, and toy-sized calls feel the difference.
    xp = _known_namespaces.get(kind)
    if xp is not None:
        dtype = first.dtype
        for value in values:
            if type(value) is not kind or value.dtype != dtype:
                break
        else:
            if is_kind(xp, dtype, "real floating") and _same_device(xp, first, values):
                return xp
    names = list(arrays)
    for name in names:
        if not array_api_compat.is_array_api_obj(arrays[name]):
            raise TypeError(f"{name} must be an array, got {type(arrays[name]).__name__}")
    first_name = names[0]
    first = arrays[first_name]
    xp = namespace_of(first, first_name)
    first_device = array_api_compat.device(first)
    for name in names:
        array = arrays[name]
        if name != first_name and namespace_of(array, name) is not xp:
            raise TypeError(
                f"{name} is {a_library_array(array)} but {first_name} is {a_library_array(first)}; "
                "all arrays must come from one library (convert with xrnn.backends.asarray)"
            )
        if not xp.isdtype(array.dtype, "real floating"):
            raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {array.dtype}")
        if array.dtype != first.dtype:
            raise TypeError(
                f"{name} has dtype {array.dtype} but {first_name} has dtype {first.dtype}; "
                "all arrays must share one floating dtype"
            )
        if array_api_compat.device(array) != first_device:
            raise ValueError(
                f"{name} is on device {array_api_compat.device(array)} but {first_name} is on {first_device}; "
                "all arrays must be on one device"
            )
    return xp


def is_float32_or_float64(xp: ModuleType, dtype: object) -> bool:
    """Whether ``dtype`` is one of the two dtypes xrnn computes in (``TypeError`` if it is not ``xp``'s)."""
    return is_kind(xp, dtype, (xp.float32, xp.float64))


def expect_float32_or_float64(xp: ModuleType, name: str, array: Array, *, purpose: str = "", reason: str = "") -> None:
    """``array`` must be float32 or float64, the dtypes xrnn computes in: ``TypeError`` naming it, what it is
    for (``purpose``, `` for a loss``) and why the others are refused (``reason``) otherwise."""
    if not is_float32_or_float64(xp, array.dtype):
        raise TypeError(f"{name} must be float32 or float64{purpose}, got {array.dtype}{reason}")


def _same_device(xp: ModuleType, first: Array, values: list[Array]) -> bool:
    if array_api_compat.is_numpy_namespace(xp):  # one device only: skip the per-array lookups
        return True
    where = array_api_compat.device(first)
    return all(array_api_compat.device(value) == where for value in values)


def expect_ndim(name: str, array: Array, symbols: Sequence[str]) -> None:
    """``array`` must have one axis per symbol, each at least 1 long."""
    shape = tuple(array.shape)
    if len(shape) != len(symbols):
        raise ValueError(f"{name} must be {len(symbols)}-D with shape ({', '.join(symbols)}), got shape {shape}")
    if 0 in shape:
        raise ValueError(f"{name} must have shape ({', '.join(symbols)}) with every axis at least 1, got {shape}")


def expect_shape(name: str, array: Array, symbols: Sequence[str], dims: Mapping[str, int]) -> None:
    """``array.shape`` must equal ``symbols`` evaluated in ``dims``."""
    expected = tuple([dims[symbol] for symbol in symbols])
    shape = tuple(array.shape)
    if shape != expected:
        raise ValueError(f"{name} must have shape ({', '.join(symbols)}) = {expected}, got {shape}")


def check_data_shapes(inputs: Mapping[str, tuple[Array, Sequence[str]]], dims: dict[str, int]) -> dict[str, int]:
    """Check each data array ``name -> (array, symbols)`` against ``dims`` (from the parameters) and the
    arrays before it; return ``dims`` completed with ``m`` and ``T_x`` (and any other size the parameters
    left open), which the first array that has them defines."""
    for name, (array, symbols) in inputs.items():
        expect_ndim(name, array, symbols)
        for symbol, length in zip(symbols, array.shape, strict=True):
            dims.setdefault(symbol, int(length))
        expect_shape(name, array, symbols, dims)
    return dims


def whole_number(value: object) -> int | None:
    """``value`` as an ``int`` if it is an integer of any integer type (``3``, ``np.int64(3)``; not ``True``
    nor ``3.0``), else ``None``."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def expect_positive(name: str, value: object) -> float:
    """``value`` as a ``float``: a positive finite number of any real type (``0.1``, ``np.float32(0.1)``, ``2``),
    else ``ValueError`` naming it (``TypeError`` for what is no number: a string, ``None``, ``True``)."""
    number = _real(name, value, "a positive finite number")
    if not 0 < number < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def expect_fraction(name: str, value: object) -> float:
    """``value`` as a ``float`` in ``[0, 1)``, of any real type (a momentum, a decay rate), else ``ValueError``
    (``TypeError`` for what is no number)."""
    number = _real(name, value, "a number in [0, 1)")
    if not 0 <= number < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return number


def _real(name: str, value: object, kind: str) -> float:
    """``value`` as a float if it is a number of any real type (not a bool), else ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {reprlib.repr(value)}")
    return float(value)


def expect_integer(name: str, value: object, *, low: int, kind: str, why: str = "") -> int:
    """``value`` as an ``int``, of any integer type and at least ``low``: ``TypeError`` (``name must be kind``)
    for a value that is no integer, ``ValueError`` (``name must be at least low why``) for a smaller one."""
    number = whole_number(value)
    if number is None:
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {reprlib.repr(value)}")
    if number < low:
        raise ValueError(f"{name} must be at least {low}{why}, got {number}")
    return number


def expect_class_indices(xp: ModuleType, name: str, values: Array, n: int, size: str = "n_y") -> None:
    """Every entry of the integer array ``values`` must lie in ``[0, n)``, ``n`` being the size ``size``."""
    if math.prod(values.shape) == 0:
        return
    low, high = int(xp.min(values)), int(xp.max(values))
    if low < 0 or high >= n:
        raise ValueError(f"{name} must be class indices in [0, {size}) = [0, {n}), got values from {low} to {high}")
