"""Seeded initialisation: shapes, dtypes, devices, reproducibility, and the Glorot/orthogonal scheme."""

from __future__ import annotations

import numpy as np
import pytest

import xrnn
from tests.helpers import TestBackend

SHAPES = {"Wax": (5, 3), "Waa": (5, 5), "Wya": (2, 5), "ba": (5, 1), "by": (2, 1)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme", ["small", "glorot"])
def test_shapes_dtypes_and_device(backend: TestBackend, dtype: str, scheme: str) -> None:
    params = xrnn.init_parameters(
        3, 5, 2, backend=backend.name, dtype=dtype, seed=0, scheme=scheme, device=backend.device
    )
    assert {k: tuple(v.shape) for k, v in params.items()} == SHAPES
    for value in params.values():
        backend.assert_dtype(value, dtype)
        backend.assert_close(value, backend.to_numpy(value), rtol=0, dtype=dtype)  # library and device
    np.testing.assert_array_equal(backend.to_numpy(params["ba"]), 0)
    np.testing.assert_array_equal(backend.to_numpy(params["by"]), 0)


def test_seed_reproduces_and_scale_applies(backend: TestBackend) -> None:
    first = xrnn.init_parameters(3, 5, 2, backend=backend.name, seed=7)
    again = xrnn.init_parameters(3, 5, 2, backend=backend.name, seed=7)
    other = xrnn.init_parameters(3, 5, 2, backend=backend.name, seed=8)
    wide = xrnn.init_parameters(3, 5, 2, backend=backend.name, seed=7, scale=1.0)
    waa = backend.to_numpy(first["Waa"])
    np.testing.assert_array_equal(waa, backend.to_numpy(again["Waa"]))
    assert not np.array_equal(waa, backend.to_numpy(other["Waa"]))
    np.testing.assert_allclose(backend.to_numpy(wide["Waa"]) * 0.01, waa, rtol=1e-12)
    assert 0.001 < np.abs(waa).mean() < 0.02  # the spec's randn * 0.01


def test_glorot_scheme_has_an_orthogonal_recurrence(backend: TestBackend) -> None:
    params = xrnn.init_parameters(40, 64, 30, backend=backend.name, seed=1, scheme="glorot")
    waa = backend.to_numpy(params["Waa"])
    np.testing.assert_allclose(waa.T @ waa, np.eye(64), atol=1e-12)
    assert abs(backend.to_numpy(params["Wax"]).std() - np.sqrt(2 / (64 + 40))) < 0.01


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_a must be a positive int, got 0"):
        xrnn.init_parameters(3, 0, 2)
    with pytest.raises(ValueError, match=r"n_x must be a positive int, got 3.0"):
        xrnn.init_parameters(3.0, 5, 2)  # type: ignore[arg-type]
    assert xrnn.init_parameters(np.int64(3), 5, 2)["Wax"].shape == (5, 3)  # any integer type
    with pytest.raises(ValueError, match=r"scheme must be one of \('small', 'glorot'\), got 'xavier'"):
        xrnn.init_parameters(3, 5, 2, scheme="xavier")
    with pytest.raises(TypeError, match="dtype must be 'float32' or 'float64', got 'int32'"):
        xrnn.init_parameters(3, 5, 2, dtype="int32")
    for init in (xrnn.init_parameters, xrnn.init_lstm_parameters, xrnn.init_gru_parameters):
        with pytest.raises(TypeError, match="scale must be a positive finite number, got str 'x'"):  # a UFuncTypeError
            init(3, 5, 2, scale="x")
        with pytest.raises(ValueError, match="seed must be at least 0, got -1"):  # NumPy's message named no argument
            init(3, 5, 2, seed=-1)
    with pytest.raises(ValueError, match="unknown backend 'torch'; known backends: numpy, array_api_strict, cupy"):
        xrnn.init_parameters(3, 5, 2, backend="torch")


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int32, None])
def test_dtype_objects_other_than_float32_or_float64_are_refused(dtype: object) -> None:
    """A dtype object is checked like a string: np.float16 gave float16 parameters that no call takes, and
    np.int32 silently gave float64 ones."""
    message = r"dtype must be 'float32' or 'float64' \(or either as a dtype of numpy\), got"
    for init in (xrnn.init_parameters, xrnn.init_lstm_parameters, xrnn.init_gru_parameters):
        with pytest.raises(TypeError, match=message):
            init(3, 5, 2, dtype=dtype)
    with pytest.raises(TypeError, match=message):  # before a cell's own initialiser sees it
        xrnn.cells.get_cell("gru").init(3, 5, 2, dtype=dtype)
    assert xrnn.init_parameters(3, 5, 2, dtype=np.float32)["Waa"].dtype == np.float32
