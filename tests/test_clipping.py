"""Gradient clipping by value and by global norm, on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn.train.clipping import clip_by_global_norm, clip_by_value, global_norm


def _gradients(backend: TestBackend, dtype: str = "float64") -> tuple[dict[str, np.ndarray], dict[str, object]]:
    rng = np.random.default_rng(0)
    host = {"dWaa": rng.standard_normal((4, 4)) * 3, "dba": rng.standard_normal((4, 1)) * 3}
    return host, backend.tree(host, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_by_value_matches_numpy_clip(backend: TestBackend, dtype: str) -> None:
    host, gradients = _gradients(backend, dtype)
    clipped = clip_by_value(gradients, 1.5)
    assert set(clipped) == set(host)
    for key, value in clipped.items():
        backend.assert_dtype(value, dtype)
        backend.assert_close(value, np.clip(host[key], -1.5, 1.5), dtype=dtype)


def test_global_norm_clipping_rescales_all_gradients_by_one_factor(backend: TestBackend) -> None:
    host, gradients = _gradients(backend)
    expected_norm = np.sqrt(sum((g**2).sum() for g in host.values()))
    clipped, norm = clip_by_global_norm(gradients, 1.0)
    backend.assert_close(norm, expected_norm)
    for key, value in clipped.items():
        backend.assert_close(value, host[key] / expected_norm)
    backend.assert_close(global_norm(clipped), 1.0)


def test_global_norm_below_the_bound_leaves_gradients_unchanged(backend: TestBackend) -> None:
    host, gradients = _gradients(backend)
    clipped, _ = clip_by_global_norm(gradients, 1e6)
    for key, value in clipped.items():
        backend.assert_close(value, host[key], rtol=0)


def test_zero_gradients_stay_zero_without_warnings(backend: TestBackend) -> None:
    clipped, norm = clip_by_global_norm({"dW": backend.asarray(np.zeros((2, 2)))}, 1.0)
    backend.assert_close(norm, 0.0)
    backend.assert_close(clipped["dW"], np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("dtype", "size"), [("float32", 2e19), ("float32", 1e-30), ("float64", 1e200), ("float64", 1e-200)]
)
def test_the_global_norm_of_huge_or_tiny_gradients_neither_overflows_nor_vanishes(
    backend: TestBackend, dtype: str, size: float
) -> None:
    """The squares of these entries overflow to inf or underflow to 0 in their dtype; the norm does not."""
    gradients = backend.tree({"dW": np.array([[size, size]]), "db": np.array([[size]])}, dtype)
    with np.errstate(all="raise"):
        clipped, norm = clip_by_global_norm(gradients, 1.0)
    backend.assert_close(norm, np.float64(size) * np.sqrt(3.0), dtype=dtype)
    kept = min(1.0, 1 / (size * np.sqrt(3.0)))  # tiny gradients are within the bound and stay as they are
    backend.assert_close(clipped["dW"], np.full((1, 2), size * kept), dtype=dtype)
    backend.assert_close(global_norm(gradients), np.float64(size) * np.sqrt(3.0), dtype=dtype)


def test_an_infinite_or_nan_gradient_gives_an_infinite_or_nan_norm(backend: TestBackend) -> None:
    infinite = backend.tree({"dW": np.array([np.inf, 1.0]), "db": np.array([2.0])})
    assert float(backend.to_numpy(global_norm(infinite))) == np.inf
    assert np.isnan(float(backend.to_numpy(global_norm(backend.tree({"dW": np.array([np.nan, 1.0])})))))


def test_clipping_never_writes_into_the_callers_gradients() -> None:
    gradients = {"dW": np.array([[10.0, -10.0]])}
    clip_by_value(gradients, 1.0)
    clip_by_global_norm(gradients, 1.0)
    np.testing.assert_array_equal(gradients["dW"], [[10.0, -10.0]])


@pytest.mark.parametrize(
    ("bound", "error"),
    [(0, ValueError), (-1.0, ValueError), (math.inf, ValueError), (math.nan, ValueError), (True, TypeError)],
)
def test_a_bound_that_is_not_positive_and_finite_is_rejected(bound: float, error: type[Exception]) -> None:
    with pytest.raises(error, match="must be a positive finite number"):
        clip_by_value({"dW": np.ones(2)}, bound)
    with pytest.raises(error, match="must be a positive finite number"):
        clip_by_global_norm({"dW": np.ones(2)}, bound)


def test_empty_or_mixed_gradients_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty mapping"):
        clip_by_value({}, 1.0)
    with pytest.raises(TypeError, match="one floating dtype"):
        clip_by_global_norm({"da": np.ones(2), "db": np.ones(2, dtype=np.float32)}, 1.0)
