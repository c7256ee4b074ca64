"""Gradient clipping by value and by global norm, on every backend."""

from __future__ import annotations

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


def test_clipping_never_writes_into_the_callers_gradients() -> None:
    gradients = {"dW": np.array([[10.0, -10.0]])}
    clip_by_value(gradients, 1.0)
    clip_by_global_norm(gradients, 1.0)
    np.testing.assert_array_equal(gradients["dW"], [[10.0, -10.0]])


@pytest.mark.parametrize("bound", [0, -1.0, float("inf"), float("nan"), True])
def test_a_bound_that_is_not_positive_and_finite_is_rejected(bound: float) -> None:
    with pytest.raises(ValueError, match="must be a positive finite number"):
        clip_by_value({"dW": np.ones(2)}, bound)
    with pytest.raises(ValueError, match="must be a positive finite number"):
        clip_by_global_norm({"dW": np.ones(2)}, bound)


def test_empty_or_mixed_gradients_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty mapping"):
        clip_by_value({}, 1.0)
    with pytest.raises(TypeError, match="one floating dtype"):
        clip_by_global_norm({"da": np.ones(2), "db": np.ones(2, dtype=np.float32)}, 1.0)
