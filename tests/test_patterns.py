"""The four patterns: one-to-one, one-to-many (see test_sampling), many-to-one and many-to-many; regression heads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import init_parameters
from xrnn.cells import get_cell
from xrnn.cells.rnn import rnn_loss_and_gradients
from xrnn.gradcheck import numerical_gradient, relative_error
from xrnn.losses import softmax_cross_entropy
from xrnn.patterns import (
    last_valid_state,
    many_to_many_logits,
    many_to_many_loss_and_gradients,
    many_to_one_loss_and_gradients,
    many_to_one_predict,
    many_to_one_regression_loss_and_gradients,
    many_to_one_regression_predict,
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
    a[:, 1, 2:] = np.inf  # what the unpicked steps hold, inf or NaN, must not reach the result
    a[:, 2, 1:] = np.nan
    backend.assert_close(last_valid_state(backend.asarray(a), backend.asarray(MASK)), a[:, [0, 1, 2], [3, 1, 0]])
    with pytest.raises(ValueError, match=r"a must be 3-D with shape \(n_a, m, T_x\), got shape \(2, 3\)"):
        last_valid_state(backend.asarray(a[..., 0]))


@pytest.mark.parametrize("head", [many_to_one_predict, many_to_many_logits])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"by": np.zeros((2, 3))}, r"parameters\['by'\] must have shape \(n_y, 1\) = \(2, 1\), got \(2, 3\)"),
        ({"Wya": np.zeros((2, 4))}, r"parameters\['Wya'\] must have shape \(n_y, n_a\) = \(2, 5\), got \(2, 4\)"),
        ({"Wya": None}, r"parameters is missing \['Wya'\]"),
    ],
)
def test_the_output_layer_is_checked_by_every_head(head: Any, change: dict[str, Any], message: str) -> None:
    """A bias per example was silently broadcast; a missing key was a bare KeyError."""
    p = {**init_parameters(3, 5, 2, seed=0), **change}
    with pytest.raises(ValueError, match=message):
        head(np.ones((3, 3, 4)), {key: value for key, value in p.items() if value is not None}, cell="rnn")


def test_one_hot(backend: TestBackend) -> None:
    tokens = backend.asarray(np.array([[0, 2], [1, 1]]))
    expected = np.eye(3)[:, [[0, 2], [1, 1]]]
    backend.assert_close(one_hot(tokens, 3, dtype=backend.xp.float64), expected)
    backend.assert_close(one_hot(tokens, 3, dtype="float32"), expected, dtype="float32")  # a dtype's name


def test_one_hot_and_many_to_one_take_labels_of_a_dtype_narrower_than_the_classes(backend: TestBackend) -> None:
    """uint8 indices with 300 classes: the classes were an arange in uint8, which wraps round after 255,
    so index 0 got two ones (0 and 256) and the many-to-one loss was twice the true one."""
    indices = backend.asarray(np.array([0, 44], dtype=np.uint8))
    expected = np.zeros((300, 2))
    expected[0, 0] = expected[44, 1] = 1
    backend.assert_close(one_hot(indices, 300, dtype="float64"), expected)
    parameters = backend.tree({key: np.zeros_like(value) for key, value in init_parameters(2, 3, 300).items()})
    loss, _ = many_to_one_loss_and_gradients(backend.asarray(np.ones((2, 2, 3))), indices, parameters)
    backend.assert_close(loss, np.log(300.0))


@pytest.mark.parametrize(
    ("indices", "n", "dtype", "error", "message"),
    [
        ([0, 5], 3, "float64", ValueError, r"indices must be class indices in \[0, n\) = \[0, 3\), got values from 0"),
        ([-1], 3, "float64", ValueError, r"got values from -1 to -1"),
        ([0.0, 1.0], 3, "float64", TypeError, "indices must be integer class indices, got dtype"),
        ([0], 2, "int64", TypeError, "dtype must be .float32., .float64. or a floating dtype"),
        ([0], 0, "float64", ValueError, "n must be at least 1, got 0"),
        ([0], 2.0, "float64", TypeError, "n must be a positive int"),
    ],
)
def test_one_hot_rejects_what_it_cannot_encode(
    backend: TestBackend, indices: list[float], n: int, dtype: str, error: type[Exception], message: str
) -> None:
    """An index outside [0, n) would otherwise come back as an all-zero or wrong vector, with no error."""
    as_array = backend.xp.asarray(np.array(indices))
    with pytest.raises(error, match=message):
        one_hot(as_array, n, dtype=getattr(backend.xp, dtype))
    with pytest.raises(TypeError, match="indices must be an integer array, got list"):
        one_hot([0, 1], 3, dtype=backend.xp.float64)  # type: ignore[arg-type]


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


@pytest.mark.parametrize("cell", CELLS)
def test_a_state_that_is_not_one_array_per_state_is_rejected_by_every_pattern(cell: str) -> None:
    x, p = np.ones((3, 2, 2)), _params(cell)
    count = len(get_cell(cell).state)
    message = rf"state must be a tuple of {count} arrays? \(a0.*\) for cell '{cell}', got ndarray"
    with pytest.raises(TypeError, match=message):
        many_to_many_loss_and_gradients(x, np.zeros((2, 2), dtype=int), p, state=np.zeros((4, 2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        many_to_one_loss_and_gradients(x, np.zeros(2, dtype=int), p, state=np.zeros((4, 2)))  # type: ignore[arg-type]


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


# -- regression heads and evaluation --------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    ("n_x", "m", "t_x", "n_y", "mask"),
    [(3, 3, 4, 2, MASK), (1, 1, 1, 1, None), (2, 1, 5, 1, None), (3, 3, 4, 1, None)],
    ids=["masked", "all-ones", "m=1", "n_y=1"],
)
def test_many_to_one_regression_gradients_match_finite_differences(
    cell: str, n_x: int, m: int, t_x: int, n_y: int, mask: np.ndarray | None
) -> None:
    rng = np.random.default_rng(7)
    params = _params(cell, n_x=n_x, n_y=n_y)
    x, targets = rng.standard_normal((n_x, m, t_x)), rng.standard_normal((n_y, m))
    # A non-zero initial state: from zeros, one step leaves some gates' gradients at finite-difference noise.
    state = tuple(rng.standard_normal(s.shape) for s in get_cell(cell).zero_state(params, m))

    def loss_of(p: Mapping[str, np.ndarray], inputs: np.ndarray = x) -> float:
        return float(many_to_one_regression_loss_and_gradients(inputs, targets, p, state=state, mask=mask)[0])

    loss, grads = many_to_one_regression_loss_and_gradients(x, targets, params, state=state, mask=mask)
    _check_against_finite_differences(loss_of, params, grads)
    error = relative_error(grads["dx"], numerical_gradient(lambda v: loss_of(params, v), x))
    assert error < 1e-7, error
    predictions = many_to_one_regression_predict(x, params, state=state, mask=mask)
    np.testing.assert_allclose(float(loss), np.mean((predictions - targets) ** 2), rtol=1e-12)
    if mask is not None:
        assert not np.any(grads["dx"][:, ~mask])


def test_many_to_one_regression_on_every_backend(backend: TestBackend) -> None:
    rng = np.random.default_rng(8)
    host = _params("gru", n_x=2, n_y=1)
    x, targets = rng.uniform(size=(2, 4, 6)), rng.uniform(size=(1, 4))
    loss, grads = many_to_one_regression_loss_and_gradients(x, targets, host)
    got_loss, got = many_to_one_regression_loss_and_gradients(
        backend.asarray(x), backend.asarray(targets), backend.tree(host), cell=get_cell("gru")
    )
    backend.assert_close(got_loss, loss)
    for key in ("dWu", "dWy", "dby", "dx", "da0"):
        backend.assert_close(got[key], grads[key])


def test_the_rnn_regression_matches_torch_autograd() -> None:
    torch = pytest.importorskip("torch", reason="torch is the independent autograd check; install it to run this")
    rng = np.random.default_rng(9)
    host = _params("rnn", n_x=2, n_y=1)
    x, targets = rng.uniform(size=(2, 3, 5)), rng.uniform(size=(1, 3))
    loss, grads = many_to_one_regression_loss_and_gradients(x, targets, host)
    p = {key: torch.tensor(value, requires_grad=True) for key, value in host.items()}
    a = torch.zeros((4, 3), dtype=torch.float64)
    for t in range(5):
        a = torch.tanh(p["Wax"] @ torch.tensor(x[:, :, t]) + p["Waa"] @ a + p["ba"])
    expected = torch.nn.functional.mse_loss(p["Wya"] @ a + p["by"], torch.tensor(targets))
    expected.backward()
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-12)
    for key, value in p.items():
        assert value.grad is not None
        np.testing.assert_allclose(grads["d" + key], value.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("cell", CELLS)
def test_many_to_many_logits_give_the_many_to_many_loss(cell: str, backend: TestBackend) -> None:
    rng = np.random.default_rng(10)
    host = _params(cell)
    x, labels = rng.standard_normal((3, 2, 4)), rng.integers(0, 3, (2, 4))
    expected, _ = many_to_many_loss_and_gradients(x, labels, host, cell=get_cell(cell))
    logits = many_to_many_logits(backend.asarray(x), backend.tree(host), cell=get_cell(cell))
    assert tuple(logits.shape) == (3, 2, 4)
    backend.assert_close(softmax_cross_entropy(logits, backend.asarray(labels))[0], expected)


@pytest.mark.parametrize(
    ("targets", "dtype", "error", "message"),
    [
        (np.zeros((1, 3)), "float64", ValueError, r"targets must have shape \(n_y, m\) = \(1, 2\), got \(1, 3\)"),
        (np.zeros((2,)), "float64", ValueError, r"targets must have shape \(n_y, m\) = \(1, 2\), got \(2,\)"),
        (np.zeros((1, 2), dtype=np.float32), "float64", TypeError, "targets has dtype float32 but x has dtype float64"),
        (np.zeros((1, 2), dtype=np.float16), "float16", TypeError, "x must be float32 or float64 for a loss"),
    ],
)
def test_bad_regression_inputs_are_rejected(
    targets: np.ndarray, dtype: str, error: type[Exception], message: str
) -> None:
    params = {key: value.astype(dtype) for key, value in _params("lstm", n_x=3, n_y=1).items()}
    with pytest.raises(error, match=message):
        many_to_one_regression_loss_and_gradients(np.ones((3, 2, 2), dtype=dtype), targets, params)
