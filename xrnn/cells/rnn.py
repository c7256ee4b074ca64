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

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._masking import mask_rows
from xrnn._typing import Array
from xrnn._validation import RNN_KEYS, check_parameters, common_namespace, expect_shape, rnn_dims
from xrnn.activations import softmax, softmax_unchecked
from xrnn.cells._caches import TimeMajorCache
from xrnn.cells._scan import backward_scan, forward_scan
from xrnn.losses import cross_entropy_rows, target_rows

if TYPE_CHECKING:
    from xrnn.parallel.dask_arrays import DaskCache


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


@dataclass(frozen=True, eq=False)
class RNNCache(TimeMajorCache):
    """What :func:`rnn_forward` keeps for :func:`rnn_backward`: each activation once, no per-step copies.

    Attributes
    ----------
    states : array, shape (T_x, m, n_a)
        Hidden states, time-major: ``states[t]`` is ``a<t+1>`` transposed (one row per example).
    inputs : array, shape (T_x, m, n_x)
        The input sequence in the same layout.
    a0 : array, shape (n_a, m)
        The initial hidden state (the caller's array).
    parameters : mapping
        The parameters used (the caller's mapping, not a copy). Update them only after the backward pass.
    mask : array of bool, shape (T_x, m, 1), or None
        Time-major ``mask`` (see :func:`rnn_forward`); ``None`` when every step is real.

    Examples
    --------
    >>> import xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0)
    >>> x = xrnn.backends.asarray([[[1.0, 2.0]]] * 3)  # n_x=3, m=1, T_x=2
    >>> a, y_pred, cache = xrnn.rnn_forward(x, xrnn.backends.asarray([[0.0]] * 5), p)
    >>> len(cache), cache.a.shape, cache.step(1).a_prev.shape
    (2, (5, 1, 2), (5, 1))
    """

    states: Array
    inputs: Array
    a0: Array
    parameters: Mapping[str, Array]
    mask: Array | None = None

    def step(self, t: int) -> RNNCellCache:
        """The cell cache of step ``t`` (0-based), as :func:`rnn_cell_forward` would have made it."""
        self._check_step(t)
        a_prev = self.a0 if t == 0 else self.states[t - 1, ...].T
        return RNNCellCache(self.states[t, ...].T, a_prev, self.inputs[t, ...].T, self.parameters)


def rnn_cell_forward(xt: Array, a_prev: Array, parameters: Mapping[str, Array]) -> tuple[Array, Array, RNNCellCache]:
    """One step of the RNN.

    Parameters
    ----------
    xt : array, shape (n_x, m)
        Input at step ``t``.
    a_prev : array, shape (n_a, m)
        Hidden state at step ``t-1``.
    parameters : mapping
        ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.

    Returns
    -------
    a_next : array, shape (n_a, m)
        ``tanh(Wax xt + Waa a_prev + ba)``.
    yt_pred : array, shape (n_y, m)
        ``softmax(Wya a_next + by)`` over the class axis.
    cache : RNNCellCache
        ``(a_next, a_prev, xt, parameters)`` for :func:`rnn_cell_backward`.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments.
    ValueError
        Shapes that disagree, missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> a_next, yt_pred, cache = xrnn.rnn_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> a_next.shape, yt_pred.shape, bool(np.allclose(yt_pred.sum(axis=0), 1))
    ((5, 10), (2, 10), True)
    """
    params = check_parameters(parameters, RNN_KEYS)
    xp = common_namespace(_named_arrays(params, xt=xt, a_prev=a_prev))
    rnn_dims(params, {"xt": xt, "a_prev": a_prev})
    wax, waa, wya, ba, by = (params[key] for key in RNN_KEYS)
    a_next = xp.tanh(xp.matmul(wax, xt) + xp.matmul(waa, a_prev) + ba)
    yt_pred = softmax(xp.matmul(wya, a_next) + by, axis=0)
    return a_next, yt_pred, RNNCellCache(a_next, a_prev, xt, params)


def rnn_cell_backward(da_next: Array, cache: RNNCellCache) -> dict[str, Array]:
    """Gradients of one step, given the gradient reaching its new hidden state.

    Parameters
    ----------
    da_next : array, shape (n_a, m)
        Gradient of the loss with respect to ``a_next``.
    cache : RNNCellCache
        From :func:`rnn_cell_forward` (or :meth:`RNNCache.step`).

    Returns
    -------
    dict
        ``dxt (n_x, m)``, ``da_prev (n_a, m)``, ``dWax (n_a, n_x)``, ``dWaa (n_a, n_a)``, ``dba (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> _, _, cache = xrnn.rnn_cell_forward(np.ones((3, 10)), np.zeros((5, 10)), p)
    >>> sorted(xrnn.rnn_cell_backward(np.ones((5, 10)), cache))
    ['dWaa', 'dWax', 'da_prev', 'dba', 'dxt']
    """
    if not isinstance(cache, RNNCellCache):
        raise TypeError(f"cache must be the RNNCellCache returned by rnn_cell_forward, got {type(cache).__name__}")
    a_next, a_prev, xt, params = cache
    xp = common_namespace({"cache.a_next": a_next, "da_next": da_next})
    expect_shape("da_next", da_next, ("n_a", "m"), {"n_a": a_next.shape[0], "m": a_next.shape[1]})
    dz = (1 - a_next * a_next) * da_next
    return {
        "dxt": xp.matmul(params["Wax"].T, dz),
        "da_prev": xp.matmul(params["Waa"].T, dz),
        "dWax": xp.matmul(dz, xt.T),
        "dWaa": xp.matmul(dz, a_prev.T),
        "dba": xp.sum(dz, axis=1, keepdims=True),
    }


def rnn_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None
) -> tuple[Array, Array, RNNCache]:
    """Run the RNN over a whole sequence.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs for every step.
    a0 : array, shape (n_a, m)
        Initial hidden state.
    parameters : mapping
        ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.
    mask : array of bool, shape (m, T_x), optional
        ``mask[i, t]`` is ``False`` where example ``i`` has no step ``t`` (padding). There the state is
        carried unchanged and the step takes no part in the backward pass, so a padded batch gives
        what each example alone gives. ``a[..., -1]`` is then every example's final state: pass it as
        ``a0`` of the next window for truncated BPTT.

    Returns
    -------
    a : array, shape (n_a, m, T_x)
        Hidden states ``a<1> ... a<T_x>`` (a new array; writing to it does not touch the cache).
    y_pred : array, shape (n_y, m, T_x)
        Softmax outputs for every step (meaningless at padded steps).
    caches : RNNCache
        For :func:`rnn_backward`.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries, non-array arguments.
    ValueError
        Shapes that disagree (a 1-D bias included), missing parameter keys, arrays on different devices.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> rng = np.random.default_rng(1)
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> a, y_pred, caches = xrnn.rnn_forward(rng.standard_normal((3, 10, 4)), np.zeros((5, 10)), p)
    >>> a.shape, y_pred.shape, len(caches)
    ((5, 10, 4), (2, 10, 4), 4)
    """
    if any(array_api_compat.is_dask_array(array) for array in (x, a0, mask)):
        from xrnn.parallel import dask_arrays

        # Dask inputs return a DaskCache, which the annotation (for every other library) does not name.
        return dask_arrays.rnn_forward(x, a0, parameters, mask=mask)  # type: ignore[return-value]
    params = check_parameters(parameters, RNN_KEYS)
    xp = common_namespace(_named_arrays(params, x=x, a0=a0))
    dims = rnn_dims(params, {"x": x, "a0": a0})
    cache = _hidden_states(xp, x, a0, params, mask_rows(xp, mask, x, dims))
    m = x.shape[1]
    states_rows = xp.reshape(cache.states, (-1, cache.states.shape[2]))
    y_rows = softmax_unchecked(xp, _output_logits(xp, states_rows, params), axis=1)
    a = xp.asarray(cache.a, copy=True)
    return a, from_rows(xp, y_rows, m), cache


def rnn_backward(da: Array, caches: RNNCache | DaskCache) -> dict[str, Array]:
    """Backpropagation through time.

    Parameters
    ----------
    da : array, shape (n_a, m, T_x)
        Gradient of the loss with respect to each hidden state ``a<t>`` from outside the recurrence
        (for example from the output layer); the gradient flowing back through ``Waa`` is added here.
        Ignored at steps the forward mask marks as padding.
    caches : RNNCache
        From :func:`rnn_forward`.

    Returns
    -------
    dict
        ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``, ``dWax (n_a, n_x)``, ``dWaa (n_a, n_a)``, ``dba (n_a, 1)``.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> a, _, caches = xrnn.rnn_forward(np.ones((3, 10, 4)), np.zeros((5, 10)), p)
    >>> grads = xrnn.rnn_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["da0"].shape, grads["dWaa"].shape
    ((3, 10, 4), (5, 10), (5, 5))
    """
    if not isinstance(caches, RNNCache):
        from xrnn.parallel import dask_arrays

        if not isinstance(caches, dask_arrays.DaskCache):
            raise TypeError(f"caches must be the RNNCache returned by rnn_forward, got {type(caches).__name__}")
        return dask_arrays.rnn_backward(da, caches)
    xp = common_namespace({"caches.states": caches.states, "da": da})
    t_x, m, n_a = caches.states.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    dstates = xp.reshape(to_rows(xp, da), (t_x, m, n_a))
    return _backpropagate(xp, dstates, caches)


def rnn_loss_and_gradients(
    x: Array, a0: Array, labels: Array, parameters: Mapping[str, Array], *, mask: Array | None = None
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
        ``Wax, Waa, Wya, ba, by`` as in :func:`rnn_forward`.
    mask : array of bool, shape (m, T_x), optional
        Padding, as in :func:`rnn_forward`: the mean then runs over the real steps only, and a padded
        batch gives each example's loss and gradients weighted by its number of real steps.

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
    if any(array_api_compat.is_dask_array(array) for array in (x, a0, labels, mask)):
        from xrnn.parallel import dask_arrays

        return dask_arrays.rnn_loss_and_gradients(x, a0, labels, parameters, mask=mask)
    params = check_parameters(parameters, RNN_KEYS)
    xp = common_namespace(_named_arrays(params, x=x, a0=a0))
    dims = rnn_dims(params, {"x": x, "a0": a0})
    targets = target_rows(xp, labels, x, dims)
    keep = mask_rows(xp, mask, x, dims)
    cache = _hidden_states(xp, x, a0, params, keep)
    t_x, m, n_a = cache.states.shape
    states_rows = xp.reshape(cache.states, (t_x * m, n_a))
    keep_rows = None if keep is None else xp.reshape(keep, (t_x * m,))
    loss, dlogits = cross_entropy_rows(xp, _output_logits(xp, states_rows, params), targets, keep_rows)
    dstates = xp.reshape(xp.matmul(dlogits, params["Wya"]), (t_x, m, n_a))
    gradients = _backpropagate(xp, dstates, cache)
    gradients["dWya"] = xp.matmul(dlogits.T, states_rows)
    gradients["dby"] = xp.reshape(xp.sum(dlogits, axis=0), (-1, 1))
    return loss, gradients


def _named_arrays(params: Mapping[str, Array], **data: Array) -> dict[str, Array]:
    return {**data, **{f"parameters['{key}']": params[key] for key in RNN_KEYS}}


def _hidden_states(
    xp: ModuleType, x: Array, a0: Array, params: Mapping[str, Array], keep: Array | None = None
) -> RNNCache:
    """The hidden states of every step, with the input projection as one product."""
    _, m, t_x = x.shape
    inputs_rows = to_rows(xp, x)
    preactivation = xp.matmul(inputs_rows, params["Wax"].T)
    preactivation += params["ba"].T  # in place: the product is a buffer xrnn owns
    n_a = preactivation.shape[1]
    states = forward_scan(xp, xp.reshape(preactivation, (t_x, m, n_a)), params["Waa"], a0.T, keep)
    return RNNCache(states, xp.reshape(inputs_rows, (t_x, m, -1)), a0, params, keep)


def _output_logits(xp: ModuleType, states_rows: Array, params: Mapping[str, Array]) -> Array:
    """``Wya a<t> + by`` for every step as one product, as rows ``(T_x * m, n_y)``."""
    logits = xp.matmul(states_rows, params["Wya"].T)
    logits += params["by"].T  # in place: the product is a buffer xrnn owns
    return logits


def _backpropagate(xp: ModuleType, dstates: Array, cache: RNNCache) -> dict[str, Array]:
    """BPTT from the gradient reaching each state; the weight gradients and ``dx`` are single products."""
    params = cache.parameters
    t_x, m, n_a = cache.states.shape
    dz, da0_rows = backward_scan(xp, dstates, cache.states, params["Waa"], cache.mask)
    dz_rows = xp.reshape(dz, (t_x * m, n_a))
    states_rows = xp.reshape(cache.states, (t_x * m, n_a))
    inputs_rows = xp.reshape(cache.inputs, (t_x * m, -1))
    dwaa = xp.matmul(dz[0, ...].T, cache.a0.T)
    if t_x > 1:  # a<t-1> for t >= 2 are the states of steps 1 .. T_x-1
        dwaa = dwaa + xp.matmul(dz_rows[m:, ...].T, states_rows[: (t_x - 1) * m, ...])
    return {
        "dx": from_rows(xp, xp.matmul(dz_rows, params["Wax"]), m),
        "da0": da0_rows.T,
        "dWax": xp.matmul(dz_rows.T, inputs_rows),
        "dWaa": dwaa,
        "dba": xp.reshape(xp.sum(dz_rows, axis=0), (-1, 1)),
    }
