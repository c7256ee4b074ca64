"""The four patterns: one-to-one, one-to-many (see test_sampling), many-to-one and many-to-many."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import init_parameters
from xrnn.cells import get_cell
from xrnn.cells.rnn import rnn_loss_and_gradients
from xrnn.gradcheck import numerical_gradient, relative_error
from xrnn.patterns import (
    last_valid_state,
    many_to_many_loss_and_gradients,
    many_to_one_loss_and_gradients,
    many_to_one_predict,
    one_hot,
)

CELLS = ["rnn", "lstm", "gru"]
MASK = np.array([[True, True, True, True], [True, True, False, False], [True, False, False, False]])


def _params(cell: str, n_x: int = 3, n_a: int = 4, n_y: int = 3) -> dict[str, np.ndarray]:
    return get_cell(cell).init(n_x, n_a, n_y, seed=5, scale=0.5)


def _check_against_finite_differences(loss_of: object, params: Mapping[str, np.ndarray], grads: dict) -> None:
    for key, value in params.items():

        def f(v: np.ndarray, key: str = key) -> float:
            return float(loss_of({**params, key: v}))  # type: ignore[operator]

        error = relative_error(grads["d" + key], numerical_gradient(f, value))
        assert error < 1e-7, (key, error)


def test_many_to_many_for_the_rnn_is_rnn_loss_and_gradients(backend: TestBackend) -> None:
    rng = np.random.default_rng(0)
    host = _params("rnn")
    x, labels = rng.standard_normal((3, 2, 5)), rng.integers(0, 3, (2, 5))
    loss, grads = many_to_many_loss_and_gradients(backend.asarray(x), backend.asarray(labels), backend.tree(host))
    ref_loss, ref = rnn_loss_and_gradients(x, np.zeros((4, 2)), labels, host)
    backend.assert_close(loss, ref_loss)
    for key in ("dWax", "dWaa", "dWya", "dba", "dby", "dx", "da0"):
        backend.assert_close(grads[key], ref[key])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_many_to_many_gradients_of_gated_cells_match_finite_differences(cell: str) -> None:
    rng = np.random.default_rng(1)
    params = _params(cell)
    x, labels = rng.standard_normal((3, 2, 3)), rng.integers(0, 3, (2, 3))
    _, grads = many_to_many_loss_and_gradients(x, labels, params)
    _check_against_finite_differences(lambda p: many_to_many_loss_and_gradients(x, labels, p)[0], params, grads)


@pytest.mark.parametrize("cell", CELLS)
def test_many_to_one_gradients_match_finite_differences_with_a_mask(cell: str) -> None:
    rng = np.random.default_rng(2)
    params = _params(cell)
    x, labels = rng.standard_normal((3, 3, 4)), np.array([0, 2, 1])
    _, grads = many_to_one_loss_and_gradients(x, labels, params, mask=MASK)
    _check_against_finite_differences(
        lambda p: many_to_one_loss_and_gradients(x, labels, p, mask=MASK)[0], params, grads
    )
    # the padded steps get no gradient, so the padding's values cannot matter
    assert not np.any(grads["dx"][:, ~MASK])


@pytest.mark.parametrize("cell", CELLS)
def test_padded_batch_gives_what_each_example_gives_alone(cell: str, backend: TestBackend) -> None:
    rng = np.random.default_rng(3)
    params = _params(cell)
    x, labels = rng.standard_normal((3, 3, 4)), np.array([1, 0, 2])
    probabilities = many_to_one_predict(backend.asarray(x), backend.tree(params), mask=backend.asarray(MASK))
    _, grads = many_to_one_loss_and_gradients(
        backend.asarray(x), backend.asarray(labels), backend.tree(params), mask=backend.asarray(MASK)
    )
    lengths = MASK.sum(axis=1)
    summed = {key: np.zeros_like(v) for key, v in params.items()}
    for i, length in enumerate(lengths):
        alone = x[:, i : i + 1, :length]
        expected = many_to_one_predict(alone, params)
        backend.assert_close(probabilities[:, i : i + 1], expected)
        _, one = many_to_one_loss_and_gradients(alone, labels[i : i + 1], params)
        for key in summed:
            summed[key] += one["d" + key] / len(lengths)  # the batch loss is the mean over examples
    for key in summed:
        backend.assert_close(grads["d" + key], summed[key], rtol=1e-4 if backend.name != "numpy" else 1e-9)


def test_one_to_one_is_a_tanh_network_with_one_hidden_layer(backend: TestBackend) -> None:
    host = init_parameters(3, 5, 2, seed=6, scale=0.7)
    x = np.random.default_rng(4).standard_normal((3, 6))
    hidden = np.tanh(host["Wax"] @ x + host["ba"])
    logits = host["Wya"] @ hidden + host["by"]
    expected = np.exp(logits) / np.exp(logits).sum(axis=0)
    actual = many_to_one_predict(backend.asarray(x[:, :, None]), backend.tree(host))
    backend.assert_close(actual, expected)


def test_last_valid_state_picks_each_examples_last_step(backend: TestBackend) -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    backend.assert_close(last_valid_state(backend.asarray(a), backend.asarray(MASK)), a[:, [0, 1, 2], [3, 1, 0]])
    backend.assert_close(last_valid_state(backend.asarray(a)), a[..., -1])


def test_one_hot(backend: TestBackend) -> None:
    tokens = backend.asarray(np.array([[0, 2], [1, 1]]))
    expected = np.eye(3)[:, [[0, 2], [1, 1]]]
    backend.assert_close(one_hot(tokens, 3, dtype=backend.xp.float64), expected)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_before_the_first_step_is_carried_over(cell: str) -> None:
    """Every cell carries its state over padding anywhere: left padding equals the unpadded sequence."""
    x = np.random.default_rng(0).standard_normal((3, 1, 3))
    padded, padded_grads = many_to_one_loss_and_gradients(
        x, np.array([1]), _params(cell), mask=np.array([[False, True, True]])
    )
    alone, alone_grads = many_to_one_loss_and_gradients(x[:, :, 1:], np.array([1]), _params(cell))
    np.testing.assert_allclose(float(padded), float(alone), rtol=1e-12)
    np.testing.assert_allclose(padded_grads["dx"][:, :, 1:], alone_grads["dx"], rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(padded_grads["dx"][:, :, 0], 0)


@pytest.mark.parametrize(
    ("labels", "mask", "error", "message"),
    [
        (np.array([0, 3]), None, ValueError, r"class indices in \[0, n_y\) = \[0, 3\), got values from 0 to 3"),
        (np.array([0.0, 1.0]), None, TypeError, "labels must be integer class indices"),
        (np.array([0, 1, 2]), None, ValueError, r"labels must have shape \(m,\) = \(2,\)"),
        (np.array([0, 1]), np.array([[True, True], [False, False]]), ValueError, "at least one valid step"),
        (np.array([0, 1]), np.ones((2, 2)), TypeError, "mask must have dtype bool"),
        (np.array([0, 1]), np.ones((2, 3), dtype=bool), ValueError, r"mask must have shape \(m, T_x\) = \(2, 2\)"),
    ],
)
def test_bad_many_to_one_inputs_are_rejected(
    labels: np.ndarray, mask: np.ndarray | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        many_to_one_loss_and_gradients(np.ones((3, 2, 2)), labels, _params("lstm"), mask=mask)
