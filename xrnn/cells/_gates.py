"""Shared plumbing of the gated cells (LSTM, GRU): parameter checks, stacked gate weights, output layer.

Every gate weight ``W`` of a gated cell is ``(n_a, n_a + n_x)`` and acts on the concatenation
``[a_prev; x_t]`` with ``a_prev`` first, so its first ``n_a`` columns multiply the state and the
remaining ``n_x`` columns the input. The sequence functions stack the gates' weights row-wise and
split the columns once, outside the time loop: the ``x`` columns give one input projection for every
step, the ``a`` columns one recurrent product per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType

from xrnn._typing import Array
from xrnn._validation import check_data_shapes, expect_ndim, expect_shape
from xrnn.activations import softmax_unchecked

#: Shapes of the data arguments of the gated cells, by argument name.
#: The joint width of ``[a_prev; x_t]``, as it appears in messages.
JOINT = "n_a + n_x"


def named_arrays(params: Mapping[str, Array], keys: Sequence[str], **data: Array) -> dict[str, Array]:
    """Data arrays and parameters under the names error messages use."""
    return {**data, **{f"parameters['{key}']": params[key] for key in keys}}


def gated_dims(
    params: Mapping[str, Array], weight_keys: Sequence[str], bias_keys: Sequence[str], inputs: Mapping[str, Array]
) -> dict[str, int]:
    """Check gate weights ``(n_a, n_a + n_x)``, biases ``(n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``
    and the data arrays in ``inputs`` (named as in :data:`xrnn._validation.DATA_SYMBOLS`).

    ``n_a`` is read from the first gate weight's rows, ``n_x`` from its columns minus ``n_a``, ``n_y``
    from ``Wy``, and ``m`` and ``T_x`` from the first data array. Returns those dimensions.
    """
    first = weight_keys[0]
    expect_ndim(f"parameters['{first}']", params[first], ("n_a", JOINT))
    expect_ndim("parameters['Wy']", params["Wy"], ("n_y", "n_a"))
    n_a, joint = (int(n) for n in params[first].shape)
    if joint <= n_a:
        raise ValueError(
            f"parameters['{first}'] must have shape (n_a, n_a + n_x) with n_x >= 1, got {tuple(params[first].shape)}: "
            f"{joint} columns leave no room for the input after the n_a = {n_a} state columns"
        )
    dims = {"n_a": n_a, "n_x": joint - n_a, JOINT: joint, "n_y": int(params["Wy"].shape[0])}
    for key in weight_keys:
        expect_shape(f"parameters['{key}']", params[key], ("n_a", JOINT), dims)
    for key in bias_keys:
        expect_shape(f"parameters['{key}']", params[key], ("n_a", "1"), dims)
    expect_shape("parameters['Wy']", params["Wy"], ("n_y", "n_a"), dims)
    expect_shape("parameters['by']", params["by"], ("n_y", "1"), dims)
    return check_data_shapes(inputs, dims)


def split_columns(xp: ModuleType, params: Mapping[str, Array], keys: Sequence[str], n_a: int) -> tuple[Array, Array]:
    """The gates ``keys`` stacked row-wise, split into state and input columns.

    Returns ``W_a`` of shape ``(len(keys) * n_a, n_a)`` and ``W_x`` of shape ``(len(keys) * n_a, n_x)``,
    new arrays.
    """
    stacked = xp.concat([params[key] for key in keys], axis=0)
    return stacked[:, :n_a], stacked[:, n_a:]


def input_projection(
    xp: ModuleType, inputs_rows: Array, w_x: Array, params: Mapping[str, Array], bias_keys: Sequence[str]
) -> Array:
    """``inputs_rows @ w_x.T`` plus the biases ``bias_keys`` stacked: every step's input term, one product.

    Returns a new ``(N, len(bias_keys) * n_a)`` array, which the forward scans may overwrite.
    """
    projection = xp.matmul(inputs_rows, w_x.T)
    projection += xp.concat([params[key] for key in bias_keys], axis=0).T  # in place: a buffer xrnn owns
    return projection


def joint_weight_gradient(xp: ModuleType, dz_rows: Array, state_rows: Array, inputs_rows: Array) -> Array:
    """``dz_rows.T @ [state_rows, inputs_rows]``, the gradient of weights that act on ``[a; x]``, as two
    products (the joint rows are never formed)."""
    return xp.concat([xp.matmul(dz_rows.T, state_rows), xp.matmul(dz_rows.T, inputs_rows)], axis=1)


def output_rows(xp: ModuleType, states_rows: Array, params: Mapping[str, Array]) -> Array:
    """``softmax(Wy a<t> + by)`` for every row of ``states_rows`` ``(N, n_a)`` as one product: ``(N, n_y)``."""
    logits = xp.matmul(states_rows, params["Wy"].T)
    logits += params["by"].T  # in place: the product is a buffer xrnn owns
    return softmax_unchecked(xp, logits, axis=1)


def split_gradient(dw: Array, keys: Sequence[str], n_a: int) -> dict[str, Array]:
    """Split a row-wise stacked gradient ``(len(keys) * n_a, ...)`` into ``{"d" + key: (n_a, ...)}``."""
    return {"d" + key: dw[g * n_a : (g + 1) * n_a, ...] for g, key in enumerate(keys)}
