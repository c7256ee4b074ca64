"""The compiled kernels' ``exp``, ``tanh`` and sigmoid (``xrnn.backends._numba_math``), and how the NumPy
backend picks its gated scans: compiled where Numba imports, the NumPy passes unchanged where it does not.

The scans themselves are held to their twins in ``test_numpy_gated_fast_paths.py``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.numpy_only

DTYPES = ("float32", "float64")
# Worst error against long double, in units of the dtype's eps: relative for exp and the sigmoid (NumPy's own:
# 1.72 and 0.92 in float32, 0.50 and 0.81 in float64, on these points); absolute for tanh, which near 0 is
# accurate to eps absolute only, and relative from TANH_RELATIVE_FROM on.
ULPS = {"exp": 1.5, "tanh": 1.25, "sigmoid": 2.0}
TANH_RELATIVE_FROM, TANH_RELATIVE_ULPS = 0.625, 1.5
# Where the compiled exp gives inf (the kernels need it finite only below these: see _numba_math).
EXP_FINITE_BELOW = {"float32": 88.3, "float64": 709.0}


def _points(dtype: str) -> np.ndarray:
    tiny = np.geomspace(1e-30, 1, 2001)
    grid = [np.linspace(-100, 100, 200_001), np.linspace(-1, 1, 100_001), tiny, -tiny, [0.0, -0.0, 1000.0, -1000.0]]
    return np.concatenate(grid).astype(dtype)


def _compiled_math() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    numba = pytest.importorskip("numba", reason="the compiled kernels need Numba (the fast extra)")
    from xrnn.backends import _numba_math

    def elementwise(function: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
        @numba.njit(cache=False, error_model="numpy")  # type: ignore[untyped-decorator]
        def loop(x: np.ndarray, out: np.ndarray) -> None:
            for k in range(x.shape[0]):
                out[k] = function(x[k])

        def run(x: np.ndarray) -> np.ndarray:
            out = np.empty_like(x)
            loop(x, out)
            return out

        return run

    return {name: elementwise(getattr(_numba_math, name)) for name in ULPS}


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    wide = x.astype(np.longdouble)
    with np.errstate(over="ignore"):
        if name == "exp":
            return np.exp(wide)
        if name == "tanh":
            return np.tanh(wide)
        return 1 / (1 + np.exp(-wide))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", tuple(ULPS))
def test_compiled_math_is_as_accurate_as_numpy(name: str, dtype: str) -> None:
    """Within 1-2 eps of long double wherever the result is a normal number of the dtype (relative for exp and
    the sigmoid, absolute for tanh, and relative for tanh from |x| = 0.625 on), so within the house tolerance
    of NumPy's own float32 and float64; computed in the dtype (a float64 detour would return float64)."""
    function = _compiled_math()[name]
    x = _points(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = function(x)
    assert ours.dtype == np.dtype(dtype)
    reference = _reference(name, x)
    info = np.finfo(dtype)
    normal = np.isfinite(reference) & (np.abs(reference) >= info.tiny) & (np.abs(reference) <= info.max)
    if name == "exp":
        normal &= x <= EXP_FINITE_BELOW[dtype]
    error = np.abs(ours[normal] - reference[normal])
    relative = error / np.abs(reference[normal]) / info.eps
    if name == "tanh":
        worst = float(np.max(error) / info.eps)
        beyond = np.abs(x[normal]) >= TANH_RELATIVE_FROM
        assert float(np.max(relative[beyond])) <= TANH_RELATIVE_ULPS, "tanh: relative error from |x| = 0.625 on"
    else:
        worst = float(np.max(relative))
    assert worst <= ULPS[name], f"{name} {dtype}: {worst:.2f} ulps"
    with np.errstate(over="ignore"):
        numpy_value = {"exp": np.exp, "tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name](x)
    atol = 2 * info.eps if name == "tanh" else 0
    np.testing.assert_allclose(ours[normal], numpy_value[normal], rtol=4 * info.eps, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_math_saturates_exactly(dtype: str) -> None:
    """z = +-1000 (and the dtype's largest values): sigmoid exactly 0 and 1, tanh exactly -1 and 1; exp is
    bounded (about the smallest normal below, inf above); nan stays nan."""
    functions = _compiled_math()
    info = np.finfo(dtype)
    x = np.array([-info.max, -1000.0, 1000.0, info.max, np.nan], dtype=dtype)
    np.testing.assert_array_equal(functions["sigmoid"](x), [0, 0, 1, 1, np.nan])
    np.testing.assert_array_equal(functions["tanh"](x), [-1, -1, 1, 1, np.nan])
    bounded = functions["exp"](x)
    np.testing.assert_allclose(bounded[:2], info.tiny, rtol=1e-4)  # its value at ln(tiny), to the digits given
    np.testing.assert_array_equal(bounded[2:], [np.inf, np.inf, np.nan])


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_xrnn_does_not_import_numba() -> None:
    """Numba loads when a gated scan is first looked up, not with ``import xrnn`` (nor for the RNN)."""
    code = (
        "import sys, numpy as np, xrnn\n"
        "print('numba' in sys.modules)\n"
        "p = xrnn.init_parameters(2, 3, 2, seed=0)\n"
        "xrnn.rnn_backward(np.ones((3, 1, 2)), xrnn.rnn_forward(np.ones((2, 1, 2)), np.zeros((3, 1)), p)[2])\n"
        "print('numba' in sys.modules)\n"
    )
    assert _run(code).split() == ["False", "False"]


def test_without_numba_the_numpy_fast_paths_run() -> None:
    """An install without Numba (simulated: ``import numba`` fails) runs the NumPy passes, unchanged."""
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, xrnn\n"
        "from xrnn.backends import _numpy_gated\n"
        "from xrnn.backends.numpy import BACKEND\n"
        "print(all(getattr(BACKEND, f'{c}_{d}_scan') is getattr(_numpy_gated, f'{c}_{d}_scan')\n"
        "          for c in ('lstm', 'gru') for d in ('forward', 'backward')))\n"
        "p = xrnn.init_lstm_parameters(2, 3, 2, seed=0)\n"
        "a, y, c, cache = xrnn.lstm_forward(np.ones((2, 4, 5)), np.zeros((3, 4)), p)\n"
        "print(sorted(xrnn.lstm_backward(np.ones((3, 4, 5)), cache))[:2])\n"
    )
    assert _run(code).splitlines() == ["True", "['dWc', 'dWf']"]


def test_with_numba_the_compiled_kernels_run() -> None:
    pytest.importorskip("numba", reason="the compiled kernels need Numba (the fast extra)")
    from xrnn.backends import _numba_gated
    from xrnn.backends.numpy import BACKEND

    for cell in ("lstm", "gru"):
        for direction in ("forward", "backward"):
            name = f"{cell}_{direction}_scan"
            assert getattr(BACKEND, name) is getattr(_numba_gated, name)
