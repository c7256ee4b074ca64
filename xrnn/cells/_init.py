"""Seeded parameters for any cell specification, on any backend and dtype.

A parameter whose last axis is ``1`` is a bias and starts at zero. The matrices are cut, in the cell's
key order (the output layer's weight last), from one seeded stream of the backend's own generator, so a
seed gives the same numbers on NumPy and array-api-strict (CuPy draws on the GPU, with its own).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import expect_integer, expect_positive, is_float32_or_float64, whole_number
from xrnn.backends import get_backend
from xrnn.cells._shapes import Extent


def check_sizes(n_x: object, n_a: object, n_y: object) -> dict[str, int]:
    """``n_x``, ``n_a``, ``n_y`` must be positive integers (of any integer type, not bools)."""
    sizes = {}
    for name, given in (("n_x", n_x), ("n_a", n_a), ("n_y", n_y)):
        size = whole_number(given)
        if size is None or size < 1:
            raise ValueError(f"{name} must be a positive int, got {given!r}")
        sizes[name] = size
    return sizes


def compute_dtype(backend: str, dtype: object) -> Any:
    """``dtype`` resolved on ``backend``: ``"float32"``, ``"float64"``, or either as a dtype of its library,
    the two dtypes the cells compute in (``np.float16`` or ``np.int32`` would give parameters no call takes)."""
    adapter = get_backend(backend)
    resolved = adapter.resolve_dtype(dtype)
    try:
        computable = is_float32_or_float64(adapter.xp, resolved)
    except (TypeError, ValueError):  # not a dtype of this library
        computable = False
    if not computable:
        raise TypeError(f"dtype must be 'float32' or 'float64' (or either as a dtype of {backend}), got {dtype!r}")
    return resolved


def is_bias(shape: tuple[Extent, ...]) -> bool:
    """Whether a parameter of this shape starts at zero: its last axis is ``1``."""
    return shape[-1].text == "1"


def concrete(shape: tuple[Extent, ...], sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The shape's lengths for these sizes."""
    lengths = tuple(extent.value(sizes) for extent in shape)
    assert None not in lengths, "every size is known at init"
    return lengths  # type: ignore[return-value]


def normal_parameters(
    shapes: Mapping[str, tuple[Extent, ...]], n_x: int, n_a: int, n_y: int, **options: Any
) -> tuple[ModuleType, dict[str, Array]]:
    """Standard-normal matrices and zero biases: ``(xp, parameters)``, the matrices first.

    ``options``: ``backend``, ``dtype``, ``seed``, ``device`` (as :func:`xrnn.init_parameters` takes them).
    """
    return _draw(shapes, check_sizes(n_x, n_a, n_y), "normal", **options)


def small_normal(
    shapes: Mapping[str, tuple[Extent, ...]],
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    scale: float = 0.01,
    **options: Any,
) -> dict[str, Array]:
    """Standard-normal matrices times ``scale`` (the spec tutorial's ``randn * 0.01``) and zero biases."""
    scale = expect_positive("scale", scale)
    _, parameters = normal_parameters(shapes, n_x, n_a, n_y, **options)
    return {key: value if is_bias(shapes[key]) else value * scale for key, value in parameters.items()}


def glorot_uniform(
    shapes: Mapping[str, tuple[Extent, ...]], n_x: int, n_a: int, n_y: int, **options: Any
) -> dict[str, Array]:
    """Glorot-uniform matrices, ``U(-l, l)`` with ``l = sqrt(6 / (rows + columns))``, and zero biases.

    A parameter of more than two axes is drawn with its first axis as the rows and the rest as the columns.
    ``options`` as in :func:`normal_parameters`.
    """
    _, parameters = _draw(shapes, check_sizes(n_x, n_a, n_y), "uniform", **options)
    for key, value in parameters.items():
        if not is_bias(shapes[key]):
            rows = int(value.shape[0])
            columns = math.prod(int(n) for n in value.shape[1:])
            parameters[key] = value * math.sqrt(6.0 / (rows + columns))
    return parameters


def _draw(
    shapes: Mapping[str, tuple[Extent, ...]],
    sizes: Mapping[str, int],
    kind: str,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    device: object = None,
) -> tuple[ModuleType, dict[str, Array]]:
    """One seeded stream (standard normal, or uniform on ``[-1, 1)``) cut into the matrices; zero biases."""
    if seed is not None:
        seed = expect_integer("seed", seed, low=0, kind="a non-negative int or None")
    resolved = compute_dtype(backend, dtype)
    adapter = get_backend(backend)
    xp = adapter.xp
    lengths = {key: concrete(shape, sizes) for key, shape in shapes.items()}
    matrices = [key for key in shapes if not is_bias(shapes[key])]
    total = sum(math.prod(lengths[key]) for key in matrices)
    if kind == "normal":
        stream = adapter.standard_normal((total,), seed=seed, dtype=resolved, device=device)
    else:
        stream = adapter.uniform((total,), seed=seed, dtype=resolved, device=device, low=-1.0, high=1.0)
    parameters, start = {}, 0
    for key in matrices:
        size = math.prod(lengths[key])
        parameters[key] = xp.reshape(stream[start : start + size], lengths[key])
        start += size
    at = array_api_compat.device(stream)
    for key in shapes:
        if is_bias(shapes[key]):
            parameters[key] = xp.zeros(lengths[key], dtype=stream.dtype, device=at)
    return xp, parameters
