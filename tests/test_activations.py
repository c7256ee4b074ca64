"""softmax and sigmoid: exact on easy inputs, finite and warning-free on extreme ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xrnn
from tests.helpers import TestBackend
from xrnn.activations import log_softmax


def test_softmax_columns_far_apart(backend: TestBackend) -> None:
    """The spec subtracts one global maximum, which underflows to 0/0 here; ours normalises per column."""
    logits = np.array([[0.0, 2000.0, -2000.0], [1.0, 2001.0, -1999.0]])
    expected = np.array([[1 / (1 + math.e)] * 3, [math.e / (1 + math.e)] * 3])
    backend.assert_close(xrnn.softmax(backend.asarray(logits)), expected)


def test_softmax_axis_and_dtype(backend: TestBackend) -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3, 5))
    for dtype in ("float32", "float64"):
        result = xrnn.softmax(backend.asarray(logits, dtype), axis=2)
        backend.assert_dtype(result, dtype)
        expected = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
        backend.assert_close(result, expected, dtype=dtype)


@pytest.mark.parametrize(
    ("shape", "axis", "error", "message"),
    [
        ((2, 2), 1.0, TypeError, "axis must be an int, got float"),
        ((2, 2), None, TypeError, "axis must be an int, got NoneType"),
        ((2, 2), (0, 1), TypeError, "axis must be an int, got tuple"),
        ((2, 2), 2, ValueError, r"axis must be in \[-2, 2\) for x of shape \(2, 2\), got 2"),
        ((), 0, ValueError, "x must have an axis to normalise over, got a 0-D array"),
        ((0, 3), 0, ValueError, r"x has no entries along axis 0 to normalise over \(shape \(0, 3\)\)"),
    ],
)
def test_softmax_normalises_along_one_axis_of_x(
    backend: TestBackend, shape: tuple[int, ...], axis: object, error: type[Exception], message: str
) -> None:
    x = backend.asarray(np.ones(shape))
    for function in (xrnn.softmax, log_softmax):
        with pytest.raises(error, match=message):
            function(x, axis=axis)  # type: ignore[arg-type]
    backend.assert_close(xrnn.softmax(backend.asarray(np.zeros((2, 3))), axis=-1), np.full((2, 3), 1 / 3))


def test_log_softmax_never_takes_log_of_zero(backend: TestBackend) -> None:
    backend.assert_close(log_softmax(backend.asarray([0.0, -1000.0])), np.array([0.0, -1000.0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_extremes_without_overflow(backend: TestBackend, dtype: str) -> None:
    values = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    result = xrnn.sigmoid(backend.asarray(values, dtype))  # filterwarnings=error turns overflow into failure
    backend.assert_dtype(result, dtype)
    backend.assert_close(result, np.array([1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in values]), dtype=dtype)


@pytest.mark.parametrize("function", [xrnn.softmax, xrnn.sigmoid])
def test_activations_reject_integers(backend: TestBackend, function: object) -> None:
    with pytest.raises(TypeError, match=r"x must have a real floating dtype \(float32 or float64\), got .*int"):
        function(backend.asarray(np.array([1, 2])))  # type: ignore[operator]
    with pytest.raises(TypeError, match="x must be an array, got list"):
        function([1.0, 2.0])  # type: ignore[operator]
