"""The losses: values against direct formulas, gradients against finite differences and torch."""

from __future__ import annotations

import numpy as np
import pytest

import xrnn
from tests import reference
from tests.helpers import TestBackend
from xrnn.gradcheck import numerical_gradient
from xrnn.losses import mean_squared_error


def _logits_and_labels(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal((4, 3, 5)), rng.integers(0, 4, (3, 5))


def test_mean_over_batch_and_time(backend: TestBackend) -> None:
    logits, labels = _logits_and_labels()
    loss, _ = xrnn.softmax_cross_entropy(backend.asarray(logits), backend.asarray(labels))
    log_p = logits - np.log(np.exp(logits).sum(axis=0, keepdims=True))
    expected = -np.mean([log_p[labels[i, t], i, t] for i in range(3) for t in range(5)])
    backend.assert_close(loss, expected)


def test_integer_and_one_hot_labels_agree(backend: TestBackend) -> None:
    logits, labels = _logits_and_labels(1)
    by_index = xrnn.softmax_cross_entropy(backend.asarray(logits), backend.asarray(labels))
    by_one_hot = xrnn.softmax_cross_entropy(backend.asarray(logits), backend.asarray(reference.one_hot(labels, 4)))
    for a, b in zip(by_index, by_one_hot, strict=True):
        backend.assert_close(a, backend.to_numpy(b))


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_narrow_integer_labels_select_one_class_beyond_their_range(backend: TestBackend, dtype: str) -> None:
    """300 classes, labels in uint8 or int8: the classes were an arange in the labels' dtype, which wraps
    round, so labels 0 and 5 matched two classes each and the loss was twice the true one."""
    logits = backend.asarray(np.zeros((300, 1, 2)))
    loss, dlogits = xrnn.softmax_cross_entropy(logits, backend.asarray(np.array([[0, 5]], dtype=dtype)))
    backend.assert_close(loss, np.log(300.0))
    expected = np.full((300, 1, 2), 1 / 600)
    expected[0, 0, 0] = expected[5, 0, 1] = 1 / 600 - 1 / 2
    backend.assert_close(dlogits, expected)


def test_gradient_matches_finite_differences_for_soft_targets(backend: TestBackend) -> None:
    """Soft targets that do not sum to one: the gradient is softmax * mass - target, not softmax - target."""
    logits, _ = _logits_and_labels(2)
    targets = backend.asarray(np.random.default_rng(3).uniform(0, 1, (4, 3, 5)))
    loss, dlogits = xrnn.softmax_cross_entropy(backend.asarray(logits), targets)
    numeric = numerical_gradient(lambda v: xrnn.softmax_cross_entropy(v, targets)[0], backend.asarray(logits))
    backend.assert_close(dlogits, backend.to_numpy(numeric), rtol=1e-6, atol=1e-9)
    assert loss.shape == ()


def test_finite_for_extreme_logits(backend: TestBackend) -> None:
    logits = np.array([[[1000.0]], [[-1000.0]]])
    loss, dlogits = xrnn.softmax_cross_entropy(backend.asarray(logits), backend.asarray(np.array([[1]])))
    backend.assert_close(loss, 2000.0)
    backend.assert_close(dlogits, np.array([[[1.0]], [[-1.0]]]))


@pytest.mark.parametrize(("dtype", "big"), [("float64", 1e308), ("float32", 3e38)])
def test_logits_at_the_ends_of_the_range_give_the_true_loss(backend: TestBackend, dtype: str, big: float) -> None:
    """``logit - max`` overflows here; the loss must still be 0 where it is 0 (it was nan), and inf where
    the true loss (``2 * big``) is beyond the dtype's range. No overflow warning either (warnings are errors)."""
    logits = backend.asarray(np.array([[[big]], [[-big]]]), dtype)
    loss, dlogits = xrnn.softmax_cross_entropy(logits, backend.asarray(np.array([[0]])))
    backend.assert_close(loss, 0.0, dtype=dtype)
    backend.assert_close(dlogits, np.zeros((2, 1, 1)), dtype=dtype)
    loss, dlogits = xrnn.softmax_cross_entropy(logits, backend.asarray(np.array([[1]])))
    assert float(loss) == np.inf
    backend.assert_close(dlogits, np.array([[[1.0]], [[-1.0]]]), dtype=dtype)
    # the batch spans the whole range but no example does: each is an even guess between two classes
    apart = backend.asarray(np.array([[[big], [-big]], [[big], [-big]]]), dtype)
    loss, dlogits = xrnn.softmax_cross_entropy(apart, backend.asarray(np.array([[0], [1]])))
    backend.assert_close(loss, np.log(2.0), dtype=dtype)
    backend.assert_close(dlogits, np.array([[[-0.25], [0.25]], [[0.25], [-0.25]]]), dtype=dtype)


def test_floating_class_indices_are_named_as_the_wrong_dtype(backend: TestBackend) -> None:
    """Labels of shape (m, T_x) are class indices: floating ones are a dtype error, not a shape error."""
    x = backend.asarray(np.ones((3, 2, 4)))
    labels = backend.asarray(np.zeros((2, 4)))
    with pytest.raises(TypeError, match=r"labels of shape \(m, T_x\) must be integer class indices, got dtype"):
        xrnn.rnn_loss_and_gradients(
            x, backend.asarray(np.zeros((5, 2))), labels, backend.tree(xrnn.init_parameters(3, 5, 2))
        )


def test_float16_is_rejected_with_the_reason(backend: TestBackend) -> None:
    if not hasattr(backend.xp, "float16"):
        pytest.skip(f"{backend.name} has no float16")
    logits = backend.xp.zeros((2, 1, 1), dtype=backend.xp.float16)
    message = r"logits must be float32 or float64 for a loss, got .*float16 .*65504"
    with pytest.raises(TypeError, match=message):
        xrnn.softmax_cross_entropy(logits, backend.asarray(np.array([[0]])))
    with pytest.raises(TypeError, match=r"predictions must be float32 or float64 for a loss, got .*float16"):
        mean_squared_error(logits, logits)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [(-0.5, "got 1 negative (lowest -0.5)"), (np.nan, "got 1 NaN"), (np.inf, "got 1 infinite")],
    ids=["negative", "nan", "inf"],
)
def test_soft_targets_must_be_finite_and_non_negative(backend: TestBackend, bad: float, fragment: str) -> None:
    targets = np.full((2, 1, 2), 0.5)
    targets[0, 0, 1] = bad
    targets[1, 0, 0] = 1.0
    logits = backend.asarray(np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match=r"labels \(soft targets\) must be finite and non-negative") as error:
        xrnn.softmax_cross_entropy(logits, backend.asarray(targets))
    assert fragment in str(error.value)


# -- mean squared error ---------------------------------------------------------------------------
def test_mean_squared_error_is_the_mean_over_every_element(backend: TestBackend) -> None:
    rng = np.random.default_rng(4)
    predictions, targets = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    loss, grad = mean_squared_error(backend.asarray(predictions), backend.asarray(targets))
    backend.assert_close(loss, np.mean((predictions - targets) ** 2))
    backend.assert_close(grad, 2 * (predictions - targets) / 10)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 4)])
def test_mean_squared_error_gradient_matches_finite_differences(backend: TestBackend, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    predictions, targets = backend.asarray(rng.standard_normal(shape)), backend.asarray(rng.standard_normal(shape))
    _, grad = mean_squared_error(predictions, targets)
    numeric = numerical_gradient(lambda v: mean_squared_error(v, targets)[0], predictions)
    backend.assert_close(grad, backend.to_numpy(numeric), rtol=1e-6, atol=1e-10)


def test_mean_squared_error_matches_torch() -> None:
    torch = pytest.importorskip("torch", reason="torch is the independent autograd check; install it to run this")
    rng = np.random.default_rng(6)
    predictions, targets = rng.standard_normal((1, 9)), rng.standard_normal((1, 9))
    loss, grad = mean_squared_error(predictions, targets)
    theirs = torch.tensor(predictions, requires_grad=True)
    expected = torch.nn.functional.mse_loss(theirs, torch.tensor(targets))
    expected.backward()
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-14)
    assert theirs.grad is not None
    np.testing.assert_allclose(grad, theirs.grad.numpy(), rtol=1e-14)


def test_mean_squared_error_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"targets must have the shape of predictions, \(1, 3\), got \(3, 1\)"):
        mean_squared_error(np.zeros((1, 3)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"predictions must not be empty, got shape \(1, 0\)"):
        mean_squared_error(np.zeros((1, 0)), np.zeros((1, 0)))
    with pytest.raises(TypeError, match="targets has dtype float32 but predictions has dtype float64"):
        mean_squared_error(np.zeros((1, 3)), np.zeros((1, 3), dtype=np.float32))
