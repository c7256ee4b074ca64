"""The sequence engine: one forward, one backward and one loss for every cell specification.

Each entry point checks its arguments once at the door (``_door``) and hands the checked record down: the
cell's declared optimisation (``_projected``) runs where it has one, the step loop (``_loop``) otherwise.
Arrays of a library that another module handles as a whole (Dask arrays, sharded along the batch) go to
the handler that module registered; the engine never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, NamedTuple, Protocol

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._masking import zero_padding
from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_shape
from xrnn.activations import softmax_unchecked
from xrnn.cells import _checkpointed
from xrnn.cells._caches import SequenceCache
from xrnn.cells._checkpoint import check_budget, plan
from xrnn.cells._checkpointed import CheckpointedCache
from xrnn.cells._door import SEQUENCE, Checked, check_call, check_step, check_step_gradients, fill_zeros, initial_data
from xrnn.cells._run import run_backward, run_forward
from xrnn.cells._spec import CellSpec, State
from xrnn.losses import check_labels, cross_entropy_rows, labels_to_rows


class Forward(NamedTuple):
    """What a sequence forward returns: the states asked for, the outputs if asked for, and the cache."""

    states: tuple[Array, ...]
    y: Array | None
    cache: Any


class SequenceCall(NamedTuple):
    """A sequence call as an entry point received it, unchecked: what the engine hands a handler."""

    cell: CellSpec
    x: Array
    initial: Sequence[Array | None]
    parameters: Mapping[str, Array]
    mask: Array | None = None
    checkpoints: int | None = None


class ArrayHandler(Protocol):
    """A module that runs whole calls on arrays of its own kind (``xrnn.parallel.dask_arrays``)."""

    def owns(self, value: object) -> bool:
        """Whether ``value`` (an argument or a cache) is one of its arrays or caches."""

    def forward(self, call: SequenceCall, *, output: bool, states: int) -> Forward: ...

    def backward(self, da: Array, cache: Any) -> dict[str, Array]: ...

    def loss_and_gradients(self, call: SequenceCall, labels: Array) -> tuple[Array, dict[str, Array]]: ...


_handlers: list[ArrayHandler] = []


def register_handler(handler: ArrayHandler) -> None:
    """Send every call with an argument (or a cache) that ``handler.owns`` to ``handler``."""
    if handler not in _handlers:
        _handlers.append(handler)
        _owned_by_none.clear()


def handler_of(*values: object) -> ArrayHandler | None:
    """The registered handler that owns one of ``values``, if any."""
    for value in values:
        if value is None or type(value) in _owned_by_none:
            continue
        for handler in _handlers:
            if handler.owns(value):
                return handler
        _owned_by_none.add(type(value))
    return None


# The types no handler owns (NumPy, CuPy arrays, the engine's caches, ...): every call asks, so remember.
_owned_by_none: set[type] = set()


# -- the entry points -----------------------------------------------------------------------------------
def forward(
    cell: CellSpec,
    x: Array,
    initial: Sequence[Array | None],
    parameters: Mapping[str, Array],
    *,
    mask: Array | None = None,
    output: bool = False,
    states: int = 1,
    checkpoints: int | None = None,
) -> Forward:
    """Run ``cell`` over ``x (n_x, m, T_x)`` from ``initial`` (``None`` entries: zeros).

    ``states``: how many of the cell's states to return, each a new ``(n_a, m, T_x)`` array; ``output``:
    also the softmax outputs ``(n_y, m, T_x)`` (then the output layer's keys are checked too);
    ``checkpoints``: the most states the backward pass may hold at once (see ``_checkpoint``).
    """
    budget = check_budget(checkpoints)
    handler = handler_of(x, *initial, mask)
    if handler is not None:
        return handler.forward(SequenceCall(cell, x, initial, parameters, mask, budget), output=output, states=states)
    data = {"x": (x, SEQUENCE), **initial_data(cell, initial)}
    checked = check_call(cell, parameters, data, output=output, mask=mask)
    xp = checked.xp
    start = fill_zeros(xp, initial, checked, x)
    cache, histories = forward_cache(cell, checked, x, start, parameters, budget, states=states)
    m = checked.sizes["m"]
    copies = tuple([xp.asarray(from_rows(xp, rows, m), copy=True) for rows in histories])
    y = outputs(xp, histories[0], parameters, cell.output) if output else None
    return Forward(copies, y, cache)


def backward(da: Array, cache: object) -> dict[str, Array]:
    """Gradients of a sequence forward, given ``da (n_a, m, T_x)``, the gradient reaching each hidden state
    from outside the recurrence: ``"d" + key`` for the cell's keys, ``dx`` and ``"d" + name + "0"``."""
    if not isinstance(cache, SequenceCache):
        handler = handler_of(cache, da)
        if handler is not None:
            return handler.backward(da, cache)
        raise TypeError(f"cache must be the cache of a sequence forward, got {type(cache).__name__}")
    xp = common_namespace({"caches.states": cache.initial[0], "da": da})
    t_x, m, n_a = cache.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    return backward_cache(cache, xp.reshape(to_rows(xp, da), (t_x, m, n_a)))


def loss_and_gradients(
    cell: CellSpec,
    x: Array,
    initial: Sequence[Array | None],
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    mask: Array | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Forward pass, the mean softmax cross-entropy of an output at every (real) step, and every gradient.

    The gradients are ``"d" + key`` for every key (the output layer's too), ``dx`` and ``"d" + name + "0"``.
    With ``checkpoints`` below ``T_x``, nothing whose size grows with ``T_x`` is held but the inputs and
    ``dx``: the states, the input projection, the logits and the targets are made chunk by chunk.
    """
    budget = check_budget(checkpoints)
    handler = handler_of(x, *initial, labels, mask)
    if handler is not None:
        return handler.loss_and_gradients(SequenceCall(cell, x, initial, parameters, mask, budget), labels)
    checked = check_call(cell, parameters, {"x": (x, SEQUENCE), **initial_data(cell, initial)}, output=True, mask=mask)
    xp = checked.xp
    check_labels(xp, labels, x, checked.sizes)
    start = fill_zeros(xp, initial, checked, x, copied=False)  # the caches end with this call
    x = zero_padding(xp, checked.keep, x)
    head = CrossEntropyHead(checked, x, labels, parameters, cell.output)
    if budget is not None and budget < checked.sizes["T_x"]:
        schedule = plan(checked.sizes["T_x"], budget)
        head.bounds = schedule.bounds
        cache, _ = _checkpointed.forward(
            cell, checked, x, start, parameters, schedule, histories=0, visit=head.add_loss
        )
        gradients = _checkpointed.backward(cache, head.gradient)
    else:
        whole = run_forward(cell, checked, x, start, parameters)
        gradients = run_backward(whole, head.gradient(0, whole, add_loss=True))
    gradients.update(head.output_gradients)
    return head.loss, gradients


def step(cell: CellSpec, xt: Array, state: State, parameters: Mapping[str, Array]) -> tuple[State, Array, Any]:
    """One checked step and its softmax output: ``(new_state, yt_pred, cache)`` (``{name}_cell_forward``)."""
    checked = check_step(cell, xt, state, parameters, output=True)
    new_state, cache = cell.step_forward(xt, state, parameters)
    weight, bias = cell.output
    logits = checked.xp.matmul(parameters[weight], new_state[0]) + parameters[bias]
    return tuple(new_state), softmax_unchecked(checked.xp, logits, axis=0), cache


def step_backward(cell: CellSpec, cache_type: type[Any], dstate: State, cache: Any) -> dict[str, Array]:
    """One step's gradients given ``dstate``, what reaches each new state (``{name}_cell_backward``):
    ``dxt``, ``"d" + name + "_prev"`` for each state and ``"d" + key`` for the cell's keys."""
    if not isinstance(cache, cache_type):
        raise TypeError(
            f"cache must be the {cache_type.__name__} returned by {cell.name}_cell_forward, got {type(cache).__name__}"
        )
    given = {f"d{name}_next": gradient for name, gradient in zip(cell.state, dstate, strict=True)}
    check_step_gradients(("cache.a_next", cache.a_next), given)
    dxt, dstate_prev, gradients = cell.step_backward(dstate, cache)
    previous = {f"d{name}_prev": gradient for name, gradient in zip(cell.state, dstate_prev, strict=True)}
    return {"dxt": dxt, **previous, **gradients}


# -- below the door: checked arguments only -------------------------------------------------------------
def forward_cache(
    cell: CellSpec,
    checked: Checked,
    x: Array,
    initial: Sequence[Array],
    parameters: Mapping[str, Array],
    checkpoints: int | None = None,
    *,
    states: int = 0,
) -> tuple[SequenceCache, list[Array]]:
    """The cache of a checked call (checkpointed when ``checkpoints`` is below ``T_x``), and the values of its
    first ``states`` states at every step, time-major ``(T_x, m, n_a)`` (views of the cache, or new arrays).
    The cache keeps ``x`` with its padded steps zeroed (see :func:`~xrnn._masking.zero_padding`)."""
    x = zero_padding(checked.xp, checked.keep, x)
    if checkpoints is None or checkpoints >= checked.sizes["T_x"]:
        cache = run_forward(cell, checked, x, initial, parameters)
        return cache, [cache.history(index) for index in range(states)]
    schedule = plan(checked.sizes["T_x"], checkpoints)
    checkpointed, pieces = _checkpointed.forward(cell, checked, x, initial, parameters, schedule, histories=states)
    return checkpointed, [checked.xp.concat(piece, axis=0) for piece in pieces]


def backward_cache(cache: SequenceCache, dstates: Array) -> dict[str, Array]:
    """BPTT of any cache from ``dstates (T_x, m, n_a)``, time-major."""
    if isinstance(cache, CheckpointedCache):
        schedule = cache.chunks.schedule

        def chunk_gradient(index: int, _: SequenceCache) -> Array:
            start, stop = schedule.bounds(index)
            return dstates[start:stop, ...]

        return _checkpointed.backward(cache, chunk_gradient)
    return run_backward(cache, dstates)


class CrossEntropyHead:
    """The softmax output layer and the mean cross-entropy at every real step, one chunk of steps at a time
    (the whole sequence is one chunk without checkpoints). The mean divides by the whole call's count."""

    def __init__(
        self, checked: Checked, x: Array, labels: Array, parameters: Mapping[str, Array], keys: tuple[str, str]
    ) -> None:
        xp = checked.xp
        self.xp, self.x, self.labels, self.parameters, self.keys = xp, x, labels, parameters, keys
        self.keep = checked.keep
        self.n_y = checked.sizes["n_y"]
        self.count: Array | int = checked.sizes["m"] * checked.sizes["T_x"]
        if self.keep is not None:
            one = xp.asarray(1, dtype=x.dtype, device=array_api_compat.device(x))
            self.count = xp.maximum(xp.sum(xp.astype(self.keep, x.dtype)), one)
        self.bounds: Callable[[int], tuple[int, int]] = lambda _: (0, checked.sizes["T_x"])
        self.loss: Array | None = None  # the first chunk's loss, then the running sum (no zeros() to add to)
        self.output_gradients: dict[str, Array] = {}

    def _chunk(self, index: int, cache: SequenceCache) -> tuple[Array, Array, Array | None, Array]:
        """The chunk's state rows, cross-entropy (its share of the mean) and gradient of the logits."""
        xp = self.xp
        start, stop = self.bounds(index)
        t_x, m, n_a = cache.shape
        rows = xp.reshape(cache.states, (t_x * m, n_a))
        labels = self.labels[..., start:stop]
        targets = labels_to_rows(xp, labels, self.x, self.n_y)
        keep = None if self.keep is None else xp.reshape(self.keep[start:stop, ...], (t_x * m,))
        loss, dlogits = cross_entropy_rows(xp, logits(xp, rows, self.parameters, self.keys), targets, keep, self.count)
        return rows, loss, keep, dlogits

    def add_loss(self, index: int, cache: SequenceCache) -> None:
        self._add(self._chunk(index, cache)[1])

    def _add(self, loss: Array) -> None:
        self.loss = loss if self.loss is None else self.loss + loss

    def gradient(self, index: int, cache: SequenceCache, *, add_loss: bool = False) -> Array:
        """The gradient reaching the chunk's hidden states; adds the chunk's share of the output layer's
        (and, with ``add_loss``, of the loss)."""
        xp = self.xp
        rows, loss, _, dlogits = self._chunk(index, cache)
        if add_loss:
            self._add(loss)
        w_key, b_key = self.keys
        pieces = {"d" + w_key: xp.matmul(dlogits.T, rows), "d" + b_key: xp.reshape(xp.sum(dlogits, axis=0), (-1, 1))}
        for key, piece in pieces.items():
            self.output_gradients[key] = (
                piece if key not in self.output_gradients else self.output_gradients[key] + piece
            )
        t_x, m, n_a = cache.shape
        return xp.reshape(xp.matmul(dlogits, self.parameters[w_key]), (t_x, m, n_a))


def logits(xp: ModuleType, states_rows: Array, parameters: Mapping[str, Array], keys: tuple[str, str]) -> Array:
    """``W a<t> + b`` of the output layer ``keys`` for every row of ``states_rows (N, n_a)``: ``(N, n_y)``."""
    result = xp.matmul(states_rows, parameters[keys[0]].T)
    result += parameters[keys[1]].T  # in place: the product is a buffer xrnn owns
    return result


def outputs(xp: ModuleType, states: Array, parameters: Mapping[str, Array], keys: tuple[str, str]) -> Array:
    """The softmax outputs ``(n_y, m, T_x)`` of the hidden states ``states (T_x, m, n_a)``, time-major."""
    t_x, m, n_a = states.shape
    rows = logits(xp, xp.reshape(states, (t_x * m, n_a)), parameters, keys)
    return from_rows(xp, softmax_unchecked(xp, rows, axis=1), m)
