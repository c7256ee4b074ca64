"""Dask arrays sharded along the batch axis ``m``: each shard runs the ordinary xrnn engine.

When this module is imported (``import xrnn`` imports it) it registers itself with the sequence engine as
the handler of Dask arrays, so every sequence function of every cell (``xrnn.rnn_forward``,
``cell.forward``, the loss helpers, ...) sends Dask inputs here. Every chunk of the batch axis ``m`` is one
*shard*; a shard is one task that runs the engine on its NumPy (or CuPy) chunk, so the time loop runs inside
the task and the graph grows with the number of shards, never with ``T_x``. What is per example (the
states, ``y``, ``dx``, the initial states' gradients) stays chunked like the input; the parameter gradients
(and the loss) are summed over the shards with a tree reduction (``split_every`` shards per level).

* ``n_x``, ``n_a``, ``n_y`` and ``T_x`` are never split: an input chunked along them is rechunked to one
  chunk there. The chunks of ``x`` along ``m`` decide the shards; the initial states, ``mask``, ``labels``
  and ``da`` are rechunked to them. Parameters are NumPy/CuPy arrays or Dask arrays, which are rechunked
  to one chunk each; every task reads the same parameter keys.
* The cache of a Dask forward pass keeps its inputs, not the activations: the backward pass runs the
  forward pass of each shard again inside the same task (recompute, as in gradient checkpointing). It
  costs one more forward pass per backward and saves holding every activation of the batch between
  the two calls. The loss helpers run forward and backward in one task and recompute nothing.
* The loss is the mean over all ``m * T_x`` terms: each shard contributes its sum, and the total is
  divided once by the global count, so uneven shards weigh by their size.
* A cell defined with :func:`xrnn.cells.define` works too; on a distributed cluster, the workers must be
  able to import the module that defines it (the tasks carry the cell by reference to its functions).

Nothing here imports NumPy or CuPy; ``dask`` is imported on first use, so xrnn imports without it.
Examples are in ``docs/dask.md``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from types import ModuleType
from typing import Any, NamedTuple

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import check_parameters, expect_integer, expect_shape, library_name
from xrnn.cells import GRU, LSTM, RNN, CellSpec
from xrnn.cells._cell import check_made_by
from xrnn.cells._docs import described, entry, fill_doc, fragments, sections
from xrnn.cells._door import SEQUENCE, STATE, check_shapes, expect_cell_dtype, initial_data, parameter_shapes
from xrnn.cells._engine import Forward, SequenceCall, register_handler
from xrnn.cells._engine import backward as engine_backward
from xrnn.cells._engine import forward as engine_forward
from xrnn.cells._engine import loss_and_gradients as engine_loss
from xrnn.losses import expect_loss_dtype
from xrnn.parallel._shards import flatten, split_flat

__all__ = [
    "DaskCache",
    "gru_backward",
    "gru_forward",
    "is_dask_array",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
    "rnn_loss_and_gradients",
]

#: Libraries a Dask chunk may come from (both follow NumPy's array protocols, which Dask needs).
CHUNK_LIBRARIES = ("numpy", "cupy")


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a Dask array (checked without importing Dask).

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.parallel.dask_arrays import is_dask_array
    >>> is_dask_array(np.ones(3))
    False
    """
    return bool(array_api_compat.is_dask_array(x))


class DaskStepCaches:
    """``caches[0]`` of a :class:`DaskCache`: ``T_x`` long, but its steps are not kept (reading one raises)."""

    def __init__(self, steps: int) -> None:
        self._steps = steps

    def __len__(self) -> int:
        return self._steps

    def __getitem__(self, index: object) -> Any:
        raise TypeError(
            "a Dask cache keeps its inputs, not per-step caches: building step caches would compute the whole "
            "forward pass. Compute the inputs (x.compute(), ...) and run the forward pass on them to read steps"
        )


@dataclass(frozen=True, eq=False)
class DaskCache:
    """What a Dask forward pass keeps for the backward pass: its inputs, not its activations.

    The backward pass recomputes each shard's forward pass in the task that runs its backward pass. Like
    every sequence cache it is the spec's ``(caches, x)``: ``caches[1]`` is ``x``; ``caches[0]`` has ``T_x``
    entries, but reading one raises (it would compute the forward pass).

    Attributes
    ----------
    cell : Cell
        The cell whose forward pass made the cache.
    x : dask array, shape (n_x, m, T_x)
        The inputs, one chunk per shard along ``m``.
    initial : tuple of dask arrays, shape (n_a, m), or None
        The initial states, chunked like ``x`` along ``m`` (``None``: zeros).
    mask : dask array of bool, shape (m, T_x), or None
        The forward pass's ``mask``.
    a : dask array, shape (n_a, m, T_x)
        The hidden states the forward pass returned (lazy).
    parameters : mapping
        The caller's parameters (not a copy). Update them only after the backward pass has been computed:
        the recompute reads them when the backward graph runs.
    shard_parameters : tuple of dask arrays
        The cell's own parameters as single-chunk Dask arrays, in its key order; every task reads these keys.
    split_every : int or None
        Shards summed per task in the backward pass's tree reduction (Dask's default if ``None``).
    checkpoints : int or None
        The forward pass's ``checkpoints``: each shard's recompute and backward pass keep to it.
    """

    cell: CellSpec
    x: Array
    initial: tuple[Array | None, ...]
    mask: Array | None
    a: Array
    parameters: Mapping[str, Array]
    shard_parameters: tuple[Array, ...]
    split_every: int | None = None
    checkpoints: int | None = None

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> Any:
        return (DaskStepCaches(int(self.x.shape[2])), self.x)[index]

    def __iter__(self) -> Any:
        return iter((self[0], self[1]))

    @property
    def a0(self) -> Array | None:
        """The initial hidden state (``None``: zeros)."""
        return self.initial[0]

    @property
    def shards(self) -> tuple[int, ...]:
        """The batch size of each shard: the chunks of ``x`` along ``m``."""
        return tuple(int(n) for n in self.x.chunks[1])


# ---------------------------------------------------------------------------------------------- public API


def _docs(cell: CellSpec) -> dict[str, str]:
    """The sections of the Dask twins' docstrings, for :func:`~xrnn.cells._docs.fill_doc`."""
    own = fragments(cell)
    later = cell.state[1:]
    sharded = "Dask (rechunked to the shards of ``x``) or NumPy/CuPy"
    forward = sections(
        (
            "Parameters",
            [
                entry(
                    "x",
                    "dask array, shape (n_x, m, T_x)",
                    "Inputs, chunked along ``m`` in any way (other axes are rechunked to one chunk).",
                ),
                entry("a0", "array, shape (n_a, m)", f"Initial hidden state: {sharded}."),
                entry(
                    "parameters",
                    "mapping",
                    f"{own['parameters']}: NumPy/CuPy arrays of the chunks' library, or "
                    "Dask arrays (rechunked to one chunk).",
                ),
                *(
                    entry(
                        f"{name}0",
                        "array, shape (n_a, m), optional",
                        f"Initial ``{name}``: {sharded}; zeros when omitted.",
                    )
                    for name in later
                ),
                entry("mask", "array of bool, shape (m, T_x), optional", f"As in :func:`xrnn.{cell.name}_forward`."),
            ],
        ),
        (
            "Returns",
            [
                entry("a", "dask array, shape (n_a, m, T_x)", "Hidden states, chunked like ``x`` along ``m`` (lazy)."),
                entry("%(y)s", "dask array, shape (n_y, m, T_x)", "Softmax outputs (lazy)."),
                *(entry(name, "dask array, shape (n_a, m, T_x)", f"States ``{name}`` (lazy).") for name in later),
                entry("caches", "DaskCache", f"For :func:`{cell.name}_backward`."),
            ],
        ),
        ("Raises", [_RAISES]),
    )
    backward = sections(
        (
            "Parameters",
            [
                entry(
                    "da",
                    "array, shape (n_a, m, T_x)",
                    "Gradient reaching each hidden state (Dask, rechunked to the shards, or NumPy/CuPy).",
                ),
                entry("caches", "DaskCache", "From the forward pass with Dask inputs."),
                entry(
                    "split_every",
                    "int, optional",
                    "Shards summed per task in the tree reduction of the "
                    "parameter gradients (Dask's default if omitted).",
                ),
            ],
        ),
        (
            "Returns",
            [
                described(
                    "dict",
                    f"``dx (n_x, m, T_x)``, {own['initial_gradients']} chunked like the input; "
                    f"{own['gradients']} as single-chunk Dask arrays. All lazy.",
                )
            ],
        ),
    )
    return {"dask_forward_sections": forward, "dask_backward_sections": backward}


_RAISES = """\
TypeError
    Mixed or non-floating dtypes, chunks that are not NumPy or CuPy, parameters of another library.
ValueError
    Shapes that disagree, missing parameter keys, chunks of unknown size."""


@fill_doc(RNN, **_docs(RNN))
def rnn_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None
) -> tuple[Array, Array, DaskCache]:
    """:func:`xrnn.rnn_forward` on Dask arrays sharded along ``m``.

    %(dask_forward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> x = da.ones((3, 10, 4), chunks=(3, (3, 7), 4))
    >>> a, y_pred, caches = xrnn.dask_arrays.rnn_forward(x, np.zeros((5, 10)), p)
    >>> a.chunks, caches.shards
    (((5,), (3, 7), (4,)), (3, 7))
    """
    return _forward_twin(RNN, x, (a0,), parameters, mask)


@fill_doc(RNN, **_docs(RNN))
def rnn_backward(da: Array, caches: DaskCache, *, split_every: int | None = None) -> dict[str, Array]:
    """:func:`xrnn.rnn_backward` on Dask arrays: each shard recomputes its forward pass, then runs BPTT.

    %(dask_backward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> x = da.ones((3, 10, 4), chunks=(3, 5, 4))
    >>> a, _, caches = xrnn.dask_arrays.rnn_forward(x, np.zeros((5, 10)), xrnn.init_parameters(3, 5, 2, seed=1))
    >>> grads = xrnn.dask_arrays.rnn_backward(da.ones_like(a), caches)
    >>> grads["dx"].chunks[1], grads["dWaa"].compute().shape
    ((5, 5), (5, 5))
    """
    return _backward_of(RNN, da, caches, split_every)


@fill_doc(RNN)
def rnn_loss_and_gradients(
    x: Array,
    a0: Array,
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    mask: Array | None = None,
    split_every: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """:func:`xrnn.rnn_loss_and_gradients` on Dask arrays: one task per shard, forward and backward.

    The loss is the mean over all real steps (``m * T_x`` without a mask): each shard's sum and its
    number of real steps, summed over the shards in one tree reduction, then one division.

    Parameters
    ----------
    x : dask array, shape (n_x, m, T_x)
        Inputs, chunked along ``m``.
    a0 : array, shape (n_a, m)
        Initial hidden state.
    labels : array
        Integer classes ``(m, T_x)`` or targets ``(n_y, m, T_x)``, Dask or NumPy/CuPy. Class indices are
        range-checked when the shards run (checking earlier would compute them).
    parameters : mapping
        %(keys)s as in :func:`rnn_forward`.
    mask : array of bool, shape (m, T_x), optional
        As in :func:`xrnn.rnn_loss_and_gradients`.
    split_every : int, optional
        Shards summed per task in the tree reduction.

    Returns
    -------
    loss : dask array, shape ()
        The mean cross-entropy (lazy).
    gradients : dict
        ``dWax, dWaa, dWya, dba, dby`` (single-chunk), ``dx (n_x, m, T_x)`` and ``da0 (n_a, m)`` (chunked).

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=1)
    >>> x = da.ones((3, 10, 4), chunks=(3, (2, 8), 4))
    >>> labels = np.zeros((10, 4), dtype=np.int64)
    >>> loss, grads = xrnn.dask_arrays.rnn_loss_and_gradients(x, np.zeros((5, 10)), labels, p)
    >>> bool(abs(float(loss.compute()) - np.log(2)) < 1e-3)
    True
    """
    return loss_and_gradients(SequenceCall(RNN, x, (a0,), parameters, mask), labels, split_every=split_every)


@fill_doc(LSTM, y="y", **_docs(LSTM))
def lstm_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, c0: Array | None = None, mask: Array | None = None
) -> tuple[Array, Array, Array, DaskCache]:
    """:func:`xrnn.lstm_forward` on Dask arrays sharded along ``m``.

    %(dask_forward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> x = da.ones((3, 10, 4), chunks=(3, 4, 4))
    >>> a, y, c, caches = xrnn.dask_arrays.lstm_forward(x, np.zeros((5, 10)), xrnn.init_lstm_parameters(3, 5, 2))
    >>> c.chunks[1], len(caches[0])
    ((4, 4, 2), 4)
    """
    return _forward_twin(LSTM, x, (a0, c0), parameters, mask)


@fill_doc(LSTM, **_docs(LSTM))
def lstm_backward(da: Array, caches: DaskCache, *, split_every: int | None = None) -> dict[str, Array]:
    """:func:`xrnn.lstm_backward` on Dask arrays: each shard recomputes its forward pass, then runs BPTT.

    %(dask_backward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_lstm_parameters(3, 5, 2, seed=1)
    >>> a, y, c, caches = xrnn.dask_arrays.lstm_forward(da.ones((3, 10, 4), chunks=(3, 5, 4)), np.zeros((5, 10)), p)
    >>> grads = xrnn.dask_arrays.lstm_backward(da.ones_like(a), caches)
    >>> grads["dc0"].chunks, grads["dWc"].compute().shape
    (((5,), (5, 5)), (5, 8))
    """
    return _backward_of(LSTM, da, caches, split_every)


@fill_doc(GRU, **_docs(GRU))
def gru_forward(
    x: Array, a0: Array, parameters: Mapping[str, Array], *, mask: Array | None = None
) -> tuple[Array, Array, DaskCache]:
    """:func:`xrnn.gru_forward` on Dask arrays sharded along ``m``.

    %(dask_forward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> x = da.ones((3, 10, 4), chunks=(3, 5, 4))
    >>> a, y_pred, caches = xrnn.dask_arrays.gru_forward(x, np.zeros((5, 10)), xrnn.init_gru_parameters(3, 5, 2))
    >>> y_pred.shape, y_pred.chunks[1]
    ((2, 10, 4), (5, 5))
    """
    return _forward_twin(GRU, x, (a0,), parameters, mask)


@fill_doc(GRU, **_docs(GRU))
def gru_backward(da: Array, caches: DaskCache, *, split_every: int | None = None) -> dict[str, Array]:
    """:func:`xrnn.gru_backward` on Dask arrays: each shard recomputes its forward pass, then runs BPTT.

    %(dask_backward_sections)s

    Examples
    --------
    >>> import pytest; da = pytest.importorskip("dask.array")  # the example needs dask
    >>> import numpy as np, xrnn
    >>> p = xrnn.init_gru_parameters(3, 5, 2, seed=1)
    >>> a, _, caches = xrnn.dask_arrays.gru_forward(da.ones((3, 10, 4), chunks=(3, 5, 4)), np.zeros((5, 10)), p)
    >>> sorted(xrnn.dask_arrays.gru_backward(da.ones_like(a), caches))
    ['dWc', 'dWr', 'dWu', 'da0', 'dbc', 'dbr', 'dbu', 'dx']
    """
    return _backward_of(GRU, da, caches, split_every)


def _forward_twin(
    cell: CellSpec, x: Array, initial: tuple[Array | None, ...], parameters: Mapping[str, Array], mask: Array | None
) -> tuple[Any, ...]:
    """A public forward twin's results in ``xrnn.{name}_forward``'s order: the hidden states, the outputs, the
    cell's other states, the cache."""
    call = SequenceCall(cell, x, initial, parameters, mask)
    (a, *later), y, cache = forward(call, output=True, states=len(cell.state))
    return (a, y, *later, cache)


def _backward_of(cell: CellSpec, da: Array, caches: DaskCache, split_every: int | None) -> dict[str, Array]:
    if not isinstance(caches, DaskCache):
        raise TypeError(
            f"caches must be the DaskCache returned by {cell.name}_forward with Dask inputs, "
            f"got {type(caches).__name__}"
        )
    check_made_by(caches, cell, "DaskCache")
    return backward(da, caches, split_every=split_every)


# ---------------------------------------------------------------------------- the engine's handler, any cell


def forward(call: SequenceCall, *, output: bool = False, states: int = 1, split_every: int | None = None) -> Forward:
    """Any cell's forward pass on Dask arrays: the states asked for and the outputs (lazy), and the cache."""
    _check_split_every(split_every)
    cell = call.cell
    sharded = _shard_call(call, output=output)
    data = sharded.data
    task = partial(_forward_shard, cell, tuple(sharded.parameters), output, states)
    graph, shard_name = _shard_graph(f"xrnn-{cell.name}-forward", task, data, sharded.parameters)
    fields = [f"state-{name}" for name in cell.state[:states]] + (["y"] if output else [])
    outputs = _chunked_outputs(graph, shard_name, fields, data.x, sharded.sizes)
    chosen = tuple(outputs[f"state-{name}"] for name in cell.state[:states])
    own = tuple(sharded.parameters[key] for key in cell.keys)
    cache = DaskCache(
        cell, data.x, data.initial, data.mask, chosen[0], sharded.checked, own, split_every, call.checkpoints
    )
    return Forward(chosen, outputs.get("y"), cache)


def backward(da: Array, caches: DaskCache, *, split_every: int | None = None) -> dict[str, Array]:
    """BPTT on Dask arrays: each shard recomputes its forward pass, then runs its backward pass."""
    _check_split_every(split_every)
    cell, x_s = caches.cell, caches.x
    n_a, m, t_x = (int(n) for n in caches.a.shape)
    _check_known_chunks({"da": da})
    expect_shape("da", da, ("n_a", "m", "T_x"), {"n_a": n_a, "m": m, "T_x": t_x})
    _check_libraries({"caches.x": x_s, "da": da})
    _check_dtypes({"caches.x": x_s, "da": da})
    data = _ShardedData(x_s, caches.initial, caches.mask)
    parameters = dict(zip(cell.keys, caches.shard_parameters, strict=True))
    task = partial(_backward_shard, cell, caches.checkpoints)
    da_s = _sharded(da, "da", x_s.chunks[1])
    graph, shard_name = _shard_graph(f"xrnn-{cell.name}-backward", task, data, parameters, ("da", da_s))
    sizes = {"n_x": int(x_s.shape[0]), "n_a": n_a, "m": m, "T_x": t_x}
    every = caches.split_every if split_every is None else split_every
    per_example, summed = _gradients(graph, shard_name, cell, x_s, sizes, _gradient_shapes(parameters), every)
    return {**per_example, **summed}


def loss_and_gradients(
    call: SequenceCall, labels: Array, *, split_every: int | None = None
) -> tuple[Array, dict[str, Array]]:
    """Any cell's loss helper on Dask arrays, as :func:`rnn_loss_and_gradients` describes it."""
    _check_split_every(split_every)
    cell = call.cell
    sharded = _shard_call(call, output=True, labels=labels)
    label_name = "labels" if labels.ndim == 2 else "targets"
    labels_s = _sharded(labels, label_name, sharded.data.x.chunks[1])
    task = partial(_loss_shard, cell, tuple(sharded.parameters), call.checkpoints)
    graph, shard_name = _shard_graph(
        f"xrnn-{cell.name}-loss", task, sharded.data, sharded.parameters, (label_name, labels_s)
    )
    shapes = [("count", ()), ("loss", ()), *_gradient_shapes(sharded.parameters)]
    per_example, summed = _gradients(graph, shard_name, cell, sharded.data.x, sharded.sizes, shapes, split_every)
    count = _dask_array().maximum(summed.pop("count"), 1)  # all padding: a zero loss, not 0/0
    return summed.pop("loss") / count, {key: value / count for key, value in {**summed, **per_example}.items()}


class _DaskHandler:
    """The engine's handler of Dask arrays and caches."""

    def owns(self, value: object) -> bool:
        return is_dask_array(value) or isinstance(value, DaskCache)

    forward = staticmethod(forward)
    backward = staticmethod(backward)
    loss_and_gradients = staticmethod(loss_and_gradients)


register_handler(_DaskHandler())


# --------------------------------------------------------------------------------------------- the checks


def _check(
    call: SequenceCall, *, output: bool, labels: Array | None = None
) -> tuple[dict[str, int], Mapping[str, Array]]:
    """The engine door's checks, on what a Dask array tells without computing: shapes, chunks, dtypes."""
    cell, mask = call.cell, call.mask
    shapes = parameter_shapes(cell, output=output)
    params = check_parameters(call.parameters, tuple(shapes))
    data = {"x": (call.x, SEQUENCE), **initial_data(cell, call.initial)}
    arrays = {name: array for name, (array, _) in data.items()}
    extra = {**({} if mask is None else {"mask": mask}), **({} if labels is None else {"labels": labels})}
    named = {f"parameters['{key}']": params[key] for key in shapes}
    _check_known_chunks({**arrays, **extra, **named})
    sizes, _ = check_shapes(shapes, params, data)
    _check_libraries({**arrays, **extra, **named})
    _check_dtypes({**arrays, **named})
    xp = array_api_compat.array_namespace(call.x)
    if labels is not None:  # before any work, as the engine's door does: not when a shard runs
        expect_loss_dtype(xp, "x", call.x)
    expect_cell_dtype(xp, "x", call.x)
    if mask is not None:
        if not _is_array(mask):
            raise TypeError(f"mask must be a boolean array of shape (m, T_x), got {type(mask).__name__}")
        if _kind(mask) != "b":
            raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
        expect_shape("mask", mask, ("m", "T_x"), sizes)
    if labels is not None:
        _check_labels(labels, arrays["x"], sizes)
    return sizes, params


def _check_labels(labels: Array, x: Array, sizes: Mapping[str, int]) -> None:
    """Class indices ``(m, T_x)`` or targets ``(n_y, m, T_x)``; class ranges are checked when the shards run."""
    if not _is_array(labels):
        raise TypeError(f"labels must be an array, got {type(labels).__name__}")
    if _kind(labels) in ("i", "u"):
        expect_shape("labels", labels, ("m", "T_x"), sizes)
    elif _kind(labels) == "f":
        if labels.dtype != x.dtype:
            raise TypeError(f"labels has dtype {labels.dtype} but the data have {x.dtype}; they must match")
        expect_shape("labels", labels, ("n_y", "m", "T_x"), sizes)
    else:
        raise TypeError(
            "labels must be integer class indices of shape (m, T_x) or floating targets of shape "
            f"(n_y, m, T_x), got dtype {labels.dtype}"
        )


# ------------------------------------------------------------------------------------------- graph building


def _dask_array() -> ModuleType:
    """``dask.array``, imported on first use, with the install hint when it is missing."""
    try:
        return import_module("dask.array")
    except ImportError as error:
        raise ImportError("Dask arrays need dask: pip install 'xrnn[dask]' (or 'dask[array]>=2024.1')") from error


def _m_axis(name: str) -> int:
    """The batch axis of a data argument: ``(n, m, T_x)`` and ``(n, m)`` have it at 1, ``(m, T_x)`` at 0."""
    return 0 if name in ("mask", "labels") else 1


def _shards(x: Array, initial: Sequence[Array | None]) -> tuple[int, ...]:
    """The batch size of each shard: the chunks of ``x`` along ``m`` (of an initial state if only it is Dask)."""
    for array in (x, *initial):
        if array is not None and is_dask_array(array):
            return tuple(int(n) for n in array.chunks[1])
    return (int(x.shape[1]),)


def _sharded(array: Array, name: str, shards: tuple[int, ...]) -> Array:
    """``array`` as a Dask array with ``shards`` along its ``m`` axis and one chunk on every other axis."""
    dask_array = _dask_array()
    m_axis = _m_axis(name)
    chunks = tuple(shards if axis == m_axis else (int(n),) for axis, n in enumerate(array.shape))
    if not is_dask_array(array):
        return dask_array.from_array(array, chunks=chunks, asarray=False)
    return array if tuple(array.chunks) == chunks else array.rechunk(chunks)


def _single_chunk(value: Array) -> Array:
    """A parameter as a single-chunk Dask array, read whole by every shard."""
    if is_dask_array(value):
        return value if value.numblocks == (1,) * value.ndim else value.rechunk(value.shape)
    return _dask_array().from_array(value, chunks=value.shape, asarray=False)


class _ShardedData(NamedTuple):
    """A call's per-example arrays as Dask arrays with the shards of ``x`` along ``m`` (``None``: not given)."""

    x: Array
    initial: tuple[Array | None, ...]
    mask: Array | None


class _ShardedCall(NamedTuple):
    """A checked call cut into shards: its sizes, its checked parameters, its data and every key it reads as a
    single-chunk Dask array."""

    sizes: dict[str, int]
    checked: Mapping[str, Array]
    data: _ShardedData
    parameters: dict[str, Array]


def _shard_call(call: SequenceCall, *, output: bool, labels: Array | None = None) -> _ShardedCall:
    """The door's checks on ``call`` (and its ``labels``), then its arrays cut into the shards of ``x``."""
    sizes, checked = _check(call, output=output, labels=labels)
    shards = _shards(call.x, call.initial)
    data = _ShardedData(
        _sharded(call.x, "x", shards),
        tuple(None if s is None else _sharded(s, "state", shards) for s in call.initial),
        None if call.mask is None else _sharded(call.mask, "mask", shards),
    )
    keys = parameter_shapes(call.cell, output=output)
    return _ShardedCall(sizes, checked, data, {key: _single_chunk(checked[key]) for key in keys})


def _shard_graph(
    prefix: str,
    task: Callable[..., dict[str, Array]],
    data: _ShardedData,
    parameters: Mapping[str, Array],
    extra: tuple[str, Array] | None = None,
) -> tuple[Any, str]:
    """One task per shard calling ``task(shard)`` with the shard's blocks (a :class:`_Shard`); returns the graph
    and its layer name.

    ``extra`` (the labels of a loss, the ``da`` of a backward pass) comes with its argument name, which fixes
    its ``m`` axis (see :func:`_m_axis`).
    """
    highlevelgraph = import_module("dask.highlevelgraph")
    tokenize = import_module("dask.base").tokenize
    named = [("x", data.x), *(("state", s) for s in data.initial), ("mask", data.mask), *([extra] if extra else [])]
    present = [array for _, array in named if array is not None]
    params = list(parameters.values())
    name = f"{prefix}-{tokenize(task, *(array.name for array in present), *(p.name for p in params))}"
    parameter_keys = [(p.name, *(0,) * p.ndim) for p in params]
    layer = {}
    for shard in range(len(data.x.chunks[1])):
        initial = [_block_key(s, "state", shard) for s in data.initial]
        extra_key = None if extra is None else _block_key(extra[1], extra[0], shard)
        blocks = (_block_key(data.x, "x", shard), initial, _block_key(data.mask, "mask", shard), extra_key)
        layer[(name, shard)] = (task, (_Shard, *blocks, parameter_keys))  # Dask computes the inner task first
    graph = highlevelgraph.HighLevelGraph.from_collections(name, layer, dependencies=[*present, *params])
    return graph, name


def _block_key(array: Array | None, argument: str, shard: int) -> tuple[Any, ...] | None:
    """The key of block ``shard`` of ``argument`` along its ``m`` axis (every other axis has one chunk)."""
    if array is None:
        return None
    m_axis = _m_axis(argument)
    return (array.name, *(shard if axis == m_axis else 0 for axis in range(array.ndim)))


def _with_layer(graph: Any, name: str, layer: dict[Any, Any], shard_name: str) -> Any:
    highlevelgraph = import_module("dask.highlevelgraph")
    layers = {**graph.layers, name: layer}
    dependencies = {**graph.dependencies, name: {shard_name}}
    return highlevelgraph.HighLevelGraph(layers, dependencies)


def _symbols(field: str) -> tuple[str, ...]:
    """The shape of a per-example result: a state (``state-a``), ``y``, ``dx`` or an initial state's gradient."""
    if field.startswith("state-"):
        return ("n_a", "m", "T_x")
    return {"y": ("n_y", "m", "T_x"), "dx": ("n_x", "m", "T_x")}.get(field, STATE)


def _chunked_outputs(
    graph: Any, shard_name: str, fields: Sequence[str], like: Array, dims: Mapping[str, int]
) -> dict[str, Array]:
    """The per-example results of every shard, as Dask arrays chunked like ``like`` along ``m``."""
    dask_array = _dask_array()
    meta_from_array = import_module("dask.array.utils").meta_from_array
    shards = like.chunks[1]
    outputs = {}
    for field in fields:
        symbols = _symbols(field)
        name = f"{field}-{shard_name}"
        layer = {
            (name, 0, shard, *(0,) * (len(symbols) - 2)): (operator.getitem, (shard_name, shard), field)
            for shard in range(len(shards))
        }
        chunks = tuple(shards if symbol == "m" else (dims[symbol],) for symbol in symbols)
        meta = meta_from_array(like, ndim=len(symbols))
        outputs[field] = dask_array.Array(_with_layer(graph, name, layer, shard_name), name, chunks, meta=meta)
    return outputs


def _reduced(graph: Any, shard_name: str, like: Array, shapes: Sequence[tuple[str, tuple[int, ...]]]) -> Array:
    """Every shard's flat vector of summands ``(1, P)``, stacked into a ``(n_shards, P)`` Dask array."""
    dask_array = _dask_array()
    meta_from_array = import_module("dask.array.utils").meta_from_array
    width = sum(math.prod(shape) for _, shape in shapes)
    n_shards = len(like.chunks[1])
    name = f"flat-{shard_name}"
    layer = {(name, shard, 0): (_flat_row, (shard_name, shard)) for shard in range(n_shards)}
    chunks = ((1,) * n_shards, (width,))
    meta = meta_from_array(like, ndim=2)
    return dask_array.Array(_with_layer(graph, name, layer, shard_name), name, chunks, meta=meta)


def _gradients(
    graph: Any,
    shard_name: str,
    cell: CellSpec,
    like: Array,
    sizes: Mapping[str, int],
    shapes: Sequence[tuple[str, tuple[int, ...]]],
    split_every: int | None,
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Every shard's per-example gradients, chunked like ``like`` along ``m``, and the sum over the shards of
    their flat vectors as a tree reduction (``split_every`` partial sums per task and level), cut into
    ``shapes``."""
    per_example = _chunked_outputs(graph, shard_name, _example_gradients(cell), like, sizes)
    summed = _reduced(graph, shard_name, like, shapes).sum(axis=0, split_every=split_every)
    return per_example, split_flat(summed, shapes)


def _gradient_shapes(parameters: Mapping[str, Array]) -> list[tuple[str, tuple[int, ...]]]:
    return [("d" + key, tuple(int(n) for n in value.shape)) for key, value in parameters.items()]


def _example_gradients(cell: CellSpec) -> list[str]:
    """The gradients of each example's own inputs: ``dx`` and the initial states'."""
    return ["dx", *(f"d{name}" for name in cell.initial_names)]


# ---------------------------------------------------------------------------------------------- the tasks


class _Shard(NamedTuple):
    """What one shard's task receives: its blocks of the call's arrays, and the parameters in key order."""

    x: Array
    initial: list[Array | None]
    mask: Array | None
    extra: Any  # the labels of a loss, the ``da`` of a backward pass; None in a forward pass
    params: list[Array]

    def parameters(self, keys: Sequence[str]) -> dict[str, Array]:
        return dict(zip(keys, self.params, strict=True))


def _forward_shard(cell: CellSpec, keys: Sequence[str], output: bool, states: int, shard: _Shard) -> dict[str, Array]:
    """One shard's forward pass with the ordinary engine."""
    parameters = shard.parameters(keys)
    result = engine_forward(cell, shard.x, shard.initial, parameters, mask=shard.mask, output=output, states=states)
    outputs = {f"state-{name}": value for name, value in zip(cell.state, result.states, strict=False)}
    return outputs if result.y is None else {**outputs, "y": result.y}


def _backward_shard(cell: CellSpec, checkpoints: int | None, shard: _Shard) -> dict[str, Array]:
    """One shard's forward pass again, then its backward pass (``shard.extra`` is ``da``); parameter gradients
    as one flat vector."""
    parameters = shard.parameters(cell.keys)
    cache = engine_forward(cell, shard.x, shard.initial, parameters, mask=shard.mask, checkpoints=checkpoints).cache
    grads = engine_backward(shard.extra, cache)
    per_example = {key: grads[key] for key in _example_gradients(cell)}
    return {**per_example, "flat": flatten([grads["d" + key] for key in cell.keys])}


def _loss_shard(cell: CellSpec, keys: Sequence[str], checkpoints: int | None, shard: _Shard) -> dict[str, Array]:
    """One shard's number of real steps, and its loss and gradients as sums over them (mean times count);
    ``shard.extra`` is the labels.

    Everything is divided once by the count summed over all shards.
    """
    x, mask = shard.x, shard.mask
    loss, grads = engine_loss(
        cell, x, shard.initial, shard.extra, shard.parameters(keys), mask=mask, checkpoints=checkpoints
    )
    xp = array_api_compat.array_namespace(x)
    count = int(x.shape[1]) * int(x.shape[2]) if mask is None else int(xp.sum(xp.astype(mask, xp.int64)))
    summands = [xp.asarray(float(count), dtype=x.dtype), loss * count, *(grads["d" + key] * count for key in keys)]
    per_example = {key: grads[key] * count for key in _example_gradients(cell)}
    return {**per_example, "flat": flatten(summands)}


def _flat_row(result: Mapping[str, Array]) -> Array:
    return result["flat"][None, :]


# ------------------------------------------------------------------------------------------------- checks


def _check_split_every(split_every: object) -> None:
    if split_every is not None:
        expect_integer("split_every", split_every, low=2, kind="an int or None", why=" (shards summed per task)")


def _check_known_chunks(arrays: Mapping[str, Array]) -> None:
    for name, array in arrays.items():
        if is_dask_array(array) and any(math.isnan(n) for n in array.shape):
            raise ValueError(
                f"{name} has chunks of unknown size (shape {tuple(array.shape)}); "
                f"call {name}.compute_chunk_sizes() first, xrnn needs the size of every shard"
            )


def _check_dtypes(arrays: Mapping[str, Array]) -> None:
    """One real floating dtype for the data and the parameters (read from ``.dtype``, nothing computed)."""
    names = list(arrays)
    for name in names:
        if not array_api_compat.is_array_api_obj(arrays[name]):
            raise TypeError(f"{name} must be an array, got {type(arrays[name]).__name__}")
    first = names[0]
    for name in names:
        dtype = arrays[name].dtype
        if _kind(arrays[name]) != "f":
            raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {dtype}")
        if dtype != arrays[first].dtype:
            raise TypeError(
                f"{name} has dtype {dtype} but {first} has dtype {arrays[first].dtype}; "
                "all arrays must share one floating dtype"
            )


def _is_array(value: object) -> bool:
    return bool(array_api_compat.is_array_api_obj(value))


def _kind(array: Array) -> str:
    """NumPy's one-letter dtype kind (``"f"``, ``"i"``, ``"u"``, ``"b"``, ...); NumPy, CuPy and Dask share it."""
    return str(getattr(array.dtype, "kind", ""))


def _chunk_library(array: Array) -> str:
    """The library of ``array``'s chunks (of ``array`` itself when it is not a Dask array)."""
    return library_name(array._meta if is_dask_array(array) else array)


def _check_libraries(arrays: Mapping[str, Array]) -> None:
    """Every chunk and every parameter comes from one library, NumPy or CuPy."""
    names = list(arrays)
    for name in names:
        if not _is_array(arrays[name]):
            raise TypeError(f"{name} must be an array, got {type(arrays[name]).__name__}")
    first = names[0]
    library = _chunk_library(arrays[first])
    for name in names:
        found = _chunk_library(arrays[name])
        if found not in CHUNK_LIBRARIES:
            raise TypeError(
                f"{name} holds {found} arrays; Dask chunks and parameters must be NumPy or CuPy arrays "
                "(libraries Dask can compute with)"
            )
        if found != library:
            raise TypeError(
                f"{name} holds {found} arrays but {first} holds {library} arrays; the chunks and the "
                "parameters must come from one library"
            )
