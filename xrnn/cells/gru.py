"""The GRU of the lectures: one cell, a whole sequence, and backpropagation through time.

The update and reset gates read ``[a<t-1>; x<t>]`` (state first); the candidate reads the state
after the reset gate::

    u<t>  = sigmoid(Wu [a<t-1>; x<t>] + bu)              update gate (Gamma_u)
    r<t>  = sigmoid(Wr [a<t-1>; x<t>] + br)              reset gate (Gamma_r)
    cc<t> = tanh(Wc [r<t> * a<t-1>; x<t>] + bc)          candidate
    a<t>  = u<t> * cc<t> + (1 - u<t>) * a<t-1>
    y<t>  = softmax(Wy a<t> + by)                        over the class axis

Parameters: ``Wu, Wr, Wc`` of shape ``(n_a, n_a + n_x)``, ``bu, br, bc`` of shape ``(n_a, 1)``,
``Wy (n_y, n_a)``, ``by (n_y, 1)``.

The sequence functions work on time-major rows (see ``xrnn._layout``). The input projection of all
three gates is one product before the loop. Because the candidate needs the reset gate of the same
step, each step does two recurrent products: one ``2 n_a`` wide for the two gates, one ``n_a`` wide
for the candidate (the scans in ``xrnn.cells._gated_scans``, with a NumPy fast path). ``dx`` and the
weight gradients are single products after the loop. That optimisation is the cell's declared
:class:`~xrnn.cells._spec.ProjectedScan`; the step functions here are the reference it is held equal to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.activations import sigmoid_unchecked
from xrnn.cells import _engine
from xrnn.cells._caches import GatedScanCache, gate_views
from xrnn.cells._cell import Cell, check_made_by, register_builtin
from xrnn.cells._docs import fill_doc
from xrnn.cells._gated_scans import generic_gru_backward_scan, generic_gru_forward_scan
from xrnn.cells._init import small_normal
from xrnn.cells._shapes import parse_shapes
from xrnn.cells._spec import Block, ProjectedScan, State

#: The gates in the order of the fused gate block: update, reset, candidate. The candidate's state weight
#: reads ``r * a_prev``, so its gradient takes the reset gate's rows as its operand.
GATES = (Block("u", "Wu", "Wu", "bu"), Block("r", "Wr", "Wr", "br"), Block("cc", "Wc", "Wc", "bc", operand="reset"))


class GRUCellCache(NamedTuple):
    """What :func:`gru_cell_forward` keeps for :func:`gru_cell_backward`.

    Attributes
    ----------
    a_next, a_prev : array, shape (n_a, m)
        The new and the previous hidden state.
    xt : array, shape (n_x, m)
        The input.
    ut, rt, cct : array, shape (n_a, m)
        Update gate, reset gate, candidate.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy).
    """

    a_next: Array
    a_prev: Array
    xt: Array
    ut: Array
    rt: Array
    cct: Array
    parameters: Mapping[str, Array]


class GRUCache(GatedScanCache):
    """What :func:`gru_forward` keeps for :func:`gru_backward`: every state and gate, time-major.

    Attributes
    ----------
    states : array, shape (T_x, m, n_a)
        Hidden states: ``states[t]`` is ``a<t+1>`` transposed (one row per example).
    gates : array, shape (T_x, m, 3 n_a)
        The gates ``u, r, cc`` of step ``t`` side by side; :attr:`update`, :attr:`reset` and
        :attr:`candidate` are views of one gate each.
    %(cache_attributes)s

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> a, y, caches = xrnn.gru_forward(np.ones((3, 4, 2)), np.zeros((5, 4)), xrnn.init_gru_parameters(3, 5, 2))
    >>> len(caches), len(caches[0]), caches.u.shape, caches.step(1).a_prev.shape
    (2, 2, (5, 4, 2), (5, 4))
    """

    step_type = GRUCellCache
    update, u = gate_views("u", "Update gates")
    reset, r = gate_views("r", "Reset gates")
    candidate, cct = gate_views("cc", "Candidates")


def _step_forward(xt: Array, state: State, p: Mapping[str, Array]) -> tuple[State, GRUCellCache]:
    xp = namespace_of(xt)
    (a_prev,) = state
    joint = xp.concat([a_prev, xt], axis=0)
    ut = sigmoid_unchecked(xp, xp.matmul(p["Wu"], joint) + p["bu"])
    rt = sigmoid_unchecked(xp, xp.matmul(p["Wr"], joint) + p["br"])
    cct = xp.tanh(xp.matmul(p["Wc"], xp.concat([rt * a_prev, xt], axis=0)) + p["bc"])
    a_next = ut * cct + (1 - ut) * a_prev
    return (a_next,), GRUCellCache(a_next, a_prev, xt, ut, rt, cct, p)


def _step_backward(dstate: State, cache: GRUCellCache) -> tuple[Array, State, dict[str, Array]]:
    a_next, a_prev, xt, ut, rt, cct, p = cache
    (da_next,) = dstate
    xp = namespace_of(a_next)
    n_a = int(a_next.shape[0])
    dzu = da_next * (cct - a_prev) * ut * (1 - ut)
    dzc = da_next * ut * (1 - cct * cct)
    dcandidate_input = xp.matmul(p["Wc"].T, dzc)  # gradient of [r * a_prev; xt]
    dreset_state = dcandidate_input[:n_a, ...]
    dzr = dreset_state * a_prev * rt * (1 - rt)
    joint_t = xp.concat([a_prev, xt], axis=0).T
    djoint = xp.matmul(p["Wu"].T, dzu) + xp.matmul(p["Wr"].T, dzr)
    gradients = {
        "dWu": xp.matmul(dzu, joint_t),
        "dbu": xp.sum(dzu, axis=1, keepdims=True),
        "dWr": xp.matmul(dzr, joint_t),
        "dbr": xp.sum(dzr, axis=1, keepdims=True),
        "dWc": xp.matmul(dzc, xp.concat([rt * a_prev, xt], axis=0).T),
        "dbc": xp.sum(dzc, axis=1, keepdims=True),
    }
    da_prev = da_next * (1 - ut) + dreset_state * rt + djoint[:n_a, ...]
    return djoint[n_a:, ...] + dcandidate_input[n_a:, ...], (da_prev,), gradients


_SHAPES = parse_shapes(
    {key: ("n_a", "n_a + n_x") if key[0] == "W" else ("n_a", 1) for key in ("Wu", "bu", "Wr", "br", "Wc", "bc")}
)


def init_gru_parameters(
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
    """Random GRU parameters: standard normal weights times ``scale``, zero biases.

    Parameters are as in :func:`init_lstm_parameters`.

    Returns
    -------
    dict
        ``Wu, Wr, Wc (n_a, n_a + n_x)``, ``bu, br, bc (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> from xrnn import init_gru_parameters
    >>> p = init_gru_parameters(3, 5, 2, seed=0)
    >>> sorted(p)
    ['Wc', 'Wr', 'Wu', 'Wy', 'bc', 'br', 'bu', 'by']
    """
    return small_normal(
        GRU.shapes_with_output, n_x, n_a, n_y, scale=scale, backend=backend, dtype=dtype, seed=seed, device=device
    )


#: The GRU of the lectures.
GRU = register_builtin(
    Cell(
        name="gru",
        shapes=_SHAPES,
        state=("a",),
        step_forward=_step_forward,
        step_backward=_step_backward,
        init_parameters=init_gru_parameters,
        scan=ProjectedScan(
            blocks=GATES,
            stored=("gates", "states"),
            reads=("gates", "states", "a0"),
            forward_kernel="gru_forward_scan",
            forward_twin=generic_gru_forward_scan,
            backward_kernel="gru_backward_scan",
            backward_twin=generic_gru_backward_scan,
            cache_type=GRUCache,
        ),
    )
)
fill_doc(GRU)(GRUCache)


@fill_doc(GRU, "step_forward", step_cache="GRUCellCache")
def gru_cell_forward(xt: Array, a_prev: Array, parameters: Mapping[str, Array]) -> tuple[Array, Array, GRUCellCache]:
    """One step of the GRU.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_gru_parameters(3, 5, 2, seed=1)
    >>> a_next, yt_pred, cache = xrnn.gru_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> a_next.shape, yt_pred.shape, cache.rt.shape
    ((5, 10), (2, 10), (5, 10))
    """
    (a_next,), yt_pred, cache = _engine.step(GRU, xt, (a_prev,), parameters)
    return a_next, yt_pred, cache


@fill_doc(GRU, "step_backward", step_cache="GRUCellCache")
def gru_cell_backward(da_next: Array, cache: GRUCellCache) -> dict[str, Array]:
    """Gradients of one GRU step, given the gradient reaching its new hidden state.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_gru_parameters(3, 5, 2, seed=1)
    >>> cache = xrnn.gru_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)[-1]
    >>> grads = xrnn.gru_cell_backward(np.ones((5, 10)), cache)
    >>> grads["dxt"].shape, grads["da_prev"].shape, grads["dWr"].shape
    ((3, 10), (5, 10), (5, 8))
    """
    return _engine.step_backward(GRU, GRUCellCache, (da_next,), cache)


@fill_doc(GRU, "forward")
def gru_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None, checkpoints: int | None = None
) -> tuple[Array, Array, GRUCache]:
    """Run the GRU over a whole sequence; the cache holds every gate for inspection.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> x = np.random.default_rng(1).standard_normal((3, 10, 4))
    >>> a, y_pred, caches = xrnn.gru_forward(x, np.zeros((5, 10)), xrnn.init_gru_parameters(3, 5, 2, seed=1))
    >>> a.shape, y_pred.shape, caches.r.shape
    ((5, 10, 4), (2, 10, 4), (5, 10, 4))
    """
    (a,), y_pred, cache = _engine.forward(GRU, x, (a0,), parameters, mask=mask, output=True, checkpoints=checkpoints)
    return a, y_pred, cache


@fill_doc(GRU, "backward")
def gru_backward(da: Array, caches: GRUCache) -> dict[str, Array]:
    """Backpropagation through time for the GRU.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_gru_parameters(3, 5, 2, seed=1)
    >>> a, _, caches = xrnn.gru_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), p)
    >>> grads = xrnn.gru_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWc"].shape, grads["dbu"].shape
    ((3, 10, 4), (5, 10), (5, 8), (5, 1))
    """
    check_made_by(caches, GRU, "GRUCache")
    return _engine.backward(da, caches)
