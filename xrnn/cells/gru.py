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
for the candidate (the scans in ``xrnn._gated_scans``, with a NumPy fast path). ``dx`` and the weight
gradients are single products after the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

import array_api_compat

from xrnn._blocks import gate_blocks, previous_rows
from xrnn._layout import from_rows, to_rows
from xrnn._masking import mask_rows
from xrnn._typing import Array
from xrnn._validation import check_parameters, common_namespace, expect_shape
from xrnn.activations import sigmoid, softmax
from xrnn.cells._caches import TimeMajorCache
from xrnn.cells._gated_scans import gru_backward_scan, gru_forward_scan
from xrnn.cells._gates import (
    gated_dims,
    input_projection,
    joint_weight_gradient,
    named_arrays,
    output_rows,
    split_columns,
    split_gradient,
)

if TYPE_CHECKING:
    from xrnn.parallel.dask_arrays import DaskCache

#: The parameter keys.
GRU_KEYS = ("Wu", "bu", "Wr", "br", "Wc", "bc", "Wy", "by")
_WEIGHTS = ("Wu", "Wr", "Wc")
_BIASES = ("bu", "br", "bc")


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


@dataclass(frozen=True, eq=False)
class GRUCache(TimeMajorCache):
    """What :func:`gru_forward` keeps for :func:`gru_backward`: every state and gate, time-major.

    Attributes
    ----------
    states : array, shape (T_x, m, n_a)
        Hidden states: ``states[t]`` is ``a<t+1>`` transposed (one row per example).
    gates : array, shape (T_x, m, 3 n_a)
        The gates ``u, r, cc`` of step ``t`` side by side; :attr:`update`, :attr:`reset` and
        :attr:`candidate` are views of one gate each.
    inputs : array, shape (T_x, m, n_x)
        The input sequence in the same layout.
    a0 : array, shape (n_a, m)
        The initial hidden state.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy). Update them only after the backward pass.
    mask : array of bool, shape (T_x, m, 1), or None
        Time-major ``mask`` (see :func:`gru_forward`); ``None`` when every step is real.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.gru import gru_forward
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> a, y, caches = gru_forward(np.ones((3, 4, 2)), np.zeros((5, 4)), init_gru_parameters(3, 5, 2, seed=0))
    >>> len(caches), caches.u.shape, caches.step(1).a_prev.shape
    (2, (5, 4, 2), (5, 4))
    """

    states: Array
    gates: Array
    inputs: Array
    a0: Array
    parameters: Mapping[str, Array]
    mask: Array | None = None

    @property
    def update(self) -> Array:
        """Update gates ``(T_x, m, n_a)``, time-major (a view of :attr:`gates`)."""
        return gate_blocks(self.gates, 3)[0]

    @property
    def reset(self) -> Array:
        """Reset gates ``(T_x, m, n_a)``, time-major."""
        return gate_blocks(self.gates, 3)[1]

    @property
    def candidate(self) -> Array:
        """Candidates ``(T_x, m, n_a)``, time-major."""
        return gate_blocks(self.gates, 3)[2]

    @property
    def u(self) -> Array:
        """Update gates ``(n_a, m, T_x)``."""
        return self._spec(self.update)

    @property
    def r(self) -> Array:
        """Reset gates ``(n_a, m, T_x)``."""
        return self._spec(self.reset)

    @property
    def cct(self) -> Array:
        """Candidates ``(n_a, m, T_x)``."""
        return self._spec(self.candidate)

    def step(self, t: int) -> GRUCellCache:
        """The cell cache of step ``t`` (0-based), as :func:`gru_cell_forward` would have made it."""
        self._check_step(t)
        a_prev = self.a0 if t == 0 else self.states[t - 1, ...].T
        return GRUCellCache(
            self.states[t, ...].T,
            a_prev,
            self.inputs[t, ...].T,
            self.update[t, ...].T,
            self.reset[t, ...].T,
            self.candidate[t, ...].T,
            self.parameters,
        )


def gru_cell_forward(xt: Array, a_prev: Array, parameters: Mapping[str, Array]) -> tuple[Array, Array, GRUCellCache]:
    """One step of the GRU.

    Parameters
    ----------
    xt : array, shape (n_x, m)
        Input at step ``t``.
    a_prev : array, shape (n_a, m)
        Hidden state at step ``t-1``.
    parameters : mapping
        ``Wu, Wr, Wc (n_a, n_a + n_x)``, ``bu, br, bc (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Returns
    -------
    a_next : array, shape (n_a, m)
        The new hidden state.
    yt_pred : array, shape (n_y, m)
        ``softmax(Wy a_next + by)`` over the class axis.
    cache : GRUCellCache
        For :func:`gru_cell_backward`.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments.
    ValueError
        Shapes that disagree, missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.gru import gru_cell_forward
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> p = init_gru_parameters(3, 5, 2, seed=1)
    >>> a_next, yt_pred, cache = gru_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> a_next.shape, yt_pred.shape, cache.rt.shape
    ((5, 10), (2, 10), (5, 10))
    """
    params = check_parameters(parameters, GRU_KEYS)
    xp = common_namespace(named_arrays(params, GRU_KEYS, xt=xt, a_prev=a_prev))
    gated_dims(params, _WEIGHTS, _BIASES, {"xt": xt, "a_prev": a_prev})
    joint = xp.concat([a_prev, xt], axis=0)
    ut = sigmoid(xp.matmul(params["Wu"], joint) + params["bu"])
    rt = sigmoid(xp.matmul(params["Wr"], joint) + params["br"])
    cct = xp.tanh(xp.matmul(params["Wc"], xp.concat([rt * a_prev, xt], axis=0)) + params["bc"])
    a_next = ut * cct + (1 - ut) * a_prev
    yt_pred = softmax(xp.matmul(params["Wy"], a_next) + params["by"], axis=0)
    return a_next, yt_pred, GRUCellCache(a_next, a_prev, xt, ut, rt, cct, params)


def gru_cell_backward(da_next: Array, cache: GRUCellCache) -> dict[str, Array]:
    """Gradients of one GRU step, given the gradient reaching its new hidden state.

    Parameters
    ----------
    da_next : array, shape (n_a, m)
        Gradient of the loss with respect to ``a_next``.
    cache : GRUCellCache
        From :func:`gru_cell_forward` (or :meth:`GRUCache.step`).

    Returns
    -------
    dict
        ``dxt (n_x, m)``, ``da_prev (n_a, m)``, ``dWu, dWr, dWc (n_a, n_a + n_x)``, ``dbu, dbr, dbc (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.gru import gru_cell_backward, gru_cell_forward
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> p = init_gru_parameters(3, 5, 2, seed=1)
    >>> _, _, cache = gru_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> grads = gru_cell_backward(np.ones((5, 10)), cache)
    >>> grads["dxt"].shape, grads["da_prev"].shape, grads["dWr"].shape
    ((3, 10), (5, 10), (5, 8))
    """
    if not isinstance(cache, GRUCellCache):
        raise TypeError(f"cache must be the GRUCellCache returned by gru_cell_forward, got {type(cache).__name__}")
    a_next, a_prev, xt, ut, rt, cct, params = cache
    xp = common_namespace({"cache.a_next": a_next, "da_next": da_next})
    n_a = int(a_next.shape[0])
    expect_shape("da_next", da_next, ("n_a", "m"), {"n_a": n_a, "m": int(a_next.shape[1])})
    dzu = da_next * (cct - a_prev) * ut * (1 - ut)
    dzc = da_next * ut * (1 - cct * cct)
    dcandidate_input = xp.matmul(params["Wc"].T, dzc)  # gradient of [r * a_prev; xt]
    dreset_state = dcandidate_input[:n_a, ...]
    dzr = dreset_state * a_prev * rt * (1 - rt)
    joint_t = xp.concat([a_prev, xt], axis=0).T
    djoint = xp.matmul(params["Wu"].T, dzu) + xp.matmul(params["Wr"].T, dzr)
    return {
        "dxt": djoint[n_a:, ...] + dcandidate_input[n_a:, ...],
        "da_prev": da_next * (1 - ut) + dreset_state * rt + djoint[:n_a, ...],
        "dWu": xp.matmul(dzu, joint_t),
        "dbu": xp.sum(dzu, axis=1, keepdims=True),
        "dWr": xp.matmul(dzr, joint_t),
        "dbr": xp.sum(dzr, axis=1, keepdims=True),
        "dWc": xp.matmul(dzc, xp.concat([rt * a_prev, xt], axis=0).T),
        "dbc": xp.sum(dzc, axis=1, keepdims=True),
    }


def gru_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None
) -> tuple[Array, Array, GRUCache]:
    """Run the GRU over a whole sequence.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs for every step.
    a0 : array, shape (n_a, m)
        Initial hidden state.
    parameters : mapping
        ``Wu, Wr, Wc (n_a, n_a + n_x)``, ``bu, br, bc (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.
    mask : array of bool, shape (m, T_x), optional
        ``mask[i, t]`` is ``False`` where example ``i`` has no step ``t`` (padding). There the state is
        carried unchanged and the step takes no part in the backward pass, so a padded batch gives
        what each example alone gives. ``a[..., -1]`` is then every example's final state: pass it as
        ``a0`` of the next window for truncated BPTT.

    Returns
    -------
    a : array, shape (n_a, m, T_x)
        Hidden states ``a<1> ... a<T_x>`` (a new array).
    y_pred : array, shape (n_y, m, T_x)
        Softmax outputs for every step (meaningless at padded steps).
    caches : GRUCache
        For :func:`gru_backward`; holds every gate for inspection.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments, a non-boolean mask.
    ValueError
        Shapes that disagree (a 1-D bias included), missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.gru import gru_forward
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> rng = np.random.default_rng(1)
    >>> p = init_gru_parameters(3, 5, 2, seed=1)
    >>> a, y_pred, caches = gru_forward(rng.standard_normal((3, 10, 4)), np.zeros((5, 10)), p)
    >>> a.shape, y_pred.shape, caches.r.shape
    ((5, 10, 4), (2, 10, 4), (5, 10, 4))
    """
    if any(array_api_compat.is_dask_array(array) for array in (x, a0, mask)):
        from xrnn.parallel import dask_arrays

        # Dask inputs return a DaskCache, which the annotation (for every other library) does not name.
        return dask_arrays.gru_forward(x, a0, parameters, mask=mask)  # type: ignore[return-value]
    params = check_parameters(parameters, GRU_KEYS)
    xp = common_namespace(named_arrays(params, GRU_KEYS, x=x, a0=a0))
    dims = gated_dims(params, _WEIGHTS, _BIASES, {"x": x, "a0": a0})
    keep = mask_rows(xp, mask, x, dims)
    cache = _forward(xp, x, a0, params, keep, dims["n_a"])
    t_x, m, n_a = cache.states.shape
    y_rows = output_rows(xp, xp.reshape(cache.states, (t_x * m, n_a)), params)
    return xp.asarray(cache.a, copy=True), from_rows(xp, y_rows, m), cache


def gru_backward(da: Array, caches: GRUCache | DaskCache) -> dict[str, Array]:
    """Backpropagation through time for the GRU.

    Parameters
    ----------
    da : array, shape (n_a, m, T_x)
        Gradient of the loss with respect to each hidden state ``a<t>`` from outside the recurrence
        (for example from the output layer). Ignored at steps the forward mask marks as padding.
    caches : GRUCache
        From :func:`gru_forward`.

    Returns
    -------
    dict
        ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``, ``dWu, dWr, dWc (n_a, n_a + n_x)``, ``dbu, dbr, dbc (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.gru import gru_backward, gru_forward
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> p = init_gru_parameters(3, 5, 2, seed=1)
    >>> a, _, caches = gru_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), p)
    >>> grads = gru_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWc"].shape, grads["dbu"].shape
    ((3, 10, 4), (5, 10), (5, 8), (5, 1))
    """
    if not isinstance(caches, GRUCache):
        from xrnn.parallel import dask_arrays

        if not isinstance(caches, dask_arrays.DaskCache):
            raise TypeError(f"caches must be the GRUCache returned by gru_forward, got {type(caches).__name__}")
        return dask_arrays.gru_backward(da, caches)
    xp = common_namespace({"caches.states": caches.states, "da": da})
    t_x, m, n_a = caches.states.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    return _backward(xp, xp.reshape(to_rows(xp, da), (t_x, m, n_a)), caches)


def _forward(
    xp: ModuleType, x: Array, a0: Array, params: Mapping[str, Array], keep: Array | None, n_a: int
) -> GRUCache:
    """Every state and gate, with the input projection of all three gates as one product."""
    _, m, t_x = x.shape
    w_a, w_x = split_columns(xp, params, _WEIGHTS, n_a)
    inputs_rows = to_rows(xp, x)
    projection = input_projection(xp, inputs_rows, w_x, params, _BIASES)
    gates, states = gru_forward_scan(xp, xp.reshape(projection, (t_x, m, 3 * n_a)), w_a, a0.T, keep)
    return GRUCache(
        states=states,
        gates=gates,
        inputs=xp.reshape(inputs_rows, (t_x, m, -1)),
        a0=a0,
        parameters=params,
        mask=keep,
    )


def _backward(xp: ModuleType, dstates: Array, cache: GRUCache) -> dict[str, Array]:
    """BPTT from the gradient reaching each hidden state; the products that need no step are hoisted."""
    t_x, m, n_a = cache.states.shape
    w_a, w_x = split_columns(xp, cache.parameters, _WEIGHTS, n_a)
    dz, da0_rows = gru_backward_scan(xp, dstates, cache.gates, cache.states, cache.a0.T, w_a, cache.mask)
    dz_rows = xp.reshape(dz, (t_x * m, 3 * n_a))
    inputs_rows = xp.reshape(cache.inputs, (t_x * m, -1))
    a_prev_rows = xp.reshape(previous_rows(xp, cache.a0.T, cache.states), (t_x * m, n_a))
    reset_rows = xp.reshape(cache.reset, (t_x * m, n_a))
    # The gates act on [a_prev; x], the candidate on [r * a_prev; x].
    dw = split_gradient(joint_weight_gradient(xp, dz_rows[:, : 2 * n_a], a_prev_rows, inputs_rows), _WEIGHTS[:2], n_a)
    dwc = joint_weight_gradient(xp, dz_rows[:, 2 * n_a :], reset_rows * a_prev_rows, inputs_rows)
    db = split_gradient(xp.reshape(xp.sum(dz_rows, axis=0), (-1, 1)), _BIASES, n_a)
    return {
        "dx": from_rows(xp, xp.matmul(dz_rows, w_x), m),
        "da0": da0_rows.T,
        "dWu": dw["dWu"],
        "dbu": db["dbu"],
        "dWr": dw["dWr"],
        "dbr": db["dbr"],
        "dWc": dwc,
        "dbc": db["dbc"],
    }
