"""What the engine works out once per cell and remembers: a table keyed by the owner's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Owner = TypeVar("Owner")
Value = TypeVar("Value")


def remembered(table: dict[int, tuple[object, object]], owner: Owner, build: Callable[[Owner], Value]) -> Value:
    """``build(owner)``, worked out on the first call for this ``owner`` and then read from ``table``.

    Keyed by ``id``: the owners (a cell, its shape mapping) are not hashable or not cheap to hash, and every
    call of the engine asks. The owner is kept beside its value, so a new object that reuses a dead one's
    ``id`` is worked out afresh.
    """
    known = table.get(id(owner))
    if known is None or known[0] is not owner:
        known = table[id(owner)] = (owner, build(owner))
    return known[1]  # type: ignore[return-value]
