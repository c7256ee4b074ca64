"""Gradient clipping for a dict of gradients, on any Array API library.

Both clipping functions return a new dict of new arrays; the caller's gradients are never written to.
Every function here checks its arguments before any work, with the same errors: ``ValueError`` for
``gradients`` empty or not a mapping, or with arrays on different devices; ``TypeError`` for a value that
is not an array, or arrays of mixed libraries or dtypes; ``ValueError`` for a bound (``limit``,
``max_norm``) that is not a positive finite number.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_positive


def clip_by_value(gradients: Mapping[str, Array], limit: float) -> dict[str, Array]:
    """Clip every entry of every gradient to ``[-limit, limit]``.

    Parameters
    ----------
    gradients : mapping of str to array
        Gradients of any shapes, e.g. ``dWax (n_a, n_x)``, ``dba (n_a, 1)``, all of one library,
        dtype and device.
    limit : float
        A positive finite bound.

    Returns
    -------
    dict
        The same keys, each array clipped, with the input's shape, dtype, library and device.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.clipping import clip_by_value
    >>> clip_by_value({"dW": np.array([[-7.0, 0.5, 9.0]])}, 5.0)["dW"]
    array([[-5. ,  0.5,  5. ]])
    """
    bound = expect_positive("limit", limit)
    xp = _namespace(gradients)
    return {key: xp.clip(g, -bound, bound) for key, g in gradients.items()}


def global_norm(gradients: Mapping[str, Array]) -> Array:
    """The Euclidean norm of all gradients taken together, ``sqrt(sum_k sum(g_k ** 2))``.

    Computed without overflow or underflow of the squares: the norm of float32 gradients of ``1e20`` or
    ``1e-30`` is theirs, not ``inf`` or ``0``.

    Parameters
    ----------
    gradients : mapping of str to array
        Any shapes; one library, floating dtype and device.

    Returns
    -------
    array, shape ()
        The norm, in the gradients' dtype, library and device.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.clipping import global_norm
    >>> float(global_norm({"da": np.array([3.0]), "db": np.array([[4.0]])}))
    5.0
    """
    return _norm(_namespace(gradients), gradients)


def _norm(xp: ModuleType, gradients: Mapping[str, Array]) -> Array:
    # Squares of float32 entries past ~1.8e19 overflow and those below ~1e-23 vanish: square the entries
    # divided by the largest magnitude, which are at most 1, and scale the root back. One flat vector keeps
    # it to a few operations, whatever the number of gradients.
    flat = xp.concat([xp.reshape(g, (-1,)) for g in gradients.values()])
    if flat.shape[0] == 0:
        return xp.sum(flat)
    largest = xp.max(xp.abs(flat))
    divisor = xp.where(xp.isfinite(largest) & (largest > 0), largest, xp.ones_like(largest))
    scaled = flat / divisor
    norm = divisor * xp.sqrt(xp.sum(scaled * scaled))
    return xp.where(xp.isinf(largest), largest, norm)  # an infinite entry: the norm is infinite


def clip_by_global_norm(gradients: Mapping[str, Array], max_norm: float) -> tuple[dict[str, Array], Array]:
    """Scale all gradients by one factor so that their global norm is at most ``max_norm``.

    Unlike :func:`clip_by_value`, this keeps the direction of the update. Gradients whose global
    norm is already at most ``max_norm`` come back unchanged (as new arrays).

    Parameters
    ----------
    gradients : mapping of str to array
        Gradients of any shapes, all of one library, dtype and device.
    max_norm : float
        A positive finite bound on the global norm.

    Returns
    -------
    clipped : dict
        The same keys, scaled by ``min(1, max_norm / norm)``.
    norm : array, shape ()
        The global norm before clipping (see :func:`global_norm`), on the gradients' device.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.train.clipping import clip_by_global_norm
    >>> clipped, norm = clip_by_global_norm({"da": np.array([3.0]), "db": np.array([[4.0]])}, 1.0)
    >>> float(norm), clipped["da"], clipped["db"]
    (5.0, array([0.6]), array([[0.8]]))
    """
    bound = expect_positive("max_norm", max_norm)
    xp = _namespace(gradients)
    norm = _norm(xp, gradients)
    # bound / max(norm, bound) is exactly 1 when nothing needs clipping, and never divides by zero
    limit = xp.asarray(bound, dtype=norm.dtype, device=array_api_compat.device(norm))
    scale = limit / xp.maximum(norm, limit)
    return {key: g * scale for key, g in gradients.items()}, norm


def _namespace(gradients: Mapping[str, Array]) -> ModuleType:
    if not isinstance(gradients, Mapping) or not gradients:
        raise ValueError(f"gradients must be a non-empty mapping of arrays, got {gradients!r}")
    return common_namespace({f"gradients[{key!r}]": g for key, g in gradients.items()})
