"""The spec's tanh RNN: one cell, a whole sequence, and backpropagation through time.

Shapes use the spec's names: ``x`` is ``(n_x, m, T_x)``, hidden states ``(n_a, m)`` per step,
outputs ``(n_y, m)`` per step, and the parameters are ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``,
``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``::

    a<t> = tanh(Wax x<t> + Waa a<t-1> + ba)
    y<t> = softmax(Wya a<t> + by)

The sequence functions work internally on time-major rows (see ``xrnn._layout``): the input
projection, the output layer and the weight gradients are single large products outside the time
loop, which holds one recurrent product and one elementwise update per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from xrnn._typing import Array
from xrnn._validation import expect_positive, namespace_of
from xrnn.cells import _engine
from xrnn.cells._caches import ScanCache
from xrnn.cells._cell import Cell, check_made_by, register_builtin
from xrnn.cells._docs import fill_doc
from xrnn.cells._init import normal_parameters
from xrnn.cells._scan import generic_backward_scan, generic_forward_scan
from xrnn.cells._shapes import parse_shapes
from xrnn.cells._spec import Block, ProjectedScan, State

SCHEMES = ("small", "glorot")


class RNNCellCache(NamedTuple):
    """What :func:`rnn_cell_forward` keeps for :func:`rnn_cell_backward`, in the spec's order.

    Attributes
    ----------
    a_next : array, shape (n_a, m)
        The new hidden state ``a<t>``.
    a_prev : array, shape (n_a, m)
        The previous hidden state ``a<t-1>``.
    xt : array, shape (n_x, m)
        The input ``x<t>``.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy).
    """

    a_next: Array
    a_prev: Array
    xt: Array
    parameters: Mapping[str, Array]


class RNNCache(ScanCache):
    """What :func:`rnn_forward` keeps for :func:`rnn_backward`: each activation once, no per-step copies.

    Attributes
    ----------
    states : array, shape (T_x, m, n_a)
        Hidden states, time-major: ``states[t]`` is ``a<t+1>`` transposed (one row per example).
    %(cache_attributes)s

    Examples
    --------
    >>> import xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0)
    >>> x = xrnn.backends.asarray([[[1.0, 2.0]]] * 3)  # n_x=3, m=1, T_x=2
    >>> a, y_pred, cache = xrnn.rnn_forward(x, xrnn.backends.asarray([[0.0]] * 5), p)
    >>> len(cache), cache.a.shape, cache.step(1).a_prev.shape
    (2, (5, 1, 2), (5, 1))
    """

    step_type = RNNCellCache


def _step_forward(xt: Array, state: State, p: Mapping[str, Array]) -> tuple[State, RNNCellCache]:
    """``a<t> = tanh(Wax x<t> + Waa a<t-1> + ba)``."""
    xp = namespace_of(xt)
    (a_prev,) = state
    a_next = xp.tanh(xp.matmul(p["Wax"], xt) + xp.matmul(p["Waa"], a_prev) + p["ba"])
    return (a_next,), RNNCellCache(a_next, a_prev, xt, p)


def _step_backward(dstate: State, cache: RNNCellCache) -> tuple[Array, State, dict[str, Array]]:
    a_next, a_prev, xt, p = cache
    xp = namespace_of(a_next)
    dz = (1 - a_next * a_next) * dstate[0]
    gradients = {
        "dWax": xp.matmul(dz, xt.T),
        "dWaa": xp.matmul(dz, a_prev.T),
        "dba": xp.sum(dz, axis=1, keepdims=True),
    }
    return xp.matmul(p["Wax"].T, dz), (xp.matmul(p["Waa"].T, dz),), gradients


def init_parameters(
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    scheme: str = "small",
    scale: float = 0.01,
    device: object = None,
) -> dict[str, Array]:
    """Random RNN parameters ``Wax, Waa, Wya, ba, by`` with zero biases.

    Parameters
    ----------
    n_x, n_a, n_y : int
        Input, hidden and output sizes (each at least 1).
    backend : str
        Where the arrays live: ``"numpy"``, ``"cupy"``, ``"array_api_strict"``.
    dtype : str or dtype
        ``"float32"`` or ``"float64"`` (or a dtype of the backend).
    seed : int, optional
        Seed of the backend's own generator (NumPy's PCG64 on the host, CuPy's on the GPU), so a seed
        gives the same numbers on NumPy and array-api-strict, and other numbers on CuPy.
    scheme : {"small", "glorot"}
        ``"small"``: standard normal times ``scale`` (the spec tutorial's ``randn * 0.01``).
        ``"glorot"``: Glorot-normal ``Wax`` and ``Wya``, and an orthogonal ``Waa`` that keeps the
        recurrence from shrinking or blowing up gradients at the start of training.
    scale : float
        Standard deviation for ``scheme="small"``.
    device : optional
        Target device in the backend's terms (``None``: its default).

    Returns
    -------
    dict
        ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> import xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0, dtype="float32")
    >>> {k: (v.shape, str(v.dtype)) for k, v in p.items()}["Waa"]
    ((5, 5), 'float32')
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    scale = expect_positive("scale", scale)
    shapes = RNN.shapes_with_output
    xp, parameters = normal_parameters(shapes, n_x, n_a, n_y, backend=backend, dtype=dtype, seed=seed, device=device)
    if scheme == "small":
        return {key: value * scale if key in _MATRICES else value for key, value in parameters.items()}
    parameters["Wax"] = parameters["Wax"] * math.sqrt(2.0 / (n_a + n_x))
    parameters["Wya"] = parameters["Wya"] * math.sqrt(2.0 / (n_y + n_a))
    parameters["Waa"] = _orthogonal(xp, parameters["Waa"])
    return parameters


def _orthogonal(xp: Any, gaussian: Array) -> Array:
    """The Q of a QR decomposition, signs fixed so that it is uniformly (Haar) distributed."""
    q, r = xp.linalg.qr(gaussian)
    signs = xp.sign(xp.linalg.diagonal(r))
    return q * signs[None, :]


_MATRICES = ("Wax", "Waa", "Wya")

#: The spec's tanh RNN.
RNN = register_builtin(
    Cell(
        name="rnn",
        shapes=parse_shapes({"Wax": ("n_a", "n_x"), "Waa": ("n_a", "n_a"), "ba": ("n_a", 1)}),
        state=("a",),
        step_forward=_step_forward,
        step_backward=_step_backward,
        init_parameters=init_parameters,
        output=("Wya", "by"),
        scan=ProjectedScan(
            blocks=(Block("a", state_weight="Waa", input_weight="Wax", bias="ba"),),
            stored=("states",),
            reads=("states",),
            forward_kernel="rnn_forward_scan",
            forward_twin=generic_forward_scan,
            backward_kernel="rnn_backward_scan",
            backward_twin=generic_backward_scan,
            cache_type=RNNCache,
        ),
    )
)
fill_doc(RNN)(RNNCache)


@fill_doc(RNN, "step_forward", step_cache="RNNCellCache")
def rnn_cell_forward(xt: Array, a_prev: Array, parameters: Mapping[str, Array]) -> tuple[Array, Array, RNNCellCache]:
    """One step of the RNN: ``a_next = tanh(Wax xt + Waa a_prev + ba)``.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> a_next, yt_pred, cache = xrnn.rnn_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> a_next.shape, yt_pred.shape, bool(np.allclose(yt_pred.sum(axis=0), 1))
    ((5, 10), (2, 10), True)
    """
    (a_next,), yt_pred, cache = _engine.step(RNN, xt, (a_prev,), parameters)
    return a_next, yt_pred, cache


@fill_doc(RNN, "step_backward", step_cache="RNNCellCache")
def rnn_cell_backward(da_next: Array, cache: RNNCellCache) -> dict[str, Array]:
    """Gradients of one step, given the gradient reaching its new hidden state.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> _, _, cache = xrnn.rnn_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), xrnn.init_parameters(3, 5, 2))
    >>> sorted(xrnn.rnn_cell_backward(np.ones((5, 10)), cache))
    ['dWaa', 'dWax', 'da_prev', 'dba', 'dxt']
    """
    return _engine.step_backward(RNN, RNNCellCache, (da_next,), cache)


@fill_doc(RNN, "forward")
def rnn_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None, checkpoints: int | None = None
) -> tuple[Array, Array, RNNCache]:
    """Run the RNN over a whole sequence.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> rng = np.random.default_rng(1)
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> a, y_pred, caches = xrnn.rnn_forward(rng.standard_normal((3, 10, 4)), np.zeros((5, 10)), p)
    >>> a.shape, y_pred.shape, len(caches[0])  # caches = (per-step caches, x), as in the spec
    ((5, 10, 4), (2, 10, 4), 4)
    """
    (a,), y_pred, cache = _engine.forward(RNN, x, (a0,), parameters, mask=mask, output=True, checkpoints=checkpoints)
    return a, y_pred, cache


@fill_doc(RNN, "backward")
def rnn_backward(da: Array, caches: RNNCache) -> dict[str, Array]:
    """Backpropagation through time.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> a, _, caches = xrnn.rnn_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), xrnn.init_parameters(3, 5, 2))
    >>> grads = xrnn.rnn_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWaa"].shape
    ((3, 10, 4), (5, 10), (5, 5))
    """
    check_made_by(caches, RNN, "RNNCache")
    return _engine.backward(da, caches)


@fill_doc(RNN)
def rnn_loss_and_gradients(
    x: Array,
    a0: Array,
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    mask: Array | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Forward pass, softmax cross-entropy and every gradient, in one call.

    The loss is the mean over the batch and the time steps (``m * T_x`` terms) of the cross-entropy
    at each step, as in :func:`xrnn.softmax_cross_entropy`. It is computed from the logits, so it
    stays finite when a probability underflows.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs.
    a0 : array, shape (n_a, m)
        Initial hidden state.
    labels : array
        Integer classes ``(m, T_x)`` in ``[0, n_y)``, or targets ``(n_y, m, T_x)`` (one-hot or soft).
    parameters : mapping
        %(keys)s as in :func:`rnn_forward`.
    mask : array of bool, shape (m, T_x), optional
        Padding, as in :func:`rnn_forward`: the mean then runs over the real steps only, and a padded
        batch gives each example's loss and gradients weighted by its number of real steps.
    checkpoints : int, optional
        Memory-budgeted BPTT, as in :func:`rnn_forward`; then nothing whose size grows with ``T_x`` is
        held but the inputs and ``dx``: states, input projections, logits and targets go chunk by chunk.

    Returns
    -------
    loss : array, shape ()
        The mean cross-entropy.
    gradients : dict
        ``dWax, dWaa, dWya, dba, dby`` with the parameters' shapes, plus ``dx (n_x, m, T_x)`` and
        ``da0 (n_a, m)``.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> labels = np.zeros((10, 4), dtype=np.int64)
    >>> loss, grads = xrnn.rnn_loss_and_gradients(np.ones((3, 10, 4)), np.zeros((5, 10)), labels, p)
    >>> bool(abs(float(loss) - np.log(2)) < 1e-3)  # small initial weights: about log(n_y)
    True
    >>> sorted(grads)
    ['dWaa', 'dWax', 'dWya', 'da0', 'dba', 'dby', 'dx']
    """
    return _engine.loss_and_gradients(RNN, x, (a0,), labels, parameters, mask=mask, checkpoints=checkpoints)
