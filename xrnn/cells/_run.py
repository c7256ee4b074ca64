"""The two ways a cell runs over a whole sequence, below the door: its declared optimisation, or the step loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.cells import _loop, _projected
from xrnn.cells._caches import ScanCache, SequenceCache
from xrnn.cells._door import Checked
from xrnn.cells._spec import CellSpec


def run_forward(
    cell: CellSpec, checked: Checked, x: Array, initial: Sequence[Array], parameters: Mapping[str, Array]
) -> SequenceCache:
    """The cache of ``cell`` over ``x``: the declared optimisation if the cell has one, else the step loop."""
    if cell.scan is not None:
        cache: SequenceCache = _projected.forward(cell, checked, x, initial, parameters)
        return cache
    return _loop.forward(cell, checked, x, initial, parameters)


def run_backward(cache: SequenceCache, dstates: Array, after: tuple[Array, ...] | None = None) -> dict[str, Array]:
    """BPTT from ``dstates (T_x, m, n_a)`` (and ``after``, the gradients beyond the last step), by the path
    that made ``cache``."""
    if isinstance(cache, ScanCache):
        return _projected.backward(cache, dstates, after)
    return _loop.backward(cache, dstates, after)


def last_states(cache: SequenceCache) -> tuple[Array, ...]:
    """Every state after the last step, ``(n_a, m)`` each: where the next chunk of steps starts.

    Copies: a view would keep the whole cache's buffers alive (the scans write their states into the
    input projection's buffer), so each of checkpointed BPTT's snapshots would hold a chunk of steps.
    """
    histories = [cache.history(index) for index in range(len(cache.cell.state))]
    xp = namespace_of(histories[0])
    return tuple(xp.asarray(history[-1, ...].T, copy=True) for history in histories)
