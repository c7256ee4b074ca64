"""Moves between the spec's time-last layout and xrnn's internal time-major rows."""

from __future__ import annotations

from types import ModuleType

from xrnn._typing import Array
from xrnn.backends import fast_path


def to_rows(xp: ModuleType, x: Array) -> Array:
    """``(n, m, T_x)`` -> ``(T_x * m, n)``: row ``t * m + i`` is example ``i`` at step ``t``.

    The result is C-contiguous (a copy, except for shapes where the permuted view already is), so
    each step's ``m`` rows form one block. Never written to by xrnn.
    """
    fast = fast_path(xp, "time_major_rows")
    if fast is not None:
        rows: Array = fast(x)
        return rows
    n, m, t = x.shape
    return xp.reshape(xp.permute_dims(x, (2, 1, 0)), (t * m, n))


def from_rows(xp: ModuleType, rows: Array, m: int) -> Array:
    """``(T_x * m, n)`` or ``(T_x, m, n)`` -> ``(n, m, T_x)``, as a view."""
    n = rows.shape[-1]
    return xp.permute_dims(xp.reshape(rows, (-1, m, n)), (2, 1, 0))
