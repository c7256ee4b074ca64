"""The losses, for any Array API library: softmax cross-entropy over a sequence, and mean squared error.

The cross-entropy is the mean over the batch and the time steps (``m * T_x`` terms) of the
cross-entropy between the softmax of the logits and the target distribution at each
``(example, step)``. The mean squared error, for a regression head, is the mean over every element.

Both take float32 or float64 and reject float16: its largest value, 65504, is within reach of a
loss sum or a squared error (logits of about 1e4 already overflow it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._typing import Array
from xrnn._validation import (
    a_library_array,
    common_namespace,
    expect_class_indices,
    expect_float32_or_float64,
    expect_ndim,
    expect_shape,
    is_kind,
    library_name,
    namespace_of,
)

#: The floating dtypes the losses compute in (float16 overflows: see the module docstring).
LOSS_DTYPES = ("float32", "float64")


def softmax_cross_entropy(logits: Array, labels: Array) -> tuple[Array, Array]:
    """Mean softmax cross-entropy over batch and time, and its gradient with respect to the logits.

    Parameters
    ----------
    logits : array, shape (n_y, m, T_x)
        Pre-softmax outputs ``Wya a<t> + by`` for every step.
    labels : array
        Either integer class indices of shape ``(m, T_x)`` with values in ``[0, n_y)``, or target
        distributions (one-hot or soft) of shape ``(n_y, m, T_x)`` in the logits' dtype, each entry
        finite and non-negative.

    Returns
    -------
    loss : array, shape ()
        ``-sum(target * log_softmax(logits)) / (m * T_x)``, on the logits' device.
    dlogits : array, shape (n_y, m, T_x)
        Gradient of ``loss`` with respect to ``logits``.

    Raises
    ------
    TypeError
        Logits that are not float32 or float64, labels of another dtype or library.
    ValueError
        Shapes that do not match, class indices out of range, soft targets that are negative or not finite.

    Notes
    -----
    The loss is finite wherever the true loss is representable, however far apart the logits are
    (``[1e308, -1e308]`` with label 0 gives 0); where it is not (label 1 there: ``2e308``), it is ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn import softmax_cross_entropy
    >>> loss, dlogits = softmax_cross_entropy(np.zeros((4, 2, 3)), np.zeros((2, 3), dtype=int))
    >>> round(float(loss), 6), float(np.log(4).round(6))
    (1.386294, 1.386294)
    """
    xp = common_namespace({"logits": logits})
    expect_loss_dtype(xp, "logits", logits)
    expect_ndim("logits", logits, ("n_y", "m", "T_x"))
    n_y, m, t_x = (int(n) for n in logits.shape)
    targets = target_rows(xp, labels, logits, {"n_y": n_y, "m": m, "T_x": t_x})
    loss, dlogits = cross_entropy_rows(xp, to_rows(xp, logits), targets)
    return loss, from_rows(xp, dlogits, m)


def expect_loss_dtype(xp: ModuleType, name: str, array: Array) -> None:
    """``array`` must be float32 or float64 (a loss in float16 overflows)."""
    reason = " (float16's largest value, 65504, overflows in the loss)"
    expect_float32_or_float64(xp, name, array, purpose=" for a loss", reason=reason)


def target_rows(xp: ModuleType, labels: Array, like: Array, dims: dict[str, int]) -> Array:
    """Check ``labels`` and return target distributions as rows ``(T_x * m, n_y)`` in ``like``'s dtype."""
    check_labels(xp, labels, like, dims)
    return labels_to_rows(xp, labels, like, dims["n_y"])


def check_labels(xp: ModuleType, labels: Array, like: Array, dims: Mapping[str, int]) -> None:
    """``labels`` must be class indices ``(m, T_x)`` in ``[0, n_y)`` or targets ``(n_y, m, T_x)`` of
    ``like``'s library, device and dtype."""
    expect_loss_dtype(xp, "the data", like)
    if not array_api_compat.is_array_api_obj(labels):
        raise TypeError(f"labels must be an array, got {type(labels).__name__}")
    if namespace_of(labels, "labels") is not xp:
        raise TypeError(f"labels is {a_library_array(labels)} but the data are {library_name(like)} arrays")
    if array_api_compat.device(labels) != array_api_compat.device(like):
        raise ValueError(
            f"labels is on device {array_api_compat.device(labels)} but the data are on {array_api_compat.device(like)}"
        )
    n_y = dims["n_y"]
    if is_kind(xp, labels.dtype, "integral"):
        expect_shape("labels", labels, ("m", "T_x"), dims)
        expect_class_indices(xp, "labels", labels, n_y)
        return
    if is_kind(xp, labels.dtype, "real floating"):
        if tuple(labels.shape) == (dims["m"], dims["T_x"]):
            raise TypeError(
                f"labels of shape (m, T_x) must be integer class indices, got dtype {labels.dtype} (floating "
                "labels are soft targets of shape (n_y, m, T_x))"
            )
        if labels.dtype != like.dtype:
            raise TypeError(f"labels has dtype {labels.dtype} but the data have {like.dtype}; they must match")
        expect_shape("labels", labels, ("n_y", "m", "T_x"), dims)
        if not bool(xp.all(xp.isfinite(labels) & (labels >= 0))):
            counts = {what: int(xp.sum(xp.astype(found, xp.int64))) for what, found in _bad_targets(xp, labels)}
            found = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
            if counts["negative"]:
                found += f" (lowest {float(xp.min(xp.where(xp.isnan(labels), xp.zeros_like(labels), labels)))})"
            raise ValueError(f"labels (soft targets) must be finite and non-negative, got {found}")
        return
    raise TypeError(
        "labels must be integer class indices of shape (m, T_x) or floating targets of shape "
        f"(n_y, m, T_x), got dtype {labels.dtype}"
    )


def _bad_targets(xp: ModuleType, labels: Array) -> tuple[tuple[str, Array], ...]:
    return (("negative", labels < 0), ("infinite", xp.isinf(labels)), ("NaN", xp.isnan(labels)))


def labels_to_rows(xp: ModuleType, labels: Array, like: Array, n_y: int) -> Array:
    """Checked ``labels`` (of any number of steps) as target rows ``(T * m, n_y)`` in ``like``'s dtype."""
    if is_kind(xp, labels.dtype, "integral"):
        return one_hot_rows(xp, xp.reshape(xp.permute_dims(labels, (1, 0)), (-1,)), n_y, like.dtype)
    return to_rows(xp, labels)


def one_hot_rows(xp: ModuleType, indices: Array, n: int, dtype: object) -> Array:
    """Class ``indices (N,)`` in ``[0, n)`` as one-hot rows ``(N, n)`` of ``dtype``."""
    indices, classes = class_range(xp, indices, n)
    return xp.astype(indices[:, None] == classes[None, :], dtype)


def class_range(xp: ModuleType, indices: Array, n: int) -> tuple[Array, Array]:
    """``indices`` (in ``[0, n)``) and the classes ``arange(n)``, in one integer dtype that holds ``n``.

    Not the indices' own dtype: ``arange(300)`` in uint8 wraps round to 0 after 255, and every label below
    44 then matched two classes (a loss twice too large, one-hot vectors with two ones).
    """
    classes = xp.arange(n, device=array_api_compat.device(indices))
    return xp.astype(indices, classes.dtype, copy=False), classes


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
    log_probabilities, wide = _log_softmax_rows(xp, logits)
    if wide:  # a class of target 0 adds nothing, even where its log-probability is -inf (0 * -inf is nan)
        loss = -xp.sum(targets * xp.where(targets > 0, log_probabilities, 0.0)) / count
    else:
        loss = -xp.sum(targets * log_probabilities) / count
    target_mass = xp.sum(targets, axis=1, keepdims=True)
    dlogits = (xp.exp(log_probabilities) * target_mass - targets) / count
    return loss, dlogits


def _log_softmax_rows(xp: ModuleType, logits: Array) -> tuple[Array, bool]:
    """``log_softmax`` along axis 1 whose shift by the row maximum never overflows, and whether some row
    spans more than the dtype's range (then some log-probabilities are ``-inf``).

    ``logit - max`` below the dtype's ``-max`` (logits ``[1e308, -1e308]``) is ``-inf`` without an
    overflow in the subtraction: such rows' logits are first raised to the lowest one whose shift is
    representable. The usual rows take the plain shift (one pass fewer, and no ``where``).
    """
    top = xp.max(logits, axis=1, keepdims=True)
    largest = _largest(xp, logits.dtype)
    # No row spans more than the dtype's range unless the whole array does: one scalar test (in halves, which
    # cannot overflow; NaN and inf fail it) clears the usual case before the per-row test.
    wide = not bool(xp.max(top) * 0.5 - xp.min(logits) * 0.5 <= largest * 0.5)
    if wide:
        floor = xp.maximum(top, 0.0) - largest  # (N, 1): never overflows
        wide = bool(xp.any(xp.min(logits, axis=1, keepdims=True) < floor))
    shifted = xp.where(logits >= floor, xp.maximum(logits, floor) - top, -xp.inf) if wide else logits - top
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True)), wide


_largest_values: dict[tuple[ModuleType, object], float] = {}


def _largest(xp: ModuleType, dtype: object) -> float:
    """``xp.finfo(dtype).max`` as a Python float, remembered per namespace and dtype."""
    key = (xp, dtype)
    if key not in _largest_values:
        _largest_values[key] = float(xp.finfo(dtype).max)
    return _largest_values[key]


def mean_squared_error(predictions: Array, targets: Array) -> tuple[Array, Array]:
    """Mean of the squared differences over every element, and its gradient with respect to ``predictions``.

    The loss of a regression head (the adding problem's sum, for one): predictions ``(n_y, m)`` against
    targets of the same shape give ``sum((predictions - targets) ** 2) / (n_y * m)``, as
    ``torch.nn.functional.mse_loss`` with its default ``reduction="mean"``.

    Parameters
    ----------
    predictions : array
        Any shape, float32 or float64.
    targets : array
        The shape, dtype, library and device of ``predictions``.

    Returns
    -------
    loss : array, shape ()
        The mean squared error.
    dpredictions : array
        ``2 * (predictions - targets) / predictions.size``, the shape of ``predictions``.

    Raises
    ------
    TypeError
        Arrays of another dtype or library, or float16.
    ValueError
        Shapes that differ, or empty arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.losses import mean_squared_error
    >>> loss, grad = mean_squared_error(np.array([[1.0, 1.0]]), np.array([[0.5, 2.0]]))
    >>> float(loss), grad
    (0.625, array([[ 0.5, -1. ]]))
    """
    xp = common_namespace({"predictions": predictions, "targets": targets})
    expect_loss_dtype(xp, "predictions", predictions)
    if tuple(targets.shape) != tuple(predictions.shape):
        raise ValueError(
            f"targets must have the shape of predictions, {tuple(predictions.shape)}, got {tuple(targets.shape)}"
        )
    if 0 in tuple(predictions.shape):
        raise ValueError(f"predictions must not be empty, got shape {tuple(predictions.shape)}")
    return squared_error_unchecked(xp, predictions, targets)


def squared_error_unchecked(xp: ModuleType, predictions: Array, targets: Array) -> tuple[Array, Array]:
    """:func:`mean_squared_error` for callers that have checked the arrays already."""
    difference = predictions - targets
    count = math.prod(int(n) for n in difference.shape)
    return xp.sum(difference * difference) / count, difference * (2 / count)
