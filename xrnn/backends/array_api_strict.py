"""array-api-strict adapter: the reference implementation of the standard, used to prove that
the math uses nothing outside it. Its simulated devices (``Device("device1")``) catch device bugs
without a GPU. It has no fast paths on purpose."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_strict
import numpy as np

from xrnn.backends._adapter import ArrayBackend

_HOST = array_api_strict.Device("CPU_DEVICE")


class ArrayApiStrictBackend(ArrayBackend):
    """array-api-strict, optionally on a simulated device."""

    name = "array_api_strict"

    @property
    def xp(self) -> ModuleType:
        return array_api_strict

    def asarray(self, obj: Any, *, dtype: Any = None, device: Any = None) -> Any:
        if isinstance(device, str):
            device = array_api_strict.Device(device)
        return array_api_strict.asarray(np.asarray(obj), dtype=self.resolve_dtype(dtype), device=device)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x.to_device(_HOST))

    def standard_normal(self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any) -> Any:
        samples = np.random.default_rng(seed).standard_normal(shape)
        return self.asarray(samples, dtype=dtype, device=device)

    def uniform(
        self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any, low: float, high: float
    ) -> Any:
        samples = np.random.default_rng(seed).uniform(low, high, shape)
        return self.asarray(samples, dtype=dtype, device=device)

    def default_device(self) -> Any:
        return _HOST


BACKEND = ArrayApiStrictBackend()
