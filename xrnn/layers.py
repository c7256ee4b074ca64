"""Layers built from any cell: stacked (deep) and bidirectional recurrences, with explicit backward passes.

Both run the cell's sequence engine once per layer (and direction) and add no maths of their own, so they
work for every cell, built in or defined with :func:`xrnn.cells.define`, with any number of states.

A layer's parameters are the cell's parameter mapping (what :func:`xrnn.init_parameters`,
:func:`xrnn.init_lstm_parameters`, :func:`xrnn.init_gru_parameters` or ``cell.init`` return). These layers
compute hidden states only: output-layer keys (``Wya, by`` for ``"rnn"``, ``Wy, by`` for the others) may be
present but are ignored and get no gradient. Apply an output layer to the returned hidden states yourself.

Masks (``mask[i, t]`` is ``False`` at padding) follow the cells: at a padded step every layer carries its
state unchanged and the step takes no part in the backward pass, so a padded batch gives what each
example alone gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._masking import mask_rows
from xrnn._typing import Array
from xrnn._validation import check_parameters, common_namespace, expect_ndim, expect_shape
from xrnn.cells import BUILTIN, Cell, SequenceCache, get_cell
from xrnn.cells._checkpoint import check_budget
from xrnn.cells._door import SEQUENCE, STATE, Checked, check_parameter_shapes, expect_cell_dtype, fill_zeros
from xrnn.cells._engine import backward_cache, forward_cache
from xrnn.cells._shapes import describe

#: The cells xrnn ships; any cell made with :func:`xrnn.cells.define` (or ``"MODULE:NAME"``) works too.
CELLS = tuple(sorted(BUILTIN))

Cache = SequenceCache


@dataclass(frozen=True, eq=False)
class StackedCache:
    """What :func:`stacked_forward` keeps for :func:`stacked_backward`.

    Attributes
    ----------
    cell : str
        The cell's name (``"rnn"``, ``"lstm"``, ``"gru"``, or a defined cell's).
    layers : tuple of caches
        The cache of each layer, bottom first (:class:`xrnn.RNNCache`, :class:`xrnn.LSTMCache`,
        :class:`xrnn.GRUCache`, or a defined cell's): ``layers[l].a`` are the hidden states
        ``(n_a, m, T_x)`` of layer ``l`` (and ``layers[l].c`` its cell states for the LSTM).
    """

    cell: str
    layers: tuple[Cache, ...]

    def __len__(self) -> int:
        return len(self.layers)


@dataclass(frozen=True, eq=False)
class BidirectionalCache:
    """What :func:`bidirectional_forward` keeps for :func:`bidirectional_backward`.

    Attributes
    ----------
    cell : str
        The cell's name.
    forward, backward : cache
        The caches of the two directions. ``backward`` holds the backward direction's own time order:
        its step ``t`` read the input step that each example's reversal puts at ``t``.
    order : array of int, shape (T_x * m,), or None
        The row permutation (time-major rows, see ``xrnn._layout``) that reverses each example within its
        own real steps; it is its own inverse. ``None`` without a mask: a plain flip in time.
    """

    cell: str
    forward: Cache
    backward: Cache
    order: Array | None


def stacked_forward(
    x: Array,
    a0s: Sequence[Array | None] | None,
    layers: Sequence[Mapping[str, Array]],
    *,
    cell: str | Cell = "rnn",
    c0s: Sequence[Array] | None = None,
    mask: Array | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, StackedCache]:
    """Run a stack of recurrent layers: the hidden states of layer ``l`` are the input of layer ``l + 1``.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs of the bottom layer.
    a0s : sequence, one entry per layer, or None
        Initial state of each layer, bottom first: its hidden state ``(n_a[l], m)`` (the cell's other
        states start at zero, unless ``c0s`` gives the LSTM's), or a tuple of every state of the cell.
        ``None``, as the whole or as an entry: zeros.
    layers : sequence of mappings
        Parameters of each layer, bottom first, with the keys of ``cell`` (see :func:`xrnn.rnn_forward`,
        :func:`xrnn.lstm_forward`, :func:`xrnn.gru_forward`). Layer ``l`` has its own ``n_a[l]``; its
        input size is ``n_x`` for ``l = 0`` and ``n_a[l - 1]`` above. Output-layer keys may be present;
        they are ignored.
    cell : str or Cell
        The cell of every layer: ``"rnn"``, ``"lstm"``, ``"gru"``, a defined cell's name, or a Cell.
    c0s : sequence of arrays, shapes (n_a[l], m), optional
        For a cell with a state ``c`` (the LSTM): the initial ``c`` of each layer; zeros when omitted.
    mask : array of bool, shape (m, T_x), optional
        ``False`` at padded steps; passed to every layer.
    checkpoints : int, optional
        Each layer's backward pass holds at most this many states at once (see :func:`xrnn.rnn_forward`).

    Returns
    -------
    a : array, shape (n_a[-1], m, T_x)
        Hidden states of the top layer (a new array).
    caches : StackedCache
        For :func:`stacked_backward`; ``caches.layers[l].a`` are the states of layer ``l``.

    Raises
    ------
    TypeError
        Non-floating or mixed dtypes, mixed array libraries (across layers too), non-array arguments,
        a layer that is not a mapping, a non-boolean mask.
    ValueError
        An unknown ``cell``; no layers; a number of initial states other than one per layer; ``c0s`` for a
        cell without a state ``c``; a layer whose input size is not the size of what it reads; shapes that
        disagree, missing keys, arrays on different devices (messages start with ``layers[l]:``).

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.layers import stacked_backward, stacked_forward
    >>> layers = [xrnn.init_parameters(3, 5, 1, seed=0), xrnn.init_parameters(5, 4, 1, seed=1)]
    >>> a0s = [np.zeros((5, 10)), np.zeros((4, 10))]
    >>> a, caches = stacked_forward(np.ones((3, 10, 7)), a0s, layers)
    >>> a.shape, caches.layers[0].a.shape
    ((4, 10, 7), (5, 10, 7))
    >>> grads = stacked_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["layers"][1]["dWax"].shape, grads["layers"][0]["da0"].shape
    ((3, 10, 7), (4, 5), (5, 10))
    """
    spec, checked, initial = _check(x, a0s, layers, cell, c0s, mask, stacked=True)
    budget = check_budget(checkpoints)
    caches = []
    inputs = x
    for record, states, params in zip(checked, initial, layers, strict=True):
        cache, (rows,) = forward_cache(spec, record, inputs, states, params, budget, states=1)
        inputs = _copy(record.xp, cache, rows)
        caches.append(cache)
    return inputs, StackedCache(spec.name, tuple(caches))


def stacked_backward(da: Array, caches: StackedCache) -> dict[str, Any]:
    """Backpropagation through a stack: each layer's ``dx`` is the ``da`` of the layer below.

    Parameters
    ----------
    da : array, shape (n_a[-1], m, T_x)
        Gradient of the loss with respect to the top layer's hidden states (ignored at padded steps).
    caches : StackedCache
        From :func:`stacked_forward`.

    Returns
    -------
    dict
        ``"dx"``: array ``(n_x, m, T_x)``; ``"layers"``: one dict per layer, bottom first, as the cell's
        backward returns it less ``dx``: ``da0 (n_a[l], m)`` (and ``dc0`` for the LSTM) and the gradient
        of every recurrence parameter (``dWax, dWaa, dba`` for the RNN, ...). There is no gradient for the
        output-layer keys.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.layers import stacked_backward, stacked_forward
    >>> layers = [xrnn.init_lstm_parameters(2, 3, 1, seed=0), xrnn.init_lstm_parameters(3, 3, 1, seed=1)]
    >>> a, caches = stacked_forward(np.ones((2, 4, 5)), [np.zeros((3, 4))] * 2, layers, cell="lstm")
    >>> grads = stacked_backward(np.ones_like(a), caches)
    >>> sorted(grads["layers"][0])
    ['dWc', 'dWf', 'dWi', 'dWo', 'da0', 'dbc', 'dbf', 'dbi', 'dbo', 'dc0']
    """
    if not isinstance(caches, StackedCache):
        raise TypeError(f"caches must be the StackedCache returned by stacked_forward, got {type(caches).__name__}")
    top = caches.layers[-1]
    xp = _check_gradient(da, top, ("n_a", "m", "T_x"), top.shape[2])
    grads: list[dict[str, Array]] = []
    for cache in reversed(caches.layers):
        layer = backward_cache(cache, _time_major(xp, da))
        da = layer.pop("dx")
        grads.append(layer)
    return {"dx": da, "layers": grads[::-1]}


def bidirectional_forward(
    x: Array,
    a0s: Sequence[Array | None] | None,
    layers: Sequence[Mapping[str, Array]],
    *,
    cell: str | Cell = "rnn",
    c0s: Sequence[Array] | None = None,
    mask: Array | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, BidirectionalCache]:
    """Run a bidirectional layer: one direction reads the sequence forward, the other reversed in time.

    Under ``mask`` the backward direction reverses each example within its own real steps, so it starts
    at the example's last real step: a padded batch gives what each example alone gives.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs for every step.
    a0s : sequence of two entries, or None
        Initial states of the forward and of the backward direction, as in :func:`stacked_forward`:
        hidden states ``(n_a_f, m)`` and ``(n_a_b, m)``, or tuples of every state; ``None``: zeros.
    layers : sequence of two mappings
        Parameters of the forward and of the backward direction, each with the keys of ``cell`` and input
        size ``n_x`` (usually ``n_a_f = n_a_b = n_a``). Output-layer keys may be present; they are ignored.
    cell : str or Cell
        The cell of both directions (as in :func:`stacked_forward`).
    c0s : sequence of two arrays, optional
        For a cell with a state ``c`` (the LSTM): the initial ``c`` of the two directions; zeros when omitted.
    mask : array of bool, shape (m, T_x), optional
        ``False`` at padded steps (anywhere, usually at the end).
    checkpoints : int, optional
        As in :func:`stacked_forward`.

    Returns
    -------
    a : array, shape (n_a_f + n_a_b, m, T_x)
        ``a[:, :, t]`` is ``[a_f<t>; a_b<t>]``: both directions' states at input step ``t``, ``a_b<t>``
        having read steps ``t .. T_x`` (an example's last real step) in reverse. At padded steps both
        halves hold carried states: after an example's end, its final forward state and the backward
        state at its first real step, i.e. ``a[..., -1]`` holds both directions' final states.
    caches : BidirectionalCache
        For :func:`bidirectional_backward`.

    Raises
    ------
    TypeError, ValueError
        As :func:`stacked_forward`, and ``ValueError`` when ``a0s`` or ``layers`` do not hold two entries.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.layers import bidirectional_backward, bidirectional_forward
    >>> layers = [xrnn.init_gru_parameters(3, 5, 1, seed=0), xrnn.init_gru_parameters(3, 5, 1, seed=1)]
    >>> mask = np.arange(6) < np.array([[6], [4]])  # two examples, 6 and 4 steps long
    >>> a, caches = bidirectional_forward(np.ones((3, 2, 6)), [np.zeros((5, 2))] * 2, layers, cell="gru", mask=mask)
    >>> a.shape
    (10, 2, 6)
    >>> grads = bidirectional_backward(np.ones_like(a), caches)
    >>> grads["dx"].shape, grads["layers"][1]["dWu"].shape
    ((3, 2, 6), (5, 8))
    """
    spec, (forward, backward), (initial_f, initial_b) = _check(x, a0s, layers, cell, c0s, mask, stacked=False)
    budget = check_budget(checkpoints)
    xp = forward.xp
    order = None if forward.keep is None else _reversal(xp, mask)
    cache_f, (rows_f,) = forward_cache(spec, forward, x, initial_f, layers[0], budget, states=1)
    cache_b, (rows_b,) = forward_cache(spec, backward, _reverse(xp, x, order), initial_b, layers[1], budget, states=1)
    a = xp.concat([_copy(xp, cache_f, rows_f), _reverse(xp, _copy(xp, cache_b, rows_b), order)], axis=0)
    return a, BidirectionalCache(spec.name, cache_f, cache_b, order)


def bidirectional_backward(da: Array, caches: BidirectionalCache) -> dict[str, Any]:
    """Backpropagation through a bidirectional layer.

    Parameters
    ----------
    da : array, shape (n_a_f + n_a_b, m, T_x)
        Gradient of the loss with respect to the output of :func:`bidirectional_forward` (ignored at
        padded steps).
    caches : BidirectionalCache
        From :func:`bidirectional_forward`.

    Returns
    -------
    dict
        ``"dx"``: array ``(n_x, m, T_x)``, the sum of both directions' input gradients; ``"layers"``: the
        forward and the backward direction's gradients as the cell's backward returns them less ``dx``
        (``da0``, ``dc0`` for the LSTM, and the recurrence parameters').

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.layers import bidirectional_backward, bidirectional_forward
    >>> layers = [xrnn.init_parameters(3, 4, 1, seed=0), xrnn.init_parameters(3, 2, 1, seed=1)]
    >>> a, caches = bidirectional_forward(np.ones((3, 5, 7)), [np.zeros((4, 5)), np.zeros((2, 5))], layers)
    >>> grads = bidirectional_backward(np.ones_like(a), caches)
    >>> a.shape, grads["dx"].shape, grads["layers"][0]["dWaa"].shape, grads["layers"][1]["dWaa"].shape
    ((6, 5, 7), (3, 5, 7), (4, 4), (2, 2))
    """
    if not isinstance(caches, BidirectionalCache):
        raise TypeError(
            f"caches must be the BidirectionalCache returned by bidirectional_forward, got {type(caches).__name__}"
        )
    xp, da_forward, da_backward = split_directions(da, caches)
    forward_grads = backward_cache(caches.forward, _time_major(xp, da_forward))
    backward_grads = backward_cache(caches.backward, _time_major(xp, da_backward))
    dx = forward_grads.pop("dx") + _reverse(xp, backward_grads.pop("dx"), caches.order)
    return {"dx": dx, "layers": [forward_grads, backward_grads]}


def _copy(xp: ModuleType, cache: SequenceCache, rows: Array) -> Array:
    """A layer's hidden states ``rows (T_x, m, n_a)`` as a new ``(n_a, m, T_x)`` array (the next layer's input)."""
    return xp.asarray(cache.in_spec_layout(rows), copy=True)


def _time_major(xp: ModuleType, da: Array) -> Array:
    """``da (n_a, m, T_x)`` as the engine's time-major ``(T_x, m, n_a)``."""
    n_a, m, t_x = da.shape
    return xp.reshape(to_rows(xp, da), (t_x, m, n_a))


def split_directions(da: Array, caches: BidirectionalCache) -> tuple[ModuleType, Array, Array]:
    """``da (n_a_f + n_a_b, m, T_x)``, checked, as each direction's gradient in its own time order."""
    n_f = caches.forward.shape[2]
    n_a = n_f + caches.backward.shape[2]
    xp = _check_gradient(da, caches.forward, ("n_a_f + n_a_b", "m", "T_x"), n_a, "caches.forward.states")
    return xp, da[:n_f, ...], _reverse(xp, da[n_f:, ...], caches.order)


def _check_gradient(
    da: Array, cache: SequenceCache, symbols: tuple[str, str, str], n_a: int, name: str = "caches.layers[-1].states"
) -> ModuleType:
    """``da`` must share the caches' library, dtype and device and have shape ``symbols``."""
    xp = common_namespace({name: cache.initial[0], "da": da})
    t_x, m, _ = cache.shape
    expect_shape("da", da, symbols, {symbols[0]: n_a, "m": m, "T_x": t_x})
    return xp


def _reverse(xp: ModuleType, values: Array, order: Array | None) -> Array:
    """``values (n, m, T_x)`` with each example reversed in time within its real steps (maybe a view)."""
    if order is None:
        return xp.flip(values, axis=2)
    return from_rows(xp, xp.take(to_rows(xp, values), order, axis=0), values.shape[1])


def _reversal(xp: ModuleType, mask: Array) -> Array:
    """Time-major row indices that swap each example's ``k``-th and ``k``-th-from-last real steps.

    Padded steps stay where they are, so the permutation keeps the mask and is its own inverse.
    """
    m, t_x = mask.shape
    device = array_api_compat.device(mask)
    steps = xp.arange(t_x, device=device)[None, :]
    rank = xp.cumulative_sum(xp.astype(mask, xp.int64), axis=1) - 1  # rank of each real step in its example
    target = rank[:, -1:] - rank  # the rank it swaps with
    # Each example's real steps in order first, then its padded steps: real rank k is at column k.
    in_order = xp.argsort(xp.where(mask, steps, steps + t_x), axis=1, stable=True)
    rows = xp.arange(m, device=device)[:, None]
    partner = xp.take(xp.reshape(in_order, (-1,)), xp.reshape(rows * t_x + xp.clip(target, 0, t_x - 1), (-1,)))
    source = xp.where(mask, xp.reshape(partner, (m, t_x)), steps)  # (m, T_x): the step that lands at t
    return xp.reshape(xp.permute_dims(source * m + rows, (1, 0)), (-1,))


def _check(
    x: Array,
    a0s: Sequence[Any] | None,
    layers: Sequence[Mapping[str, Array]],
    cell: str | Cell,
    c0s: Sequence[Array] | None,
    mask: Array | None,
    *,
    stacked: bool,
) -> tuple[Cell, list[Checked], list[tuple[Array, ...]]]:
    """Every check of both layer kinds, before any work: the cell, each layer's checked record (the
    time-major mask in each) and each layer's initial state, zeros filled in."""
    spec = _cell(cell)
    what = "one per layer" if stacked else "(forward, backward)"
    if isinstance(layers, Mapping) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of parameter mappings, {what}, got {type(layers).__name__}")
    count = len(layers) if stacked else 2
    if len(layers) != count or count == 0:
        expected = "at least one mapping" if stacked else "2 mappings (forward, backward)"
        raise ValueError(f"layers must hold {expected}, got {len(layers)}")
    if c0s is not None and "c" not in spec.state:
        raise ValueError(
            f"c0s (initial cell states) is only for a cell with a state 'c', such as the LSTM; got cell={spec.name!r}, "
            f"whose state is {spec.state}"
        )
    for name, states in (("a0s", a0s), ("c0s", c0s)):
        if states is None:
            continue
        if not isinstance(states, Sequence):
            raise TypeError(f"{name} must be a sequence of arrays, {what}, got {type(states).__name__}")
        if len(states) != count:
            raise ValueError(f"{name} must hold {count} initial states, {what}, got {len(states)}")
    initial = [_initial_states(spec, index, None if a0s is None else a0s[index], c0s) for index in range(count)]
    arrays = {"x": x}
    for index, params in enumerate(layers):
        _prefixed(index, check_parameters, params, spec.keys)
        arrays.update({name: state for name, state in initial[index] if state is not None})
        arrays.update({f"layers[{index}]['{key}']": params[key] for key in spec.keys})
    xp = common_namespace(arrays)
    expect_cell_dtype(xp, "x", x)
    expect_ndim("x", x, SEQUENCE)
    n_x, m, t_x = (int(n) for n in x.shape)
    keep = mask_rows(xp, mask, x, {"m": m, "T_x": t_x})
    checked = []
    for index, params in enumerate(layers):
        sizes, sources = _prefixed(index, partial(check_parameter_shapes, output=False), spec, params)
        reads = "x" if index == 0 or not stacked else f"the hidden states of layers[{index - 1}]"
        if sizes.setdefault("n_x", n_x) != n_x:
            key = sources["n_x"]
            raise ValueError(
                f"layers[{index}] reads {reads}, so its n_x must be {n_x}; got n_x = {sizes['n_x']} from "
                f"parameters['{key}'] of shape {tuple(params[key].shape)} = {describe(spec.shapes[key])}"
            )
        for name, state in initial[index]:
            if state is not None:
                expect_shape(name, state, STATE, {"n_a": sizes["n_a"], "m": m})
        checked.append(Checked(xp, {**sizes, "m": m, "T_x": t_x}, keep, sources))
        if stacked:
            n_x = sizes["n_a"]
    states = [
        fill_zeros(xp, [state for _, state in named], record, x) for named, record in zip(initial, checked, strict=True)
    ]
    return spec, checked, states


def _cell(cell: str | Cell) -> Cell:
    try:
        return get_cell(cell)
    except (TypeError, ValueError):
        raise ValueError(
            f"cell must be one of {list(CELLS)}, got {cell!r} (or a cell made by xrnn.cells.define, or MODULE:NAME)"
        ) from None


def _initial_states(spec: Cell, index: int, entry: Any, c0s: Sequence[Array] | None) -> list[tuple[str, Array | None]]:
    """Layer ``index``'s initial states, named for messages (``a0s[0]``, ``c0s[0]``, ``a0s[0][1]``)."""
    if isinstance(entry, tuple | list):
        if len(entry) != len(spec.state):
            raise ValueError(
                f"a0s[{index}] must be a hidden state or a tuple of {len(spec.state)} states {spec.state}, "
                f"got a {type(entry).__name__} of {len(entry)}"
            )
        named: list[tuple[str, Array | None]] = [(f"a0s[{index}][{k}]", state) for k, state in enumerate(entry)]
    else:
        named = [(f"a0s[{index}]", entry)] + [(f"a0s[{index}][{k}]", None) for k in range(1, len(spec.state))]
    if c0s is not None:
        at = spec.state.index("c")
        if named[at][1] is not None:
            raise ValueError(f"{named[at][0]} and c0s[{index}] both give layer {index}'s initial c; give it once")
        named[at] = (f"c0s[{index}]", c0s[index])
    return named


def _prefixed(index: int, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, naming the layer in any error it raises."""
    try:
        return check(*args)
    except (TypeError, ValueError) as error:
        raise type(error)(f"layers[{index}]: {error}") from error
