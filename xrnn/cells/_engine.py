"""The sequence engine: one forward, one backward and one loss for every cell specification.

Each entry point checks its arguments once at the door (``_door``) and hands the checked record down: the
cell's declared optimisation (``_projected``) runs where it has one, the step loop (``_loop``) otherwise.
Arrays of a library that another module handles as a whole (Dask arrays, sharded along the batch) go to
the handler that module registered; the engine never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, NamedTuple, Protocol

from xrnn._layout import from_rows, to_rows
from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_shape
from xrnn.activations import softmax_unchecked
from xrnn.cells import _loop, _projected
from xrnn.cells._caches import ScanCache, SequenceCache
from xrnn.cells._door import SEQUENCE, Checked, check_call, fill_zeros, initial_data
from xrnn.cells._spec import CellSpec
from xrnn.losses import cross_entropy_rows, target_rows


class Forward(NamedTuple):
    """What a sequence forward returns: the states asked for, the outputs if asked for, and the cache."""

    states: tuple[Array, ...]
    y: Array | None
    cache: Any


class ArrayHandler(Protocol):
    """A module that runs whole calls on arrays of its own kind (``xrnn.parallel.dask_arrays``)."""

    def owns(self, value: object) -> bool:
        """Whether ``value`` (an argument or a cache) is one of its arrays or caches."""

    def forward(
        self,
        cell: CellSpec,
        x: Array,
        initial: Sequence[Array | None],
        parameters: Mapping[str, Array],
        mask: Array | None,
        *,
        output: bool,
        states: int,
    ) -> Forward: ...

    def backward(self, da: Array, cache: Any) -> dict[str, Array]: ...

    def loss_and_gradients(
        self,
        cell: CellSpec,
        x: Array,
        initial: Sequence[Array | None],
        labels: Array,
        parameters: Mapping[str, Array],
        mask: Array | None,
    ) -> tuple[Array, dict[str, Array]]: ...


_handlers: list[ArrayHandler] = []


def register_handler(handler: ArrayHandler) -> None:
    """Send every call with an argument (or a cache) that ``handler.owns`` to ``handler``."""
    if handler not in _handlers:
        _handlers.append(handler)


def handler_of(*values: object) -> ArrayHandler | None:
    """The registered handler that owns one of ``values``, if any."""
    for handler in _handlers:
        if any(value is not None and handler.owns(value) for value in values):
            return handler
    return None


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
) -> Forward:
    """Run ``cell`` over ``x (n_x, m, T_x)`` from ``initial`` (``None`` entries: zeros).

    ``states``: how many of the cell's states to return, each a new ``(n_a, m, T_x)`` array; ``output``:
    also the softmax outputs ``(n_y, m, T_x)`` (then the output layer's keys are checked too).
    """
    handler = handler_of(x, *initial, mask)
    if handler is not None:
        return handler.forward(cell, x, initial, parameters, mask, output=output, states=states)
    data = {"x": (x, SEQUENCE), **initial_data(cell, initial)}
    checked = check_call(cell, parameters, data, output=output, mask=mask)
    xp = checked.xp
    cache = run_forward(cell, checked, x, fill_zeros(xp, initial, checked, x), parameters)
    copies = tuple(xp.asarray(cache.in_spec_layout(cache.history(index)), copy=True) for index in range(states))
    y = outputs(xp, cache, parameters) if output else None
    return Forward(copies, y, cache)


def backward(da: Array, cache: object) -> dict[str, Array]:
    """Gradients of a sequence forward, given ``da (n_a, m, T_x)``, the gradient reaching each hidden state
    from outside the recurrence: ``"d" + key`` for the cell's keys, ``dx`` and ``"d" + name + "0"``."""
    handler = handler_of(cache, da)
    if handler is not None:
        return handler.backward(da, cache)
    if not isinstance(cache, SequenceCache):
        raise TypeError(f"cache must be the cache of a sequence forward, got {type(cache).__name__}")
    xp = common_namespace({"caches.states": cache.states, "da": da})
    t_x, m, n_a = cache.states.shape
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    return run_backward(cache, xp.reshape(to_rows(xp, da), (t_x, m, n_a)))


def loss_and_gradients(
    cell: CellSpec,
    x: Array,
    initial: Sequence[Array | None],
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    mask: Array | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Forward pass, the mean softmax cross-entropy of an output at every (real) step, and every gradient.

    The gradients are ``"d" + key`` for every key (the output layer's too), ``dx`` and ``"d" + name + "0"``.
    """
    handler = handler_of(x, *initial, labels, mask)
    if handler is not None:
        return handler.loss_and_gradients(cell, x, initial, labels, parameters, mask)
    checked = check_call(cell, parameters, {"x": (x, SEQUENCE), **initial_data(cell, initial)}, output=True, mask=mask)
    xp = checked.xp
    targets = target_rows(xp, labels, x, checked.sizes)
    cache = run_forward(cell, checked, x, fill_zeros(xp, initial, checked, x), parameters)
    t_x, m, n_a = cache.states.shape
    w_key, b_key = cell.output
    states_rows = xp.reshape(cache.states, (t_x * m, n_a))
    keep_rows = None if checked.keep is None else xp.reshape(checked.keep, (t_x * m,))
    loss, dlogits = cross_entropy_rows(xp, logits(xp, states_rows, parameters, cell.output), targets, keep_rows)
    gradients = run_backward(cache, xp.reshape(xp.matmul(dlogits, parameters[w_key]), (t_x, m, n_a)))
    gradients["d" + w_key] = xp.matmul(dlogits.T, states_rows)
    gradients["d" + b_key] = xp.reshape(xp.sum(dlogits, axis=0), (-1, 1))
    return loss, gradients


# -- below the door: checked arguments only -------------------------------------------------------------
def run_forward(
    cell: CellSpec, checked: Checked, x: Array, initial: Sequence[Array], parameters: Mapping[str, Array]
) -> SequenceCache:
    """The cache of ``cell`` over ``x``: the declared optimisation if the cell has one, else the step loop."""
    if cell.scan is not None:
        cache: SequenceCache = _projected.forward(cell, checked, x, initial, parameters)
        return cache
    return _loop.forward(cell, checked, x, initial, parameters)


def run_backward(cache: SequenceCache, dstates: Array) -> dict[str, Array]:
    """BPTT from ``dstates (T_x, m, n_a)``, by the path that made ``cache``."""
    if isinstance(cache, ScanCache):
        return _projected.backward(cache, dstates)
    return _loop.backward(cache, dstates)


def logits(xp: ModuleType, states_rows: Array, parameters: Mapping[str, Array], keys: tuple[str, str]) -> Array:
    """``W a<t> + b`` of the output layer ``keys`` for every row of ``states_rows (N, n_a)``: ``(N, n_y)``."""
    result = xp.matmul(states_rows, parameters[keys[0]].T)
    result += parameters[keys[1]].T  # in place: the product is a buffer xrnn owns
    return result


def outputs(xp: ModuleType, cache: SequenceCache, parameters: Mapping[str, Array]) -> Array:
    """The softmax outputs ``(n_y, m, T_x)`` of every step of ``cache``."""
    t_x, m, n_a = cache.states.shape
    rows = logits(xp, xp.reshape(cache.states, (t_x * m, n_a)), parameters, cache.cell.output)
    return from_rows(xp, softmax_unchecked(xp, rows, axis=1), m)
