"""The LSTM of the spec's tutorial series: one cell, a whole sequence, and backpropagation through time.

Every gate reads the concatenation ``[a<t-1>; x<t>]`` (state first) of shape ``(n_a + n_x, m)``::

    f<t>  = sigmoid(Wf [a<t-1>; x<t>] + bf)          forget gate
    i<t>  = sigmoid(Wi [a<t-1>; x<t>] + bi)          update (input) gate
    cc<t> = tanh(Wc [a<t-1>; x<t>] + bc)             candidate cell
    o<t>  = sigmoid(Wo [a<t-1>; x<t>] + bo)          output gate
    c<t>  = f<t> * c<t-1> + i<t> * cc<t>
    a<t>  = o<t> * tanh(c<t>)
    y<t>  = softmax(Wy a<t> + by)                    over the class axis

Parameters: ``Wf, Wi, Wc, Wo`` of shape ``(n_a, n_a + n_x)``, ``bf, bi, bc, bo`` of shape
``(n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

The sequence functions work on time-major rows (see ``xrnn._layout``). The four gates are stacked
into one ``4 n_a``-wide weight, whose input columns give the input projection of every step as one
product before the loop; each step does one recurrent product and elementwise updates (the scans in
``xrnn.cells._gated_scans``, with a NumPy fast path); ``dx`` and the weight gradients are single
products after the loop. That optimisation is the cell's declared :class:`~xrnn.cells._spec.ProjectedScan`;
the step functions here are the reference it is held equal to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.activations import sigmoid_unchecked
from xrnn.cells import _engine
from xrnn.cells._caches import GatedScanCache, gate_views, spec_view
from xrnn.cells._cell import Cell, check_made_by, register_builtin
from xrnn.cells._docs import fill_doc
from xrnn.cells._gated_scans import generic_lstm_backward_scan, generic_lstm_forward_scan
from xrnn.cells._init import small_normal
from xrnn.cells._shapes import parse_shapes
from xrnn.cells._spec import Block, ProjectedScan, State

#: The gates in the order of the fused gate block: the three sigmoid gates first (one sigmoid covers
#: them), and the three that the cell gradient reaches last (one product with ``dc`` covers them).
GATES = (
    Block("o", "Wo", "Wo", "bo"),
    Block("f", "Wf", "Wf", "bf"),
    Block("i", "Wi", "Wi", "bi"),
    Block("cc", "Wc", "Wc", "bc"),
)


class LSTMCellCache(NamedTuple):
    """What :func:`lstm_cell_forward` keeps for :func:`lstm_cell_backward`, in the spec's order.

    Attributes
    ----------
    a_next, c_next : array, shape (n_a, m)
        The new hidden and cell states.
    a_prev, c_prev : array, shape (n_a, m)
        The previous hidden and cell states.
    ft, it, cct, ot : array, shape (n_a, m)
        Forget gate, update gate, candidate cell, output gate.
    xt : array, shape (n_x, m)
        The input.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy).
    """

    a_next: Array
    c_next: Array
    a_prev: Array
    c_prev: Array
    ft: Array
    it: Array
    cct: Array
    ot: Array
    xt: Array
    parameters: Mapping[str, Array]


@dataclass(frozen=True, eq=False, kw_only=True)
class LSTMCache(GatedScanCache):
    """What :func:`lstm_forward` keeps for :func:`lstm_backward`: every state and gate, time-major.

    Attributes
    ----------
    states, cells : array, shape (T_x, m, n_a)
        Hidden states ``a<t+1>`` and cell states ``c<t+1>`` of step ``t``, one row per example.
    gates : array, shape (T_x, m, 4 n_a)
        The gates of step ``t`` side by side, in the order ``o, f, i, cc``; :attr:`forget`,
        :attr:`update`, :attr:`candidate` and :attr:`output` are views of one gate each.
    %(cache_attributes)s

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> a, y, c, caches = xrnn.lstm_forward(np.ones((3, 4, 2)), np.zeros((5, 4)), xrnn.init_lstm_parameters(3, 5, 2))
    >>> len(caches[0]), len(caches[0][1]), caches.f.shape, caches.step(1).c_prev.shape
    (2, 10, (5, 4, 2), (5, 4))
    """

    step_type = LSTMCellCache
    cells: Array
    c0: Array

    output, o = gate_views("o", "Output gates")
    forget, f = gate_views("f", "Forget gates")
    update, i = gate_views("i", "Update gates")
    candidate, cct = gate_views("cc", "Candidate cells")
    c = spec_view("cells", "Cell states")

    def history(self, index: int) -> Array:
        return self.cells if index == 1 else super().history(index)


def _step_forward(xt: Array, state: State, p: Mapping[str, Array]) -> tuple[State, LSTMCellCache]:
    xp = namespace_of(xt)
    a_prev, c_prev = state
    joint = xp.concat([a_prev, xt], axis=0)
    ft = sigmoid_unchecked(xp, xp.matmul(p["Wf"], joint) + p["bf"])
    it = sigmoid_unchecked(xp, xp.matmul(p["Wi"], joint) + p["bi"])
    cct = xp.tanh(xp.matmul(p["Wc"], joint) + p["bc"])
    ot = sigmoid_unchecked(xp, xp.matmul(p["Wo"], joint) + p["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * xp.tanh(c_next)
    return (a_next, c_next), LSTMCellCache(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p)


def _step_backward(dstate: State, cache: LSTMCellCache) -> tuple[Array, State, dict[str, Array]]:
    """``dstate = (da_next, dc_next)``: ``dc_next`` only from later steps; the path through ``a_next`` is
    added here."""
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    da_next, dc_next = dstate
    xp = namespace_of(a_next)
    n_a = int(a_next.shape[0])
    tanh_c = xp.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c * tanh_c)
    dz = {
        "f": dc * c_prev * ft * (1 - ft),
        "i": dc * cct * it * (1 - it),
        "c": dc * it * (1 - cct * cct),
        "o": da_next * tanh_c * ot * (1 - ot),
    }
    joint_t = xp.concat([a_prev, xt], axis=0).T
    djoint = sum(xp.matmul(p["W" + gate].T, dz_gate) for gate, dz_gate in dz.items())
    gradients = {}
    for gate in ("f", "i", "c", "o"):
        gradients["dW" + gate] = xp.matmul(dz[gate], joint_t)
        gradients["db" + gate] = xp.sum(dz[gate], axis=1, keepdims=True)
    return djoint[n_a:, ...], (djoint[:n_a, ...], dc * ft), gradients


_SHAPES = parse_shapes(
    {
        key: ("n_a", "n_a + n_x") if key[0] == "W" else ("n_a", 1)
        for key in ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo")
    }
)


def init_lstm_parameters(
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    scale: float = 0.01,
    device: object = None,
) -> dict[str, Array]:
    """Random LSTM parameters: standard normal weights times ``scale``, zero biases.

    Parameters
    ----------
    n_x, n_a, n_y : int
        Input, hidden and output sizes (each at least 1).
    backend, dtype, seed, device
        As in :func:`xrnn.init_parameters`.
    scale : float
        Standard deviation of the weights.

    Returns
    -------
    dict
        ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)``, ``bf, bi, bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> from xrnn import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=0, dtype="float32")
    >>> p["Wf"].shape, p["bo"].shape, str(p["Wy"].dtype)
    ((5, 8), (5, 1), 'float32')
    """
    options = {"backend": backend, "dtype": dtype, "seed": seed, "device": device}
    return small_normal(LSTM.shapes_with_output, n_x, n_a, n_y, scale=scale, **options)


#: The LSTM of the spec's tutorial series.
LSTM = register_builtin(
    Cell(
        name="lstm",
        shapes=_SHAPES,
        state=("a", "c"),
        step_forward=_step_forward,
        step_backward=_step_backward,
        init_parameters=init_lstm_parameters,
        scan=ProjectedScan(
            blocks=GATES,
            stored=("gates", "states", "cells"),
            reads=("gates", "cells", "c0"),
            forward_kernel="lstm_forward_scan",
            forward_twin=generic_lstm_forward_scan,
            backward_kernel="lstm_backward_scan",
            backward_twin=generic_lstm_backward_scan,
            cache_type=LSTMCache,
        ),
    )
)
fill_doc(LSTM)(LSTMCache)


@fill_doc(LSTM, "step_forward", step_cache="LSTMCellCache")
def lstm_cell_forward(
    xt: Array, a_prev: Array, c_prev: Array, parameters: Mapping[str, Array]
) -> tuple[Array, Array, Array, LSTMCellCache]:
    """One step of the LSTM.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_lstm_parameters(3, 5, 2, seed=1)
    >>> a_next, c_next, yt_pred, cache = xrnn.lstm_cell_forward(np.ones((3, 10)), np.zeros((5, 10)),
    ...                                                          np.zeros((5, 10)), p)
    >>> a_next.shape, c_next.shape, yt_pred.shape, bool(np.allclose(yt_pred.sum(axis=0), 1))
    ((5, 10), (5, 10), (2, 10), True)
    """
    (a_next, c_next), yt_pred, cache = _engine.step(LSTM, xt, (a_prev, c_prev), parameters)
    return a_next, c_next, yt_pred, cache


@fill_doc(LSTM, "step_backward", step_cache="LSTMCellCache")
def lstm_cell_backward(da_next: Array, dc_next: Array, cache: LSTMCellCache) -> dict[str, Array]:
    """Gradients of one LSTM step, given the gradients reaching its new hidden and cell states.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> zeros = np.zeros((5, 10))
    >>> *_, cache = xrnn.lstm_cell_forward(np.ones((3, 10)), zeros, zeros, xrnn.init_lstm_parameters(3, 5, 2))
    >>> grads = xrnn.lstm_cell_backward(np.ones((5, 10)), zeros, cache)
    >>> grads["dxt"].shape, grads["dc_prev"].shape, grads["dWf"].shape
    ((3, 10), (5, 10), (5, 8))
    """
    return _engine.step_backward(LSTM, LSTMCellCache, (da_next, dc_next), cache)


@fill_doc(LSTM, "forward", y="y")
def lstm_forward(
    x: Array,
    a0: Array,
    parameters: Mapping[str, Array],
    *,
    c0: Array | None = None,
    mask: Array | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, Array, Array, LSTMCache]:
    """Run the LSTM over a whole sequence; the cache holds every gate for inspection.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_lstm_parameters(3, 5, 2, seed=1)
    >>> x = np.random.default_rng(1).standard_normal((3, 10, 4))
    >>> a, y, c, caches = xrnn.lstm_forward(x, np.zeros((5, 10)), p)
    >>> a.shape, y.shape, c.shape, caches.o.shape
    ((5, 10, 4), (2, 10, 4), (5, 10, 4), (5, 10, 4))
    """
    (a, c), y, cache = _engine.forward(
        LSTM, x, (a0, c0), parameters, mask=mask, output=True, states=2, checkpoints=checkpoints
    )
    return a, y, c, cache


@fill_doc(LSTM, "backward")
def lstm_backward(da: Array, caches: LSTMCache) -> dict[str, Array]:
    """Backpropagation through time for the LSTM.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> a, y, c, caches = xrnn.lstm_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), xrnn.init_lstm_parameters(3, 5, 2))
    >>> grads = xrnn.lstm_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWc"].shape, grads["dbo"].shape
    ((3, 10, 4), (5, 10), (5, 8), (5, 1))
    """
    check_made_by(caches, LSTM, "LSTMCache")
    return _engine.backward(da, caches)
