"""Numerically safe activations, for any Array API library."""

from __future__ import annotations

from types import ModuleType

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import namespace_of, whole_number
from xrnn.backends import fast_path


def _floating_namespace(x: Array, name: str = "x") -> ModuleType:
    if not array_api_compat.is_array_api_obj(x):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    xp = namespace_of(x, name)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {x.dtype}")
    return xp


def softmax(x: Array, axis: int = 0) -> Array:
    """Softmax along ``axis`` (the class axis ``n_y`` comes first in xrnn, hence ``axis=0``).

    Each slice along ``axis`` has its own maximum subtracted before ``exp``, so any finite input
    gives finite probabilities that sum to 1, even when columns lie far apart.

    Parameters
    ----------
    x : array
        Logits of a real floating dtype, e.g. ``(n_y, m)`` or ``(n_y, m, T_x)``.
    axis : int
        Axis to normalise over, ``-x.ndim <= axis < x.ndim``.

    Returns
    -------
    array
        Probabilities that sum to 1 along ``axis``, in the shape, dtype, library and device of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn import softmax
    >>> softmax(np.array([[0.0, 1000.0], [0.0, -1000.0]])).round(3)
    array([[0.5, 1. ],
           [0.5, 0. ]])
    """
    xp = _floating_namespace(x)
    return softmax_unchecked(xp, x, _axis(x, axis))


def softmax_unchecked(xp: ModuleType, x: Array, axis: int) -> Array:
    """:func:`softmax` for callers that have checked ``x`` already (one namespace lookup less)."""
    fast = fast_path(xp, "softmax")
    if fast is not None:
        result: Array = fast(x, axis)
        return result
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e /= xp.sum(e, axis=axis, keepdims=True)  # in place: e is a new array
    return e


def log_softmax(x: Array, axis: int = 0) -> Array:
    """``log(softmax(x, axis))`` without forming the probabilities, so it never takes ``log(0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.activations import log_softmax
    >>> log_softmax(np.array([0.0, -1000.0]))
    array([    0., -1000.])
    """
    xp = _floating_namespace(x)
    axis = _axis(x, axis)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def sigmoid(x: Array) -> Array:
    """Logistic function ``1 / (1 + exp(-x))`` that never overflows.

    ``exp`` only ever sees ``-|x|``, so ``x = ±1000`` gives exactly 1 and 0 without a warning.

    Parameters
    ----------
    x : array
        Any shape, real floating dtype.

    Returns
    -------
    array
        Each element's logistic, in ``(0, 1)`` (0 and 1 where it rounds there), in the shape, dtype, library
        and device of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn import sigmoid
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    return sigmoid_unchecked(_floating_namespace(x), x)


def sigmoid_unchecked(xp: ModuleType, x: Array) -> Array:
    """:func:`sigmoid` for callers that have checked ``x`` already (one namespace lookup less)."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _axis(x: Array, axis: object) -> int:
    """``axis`` must name one axis of ``x`` (an int, not a tuple or ``None``): softmax normalises along one."""
    number = whole_number(axis)
    if number is None:
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if x.ndim == 0:
        raise ValueError("x must have an axis to normalise over, got a 0-D array")
    if not -x.ndim <= number < x.ndim:
        raise ValueError(f"axis must be in [-{x.ndim}, {x.ndim}) for x of shape {tuple(x.shape)}, got {number}")
    if x.shape[number] == 0:
        raise ValueError(f"x has no entries along axis {number} to normalise over (shape {tuple(x.shape)})")
    return number
