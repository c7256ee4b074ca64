"""Softmax cross-entropy over a sequence, for any Array API library.

The loss is the mean over the batch and the time steps (``m * T_x`` terms) of the cross-entropy
between the softmax of the logits and the target distribution at each ``(example, step)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_ndim, expect_shape, library_name, namespace_of
from xrnn.activations import log_softmax


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[Array, Array]:
    """Mean softmax cross-entropy over batch and time, and its gradient with respect to the logits.

    Parameters
    ----------
    logits : array, shape (n_y, m, T_x)
        Pre-softmax outputs ``Wya a<t> + by`` for every step.
    labels : array
        Either integer class indices of shape ``(m, T_x)`` with values in ``[0, n_y)``, or target
        distributions (one-hot or soft) of shape ``(n_y, m, T_x)`` in the logits' dtype.

    Returns
    -------
    loss : array, shape ()
        ``-sum(target * log_softmax(logits)) / (m * T_x)``, on the logits' device.
    dlogits : array, shape (n_y, m, T_x)
        Gradient of ``loss`` with respect to ``logits``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn import softmax_cross_entropy
    >>> loss, dlogits = softmax_cross_entropy(np.zeros((4, 2, 3)), np.zeros((2, 3), dtype=int))
    >>> round(float(loss), 6), float(np.log(4).round(6))
    (1.386294, 1.386294)
    """
    xp = common_namespace({"logits": logits})
    expect_ndim("logits", logits, ("n_y", "m", "T_x"))
    n_y, m, t_x = (int(n) for n in logits.shape)
    targets = target_rows(xp, labels, logits, {"n_y": n_y, "m": m, "T_x": t_x})
    loss, dlogits = cross_entropy_rows(xp, to_rows(xp, logits), targets)
    return loss, from_rows(xp, dlogits, m)


def target_rows(xp: ModuleType, labels: Array, like: Array, dims: dict[str, int]) -> Array:
    """Check ``labels`` and return target distributions as rows ``(T_x * m, n_y)`` in ``like``'s dtype."""
    check_labels(xp, labels, like, dims)
    return labels_to_rows(xp, labels, like, dims["n_y"])


def check_labels(xp: ModuleType, labels: Array, like: Array, dims: Mapping[str, int]) -> None:
    """``labels`` must be class indices ``(m, T_x)`` in ``[0, n_y)`` or targets ``(n_y, m, T_x)`` of
    ``like``'s library, device and dtype."""
    if not array_api_compat.is_array_api_obj(labels):
        raise TypeError(f"labels must be an array, got {type(labels).__name__}")
    if namespace_of(labels) is not xp:
        raise TypeError(f"labels is a {library_name(labels)} array but the data are {library_name(like)} arrays")
    if array_api_compat.device(labels) != array_api_compat.device(like):
        raise ValueError(
            f"labels is on device {array_api_compat.device(labels)} but the data are on {array_api_compat.device(like)}"
        )
    n_y = dims["n_y"]
    if xp.isdtype(labels.dtype, "integral"):
        expect_shape("labels", labels, ("m", "T_x"), dims)
        low, high = int(xp.min(labels)), int(xp.max(labels))
        if low < 0 or high >= n_y:
            raise ValueError(f"labels must be class indices in [0, n_y) = [0, {n_y}), got values from {low} to {high}")
        return
    if xp.isdtype(labels.dtype, "real floating"):
        if labels.dtype != like.dtype:
            raise TypeError(f"labels has dtype {labels.dtype} but the data have {like.dtype}; they must match")
        expect_shape("labels", labels, ("n_y", "m", "T_x"), dims)
        return
    raise TypeError(
        "labels must be integer class indices of shape (m, T_x) or floating targets of shape "
        f"(n_y, m, T_x), got dtype {labels.dtype}"
    )


def labels_to_rows(xp: ModuleType, labels: Array, like: Array, n_y: int) -> Array:
    """Checked ``labels`` (of any number of steps) as target rows ``(T * m, n_y)`` in ``like``'s dtype."""
    if xp.isdtype(labels.dtype, "integral"):
        indices = xp.reshape(xp.permute_dims(labels, (1, 0)), (-1,))
        classes = xp.arange(n_y, dtype=labels.dtype, device=array_api_compat.device(labels))
        return xp.astype(indices[:, None] == classes[None, :], like.dtype)
    return to_rows(xp, labels)


def cross_entropy_rows(
    xp: ModuleType, logits: Array, targets: Array, keep: Array | None = None, count: Array | int | None = None
) -> tuple[Array, Array]:
    """Mean cross-entropy over rows ``(N, n_y)`` and its gradient with respect to ``logits``.

    The gradient ``softmax * sum(target) - target`` is exact for soft targets that do not sum to 1.
    With ``keep`` (``N`` booleans), the mean runs over the kept rows only and the others get no gradient.
    ``count``, if given, is what the sum is divided by instead (a whole sequence's, for one of its chunks).
    """
    if keep is not None:
        weights = xp.astype(keep, logits.dtype)[:, None]
        targets = targets * weights
        if count is None:
            one = xp.asarray(1, dtype=logits.dtype, device=array_api_compat.device(weights))
            count = xp.maximum(xp.sum(weights), one)
    if count is None:
        count = logits.shape[0]
    log_probabilities = log_softmax(logits, axis=1)
    loss = -xp.sum(targets * log_probabilities) / count
    target_mass = xp.sum(targets, axis=1, keepdims=True)
    dlogits = (xp.exp(log_probabilities) * target_mass - targets) / count
    return loss, dlogits
