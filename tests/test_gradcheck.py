"""The finite-difference checker itself, on functions whose gradients are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from tests import reference
from tests.helpers import TestBackend
from xrnn.gradcheck import check_rnn_gradients, numerical_gradient, relative_error


def test_numerical_gradient_of_known_functions(backend: TestBackend) -> None:
    values = np.array([[0.3, -1.2], [2.0, 0.5]])
    xp = backend.xp
    x = backend.asarray(values)
    backend.assert_close(numerical_gradient(lambda v: xp.sum(xp.sin(v)), x), np.cos(values), rtol=1e-8)
    backend.assert_close(numerical_gradient(lambda v: xp.sum(v**3), x), 3 * values**2, rtol=1e-8)
    np.testing.assert_array_equal(backend.to_numpy(x), values)  # the point itself is never written


def test_relative_error_scale(backend: TestBackend) -> None:
    assert relative_error(backend.asarray([1.0, 2.0]), backend.asarray([1.0, 2.0])) == 0.0
    assert abs(relative_error(backend.asarray([1.0, 2.0]), backend.asarray([1.0, 2.2])) - 0.2 / 2.2) < 1e-12
    with pytest.raises(ValueError, match=r"the same shape, got \(3,\) and \(3, 1\)"):  # broadcasting gave 0.0
        relative_error(backend.asarray(np.ones(3)), backend.asarray(np.ones((3, 1))))


def test_numerical_gradient_refuses_what_it_cannot_step() -> None:
    with pytest.raises(TypeError, match="x must have a real floating dtype"):  # +-eps truncated to integers
        numerical_gradient(lambda v: (v**2).sum(), np.array([1, -2]))
    with pytest.raises(ValueError, match="eps must be a positive finite number, got 0"):
        numerical_gradient(lambda v: v.sum(), np.ones(2), eps=0)


def test_rnn_gradients_pass_and_a_wrong_gradient_fails(backend: TestBackend) -> None:
    problem = reference.problem(2, 3, 2, 2, 3)
    params = backend.tree(problem["parameters"])
    x, a0, labels = (backend.asarray(problem[k]) for k in ("x", "a0", "labels"))
    errors = check_rnn_gradients(x, a0, labels, params)
    assert sorted(errors) == ["dWaa", "dWax", "dWya", "da0", "dba", "dby", "dx"]
    assert max(errors.values()) < 1e-6
    # the checker compares against the true loss: a perturbed point gives a different numeric gradient
    numeric = numerical_gradient(lambda v: backend.xp.sum(v * v), params["Waa"])
    assert relative_error(params["Waa"], numeric) > 0.4
