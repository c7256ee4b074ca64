"""Softmax cross-entropy: value against a direct formula, gradient against finite differences."""

from __future__ import annotations

import numpy as np

import xrnn
from tests import reference
from tests.helpers import TestBackend
from xrnn.gradcheck import numerical_gradient


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
