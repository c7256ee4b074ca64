"""The four input/output patterns of sequence models, for the RNN, the LSTM and the GRU.

* **many-to-many** (one output per input step, e.g. a character language model):
  :func:`many_to_many_loss_and_gradients`;
* **many-to-one** (one output per sequence, e.g. classifying a sentence), read from each example's
  last valid state so that padded variable-length batches work: :func:`last_valid_state`,
  :func:`many_to_one_predict`, :func:`many_to_one_loss_and_gradients`;
* **one-to-one**: many-to-one with ``T_x = 1`` (a one-hidden-layer tanh network for the RNN);
* **one-to-many** (generation from a start): :func:`xrnn.sampling.sample`.

Every function works for every cell: pass ``cell=`` (a name or a :class:`xrnn.cells.Cell`), or let the
parameter keys say which built-in cell it is (see :func:`xrnn.cells.cell_of`). The output layer is
``Wya, by`` for the RNN and ``Wy, by`` for the others; gradients come back as ``"d" + key`` for every
parameter, plus ``dx (n_x, m, T_x)``, the input of :class:`xrnn.train.Optimizer`.

Regression heads (a linear output scored by mean squared error, as the adding problem needs):
:func:`many_to_one_regression_loss_and_gradients` and :func:`many_to_one_regression_predict`.
:func:`many_to_many_logits` gives every step's output for evaluation (accuracy, held-out loss).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import ModuleType
from typing import Any

import array_api_compat

from xrnn._layout import from_rows, to_rows
from xrnn._typing import Array
from xrnn._validation import common_namespace, expect_class_indices, expect_integer, expect_ndim, library_name
from xrnn.activations import softmax
from xrnn.backends import namespace_backend
from xrnn.cells import Cell, State, resolve
from xrnn.cells._door import check_initial, check_parameter_shapes
from xrnn.cells._engine import loss_and_gradients
from xrnn.losses import (
    class_range,
    cross_entropy_rows,
    expect_loss_dtype,
    one_hot_rows,
    squared_error_unchecked,
)


def one_hot(indices: Array, n: int, *, dtype: object) -> Array:
    """Integer ``indices`` of any shape ``S`` as one-hot vectors of shape ``(n, *S)``.

    Parameters
    ----------
    indices : integer array
        Values in ``[0, n)``.
    n : int
        Number of classes (``n_x`` for inputs).
    dtype : dtype
        A floating dtype of the indices' library.

    Raises
    ------
    TypeError
        Indices that are not an integer array, ``n`` that is not an integer, a ``dtype`` that is not floating.
    ValueError
        ``n`` below 1, or an index outside ``[0, n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.patterns import one_hot
    >>> one_hot(np.array([[2, 0]]), 3, dtype=np.float64)[:, 0, :]
    array([[0., 1.],
           [0., 0.],
           [1., 0.]])
    """
    if not array_api_compat.is_array_api_obj(indices):
        raise TypeError(f"indices must be an integer array, got {type(indices).__name__}")
    xp = array_api_compat.array_namespace(indices)
    if not xp.isdtype(indices.dtype, "integral"):
        raise TypeError(f"indices must be integer class indices, got dtype {indices.dtype}")
    n = expect_integer("n", n, low=1, kind="a positive int (the number of classes)")
    floating = _floating_dtype(xp, dtype)
    expect_class_indices(xp, "indices", indices, n, "n")
    return one_hot_unchecked(xp, indices, n, floating)


def one_hot_unchecked(xp: ModuleType, indices: Array, n: int, dtype: object) -> Array:
    """:func:`one_hot` for callers whose indices are in range by construction (the tasks' generators)."""
    indices, classes = class_range(xp, indices, n)
    classes = xp.reshape(classes, (n,) + (1,) * indices.ndim)
    return xp.astype(indices[None, ...] == classes, dtype)


def _floating_dtype(xp: ModuleType, dtype: object) -> object:
    """``dtype`` (``"float32"``, ``"float64"`` or a dtype of ``xp``) as a floating dtype of ``xp``."""
    adapter = namespace_backend(xp)
    try:
        resolved = dtype if adapter is None else adapter.resolve_dtype(dtype)
        floating = bool(xp.isdtype(resolved, "real floating"))
    except (TypeError, ValueError):
        floating = False
    if not floating:
        raise TypeError(
            f"dtype must be 'float32', 'float64' or a floating dtype of the indices' library, got {dtype!r}"
        )
    return resolved


def many_to_many_loss_and_gradients(
    x: Array,
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    state: State | None = None,
    mask: Array | None = None,
    cell: str | Cell | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Mean cross-entropy of an output at every step, and every gradient.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs.
    labels : array
        Integer classes ``(m, T_x)``, or targets ``(n_y, m, T_x)``, as in :func:`xrnn.softmax_cross_entropy`.
    parameters : mapping
        The cell's parameters, output layer included.
    state : tuple of arrays (n_a, m), optional
        Initial state, ``(a0,)`` or ``(a0, c0)`` for the LSTM; zeros when omitted.
    mask : array of bool, shape (m, T_x), optional
        ``False`` at padded steps: the mean then runs over the real steps only.
    cell : str or Cell, optional
        The cell; by default the one the parameter keys identify.
    checkpoints : int, optional
        Memory-budgeted BPTT, as in :func:`xrnn.rnn_loss_and_gradients`.

    Returns
    -------
    loss : array, shape ()
        Mean over ``m * T_x`` terms (the real steps under a mask).
    gradients : dict
        ``"d" + key`` for every parameter, ``dx``, ``da0`` (and ``dc0`` for the LSTM: one per state).

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn import init_gru_parameters
    >>> from xrnn.patterns import many_to_many_loss_and_gradients, one_hot
    >>> p = init_gru_parameters(4, 8, 4, seed=0)
    >>> tokens = np.array([[0, 1, 2, 3, 0]])  # m=1: learn to predict the next token
    >>> x, labels = one_hot(tokens[:, :-1], 4, dtype=np.float64), tokens[:, 1:]
    >>> loss, grads = many_to_many_loss_and_gradients(x, labels, p)
    >>> round(float(loss), 3), grads["dWu"].shape, grads["dWy"].shape  # about log(4) at the start
    (1.386, (8, 12), (4, 8))
    """
    spec = resolve(cell, parameters)
    initial = check_initial(spec, state)
    return loss_and_gradients(spec, x, initial, labels, parameters, mask=mask, checkpoints=checkpoints)


def last_valid_state(a: Array, mask: Array | None = None) -> Array:
    """Each example's hidden state at its last valid step.

    Parameters
    ----------
    a : array, shape (n_a, m, T_x)
        Hidden states from a forward pass.
    mask : bool array, shape (m, T_x), optional
        ``True`` at real steps; every example needs at least one. Without it, the last step.

    Returns
    -------
    array, shape (n_a, m)

    Raises
    ------
    ValueError
        ``a`` that is not 3-D or has an empty axis, a mask of the wrong shape, or an example without any
        valid step.
    TypeError
        ``a`` that is not a floating array, or a mask that is not a boolean array of ``a``'s library.

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.patterns import last_valid_state
    >>> a = np.arange(6.0).reshape(1, 2, 3)  # n_a=1, m=2, T_x=3
    >>> last_valid_state(a, np.array([[True, True, False], [True, True, True]]))
    array([[1., 5.]])
    """
    xp = common_namespace({"a": a})
    expect_ndim("a", a, ("n_a", "m", "T_x"))
    return a[..., -1] if mask is None else _at_last(xp, a, _selector(xp, mask, a))


def _at_last(xp: ModuleType, a: Array, selector: Array) -> Array:
    """``a (n_a, m, T_x)`` at each example's selected step; ``where``, not a product: inf or NaN at the other
    steps must not reach the result."""
    return xp.sum(xp.where(selector[None, ...] > 0, a, xp.zeros_like(a)), axis=2)


def many_to_one_predict(
    x: Array,
    parameters: Mapping[str, Array],
    *,
    state: State | None = None,
    mask: Array | None = None,
    cell: str | Cell | None = None,
) -> Array:
    """Class probabilities from each example's last valid state.

    Parameters are as in :func:`many_to_one_loss_and_gradients`.

    Returns
    -------
    array, shape (n_y, m)
        ``softmax(W a<last> + b)`` over the class axis.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.patterns import many_to_one_predict
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0)
    >>> many_to_one_predict(np.ones((3, 4, 1)), p).shape  # T_x = 1: one-to-one
    (2, 4)
    """
    return softmax(_last_output(x, parameters, state, mask, cell), axis=0)


def many_to_one_loss_and_gradients(
    x: Array,
    labels: Array,
    parameters: Mapping[str, Array],
    *,
    state: State | None = None,
    mask: Array | None = None,
    cell: str | Cell | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Cross-entropy of one output per sequence, read at each example's last valid step.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs, padded to a common ``T_x``.
    labels : integer array, shape (m,)
        The class of each sequence, in ``[0, n_y)``.
    parameters : mapping
        The cell's parameters, output layer included.
    state : tuple of arrays (n_a, m), optional
        Initial state; zeros when omitted.
    mask : bool array, shape (m, T_x), optional
        ``True`` at real steps, anywhere (padded steps carry the state).
    cell : str or Cell, optional
        The cell; by default the one the parameter keys identify.
    checkpoints : int, optional
        Memory-budgeted BPTT for the cell's cache, as in :func:`xrnn.rnn_forward` (the hidden states and
        their gradient, ``(n_a, m, T_x)`` each, are still held).

    Returns
    -------
    loss : array, shape ()
        Mean over the ``m`` examples.
    gradients : dict
        ``"d" + key`` for every parameter, ``dx`` (zero at padded steps), ``da0`` (one per state).

    Raises
    ------
    ValueError
        Bad shapes, labels out of range, a mask with an empty row.
    TypeError
        Labels that are not integers, or a mask that is not boolean.

    Examples
    --------
    Two sequences of lengths 3 and 1, padded to ``T_x = 3``:

    >>> import numpy as np, xrnn
    >>> from xrnn.patterns import many_to_one_loss_and_gradients
    >>> p = xrnn.init_parameters(2, 4, 3, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 2, 3))
    >>> mask = np.array([[True, True, True], [True, False, False]])
    >>> loss, grads = many_to_one_loss_and_gradients(x, np.array([2, 0]), p, mask=mask)
    >>> round(float(loss), 3), float(abs(grads["dx"][:, 1, 1:]).max())  # about log(3); no gradient to padding
    (1.099, 0.0)
    """
    head = _Head(x, parameters, cell)
    n_y = int(parameters[head.weight].shape[0])
    _check_labels(head.xp, labels, x, int(x.shape[1]), n_y)

    def cross_entropy(outputs: Array) -> tuple[Array, Array]:
        loss, dlogits = cross_entropy_rows(head.xp, outputs.T, one_hot_rows(head.xp, labels, n_y, x.dtype))
        return loss, dlogits.T

    return head.loss_and_gradients(x, state, mask, checkpoints, cross_entropy)


def _selector(xp: ModuleType, mask: Array, like: Array) -> Array:
    """``(m, T_x)`` in ``like``'s dtype: 1 at each example's last valid step, else 0."""
    if not array_api_compat.is_array_api_obj(mask) or array_api_compat.array_namespace(mask) is not xp:
        raise TypeError(f"mask must be a boolean array of the data's library, got {library_name(mask)} {type(mask)}")
    if mask.dtype != xp.bool:
        raise TypeError(f"mask must have dtype bool, got {mask.dtype}")
    expected = (int(like.shape[1]), int(like.shape[2]))
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask must have shape (m, T_x) = {expected}, got {tuple(mask.shape)}")
    t_x = expected[1]
    position = xp.arange(t_x, device=array_api_compat.device(mask))
    last = xp.max(xp.where(mask, position[None, :], xp.full_like(position[None, :], -1)), axis=1)
    if int(xp.min(last)) < 0:
        raise ValueError("mask must mark at least one valid step for every example (a row of mask is all False)")
    return xp.astype(position[None, :] == last[:, None], like.dtype)


def _check_labels(xp: ModuleType, labels: Array, like: Array, m: int, n_y: int) -> None:
    if not array_api_compat.is_array_api_obj(labels) or array_api_compat.array_namespace(labels) is not xp:
        raise TypeError(f"labels must be an integer array of the data's library, got {type(labels).__name__}")
    if not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != (m,):
        raise ValueError(f"labels must have shape (m,) = ({m},), got {tuple(labels.shape)}")
    expect_class_indices(xp, "labels", labels, n_y)


# -- regression heads and evaluation: a cell may be passed (user-defined cells have no keys to recognise)


def many_to_many_logits(
    x: Array, parameters: Mapping[str, Array], *, state: State | None = None, cell: str | Cell | None = None
) -> Array:
    """The output layer's logits at every step, for evaluation (no gradients, no cache kept).

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs.
    parameters : mapping
        A cell's parameters with its output layer.
    state : tuple of arrays (n_a, m), optional
        Initial state; zeros when omitted.
    cell : str or Cell, optional
        The cell; by default the one the parameter keys identify.

    Returns
    -------
    array, shape (n_y, m, T_x)
        ``W a<t> + b`` at every step: :func:`xrnn.softmax_cross_entropy` of it is the many-to-many loss.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.patterns import many_to_many_logits, many_to_many_loss_and_gradients
    >>> p = xrnn.init_parameters(3, 4, 3, seed=0)
    >>> x, labels = np.ones((3, 2, 5)), np.zeros((2, 5), dtype=int)
    >>> logits = many_to_many_logits(x, p)
    >>> loss, _ = xrnn.softmax_cross_entropy(logits, labels)
    >>> logits.shape, bool(np.isclose(loss, many_to_many_loss_and_gradients(x, labels, p)[0]))
    ((3, 2, 5), True)
    """
    head = _Head(x, parameters, cell)
    xp, weight, bias = head.xp, parameters[head.weight], parameters[head.bias]
    a, _ = head.cell.forward(x, state, parameters)
    return from_rows(xp, xp.matmul(to_rows(xp, a), weight.T) + bias.T, int(x.shape[1]))


def many_to_one_regression_predict(
    x: Array,
    parameters: Mapping[str, Array],
    *,
    state: State | None = None,
    mask: Array | None = None,
    cell: str | Cell | None = None,
) -> Array:
    """The linear output ``W a<last> + b`` read at each example's last valid step.

    Parameters are as in :func:`many_to_one_regression_loss_and_gradients`.

    Returns
    -------
    array, shape (n_y, m)

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.cells import get_cell
    >>> from xrnn.patterns import many_to_one_regression_predict
    >>> p = get_cell("gru").init(2, 8, 1, seed=0)
    >>> many_to_one_regression_predict(np.ones((2, 5, 30)), p).shape  # the adding problem's shapes
    (1, 5)
    """
    return _last_output(x, parameters, state, mask, cell)


def many_to_one_regression_loss_and_gradients(
    x: Array,
    targets: Array,
    parameters: Mapping[str, Array],
    *,
    state: State | None = None,
    mask: Array | None = None,
    cell: str | Cell | None = None,
    checkpoints: int | None = None,
) -> tuple[Array, dict[str, Array]]:
    """Mean squared error of one linear output per sequence, read at each example's last valid step.

    The output ``W a<last> + b`` has no activation; the loss is :func:`xrnn.losses.mean_squared_error`,
    the mean over the ``n_y * m`` outputs.

    Parameters
    ----------
    x : array, shape (n_x, m, T_x)
        Inputs, padded to a common ``T_x``.
    targets : array, shape (n_y, m)
        The value(s) each sequence should give, in ``x``'s dtype.
    parameters : mapping
        A cell's parameters with its output layer (``n_y`` outputs).
    state : tuple of arrays (n_a, m), optional
        Initial state; zeros when omitted.
    mask : bool array, shape (m, T_x), optional
        ``True`` at real steps, as in :func:`many_to_one_loss_and_gradients`.
    cell : str or Cell, optional
        The cell; by default the one the parameter keys identify.
    checkpoints : int, optional
        Memory-budgeted BPTT for the cell's cache, as in :func:`many_to_one_loss_and_gradients`.

    Returns
    -------
    loss : array, shape ()
        The mean squared error.
    gradients : dict
        ``"d" + key`` for every parameter, ``dx``, ``da0`` (and ``dc0`` for the LSTM).

    Raises
    ------
    ValueError
        Bad shapes, or a mask with an empty row.
    TypeError
        Targets of another dtype or library, float16, or a mask that is not boolean.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> from xrnn.patterns import many_to_one_regression_loss_and_gradients
    >>> p = xrnn.init_parameters(2, 4, 1, seed=0)
    >>> x = np.random.default_rng(0).uniform(size=(2, 3, 6))
    >>> loss, grads = many_to_one_regression_loss_and_gradients(x, np.ones((1, 3)), p)
    >>> round(float(loss), 3), grads["dWya"].shape, grads["dx"].shape  # about (0 - 1)**2 at the start
    (1.0, (1, 4), (2, 3, 6))
    """
    head = _Head(x, parameters, cell, targets=targets)
    expect_loss_dtype(head.xp, "x", x)
    expected = (int(parameters[head.weight].shape[0]), int(x.shape[1]))
    if tuple(targets.shape) != expected:
        raise ValueError(f"targets must have shape (n_y, m) = {expected}, got {tuple(targets.shape)}")
    return head.loss_and_gradients(
        x, state, mask, checkpoints, partial(squared_error_unchecked, head.xp, targets=targets)
    )


class _Head:
    """An output layer read at each example's last valid step: the checks of ``x`` and the parameters at the
    door, then the forward pass, the head's loss and the backward pass through the last states."""

    def __init__(self, x: Array, parameters: Mapping[str, Array], cell: str | Cell | None, **arrays: Array) -> None:
        self.cell = resolve(cell, parameters)
        self.weight, self.bias = self.cell.output_keys
        self.parameters = parameters
        check_parameter_shapes(self.cell, parameters, output=True)  # the output layer's too: forward skips it
        layer = {f"parameters[{key!r}]": parameters[key] for key in (self.weight, self.bias)}
        self.xp = common_namespace({"x": x, **arrays, **layer})
        expect_ndim("x", x, ("n_x", "m", "T_x"))

    def last_states(
        self, x: Array, state: State | None, mask: Array | None, checkpoints: int | None
    ) -> tuple[Array, Array, Any]:
        """``(selector (m, T_x), last states (n_a, m), cache)``; the mask is checked before any work."""
        xp = self.xp
        selector = _last_step_selector(xp, mask, x)
        a, cache = self.cell.forward(x, state, self.parameters, mask, checkpoints=checkpoints)
        last = a[..., -1] if mask is None else _at_last(xp, a, selector)
        return selector, last, cache

    def output(self, last: Array) -> Array:
        """``W last + b``, shape ``(n_y, m)``."""
        return self.xp.matmul(self.parameters[self.weight], last) + self.parameters[self.bias]

    def loss_and_gradients(
        self,
        x: Array,
        state: State | None,
        mask: Array | None,
        checkpoints: int | None,
        loss_of: Callable[[Array], tuple[Array, Array]],
    ) -> tuple[Array, dict[str, Array]]:
        """``loss_of(outputs (n_y, m)) -> (loss, doutputs)``, and every gradient."""
        xp = self.xp
        selector, last, cache = self.last_states(x, state, mask, checkpoints)
        loss, doutputs = loss_of(self.output(last))
        dlast = xp.matmul(self.parameters[self.weight].T, doutputs)  # (n_a, m)
        gradients = self.cell.backward(dlast[:, :, None] * selector[None, ...], cache)
        gradients["d" + self.weight] = xp.matmul(doutputs, last.T)
        gradients["d" + self.bias] = xp.sum(doutputs, axis=1, keepdims=True)
        return loss, gradients


def _last_output(
    x: Array, parameters: Mapping[str, Array], state: State | None, mask: Array | None, cell: str | Cell | None
) -> Array:
    head = _Head(x, parameters, cell)
    _, last, _ = head.last_states(x, state, mask, None)
    return head.output(last)


def _last_step_selector(xp: ModuleType, mask: Array | None, like: Array) -> Array:
    """``(m, T_x)`` in ``like``'s dtype: 1 at each example's last valid step (the last step without a mask)."""
    if mask is not None:
        return _selector(xp, mask, like)
    m, t_x = int(like.shape[1]), int(like.shape[2])
    position = xp.arange(t_x, device=array_api_compat.device(like))
    return xp.astype(xp.broadcast_to(position[None, :] == t_x - 1, (m, t_x)), like.dtype)
