"""Stand-in cupy.testing: NumPy's assertions on host copies."""

from typing import Any

import numpy as _np

from cupy._core import ndarray


def _host(x: Any) -> Any:
    return x.get() if isinstance(x, ndarray) else x


def assert_allclose(
    actual: Any, desired: Any, rtol: float = 1e-7, atol: float = 0, err_msg: str = "", verbose: bool = True
) -> None:
    _np.testing.assert_allclose(_host(actual), _host(desired), rtol=rtol, atol=atol, err_msg=err_msg, verbose=verbose)


def assert_array_equal(x: Any, y: Any, err_msg: str = "", verbose: bool = True, strict: bool = False) -> None:
    _np.testing.assert_array_equal(_host(x), _host(y), err_msg=err_msg, verbose=verbose, strict=strict)


def assert_array_almost_equal(x: Any, y: Any, decimal: int = 6, err_msg: str = "", verbose: bool = True) -> None:
    _np.testing.assert_array_almost_equal(_host(x), _host(y), decimal=decimal, err_msg=err_msg, verbose=verbose)
