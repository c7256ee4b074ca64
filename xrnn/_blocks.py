"""Two layout facts of the time-major arrays, shared by the generic scans and the backends' fast paths.

A gated cell keeps the gates of a step side by side in one ``(m, g n_a)`` block, and a backward pass
often needs, for each step, the state before it. Both are plain slicing, with no imports, so the
backends can use them without depending on the cells.
"""

from __future__ import annotations

from types import ModuleType

from xrnn._typing import Array


def gate_blocks(gates: Array, count: int) -> tuple[Array, ...]:
    """Views of the ``count`` column blocks of ``gates`` ``(..., count * n_a)``."""
    n_a = gates.shape[-1] // count
    return tuple(gates[..., k * n_a : (k + 1) * n_a] for k in range(count))


def previous_rows(xp: ModuleType, first: Array, states: Array) -> Array:
    """``(T_x, m, n)``: step ``t`` holds the state before step ``t``, i.e. ``first`` (rows ``(m, n)``) then
    ``states[:-1]``."""
    return xp.concat([first[None, ...], states[:-1, ...]], axis=0)
