"""What no framework shows: the gradient at every time step, read off xrnn's explicit backward pass.

:func:`gradient_flow` runs the backward pass of any sequence cache once, one step at a time through the
cell's step backward, and keeps what each step sees: the gradient reaching its states (their L2 norm over
``n_a``, per example) and its contribution to every parameter gradient (their Frobenius norm, and with
``per_step=True`` the contributions themselves). Pascanu, Mikolov and Bengio (2013) study exactly these
numbers to show gradients vanishing or exploding back through time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xrnn._layout import to_rows
from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_shape, namespace_of
from xrnn.cells import SequenceCache, _checkpointed, _loop
from xrnn.cells._checkpointed import CheckpointedCache
from xrnn.layers import BidirectionalCache, StackedCache, split_directions

__all__ = ["GradientFlow", "gradient_flow"]


@dataclass(frozen=True)
class GradientFlow:
    """The gradient at every step of one backward pass.

    Attributes
    ----------
    state_norms : array, shape (T_x, m)
        The L2 norm over ``n_a`` of the whole gradient reaching each hidden state ``a<t>``: from the outputs
        and through the recurrence. Zero at padded steps.
    all_state_norms : dict of str to array, shape (T_x, m)
        The same for every state of the cell by name (``{"a": ..., "c": ...}`` for the LSTM). A state other
        than ``a`` is seen as its step's output: for the LSTM's ``c<t>``, the gradient from the later steps
        (the path through ``a<t> = o<t> tanh(c<t>)`` lies inside step ``t``).
    parameter_norms : dict of str to array, shape (T_x,)
        By parameter name (``"Waa"``, not ``"dWaa"``): the Frobenius norm of step ``t``'s contribution to
        that parameter's gradient. The contributions add up to the gradient.
    per_step : dict of str to array, or None
        Shape ``(T_x, *key_shape)`` each:
        the contributions themselves (with ``per_step=True``).
    gradients : dict
        The ordinary gradients of the backward pass (as the cell's backward returns them).
    """

    state_norms: Array
    all_state_norms: dict[str, Array]
    parameter_norms: dict[str, Array]
    per_step: dict[str, Array] | None
    gradients: dict[str, Array]


def gradient_flow(da: Array, cache: Any, *, per_step: bool = False) -> Any:
    """The gradient at every time step of the backward pass of ``cache``, and the ordinary gradients.

    Parameters
    ----------
    da : array, shape (n_a, m, T_x)
        The gradient reaching each hidden state from outside the recurrence, as for the cell's backward.
    cache : cache
        From any cell's sequence forward (``xrnn.rnn_forward``, ``cell.forward``, with or without
        ``checkpoints``), or a :class:`xrnn.StackedCache` / :class:`xrnn.BidirectionalCache`.
    per_step : bool
        Also keep each step's contribution to every parameter gradient (``T_x`` copies of each parameter:
        for small models).

    Returns
    -------
    GradientFlow, or a list of them
        One per layer (bottom first) for a stacked cache, ``[forward, backward]`` for a bidirectional one
        (the backward direction's steps in its own time order); the layer results' ``gradients`` hold the
        gradient reaching that layer's input as ``dx``.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0, scheme="glorot")
    >>> a, _, cache = xrnn.rnn_forward(np.ones((3, 4, 20)), np.zeros((5, 4)), p)
    >>> da = np.zeros_like(a)
    >>> da[..., -1] = 1.0  # a loss on the last state only: how much reaches each earlier step?
    >>> flow = xrnn.gradient_flow(da, cache)
    >>> flow.state_norms.shape, flow.parameter_norms["Waa"].shape
    ((20, 4), (20,))
    >>> bool(flow.state_norms[0, 0] < flow.state_norms[-1, 0])  # it fades back through time
    True
    """
    if isinstance(cache, StackedCache):
        flows: list[GradientFlow] = []
        for layer in reversed(cache.layers):
            flows.append(_one(da, layer, per_step))
            da = flows[-1].gradients["dx"]
        return flows[::-1]
    if isinstance(cache, BidirectionalCache):
        _, da_forward, da_backward = split_directions(da, cache)
        return [_one(da_forward, cache.forward, per_step), _one(da_backward, cache.backward, per_step)]
    return _one(da, cache, per_step)


def _one(da: Array, cache: Any, per_step: bool) -> GradientFlow:
    if not isinstance(cache, SequenceCache):
        raise TypeError(
            f"cache must be the cache of a sequence forward on NumPy, CuPy or array-api-strict arrays, got "
            f"{type(cache).__name__}" + (" (compute the Dask arrays first)" if hasattr(cache, "shards") else "")
        )
    xp = common_namespace({"caches.states": cache.initial[0], "da": da})
    t_x, m, n_a = cache.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    dstates = xp.reshape(to_rows(xp, da), (t_x, m, n_a))
    seen = _Record(cache.cell.state, cache.cell.keys, per_step)
    if isinstance(cache, CheckpointedCache):
        schedule = cache.chunks.schedule

        def chunk_gradient(index: int, _: SequenceCache) -> Array:
            start, stop = schedule.bounds(index)
            return dstates[start:stop, ...]

        def chunk_backward(index: int, chunk: SequenceCache, gradient: Array, after: Any) -> dict[str, Array]:
            return _loop.backward(chunk, gradient, after, observe=seen.at(schedule.bounds(index)[0]))

        gradients = _checkpointed.backward(cache, chunk_gradient, chunk_backward)
    else:
        gradients = _loop.backward(cache, dstates, observe=seen.at(0))
    return seen.result(xp, gradients)


class _Record:
    """What each step's backward saw: the norms (and contributions) by absolute step."""

    def __init__(self, state: tuple[str, ...], keys: tuple[str, ...], per_step: bool) -> None:
        self.state, self.keys, self.keep = state, keys, per_step
        self.states: dict[int, tuple[Array, ...]] = {}
        self.norms: dict[int, dict[str, Array]] = {}  # each step's parameter-gradient norms, 0-D
        self.parameters: dict[int, Mapping[str, Array]] = {}  # each step's contributions: only if kept

    def at(self, offset: int) -> Any:
        def observe(t: int, dstate: tuple[Array, ...], dparameters: Mapping[str, Array]) -> None:
            xp = namespace_of(dstate[0])
            self.states[offset + t] = tuple(xp.sqrt(xp.sum(g * g, axis=0)) for g in dstate)
            self.norms[offset + t] = {key: xp.sqrt(xp.sum(g * g)) for key, g in dparameters.items()}
            if self.keep:  # T_x copies of every parameter: the rest keeps the backward pass's memory
                self.parameters[offset + t] = dict(dparameters)

        return observe

    def result(self, xp: Any, gradients: dict[str, Array]) -> GradientFlow:
        steps = sorted(self.states)
        all_norms = {name: xp.stack([self.states[t][i] for t in steps]) for i, name in enumerate(self.state)}
        norms = {key: xp.stack([self.norms[t][f"d{key}"] for t in steps]) for key in self.keys}
        contributions = (
            {key: xp.stack([self.parameters[t][f"d{key}"] for t in steps]) for key in self.keys} if self.keep else None
        )
        return GradientFlow(all_norms[self.state[0]], all_norms, norms, contributions, gradients)
