"""CuPy adapter and the CUDA fast paths for the recurrences.

Importing this module imports CuPy; the registry does so only when CuPy is asked for. Each step of the
fast paths is one cuBLAS product and one fused elementwise kernel over a contiguous time-major slice.
Their generic twins are in ``xrnn._scan``; the GPU tests hold the two equal.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat.cupy as compat_cupy
import cupy as cp
import numpy as np

from xrnn.backends._adapter import ArrayBackend

# One pass each instead of three (add, tanh) and four (square, subtract, add, multiply).
_add_tanh = cp.ElementwiseKernel("T recurrent", "T z", "z = tanh(z + recurrent)", "xrnn_add_tanh")
_tanh_backward = cp.ElementwiseKernel(
    "T a, T da, T carry", "T dz", "dz = (1 - a * a) * (da + carry)", "xrnn_tanh_backward"
)


def rnn_forward_scan(preactivation: cp.ndarray, waa: cp.ndarray, a0_rows: cp.ndarray) -> cp.ndarray:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)``, computed in place on the GPU."""
    states = preactivation
    with states.device:
        waa_t = waa.T
        recurrent = cp.empty(states.shape[1:], dtype=states.dtype)
        previous = a0_rows
        for t in range(states.shape[0]):
            current = states[t]
            cp.matmul(previous, waa_t, out=recurrent)
            _add_tanh(recurrent, current)
            previous = current
    return states


def rnn_backward_scan(dstates: cp.ndarray, states: cp.ndarray, waa: cp.ndarray) -> tuple[cp.ndarray, cp.ndarray]:
    """Backward of :func:`rnn_forward_scan`: ``(dpreactivation, da0_rows)``; reads its inputs only."""
    with states.device:
        dz = cp.empty_like(states)
        carry = cp.zeros(states.shape[1:], dtype=states.dtype)
        for t in range(states.shape[0] - 1, -1, -1):
            _tanh_backward(states[t], dstates[t], carry, dz[t])
            cp.matmul(dz[t], waa, out=carry)
    return dz, carry


def _device(device: Any) -> cp.cuda.Device:
    if device is None:
        return cp.cuda.Device()
    if isinstance(device, cp.cuda.Device):
        return device
    if isinstance(device, int):
        return cp.cuda.Device(device)
    raise ValueError(f"device for the cupy backend must be None, an int or a cupy.cuda.Device, got {device!r}")


class CupyBackend(ArrayBackend):
    """CuPy on a CUDA GPU."""

    name = "cupy"
    rnn_forward_scan = staticmethod(rnn_forward_scan)
    rnn_backward_scan = staticmethod(rnn_backward_scan)

    @property
    def xp(self) -> ModuleType:
        return compat_cupy

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why CuPy imports but cannot run: no driver, or no CUDA device."""
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except cp.cuda.runtime.CUDARuntimeError as error:
            return f"cupy is installed but CUDA is not usable ({error})"
        return None if count > 0 else "cupy is installed but there is no CUDA device"

    def asarray(self, obj: Any, *, dtype: Any = None, device: Any = None) -> cp.ndarray:
        with _device(device):
            return cp.asarray(obj, dtype=self.resolve_dtype(dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        host: np.ndarray = cp.asnumpy(x)
        return host

    def standard_normal(self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any) -> cp.ndarray:
        with _device(device):
            return cp.random.default_rng(seed).standard_normal(shape, dtype=self.resolve_dtype(dtype))

    def synchronize(self) -> None:
        cp.cuda.Device().synchronize()

    def default_device(self) -> cp.cuda.Device:
        return cp.cuda.Device()


BACKEND = CupyBackend()
