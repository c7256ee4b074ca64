"""A cell's declared sequence optimisation (:class:`~xrnn.cells._spec.ProjectedScan`), run.

The input projection of every step is one product before the loop, the loop is a scan (the backend's fast
path where it has one, the generic twin otherwise), and ``dx`` and the weight gradients are single products
after it. Layout is time-major with one row per example (see ``xrnn._layout``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from xrnn._blocks import previous_rows
from xrnn._layout import from_rows, to_rows
from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.backends import fast_path
from xrnn.cells._caches import ScanCache
from xrnn.cells._door import Checked
from xrnn.cells._memo import remembered
from xrnn.cells._spec import CellSpec, ProjectedScan


def run_scan(
    xp: ModuleType,
    kernel: str,
    generic: Callable[..., Any],
    *arrays: Array,
    keep: Array | None,
    after: tuple[Array, ...] | None = None,
) -> Any:
    """``fast(*arrays, keep)``, the library's fast path ``kernel``, if it has one (and, with a mask or the
    gradients ``after`` the last step, one that takes them); else the generic twin
    ``generic(xp, *arrays, keep)``. Every scan goes through here."""
    fast = fast_path(xp, kernel, masked=keep is not None, after=after is not None)
    extra = () if after is None else (after,)
    if fast is not None:
        return fast(*arrays, keep, *extra)
    return generic(xp, *arrays, keep, *extra)


@dataclass(frozen=True)
class _Layout:
    """What a cell's declared scan means for the arrays, worked out once per cell (every call reads it)."""

    scan: ProjectedScan
    joint: bool  # every block's state and input weight are one key
    state_keys: tuple[str, ...]
    input_keys: tuple[str, ...]
    bias_keys: tuple[str, ...]
    groups: tuple[tuple[str | None, int, int], ...]  # (operand, first block, end block): one product each
    outputs: tuple[tuple[int, str, str, str], ...]  # per block: index, state, input and bias gradient names
    reads: tuple[tuple[str, bool], ...]  # per array the backward scan reads: the cache field, and if it is a state


_layouts: dict[int, tuple[object, object]] = {}


def _layout(cell: CellSpec) -> _Layout:
    return remembered(_layouts, cell, _work_out_layout)


def _work_out_layout(cell: CellSpec) -> _Layout:
    assert cell.scan is not None
    scan = cell.scan
    blocks = scan.blocks
    groups, start = [], 0
    for operand, group in itertools.groupby(blocks, key=lambda block: block.operand):
        count = len(list(group))
        groups.append((operand, start, start + count))
        start += count
    layout = _Layout(
        scan=scan,
        joint=all(block.state_weight == block.input_weight for block in blocks),
        state_keys=tuple(block.state_weight for block in blocks),
        input_keys=tuple(block.input_weight for block in blocks),
        bias_keys=tuple(block.bias for block in blocks),
        groups=tuple(groups),
        outputs=tuple(
            (index, "d" + block.state_weight, "d" + block.input_weight, "d" + block.bias)
            for index, block in enumerate(blocks)
        ),
        reads=tuple((name, name in cell.initial_names) for name in scan.reads),
    )
    return layout


def forward(cell: CellSpec, checked: Checked, x: Array, initial: Sequence[Array], params: Mapping[str, Array]) -> Any:
    """Every step of ``cell`` over ``x (n_x, m, T_x)``: the cache its ``scan.cache_type`` holds."""
    xp, layout = checked.xp, _layout(cell)
    scan = layout.scan
    _, m, t_x = x.shape
    w_a, w_x = _weights(xp, layout, params, checked.sizes["n_a"])
    inputs_rows = to_rows(xp, x)
    projection = xp.matmul(inputs_rows, w_x.T)
    projection += _stacked(xp, [params[key] for key in layout.bias_keys]).T  # in place: a buffer xrnn owns
    projection = xp.reshape(projection, (t_x, m, -1))
    initial_rows = [state.T for state in initial]
    outputs = run_scan(xp, scan.forward_kernel, scan.forward_twin, projection, w_a, *initial_rows, keep=checked.keep)
    stored = dict(zip(scan.stored, outputs if isinstance(outputs, tuple) else (outputs,), strict=True))
    stored.update(zip(cell.initial_names, initial, strict=True))
    inputs = xp.reshape(inputs_rows, (t_x, m, -1))
    return scan.cache_type(**stored, inputs=inputs, parameters=params, mask=checked.keep, cell_spec=cell)


def backward(cache: ScanCache, dstates: Array, after: tuple[Array, ...] | None = None) -> dict[str, Array]:
    """BPTT from the gradient reaching each hidden state, ``dstates (T_x, m, n_a)`` time-major, and
    ``after``, the gradients ``(n_a, m)`` reaching the last step's states from beyond the sequence.

    Returns ``"d" + key`` for the cell's keys, ``dx (n_x, m, T_x)`` and ``"d" + name + "0"`` for each
    initial state.
    """
    cell, params = cache.cell_spec, cache.parameters
    layout = _layout(cell)
    scan = layout.scan
    xp = namespace_of(dstates)
    t_x, m, n_a = dstates.shape
    w_a, w_x = _weights(xp, layout, params, n_a)
    reads = [getattr(cache, name).T if is_state else getattr(cache, name) for name, is_state in layout.reads]
    after_rows = None if after is None else tuple(gradient.T for gradient in after)
    scanned = run_scan(
        xp, scan.backward_kernel, scan.backward_twin, dstates, *reads, w_a, keep=cache.mask, after=after_rows
    )
    dz_rows = xp.reshape(scanned[0], (t_x * m, -1))
    grads = {"dx": from_rows(xp, xp.matmul(dz_rows, w_x), m)}
    for name, rows in zip(cell.initial_gradient_names, scanned[1:], strict=True):
        grads[name] = rows.T
    d_state = _state_weight_gradient(xp, layout, cache, dz_rows)
    d_input = xp.matmul(dz_rows.T, xp.reshape(cache.inputs, (t_x * m, -1)))
    d_bias = xp.reshape(xp.sum(dz_rows, axis=0), (-1, 1))
    single = len(layout.outputs) == 1
    for index, state_key, input_key, bias_key in layout.outputs:
        rows = slice(index * n_a, (index + 1) * n_a)
        blocks = (d_state, d_input, d_bias)
        state, inputs, bias = blocks if single else tuple(block[rows, ...] for block in blocks)
        if state_key == input_key:
            grads[state_key] = xp.concat([state, inputs], axis=1)
        else:
            grads[state_key], grads[input_key] = state, inputs
        grads[bias_key] = bias
    return grads


def weights(xp: ModuleType, cell: CellSpec, params: Mapping[str, Array], n_a: int) -> tuple[Array, Array]:
    """The blocks' state and input weights stacked row-wise: ``w_a (g n_a, n_a)`` and ``w_x (g n_a, n_x)``."""
    return _weights(xp, _layout(cell), params, n_a)


def _weights(xp: ModuleType, layout: _Layout, params: Mapping[str, Array], n_a: int) -> tuple[Array, Array]:
    if len(layout.state_keys) == 1 and not layout.joint:  # the RNN: its two weights as they are
        return params[layout.state_keys[0]], params[layout.input_keys[0]]
    if layout.joint:
        stacked = _stacked(xp, [params[key] for key in layout.state_keys])
        return stacked[:, :n_a], stacked[:, n_a:]
    state_parts, input_parts = [], []
    for state_key, input_key in zip(layout.state_keys, layout.input_keys, strict=True):
        state, inputs = params[state_key], params[input_key]
        joint = state_key == input_key
        state_parts.append(state[:, :n_a] if joint else state)
        input_parts.append(inputs[:, n_a:] if joint else inputs)
    return _stacked(xp, state_parts), _stacked(xp, input_parts)


def _state_weight_gradient(xp: ModuleType, layout: _Layout, cache: ScanCache, dz_rows: Array) -> Array:
    """``sum_t dz[t].T @ operand[t]`` for every block: the operand is the previous state, or the rows of the
    cache field a block names (times the previous state). One product per run of blocks that share it."""
    t_x, m, n_a = cache.states.shape
    states_rows = xp.reshape(cache.states, (t_x * m, n_a))
    pieces = []
    for operand, first, end in layout.groups:
        dz_group = dz_rows if len(layout.groups) == 1 else dz_rows[:, first * n_a : end * n_a]
        if operand is None:  # the first step reads a0, the others the states before them: no joint copy
            piece = xp.matmul(dz_group[:m, ...].T, cache.a0.T)
            if t_x > 1:
                piece = piece + xp.matmul(dz_group[m:, ...].T, states_rows[: (t_x - 1) * m, ...])
        else:
            previous = xp.reshape(previous_rows(xp, cache.a0.T, cache.states), (t_x * m, n_a))
            piece = xp.matmul(dz_group.T, xp.reshape(getattr(cache, operand), (t_x * m, n_a)) * previous)
        pieces.append(piece)
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)


def _stacked(xp: ModuleType, arrays: list[Array]) -> Array:
    return arrays[0] if len(arrays) == 1 else xp.concat(arrays, axis=0)
