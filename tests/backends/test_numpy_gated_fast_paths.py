"""The CPU fast paths of the LSTM and GRU equal their generic twins in ``xrnn._gated_scans``.

Both implementations are held to the twins: the NumPy passes (``_numpy_gated``) and the compiled kernels
(``_numba_gated``, skipped with the reason where Numba is not installed). NumPy-only, like
``test_numpy_fast_paths.py``: the fast paths are called directly on read-only inputs, and the twins run
on the same arrays. Values are gates and states (order 1) and their gradients, and the two differ only
in the order of sums (and, compiled, in ``exp``/``tanh`` by an ulp), hence absolute tolerances of a few ulps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xrnn
from xrnn.backends import _numpy_gated, fast_path, fast_paths
from xrnn.backends._numpy_operands import StepProduct
from xrnn.backends.numpy import NumpyBackend, gated_scans
from xrnn.cells import _gated_scans

pytestmark = pytest.mark.numpy_only

DTYPES = ("float32", "float64")
ATOL = {"float32": 3e-5, "float64": 1e-13}
GATE_COUNT = {"lstm": 4, "gru": 3}
# (T_x, m, n_a): the edges T_x = 1, m = 1, n_a = 1; from m = 16 and T_x = 4 the forward copies W^T into
# C order (in blocks of 64 rows, so n_a = 33 gives 132 and 99 rows of the LSTM's and GRU's weights); at
# 26 x 140 the LSTM's products and the GRU's two-gate products run in row blocks of 8, 8, 8, 2 and 16, 10 rows
# (StepProduct).
SHAPES = [(1, 1, 1), (1, 3, 4), (5, 1, 3), (4, 2, 1), (7, 5, 6), (3, 17, 33), (5, 16, 33), (4, 20, 70), (3, 26, 140)]
IMPLEMENTATIONS = ("numpy", "numba")


def _scans(implementation: str) -> ModuleType:
    """The module of fast paths ``implementation`` names; the compiled one skips without Numba."""
    if implementation == "numpy":
        return _numpy_gated
    pytest.importorskip("numba", reason="the compiled kernels need Numba (the fast extra)")
    from xrnn.backends import _numba_gated

    return _numba_gated


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array


def _problem(
    cell: str,
    shape: tuple[int, int, int],
    dtype: str,
    seed: int = 0,
    saturated: bool = False,
    masked: bool = False,
    after: bool = False,
) -> dict[str, Any]:
    """Random scan inputs; ``saturated`` makes every input preactivation +-1000, ``masked`` adds a random
    time-major mask ``keep`` (T_x, m, 1) whose first example is all padding and whose last step is padding
    for every example (else ``keep`` is None); ``after`` adds the gradients reaching the last states from
    beyond the sequence, as the transposed views the engine passes (else ``after`` is None)."""
    t_x, m, n_a = shape
    width = GATE_COUNT[cell] * n_a
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((t_x, m, width))
    keep = None
    if masked:
        keep = rng.random((t_x, m, 1)) < 0.6
        keep[:, 0, :] = False
        keep[-1, :, :] = False
        keep = _read_only(keep)
    gradients = None
    if after:
        count = 2 if cell == "lstm" else 1
        gradients = tuple(_read_only(rng.standard_normal((n_a, m)).astype(dtype)).T for _ in range(count))
    return {
        "projection": (1000 * np.sign(projection) if saturated else projection).astype(dtype),
        "w_a": _read_only((rng.standard_normal((width, n_a)) / np.sqrt(n_a)).astype(dtype)),
        "a0_rows": _read_only(rng.standard_normal((m, n_a)).astype(dtype)),
        "c0_rows": _read_only(rng.standard_normal((m, n_a)).astype(dtype)),
        "dstates": _read_only(rng.standard_normal((t_x, m, n_a)).astype(dtype)),
        "keep": keep,
        "after": gradients,
    }


def _fast_forward(cell: str, p: dict[str, Any], buffer: np.ndarray, implementation: str) -> tuple[np.ndarray, ...]:
    """The fast path's forward, computed in ``buffer`` (a copy of the projection)."""
    scans = _scans(implementation)
    if cell == "lstm":
        return scans.lstm_forward_scan(buffer, p["w_a"], p["a0_rows"], p["c0_rows"], p["keep"])
    return scans.gru_forward_scan(buffer, p["w_a"], p["a0_rows"], p["keep"])


def _forward(cell: str, p: dict[str, Any], implementation: str) -> tuple[np.ndarray, ...]:
    """The forward of ``cell`` by a fast path (``"numpy"``, ``"numba"``: on a copy of the projection, which
    it overwrites) or by the twin (``"generic"``)."""
    if implementation != "generic":
        return _fast_forward(cell, p, p["projection"].copy(), implementation)
    args = (compat_numpy, p["projection"], p["w_a"], p["a0_rows"])
    if cell == "lstm":
        return _gated_scans.generic_lstm_forward_scan(*args, p["c0_rows"], p["keep"])
    return _gated_scans.generic_gru_forward_scan(*args, p["keep"])


def _backward(cell: str, p: dict[str, Any], forward: tuple[np.ndarray, ...], implementation: str) -> tuple[Any, ...]:
    """The backward of ``cell`` from the (read-only) forward results ``(gates, states[, cells])``."""
    gates, states, *cells = (_read_only(np.asarray(array)) for array in forward)
    if cell == "lstm":
        args: tuple[Any, ...] = (p["dstates"], gates, cells[0], p["c0_rows"], p["w_a"], p["keep"], p["after"])
        twin: Callable[..., Any] = _gated_scans.generic_lstm_backward_scan
    else:
        args = (p["dstates"], gates, states, p["a0_rows"], p["w_a"], p["keep"], p["after"])
        twin = _gated_scans.generic_gru_backward_scan
    if implementation == "generic":
        return tuple(twin(compat_numpy, *args))
    return tuple(getattr(_scans(implementation), f"{cell}_backward_scan")(*args))


def _assert_all_close(actual: tuple[Any, ...], expected: tuple[Any, ...], dtype: str) -> None:
    assert len(actual) == len(expected)
    for fast, generic in zip(actual, expected, strict=True):
        assert fast.dtype == np.dtype(dtype)
        assert fast.shape == generic.shape
        np.testing.assert_allclose(fast, np.asarray(generic), rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("cell", GATE_COUNT)
def test_registered_as_the_numpy_fast_paths(cell: str) -> None:
    """The NumPy backend's gated scans are the compiled kernels where Numba imports, else the NumPy passes."""
    try:
        import numba  # noqa: F401
    except ImportError:
        expected = _numpy_gated
    else:
        from xrnn.backends import _numba_gated as expected
    assert gated_scans() is expected
    for direction in ("forward", "backward"):
        name = f"{cell}_{direction}_scan"
        assert fast_path(compat_numpy, name) is getattr(expected, name)
        with fast_paths(False):
            assert fast_path(compat_numpy, name) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("m", "inner", "cols", "blocks"), [(26, 140, 560, 4), (26, 140, 280, 2), (26, 140, 140, 0), (64, 512, 2048, 0)]
)
def test_step_products_in_row_blocks_equal_one_product(m: int, inner: int, cols: int, blocks: int, dtype: str) -> None:
    """A step product split into row blocks (where OpenBLAS's small-matrix kernels take them) gives the whole
    product, also for rows that are a transposed view."""
    rng = np.random.default_rng(5)
    weight = rng.standard_normal((inner, cols)).astype(dtype)
    rows = _read_only(rng.standard_normal((inner, m)).astype(dtype)).T
    product = StepProduct(weight, m)
    assert len(product.blocks) == blocks
    out = np.full((m, cols), np.nan, dtype=dtype)
    product(rows, out)
    np.testing.assert_allclose(out, rows @ weight, rtol=0, atol=ATOL[dtype] * np.sqrt(inner))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("cell", GATE_COUNT)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize(
    ("masked", "after"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["all", "masked", "after", "both"],
)
def test_forward_and_backward_equal_generic_twins(
    implementation: str, cell: str, shape: tuple[int, int, int], dtype: str, masked: bool, after: bool
) -> None:
    p = _problem(cell, shape, dtype, masked=masked, after=after)
    buffer = p["projection"].copy()
    fast = _fast_forward(cell, p, buffer, implementation)
    assert fast[0] is buffer, "the forward fast path computes the gates in the buffer it is given"
    generic = _forward(cell, p, "generic")
    _assert_all_close(fast, generic, dtype)
    _assert_all_close(_backward(cell, p, generic, implementation), _backward(cell, p, generic, "generic"), dtype)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("cell", GATE_COUNT)
@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_gates_are_exact_and_silent(implementation: str, cell: str, dtype: str) -> None:
    """Preactivations of +-1000 give gates of exactly 0 and 1 (``exp`` overflows inside the fast path's
    sigmoid, which must not warn: warnings are errors in this suite); no value is nan or inf."""
    p = _problem(cell, (3, 4, 5), dtype, seed=2, saturated=True, masked=True, after=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast, generic = _forward(cell, p, implementation), _forward(cell, p, "generic")
        backward = _backward(cell, p, fast, implementation)
    np.testing.assert_array_equal(fast[0], np.asarray(generic[0]))
    assert set(np.unique(fast[0])) <= {-1.0, 0.0, 1.0}
    _assert_all_close(fast, generic, dtype)
    assert all(np.isfinite(array).all() for array in (*fast, *backward))
    _assert_all_close(backward, _backward(cell, p, generic, "generic"), dtype)


@pytest.mark.parametrize("implementation", [*IMPLEMENTATIONS, "generic"])
@pytest.mark.parametrize("cell", GATE_COUNT)
def test_padded_rows_get_a_zero_dz_when_a_nan_gradient_passes_through_them(implementation: str, cell: str) -> None:
    """A NaN reaching the last step's states is carried through the padded rows before it: their dz is 0 all
    the same (the NumPy passes and the twins multiplied a zero factor by the NaN; the kernels select 0)."""
    p = _problem(cell, (4, 3, 2), "float64", seed=3, masked=True)
    p["after"] = tuple(np.full((3, 2), np.nan) for _ in range(2 if cell == "lstm" else 1))
    backward = _backward(cell, p, _forward(cell, p, "generic"), implementation)
    padded = ~np.broadcast_to(p["keep"], backward[0].shape)
    assert padded.any()
    assert (np.asarray(backward[0])[padded] == 0).all()
    assert np.isnan(np.asarray(backward[0])[~padded]).any()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("cell", GATE_COUNT)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_paths_never_write_what_they_only_read(implementation: str, cell: str, dtype: str) -> None:
    """Read-only inputs would raise on a write; the values are compared too."""
    p = _problem(cell, (6, 17, 5), dtype, seed=3, masked=True, after=True)
    kept = {name: np.array(value) for name, value in p.items() if name not in ("projection", "after")}
    after_kept = [np.array(gradient) for gradient in p["after"]]
    forward = tuple(_read_only(array) for array in _forward(cell, p, implementation))
    forward_kept = tuple(np.array(array) for array in forward)
    _backward(cell, p, forward, implementation)
    for gradient, value in zip(p["after"], after_kept, strict=True):
        np.testing.assert_array_equal(gradient, value, err_msg="after changed")
    for name, value in kept.items():
        np.testing.assert_array_equal(p[name], value, err_msg=f"{name} changed")
    for after, before in zip(forward, forward_kept, strict=True):
        np.testing.assert_array_equal(after, before)


@settings(max_examples=40, deadline=None)
@given(
    implementation=st.sampled_from(IMPLEMENTATIONS),
    cell=st.sampled_from(tuple(GATE_COUNT)),
    t_x=st.integers(1, 8),
    m=st.integers(1, 18),
    n_a=st.integers(1, 9),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
    masked=st.booleans(),
    after=st.booleans(),
)
def test_equal_generic_twins_over_shapes(
    implementation: str, cell: str, t_x: int, m: int, n_a: int, dtype: str, seed: int, masked: bool, after: bool
) -> None:
    p = _problem(cell, (t_x, m, n_a), dtype, seed=seed, masked=masked, after=after)
    generic = _forward(cell, p, "generic")
    _assert_all_close(_forward(cell, p, implementation), generic, dtype)
    _assert_all_close(_backward(cell, p, generic, implementation), _backward(cell, p, generic, "generic"), dtype)


@pytest.mark.parametrize("cell", ["rnn", *GATE_COUNT])
@pytest.mark.parametrize("masked", [False, True], ids=["all steps", "masked"])
def test_public_functions_run_the_fast_paths_and_agree_with_them_off(
    cell: str, masked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{cell}_forward`` and ``{cell}_backward``, with and without a mask: the NumPy fast paths run
    (counted), and the results equal those of the generic twins."""
    n_x, n_a, n_y, m, t_x = 3, 6, 4, 17, 5
    rng = np.random.default_rng(4)
    init = {"rnn": xrnn.init_parameters, "lstm": xrnn.init_lstm_parameters, "gru": xrnn.init_gru_parameters}[cell]
    params = init(n_x, n_a, n_y, seed=1)
    x, a0 = rng.standard_normal((n_x, m, t_x)), rng.standard_normal((n_a, m))
    da = rng.standard_normal((n_a, m, t_x))
    mask = np.arange(t_x) < rng.integers(1, t_x + 1, size=(m, 1)) if masked else None
    calls: list[str] = []
    for direction in ("forward", "backward"):
        name = f"{cell}_{direction}_scan"
        scan = getattr(NumpyBackend, name)

        def counted(*args: Any, _scan: Callable[..., Any] = scan, _name: str = name) -> Any:
            calls.append(_name)
            return _scan(*args)

        monkeypatch.setattr(NumpyBackend, name, staticmethod(counted))

    def run() -> dict[str, Any]:
        forward = getattr(xrnn, f"{cell}_forward")(x, a0, params, mask=mask)
        return {"a": forward[0], "y": forward[1], **getattr(xrnn, f"{cell}_backward")(da, forward[-1])}

    fast = run()
    assert calls == [f"{cell}_forward_scan", f"{cell}_backward_scan"]
    with fast_paths(False):
        generic = run()
    assert len(calls) == 2
    assert fast.keys() == generic.keys()
    for name, value in generic.items():
        np.testing.assert_allclose(fast[name], value, rtol=0, atol=1e-13, err_msg=name)


def test_masked_calls_skip_backends_whose_scans_take_no_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NumpyBackend, "scans_take_masks", False)
    assert fast_path(compat_numpy, "lstm_forward_scan") is not None
    assert fast_path(compat_numpy, "lstm_forward_scan", masked=True) is None
