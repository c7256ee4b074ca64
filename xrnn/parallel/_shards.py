"""What the Dask arrays and the data-parallel trainer share: a shard's gradients travel as one flat vector.

A shard task returns its sums (loss, gradients) concatenated into one 1-D array, so that one reduction adds
them all; the receiver cuts the reduced vector back into named arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import array_api_compat

from xrnn._typing import Array

#: Each piece of a flat vector: its name and its shape (``()`` for a scalar).
Shapes = Sequence[tuple[str, tuple[int, ...]]]


def flatten(arrays: Sequence[Array]) -> Array:
    """The arrays, raveled and concatenated in order (one library: NumPy or CuPy chunks)."""
    xp = array_api_compat.array_namespace(*arrays)
    return xp.concat([xp.reshape(array, (-1,)) for array in arrays])


def split_flat(flat: Array, shapes: Shapes, *, offset: int = 0) -> dict[str, Array]:
    """Cut ``flat[offset:]`` back into the named arrays of ``shapes`` (works on NumPy, CuPy and Dask arrays)."""
    pieces = {}
    for key, shape in shapes:
        size = math.prod(shape)
        pieces[key] = flat[offset : offset + size].reshape(shape)
        offset += size
    return pieces
