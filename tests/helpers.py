"""Test helpers: moving NumPy reference data onto a backend and comparing results with it.

Reference values are NumPy float64; converting to NumPy is allowed here, in tests only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from xrnn.backends import ArrayBackend

# Relative tolerances by dtype: about 4 * sqrt(eps) for float32 (as array-api-extra's assert_close),
# and well under float64's finite-difference noise for float64 results of the same maths.
RTOL = {"float32": 1.4e-3, "float64": 1e-10}


@dataclass(frozen=True)
class TestBackend:
    """One array library under test, with the device its test arrays live on."""

    adapter: ArrayBackend

    __test__ = False  # not a test class, despite the name

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def xp(self) -> Any:
        return self.adapter.xp

    @property
    def device(self) -> Any:
        # A simulated non-default device for array-api-strict catches results that leave the device.
        if self.name == "array_api_strict":
            import array_api_strict

            return array_api_strict.Device("device1")
        return self.adapter.default_device()

    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        """NumPy data -> an array of this backend on the test device."""
        return self.adapter.asarray(np.asarray(host), dtype=dtype, device=self.device)

    def tree(self, host: Mapping[str, Any], dtype: str | None = None) -> dict[str, Any]:
        """NumPy data in (nested) dicts and lists -> the same structure of this backend's arrays."""

        def move(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, list):
                return [move(item) for item in value]
            if isinstance(value, Mapping):
                return {key: move(item) for key, item in value.items()}
            return self.asarray(value, dtype)

        return {key: move(value) for key, value in host.items()}

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(self.adapter.to_numpy(x))

    def assert_close(
        self, actual: Any, expected: Any, rtol: float | None = None, atol: float = 0.0, *, dtype: str = "float64"
    ) -> None:
        """``actual`` is of this library, on the test device, of ``dtype``, shaped like the NumPy ``expected``,
        and within ``rtol`` of it (default: the tolerance of ``dtype``)."""
        assert array_api_compat.array_namespace(actual) is self.xp, f"wrong library: {type(actual)}"
        assert array_api_compat.device(actual) == self.device, f"left the device: {array_api_compat.device(actual)}"
        self.assert_dtype(actual, dtype)
        expected = np.asarray(expected)
        assert tuple(actual.shape) == expected.shape, f"shape {tuple(actual.shape)} != {expected.shape}"
        tolerance = RTOL[dtype] if rtol is None else rtol
        np.testing.assert_allclose(self.to_numpy(actual), expected, rtol=tolerance, atol=atol)

    def assert_dtype(self, actual: Any, dtype: str) -> None:
        assert actual.dtype == getattr(self.xp, dtype), f"dtype {actual.dtype}, expected {dtype}"
