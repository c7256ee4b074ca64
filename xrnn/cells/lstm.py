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
``xrnn._gated_scans``, with a NumPy fast path); ``dx`` and the weight gradients are single products
after the loop.
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
from xrnn.cells._gated_scans import lstm_backward_scan, lstm_forward_scan
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

#: The parameter keys, in the spec's order.
LSTM_KEYS = ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by")
_WEIGHTS = ("Wf", "Wi", "Wc", "Wo")
_BIASES = ("bf", "bi", "bc", "bo")
# Internal stacking order, that of the scans' gate blocks (xrnn._gated_scans.LSTM_GATES).
_STACK_W = ("Wo", "Wf", "Wi", "Wc")
_STACK_B = ("bo", "bf", "bi", "bc")


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


@dataclass(frozen=True, eq=False)
class LSTMCache(TimeMajorCache):
    """What :func:`lstm_forward` keeps for :func:`lstm_backward`: every state and gate, time-major.

    Attributes
    ----------
    states, cells : array, shape (T_x, m, n_a)
        Hidden states ``a<t+1>`` and cell states ``c<t+1>`` of step ``t``, one row per example.
    gates : array, shape (T_x, m, 4 n_a)
        The gates of step ``t`` side by side, in the order ``o, f, i, cc``; :attr:`forget`,
        :attr:`update`, :attr:`candidate` and :attr:`output` are views of one gate each.
    inputs : array, shape (T_x, m, n_x)
        The input sequence in the same layout.
    a0, c0 : array, shape (n_a, m)
        The initial states.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy). Update them only after the backward pass.
    mask : array of bool, shape (T_x, m, 1), or None
        Time-major ``mask`` (see :func:`lstm_forward`); ``None`` when every step is real.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.lstm import lstm_forward
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=0)
    >>> a, y, c, caches = lstm_forward(np.ones((3, 4, 2)), np.zeros((5, 4)), p)
    >>> len(caches), caches.f.shape, caches.step(1).c_prev.shape
    (2, (5, 4, 2), (5, 4))
    """

    states: Array
    cells: Array
    gates: Array
    inputs: Array
    a0: Array
    c0: Array
    parameters: Mapping[str, Array]
    mask: Array | None = None

    @property
    def output(self) -> Array:
        """Output gates ``(T_x, m, n_a)``, time-major (a view of :attr:`gates`)."""
        return gate_blocks(self.gates, 4)[0]

    @property
    def forget(self) -> Array:
        """Forget gates ``(T_x, m, n_a)``, time-major."""
        return gate_blocks(self.gates, 4)[1]

    @property
    def update(self) -> Array:
        """Update gates ``(T_x, m, n_a)``, time-major."""
        return gate_blocks(self.gates, 4)[2]

    @property
    def candidate(self) -> Array:
        """Candidate cells ``(T_x, m, n_a)``, time-major."""
        return gate_blocks(self.gates, 4)[3]

    @property
    def c(self) -> Array:
        """Cell states ``(n_a, m, T_x)`` (a view of :attr:`cells`)."""
        return self._spec(self.cells)

    @property
    def f(self) -> Array:
        """Forget gates ``(n_a, m, T_x)``."""
        return self._spec(self.forget)

    @property
    def i(self) -> Array:
        """Update gates ``(n_a, m, T_x)``."""
        return self._spec(self.update)

    @property
    def cct(self) -> Array:
        """Candidate cells ``(n_a, m, T_x)``."""
        return self._spec(self.candidate)

    @property
    def o(self) -> Array:
        """Output gates ``(n_a, m, T_x)``."""
        return self._spec(self.output)

    def step(self, t: int) -> LSTMCellCache:
        """The cell cache of step ``t`` (0-based), as :func:`lstm_cell_forward` would have made it.

        Under a mask, a padded step's states are the carried ones and its gates are not used.
        """
        self._check_step(t)
        a_prev = self.a0 if t == 0 else self.states[t - 1, ...].T
        c_prev = self.c0 if t == 0 else self.cells[t - 1, ...].T
        return LSTMCellCache(
            self.states[t, ...].T,
            self.cells[t, ...].T,
            a_prev,
            c_prev,
            self.forget[t, ...].T,
            self.update[t, ...].T,
            self.candidate[t, ...].T,
            self.output[t, ...].T,
            self.inputs[t, ...].T,
            self.parameters,
        )


def lstm_cell_forward(
    xt: Array, a_prev: Array, c_prev: Array, parameters: Mapping[str, Array]
) -> tuple[Array, Array, Array, LSTMCellCache]:
    """One step of the LSTM.

    Parameters
    ----------
    xt : array, shape (n_x, m)
        Input at step ``t``.
    a_prev, c_prev : array, shape (n_a, m)
        Hidden and cell state at step ``t-1``.
    parameters : mapping
        ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)``, ``bf, bi, bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Returns
    -------
    a_next, c_next : array, shape (n_a, m)
        The new hidden and cell states.
    yt_pred : array, shape (n_y, m)
        ``softmax(Wy a_next + by)`` over the class axis.
    cache : LSTMCellCache
        For :func:`lstm_cell_backward`.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments.
    ValueError
        Shapes that disagree, missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.lstm import lstm_cell_forward
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=1)
    >>> a_next, c_next, yt_pred, cache = lstm_cell_forward(np.ones((3, 10)), np.zeros((5, 10)),
    ...                                                          np.zeros((5, 10)), p)
    >>> a_next.shape, c_next.shape, yt_pred.shape, bool(np.allclose(yt_pred.sum(axis=0), 1))
    ((5, 10), (5, 10), (2, 10), True)
    """
    params = check_parameters(parameters, LSTM_KEYS)
    xp = common_namespace(named_arrays(params, LSTM_KEYS, xt=xt, a_prev=a_prev, c_prev=c_prev))
    gated_dims(params, _WEIGHTS, _BIASES, {"xt": xt, "a_prev": a_prev, "c_prev": c_prev})
    joint = xp.concat([a_prev, xt], axis=0)
    ft = sigmoid(xp.matmul(params["Wf"], joint) + params["bf"])
    it = sigmoid(xp.matmul(params["Wi"], joint) + params["bi"])
    cct = xp.tanh(xp.matmul(params["Wc"], joint) + params["bc"])
    ot = sigmoid(xp.matmul(params["Wo"], joint) + params["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * xp.tanh(c_next)
    yt_pred = softmax(xp.matmul(params["Wy"], a_next) + params["by"], axis=0)
    return a_next, c_next, yt_pred, LSTMCellCache(a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, params)


def lstm_cell_backward(da_next: Array, dc_next: Array, cache: LSTMCellCache) -> dict[str, Array]:
    """Gradients of one LSTM step, given the gradients reaching its new hidden and cell states.

    Parameters
    ----------
    da_next, dc_next : array, shape (n_a, m)
        Gradients of the loss with respect to ``a_next`` and ``c_next`` (``dc_next`` only from later
        steps: the path through ``a_next`` is added here).
    cache : LSTMCellCache
        From :func:`lstm_cell_forward` (or :meth:`LSTMCache.step`).

    Returns
    -------
    dict
        ``dxt (n_x, m)``, ``da_prev (n_a, m)``, ``dc_prev (n_a, m)``, ``dWf, dWi, dWc, dWo
        (n_a, n_a + n_x)`` and ``dbf, dbi, dbc, dbo (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.lstm import lstm_cell_backward, lstm_cell_forward
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=1)
    >>> *_, cache = lstm_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), np.zeros((5, 10)), p)
    >>> grads = lstm_cell_backward(np.ones((5, 10)), np.zeros((5, 10)), cache)
    >>> grads["dxt"].shape, grads["dc_prev"].shape, grads["dWf"].shape
    ((3, 10), (5, 10), (5, 8))
    """
    if not isinstance(cache, LSTMCellCache):
        raise TypeError(f"cache must be the LSTMCellCache returned by lstm_cell_forward, got {type(cache).__name__}")
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, params = cache
    xp = common_namespace({"cache.a_next": a_next, "da_next": da_next, "dc_next": dc_next})
    dims = {"n_a": int(a_next.shape[0]), "m": int(a_next.shape[1])}
    expect_shape("da_next", da_next, ("n_a", "m"), dims)
    expect_shape("dc_next", dc_next, ("n_a", "m"), dims)
    n_a = dims["n_a"]
    tanh_c = xp.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c * tanh_c)
    dz = {
        "f": dc * c_prev * ft * (1 - ft),
        "i": dc * cct * it * (1 - it),
        "c": dc * it * (1 - cct * cct),
        "o": da_next * tanh_c * ot * (1 - ot),
    }
    joint_t = xp.concat([a_prev, xt], axis=0).T
    djoint = sum(xp.matmul(params["W" + gate].T, dz_gate) for gate, dz_gate in dz.items())
    grads = {"dxt": djoint[n_a:, ...], "da_prev": djoint[:n_a, ...], "dc_prev": dc * ft}
    for gate, dz_gate in dz.items():
        grads["dW" + gate] = xp.matmul(dz_gate, joint_t)
        grads["db" + gate] = xp.sum(dz_gate, axis=1, keepdims=True)
    return grads


def lstm_forward(
    x: Array,
    a0: Array,
    parameters: Mapping[str, Array],
    *,
    c0: Array | None = None,
    mask: Array | None = None,
) -> tuple[Array, Array, Array, LSTMCache]:
    """Run the LSTM over a whole sequence.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs for every step.
    a0 : array, shape (n_a, m)
        Initial hidden state.
    parameters : mapping
        ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)``, ``bf, bi, bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.
    c0 : array, shape (n_a, m), optional
        Initial cell state; zeros when omitted.
    mask : array of bool, shape (m, T_x), optional
        ``mask[i, t]`` is ``False`` where example ``i`` has no step ``t`` (padding). There the states
        are carried unchanged and the step takes no part in the backward pass, so a padded batch gives
        what each example alone gives. ``a[..., -1]`` and ``c[..., -1]`` are then every example's final
        states: pass them as ``a0`` and ``c0`` of the next window for truncated BPTT.

    Returns
    -------
    a : array, shape (n_a, m, T_x)
        Hidden states ``a<1> ... a<T_x>`` (a new array).
    y : array, shape (n_y, m, T_x)
        Softmax outputs for every step (meaningless at padded steps).
    c : array, shape (n_a, m, T_x)
        Cell states ``c<1> ... c<T_x>`` (a new array).
    caches : LSTMCache
        For :func:`lstm_backward`; holds every gate for inspection.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments, a non-boolean mask.
    ValueError
        Shapes that disagree (a 1-D bias included), missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.lstm import lstm_forward
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> rng = np.random.default_rng(1)
    >>> p = init_lstm_parameters(3, 5, 2, seed=1)
    >>> a, y, c, caches = lstm_forward(rng.standard_normal((3, 10, 4)), np.zeros((5, 10)), p)
    >>> a.shape, y.shape, c.shape, caches.o.shape
    ((5, 10, 4), (2, 10, 4), (5, 10, 4), (5, 10, 4))
    """
    if any(array_api_compat.is_dask_array(array) for array in (x, a0, c0, mask)):
        from xrnn.parallel import dask_arrays

        # Dask inputs return a DaskCache, which the annotation (for every other library) does not name.
        return dask_arrays.lstm_forward(x, a0, parameters, c0=c0, mask=mask)  # type: ignore[return-value]
    params = check_parameters(parameters, LSTM_KEYS)
    data = {"x": x, "a0": a0} if c0 is None else {"x": x, "a0": a0, "c0": c0}
    xp = common_namespace(named_arrays(params, LSTM_KEYS, **data))
    dims = gated_dims(params, _WEIGHTS, _BIASES, data)
    keep = mask_rows(xp, mask, x, dims)
    if c0 is None:
        c0 = xp.zeros_like(a0)
    cache = _forward(xp, x, a0, c0, params, keep, dims["n_a"])
    t_x, m, n_a = cache.states.shape
    y_rows = output_rows(xp, xp.reshape(cache.states, (t_x * m, n_a)), params)
    a = xp.asarray(cache.a, copy=True)
    c = xp.asarray(cache.c, copy=True)
    return a, from_rows(xp, y_rows, m), c, cache


def lstm_backward(da: Array, caches: LSTMCache | DaskCache) -> dict[str, Array]:
    """Backpropagation through time for the LSTM.

    Parameters
    ----------
    da : array, shape (n_a, m, T_x)
        Gradient of the loss with respect to each hidden state ``a<t>`` from outside the recurrence
        (for example from the output layer). Ignored at steps the forward mask marks as padding.
    caches : LSTMCache
        From :func:`lstm_forward`.

    Returns
    -------
    dict
        ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``, ``dc0 (n_a, m)``, ``dWf, dWi, dWc, dWo (n_a, n_a + n_x)``
        and ``dbf, dbi, dbc, dbo (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells.lstm import lstm_backward, lstm_forward
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=1)
    >>> a, y, c, caches = lstm_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), p)
    >>> grads = lstm_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWc"].shape, grads["dbo"].shape
    ((3, 10, 4), (5, 10), (5, 8), (5, 1))
    """
    if not isinstance(caches, LSTMCache):
        from xrnn.parallel import dask_arrays

        if not isinstance(caches, dask_arrays.DaskCache):
            raise TypeError(f"caches must be the LSTMCache returned by lstm_forward, got {type(caches).__name__}")
        return dask_arrays.lstm_backward(da, caches)
    xp = common_namespace({"caches.states": caches.states, "da": da})
    t_x, m, n_a = caches.states.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    return _backward(xp, xp.reshape(to_rows(xp, da), (t_x, m, n_a)), caches)


def _forward(
    xp: ModuleType, x: Array, a0: Array, c0: Array, params: Mapping[str, Array], keep: Array | None, n_a: int
) -> LSTMCache:
    """Every state and gate, with the input projection of all four gates as one product."""
    _, m, t_x = x.shape
    w_a, w_x = split_columns(xp, params, _STACK_W, n_a)
    inputs_rows = to_rows(xp, x)
    projection = input_projection(xp, inputs_rows, w_x, params, _STACK_B)
    gates, states, cells = lstm_forward_scan(xp, xp.reshape(projection, (t_x, m, 4 * n_a)), w_a, a0.T, c0.T, keep)
    return LSTMCache(
        states=states,
        cells=cells,
        gates=gates,
        inputs=xp.reshape(inputs_rows, (t_x, m, -1)),
        a0=a0,
        c0=c0,
        parameters=params,
        mask=keep,
    )


def _backward(xp: ModuleType, dstates: Array, cache: LSTMCache) -> dict[str, Array]:
    """BPTT from the gradient reaching each hidden state; the products that need no step are hoisted."""
    t_x, m, n_a = cache.states.shape
    w_a, w_x = split_columns(xp, cache.parameters, _STACK_W, n_a)
    dz, da0_rows, dc0_rows = lstm_backward_scan(xp, dstates, cache.gates, cache.cells, cache.c0.T, w_a, cache.mask)
    dz_rows = xp.reshape(dz, (t_x * m, 4 * n_a))
    previous = xp.reshape(previous_rows(xp, cache.a0.T, cache.states), (t_x * m, n_a))
    inputs_rows = xp.reshape(cache.inputs, (t_x * m, -1))
    weights = split_gradient(joint_weight_gradient(xp, dz_rows, previous, inputs_rows), _STACK_W, n_a)
    biases = split_gradient(xp.reshape(xp.sum(dz_rows, axis=0), (-1, 1)), _STACK_B, n_a)
    grads = {"dx": from_rows(xp, xp.matmul(dz_rows, w_x), m), "da0": da0_rows.T, "dc0": dc0_rows.T}
    for w, b in zip(_WEIGHTS, _BIASES, strict=True):
        grads["d" + w], grads["d" + b] = weights["d" + w], biases["d" + b]
    return grads
