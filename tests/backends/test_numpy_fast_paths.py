"""The NumPy fast paths equal their generic Array API twins and never write the arrays they only read.

NumPy-only: these call ``xrnn.backends.numpy`` directly (``out=`` buffers, read-only flags), so they
need no ``backend`` fixture. Reference values are the generic twins in ``xrnn._scan`` run on the same
NumPy arrays; the fast paths differ from them only in the order BLAS sums, hence the tight tolerances.
"""

from __future__ import annotations

import array_api_compat.numpy as compat_numpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xrnn._layout import to_rows
from xrnn.activations import softmax_unchecked
from xrnn.backends import fast_path, fast_paths
from xrnn.backends.numpy import rnn_backward_scan, rnn_forward_scan, softmax, time_major_rows
from xrnn.cells._scan import generic_backward_scan, generic_forward_scan

pytestmark = pytest.mark.numpy_only

DTYPES = ("float32", "float64")
# Absolute tolerance on values of order 1 (tanh outputs and their gradients): a few ulps times T_x.
ATOL = {"float32": 2e-5, "float64": 1e-13}
# (T_x, m, n_a), with the edges T_x = 1, m = 1 and n_a = 1; from m = 16 and T_x = 4 the forward copies
# Waa^T into C order (in blocks of 64 rows: n_a = 130), below it uses the transposed view.
SHAPES = [
    (1, 1, 1),
    (1, 3, 4),
    (5, 1, 3),
    (4, 2, 1),
    (7, 5, 6),
    (3, 17, 33),
    (12, 8, 64),
    (3, 4, 130),
    (4, 20, 33),
    (5, 16, 130),
]


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)  # a private copy, so that the flag cannot leak into other tests
    array.flags.writeable = False
    return array


def _problem(shape: tuple[int, int, int], dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    t_x, m, n_a = shape
    rng = np.random.default_rng(seed)
    waa = rng.standard_normal((n_a, n_a)) / np.sqrt(n_a)
    return {
        "preactivation": rng.standard_normal((t_x, m, n_a)).astype(dtype),
        "waa": _read_only(waa.astype(dtype)),
        "a0_rows": _read_only(rng.standard_normal((m, n_a)).astype(dtype)),
        "dstates": _read_only(rng.standard_normal((t_x, m, n_a)).astype(dtype)),
    }


def _forward_both(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    buffer = p["preactivation"].copy()  # the fast path's contract: a buffer xrnn owns, overwritten
    fast = rnn_forward_scan(buffer, p["waa"], p["a0_rows"])
    generic = np.asarray(generic_forward_scan(compat_numpy, p["preactivation"], p["waa"], p["a0_rows"]))
    return fast, generic, buffer


def test_registered_as_the_numpy_fast_paths() -> None:
    assert fast_path(compat_numpy, "rnn_forward_scan") is rnn_forward_scan
    assert fast_path(compat_numpy, "rnn_backward_scan") is rnn_backward_scan


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_forward_equals_generic_twin(shape: tuple[int, int, int], dtype: str) -> None:
    p = _problem(shape, dtype)
    fast, generic, buffer = _forward_both(p)
    assert fast.dtype == np.dtype(dtype)
    assert fast.shape == shape
    assert np.shares_memory(fast, buffer), "the forward fast path computes in the buffer it is given"
    np.testing.assert_allclose(fast, generic, rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_backward_equals_generic_twin(shape: tuple[int, int, int], dtype: str) -> None:
    p = _problem(shape, dtype)
    states = _read_only(_forward_both(p)[1])
    dz, da0_rows = rnn_backward_scan(p["dstates"], states, p["waa"])
    dz_generic, da0_generic = generic_backward_scan(compat_numpy, p["dstates"], states, p["waa"])
    assert dz.dtype == da0_rows.dtype == np.dtype(dtype)
    assert dz.shape == shape
    assert da0_rows.shape == shape[1:]
    np.testing.assert_allclose(dz, np.asarray(dz_generic), rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(da0_rows, np.asarray(da0_generic), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_masked_scans_equal_generic_twins(shape: tuple[int, int, int], dtype: str) -> None:
    """A random time-major mask, with the first example all padding and holes anywhere; read-only."""
    p = _problem(shape, dtype, seed=2)
    rng = np.random.default_rng(7)
    keep = rng.random((shape[0], shape[1], 1)) < 0.6
    keep[:, 0, :] = False
    keep = _read_only(keep)
    fast = rnn_forward_scan(p["preactivation"].copy(), p["waa"], p["a0_rows"], keep)
    generic = np.asarray(generic_forward_scan(compat_numpy, p["preactivation"], p["waa"], p["a0_rows"], keep))
    np.testing.assert_allclose(fast, generic, rtol=0, atol=ATOL[dtype])
    np.testing.assert_array_equal(fast[:, 0, :], np.broadcast_to(p["a0_rows"][0], fast[:, 0, :].shape))
    states = _read_only(generic)
    dz, da0 = rnn_backward_scan(p["dstates"], states, p["waa"], keep)
    dz_generic, da0_generic = generic_backward_scan(compat_numpy, p["dstates"], states, p["waa"], keep)
    np.testing.assert_allclose(dz, np.asarray(dz_generic), rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(da0, np.asarray(da0_generic), rtol=0, atol=ATOL[dtype])
    assert not dz[:, 0, :].any(), "an all-padding example gets no gradient"


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_paths_never_write_what_they_only_read(dtype: str) -> None:
    p = _problem((6, 4, 5), dtype, seed=3)
    kept = {name: p[name].copy() for name in ("waa", "a0_rows", "dstates")}
    states = _read_only(rnn_forward_scan(p["preactivation"].copy(), p["waa"], p["a0_rows"]))
    states_kept = states.copy()
    rnn_backward_scan(p["dstates"], states, p["waa"])  # would raise on a write to a read-only array
    for name, value in kept.items():
        np.testing.assert_array_equal(p[name], value, err_msg=f"{name} changed")
    np.testing.assert_array_equal(states, states_kept, err_msg="states changed")


@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_and_fortran_inputs(dtype: str) -> None:
    """``a0_rows`` arrives as ``a0.T`` (a transposed view) from ``rnn.py``; ``waa`` may be any layout."""
    p = _problem((5, 3, 4), dtype, seed=5)
    a0_view = _read_only(p["a0_rows"].T.copy()).T  # read-only, F-ordered view of the same values
    waa_fortran = np.asfortranarray(p["waa"])
    waa_fortran.flags.writeable = False
    fast = rnn_forward_scan(p["preactivation"].copy(), waa_fortran, a0_view)
    generic = generic_forward_scan(compat_numpy, p["preactivation"], p["waa"], p["a0_rows"])
    np.testing.assert_allclose(fast, np.asarray(generic), rtol=0, atol=ATOL[dtype])
    dz, da0 = rnn_backward_scan(p["dstates"], _read_only(fast), waa_fortran)
    dz_generic, da0_generic = generic_backward_scan(compat_numpy, p["dstates"], fast, p["waa"])
    np.testing.assert_allclose(dz, np.asarray(dz_generic), rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(da0, np.asarray(da0_generic), rtol=0, atol=ATOL[dtype])


@settings(max_examples=30, deadline=None)
@given(
    t_x=st.integers(1, 9),
    m=st.integers(1, 6),
    n_a=st.integers(1, 12),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_forward_and_backward_equal_generic_twins_over_shapes(
    t_x: int, m: int, n_a: int, dtype: str, seed: int
) -> None:
    p = _problem((t_x, m, n_a), dtype, seed=seed)
    fast, generic, _ = _forward_both(p)
    np.testing.assert_allclose(fast, generic, rtol=0, atol=ATOL[dtype])
    states = _read_only(generic)
    dz, da0 = rnn_backward_scan(p["dstates"], states, p["waa"])
    dz_generic, da0_generic = generic_backward_scan(compat_numpy, p["dstates"], states, p["waa"])
    np.testing.assert_allclose(dz, np.asarray(dz_generic), rtol=0, atol=ATOL[dtype])
    np.testing.assert_allclose(da0, np.asarray(da0_generic), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(1, 1, 1), (3, 10, 4), (1, 5, 7), (64, 1, 3), (64, 16, 2), (64, 17, 2), (130, 33, 2), (65, 17, 1)]
)
def test_time_major_rows_equals_generic_twin(shape: tuple[int, int, int], dtype: str) -> None:
    """Shapes around the copy's 64 x 16 blocks, and m = 1, T_x = 1, n = 1; the input is read-only."""
    x = _read_only(np.random.default_rng(1).standard_normal(shape).astype(dtype))
    rows = time_major_rows(x)
    with fast_paths(False):
        expected = np.asarray(to_rows(compat_numpy, x))
    assert rows.dtype == x.dtype
    assert rows.flags.c_contiguous
    assert not np.shares_memory(rows, x)
    np.testing.assert_array_equal(rows, expected)
    strided = x[:, ::2, :]  # a non-contiguous view, as a caller may pass
    with fast_paths(False):
        expected_strided = np.asarray(to_rows(compat_numpy, strided))
    np.testing.assert_array_equal(time_major_rows(strided), expected_strided)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "axis"), [((1, 1), 0), ((40, 2), 1), ((2, 40), 0), ((3, 7), 1), ((5, 1), 1)])
def test_softmax_equals_generic_twin_bit_for_bit(shape: tuple[int, int], axis: int, dtype: str) -> None:
    """Same ufuncs in the same order: equal to the last bit, saturated entries included; reads its input only."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype) * 30
    x.flat[0] = 1000.0  # far beyond exp's range: the shift keeps it finite
    x = _read_only(x)
    result = softmax(x, axis)
    with fast_paths(False):
        expected = np.asarray(softmax_unchecked(compat_numpy, x, axis=axis))
    assert fast_path(compat_numpy, "softmax") is softmax
    assert result.dtype == x.dtype
    assert not np.shares_memory(result, x)
    np.testing.assert_array_equal(result, expected)
    assert np.all(np.isfinite(result))
