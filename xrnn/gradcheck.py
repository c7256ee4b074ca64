"""Central finite differences, for checking any gradient on any backend."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_positive
from xrnn.backends import asarray, get_backend
from xrnn.cells import RNN, Cell, get_cell
from xrnn.cells.rnn import rnn_loss_and_gradients

#: The sizes :func:`check_cell` checks at: small, with every size different so a transposed shape shows.
CHECK_SIZES = {"n_x": 3, "n_a": 4, "n_y": 2, "m": 3, "T_x": 4}
#: Its mask: example 0 real throughout, example 1 padded at the end, example 2 padded at step 1.
CHECK_MASK = [[True, True, True, True], [True, True, False, False], [True, False, True, True]]


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
        The slope of ``f`` along each element, in the shape, dtype, library and device of ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.gradcheck import numerical_gradient
    >>> numerical_gradient(lambda v: (v**2).sum(), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])
    """
    xp = common_namespace({"x": x})  # a floating array: an integer one would truncate the steps
    eps = expect_positive("eps", eps)
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
    """``max|analytic - numeric| / max(max|analytic|, max|numeric|, tiny)``: 0 is a perfect match.

    The two must have one shape (no broadcasting, which would compare other elements); empty ones match.
    """
    xp = array_api_compat.array_namespace(analytic, numeric)
    if tuple(analytic.shape) != tuple(numeric.shape):
        raise ValueError(
            f"analytic and numeric must have the same shape, got {tuple(analytic.shape)} and {tuple(numeric.shape)}"
        )
    if math.prod(analytic.shape) == 0:
        return 0.0
    scale = max(float(xp.max(xp.abs(analytic))), float(xp.max(xp.abs(numeric))), 1e-300)
    return float(xp.max(xp.abs(analytic - numeric))) / scale


def check_rnn_gradients(
    x: Array, a0: Array, labels: Array, parameters: Mapping[str, Array], eps: float = 1e-6
) -> dict[str, float]:
    """Compare :func:`xrnn.rnn_loss_and_gradients` with finite differences, one entry per gradient.

    Keep the shapes small: each element costs two forward passes.

    Parameters
    ----------
    x, a0, labels, parameters
        As :func:`xrnn.rnn_loss_and_gradients` takes them, in float64: float32's rounding swamps a
        difference of ``eps`` (the errors come out near 1).
    eps : float
        The finite-difference step.

    Returns
    -------
    dict
        The :func:`relative_error` of ``dWax, dWaa, dWya, dba, dby, dx, da0``.

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
    keys = (*RNN.keys, *RNN.output)

    def loss(values: Mapping[str, Array]) -> object:
        changed = {**parameters, **{key: values[key] for key in keys}}
        return rnn_loss_and_gradients(values["x"], values["a0"], labels, changed)[0]

    inputs = {"x": x, "a0": a0, **{key: parameters[key] for key in keys}}
    errors = _errors(loss, inputs, analytic, eps)
    return {"d" + name: error for name, error in errors.items()}


def _errors(
    objective: Callable[[Mapping[str, Array]], object],
    inputs: dict[str, Array],
    analytic: Mapping[str, Array],
    eps: float,
) -> dict[str, float]:
    """For each named input, the :func:`relative_error` of its gradient ``analytic["d" + name]`` against the
    finite differences of ``objective(inputs)`` in that input, the others held."""
    return {
        name: relative_error(
            analytic["d" + name], numerical_gradient(partial(_varying, objective, inputs, name), at, eps)
        )
        for name, at in inputs.items()
    }


def _varying(
    objective: Callable[[Mapping[str, Array]], object], inputs: dict[str, Array], name: str, value: Array
) -> object:
    return objective({**inputs, name: value})


def check_cell(cell: str | Cell, *, backend: str = "numpy", seed: int = 0, eps: float = 1e-6) -> dict[str, float]:
    """Check a cell's backward against float64 central finite differences, with and without a mask.

    The objective is ``sum(probe * a)`` over the hidden states ``a`` of :meth:`Cell.forward`, for a fixed
    random ``probe`` (zero at padded steps), so :meth:`Cell.backward` gets ``da = probe``. The parameters
    are the cell's own initialisation plus standard-normal noise times 0.5 (so no zero bias sits at a
    special point), at the sizes :data:`CHECK_SIZES`; the masked run uses :data:`CHECK_MASK`.

    Parameters
    ----------
    cell : str or Cell
        A cell or its name (see :func:`xrnn.cells.get_cell`).
    backend : str
        Where to run (``"numpy"``, ``"array_api_strict"``, ``"cupy"``).
    seed : int
        Seeds the parameters, the inputs, the initial states and the probe.
    eps : float
        The finite-difference step.

    Returns
    -------
    dict
        For each of the cell's keys, ``"x"`` and each initial state (``"a0"``, ``"c0"``, ...), the worst
        :func:`relative_error` over both runs: 0 is a perfect match; about 1e-9 is typical in float64.

    Examples
    --------
    >>> from xrnn.gradcheck import check_cell
    >>> errors = check_cell("gru")
    >>> sorted(errors), max(errors.values()) < 1e-7
    (['Wc', 'Wr', 'Wu', 'a0', 'bc', 'br', 'bu', 'x'], True)
    """
    cell = get_cell(cell)
    adapter = get_backend(backend)
    n_x, n_a, n_y, m, t_x = CHECK_SIZES.values()
    device = adapter.default_device()

    def normal(shape: tuple[int, ...], offset: int) -> Array:
        return adapter.standard_normal(shape, seed=seed * 1000 + offset, dtype=adapter.xp.float64, device=device)

    initialised = cell.init(n_x, n_a, n_y, backend=backend, dtype="float64", seed=seed, device=device)
    parameters = {
        key: initialised[key] + 0.5 * normal(tuple(initialised[key].shape), i + 1) for i, key in enumerate(cell.keys)
    }
    x = normal((n_x, m, t_x), 100)
    initial = tuple(normal((n_a, m), 200 + i) for i in range(len(cell.state)))
    probe = normal((n_a, m, t_x), 300)
    errors: dict[str, float] = {}
    for mask in (None, asarray(CHECK_MASK, backend=backend, device=device)):
        for name, error in _cell_errors(cell, x, initial, parameters, probe, mask, eps).items():
            errors[name] = max(errors.get(name, 0.0), error)
    return errors


def _cell_errors(
    cell: Cell,
    x: Array,
    initial: tuple[Array, ...],
    parameters: dict[str, Array],
    probe: Array,
    mask: Array | None,
    eps: float,
) -> dict[str, float]:
    xp = array_api_compat.array_namespace(x)
    if mask is not None:  # the backward pass ignores the gradient given at padded steps: so must the objective
        probe = xp.where(mask[None, ...], probe, xp.zeros_like(probe))

    def objective(values: Mapping[str, Array]) -> object:
        state = tuple(values[name] for name in cell.initial_names)
        a, _ = cell.forward(values["x"], state, {**parameters, **{key: values[key] for key in cell.keys}}, mask)
        return xp.sum(probe * a)

    _, cache = cell.forward(x, initial, parameters, mask)
    analytic = cell.backward(probe, cache)
    inputs = {
        "x": x,
        **dict(zip(cell.initial_names, initial, strict=True)),
        **{key: parameters[key] for key in cell.keys},
    }
    return _errors(objective, inputs, analytic, eps)
