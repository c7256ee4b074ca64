"""Central finite differences, for checking any gradient on any backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import RNN_KEYS
from xrnn.cells.rnn import rnn_loss_and_gradients


def numerical_gradient(f: Callable[[Array], object], x: Array, eps: float = 1e-6) -> Array:
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`` for every element ``i``; ``x`` itself is never
    written. Use float64: the error is ``O(eps**2)`` plus rounding ``O(ulp / eps)``.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x`` and returns something ``float()`` accepts.
    x : array
        Point at which to differentiate.
    eps : float
        Step.

    Returns
    -------
    array
        Same shape, dtype, library and device as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.gradcheck import numerical_gradient
    >>> numerical_gradient(lambda v: (v**2).sum(), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])
    """
    xp = array_api_compat.array_namespace(x)
    flat = xp.reshape(xp.asarray(x, copy=True), (-1,))
    slopes = []
    for i in range(flat.shape[0]):
        original = float(flat[i])  # a Python float: CuPy's flat[i] is a view that the writes below would move
        flat[i] = original + eps
        above = float(f(xp.reshape(flat, x.shape)))  # type: ignore[arg-type]
        flat[i] = original - eps
        below = float(f(xp.reshape(flat, x.shape)))  # type: ignore[arg-type]
        flat[i] = original
        slopes.append((above - below) / (2 * eps))
    return xp.reshape(xp.asarray(slopes, dtype=x.dtype, device=array_api_compat.device(x)), x.shape)


def relative_error(analytic: Array, numeric: Array) -> float:
    """``max|analytic - numeric| / max(max|analytic|, max|numeric|, tiny)``: 0 is a perfect match."""
    xp = array_api_compat.array_namespace(analytic, numeric)
    scale = max(float(xp.max(xp.abs(analytic))), float(xp.max(xp.abs(numeric))), 1e-300)
    return float(xp.max(xp.abs(analytic - numeric))) / scale


def check_rnn_gradients(
    x: Array, a0: Array, labels: Array, parameters: Mapping[str, Array], eps: float = 1e-6
) -> dict[str, float]:
    """Compare :func:`xrnn.rnn_loss_and_gradients` with finite differences, one entry per gradient.

    Returns the :func:`relative_error` of ``dWax, dWaa, dWya, dba, dby, dx, da0``. Keep the shapes
    small: each element costs two forward passes.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.gradcheck import check_rnn_gradients
    >>> rng = np.random.default_rng(0)
    >>> p = xrnn.init_parameters(2, 3, 2, seed=0, scale=0.5)
    >>> errors = check_rnn_gradients(rng.standard_normal((2, 2, 3)), rng.standard_normal((3, 2)),
    ...                              rng.integers(0, 2, (2, 3)), p)
    >>> max(errors.values()) < 1e-6
    True
    """
    _, analytic = rnn_loss_and_gradients(x, a0, labels, parameters)
    wrt: dict[str, tuple[Array, Callable[[Array], object]]] = {
        "dx": (x, lambda v: rnn_loss_and_gradients(v, a0, labels, parameters)[0]),
        "da0": (a0, lambda v: rnn_loss_and_gradients(x, v, labels, parameters)[0]),
    }
    for key in RNN_KEYS:
        wrt["d" + key] = (parameters[key], _loss_of_parameter(x, a0, labels, parameters, key))
    return {name: relative_error(analytic[name], numerical_gradient(f, at, eps)) for name, (at, f) in wrt.items()}


def _loss_of_parameter(
    x: Array, a0: Array, labels: Array, parameters: Mapping[str, Array], key: str
) -> Callable[[Array], object]:
    return lambda value: rnn_loss_and_gradients(x, a0, labels, {**parameters, key: value})[0]
