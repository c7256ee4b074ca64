"""Variable-length batches: the ``mask`` argument of the sequence functions.

``mask[i, t]`` is ``True`` where example ``i`` has a real step ``t``. Where it is ``False`` the
recurrent state is carried over unchanged, ``a<t> = a<t-1>`` (and ``c<t> = c<t-1>``), and the step
contributes nothing to any gradient: the gradient given for that step's output is ignored, its ``dx``
is zero, and the gradient reaching ``a<t>`` passes straight to ``a<t-1>``. A batch padded at the end
(or the start) thus gives exactly what running each example alone at its own length gives, and the
last step holds each example's final state. What the padding holds does not matter, NaN and inf included:
each call zeroes the padded steps of ``x`` once, before it runs the cell, and its cache keeps that ``x``.
"""

from __future__ import annotations

from types import ModuleType

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import a_library_array, expect_shape, library_name, namespace_of


def mask_rows(xp: ModuleType, mask: object, like: Array, dims: dict[str, int]) -> Array | None:
    """Check ``mask`` ``(m, T_x)`` and return it time-major as ``(T_x, m, 1)`` booleans, or ``None``.

    ``like`` is a data array of the call: the mask must share its library and device.
    """
    if mask is None:
        return None
    if not array_api_compat.is_array_api_obj(mask):
        raise TypeError(f"mask must be a boolean array of shape (m, T_x), got {type(mask).__name__}")
    return _checked_mask_rows(xp, mask, like, dims)


def _checked_mask_rows(xp: ModuleType, mask: Array, like: Array, dims: dict[str, int]) -> Array:
    if namespace_of(mask, "mask") is not xp:
        raise TypeError(f"mask is {a_library_array(mask)} but the data are {library_name(like)} arrays")
    if mask.dtype != xp.bool:
        raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
    if array_api_compat.device(mask) != array_api_compat.device(like):
        raise ValueError(
            f"mask is on device {array_api_compat.device(mask)} but the data are on {array_api_compat.device(like)}"
        )
    expect_shape("mask", mask, ("m", "T_x"), dims)
    # A copy: the caches keep it for the backward pass, which must not see the caller reuse its mask buffer.
    return xp.asarray(xp.permute_dims(mask, (1, 0))[..., None], copy=True)


def carry(xp: ModuleType, keep: Array | None, new: Array, old: Array) -> Array:
    """``new`` where ``keep`` (rows ``(m, 1)``) is true, else ``old``; ``new`` when there is no mask."""
    return new if keep is None else xp.where(keep, new, old)


def zero_masked(xp: ModuleType, keep: Array | None, values: Array) -> Array:
    """``values`` with the masked rows set to zero (out of the time loop, on whole ``(T_x, m, n)`` arrays)."""
    return values if keep is None else xp.where(keep, values, xp.zeros_like(values))


def zero_padding(xp: ModuleType, keep: Array | None, x: Array) -> Array:
    """``x (n_x, m, T_x)`` with its padded steps set to zero, so that NaN or inf padding, which the states
    never see, cannot reach a weight's gradient either (as ``0 * nan`` in the product with ``x``)."""
    return x if keep is None else xp.where(xp.permute_dims(keep, (2, 1, 0)), x, xp.zeros_like(x))
