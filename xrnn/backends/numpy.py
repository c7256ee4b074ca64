"""NumPy adapter and the CPU fast paths for the recurrences.

The fast paths write every step into buffers allocated once, with ``out=``, which the Array API
standard cannot express. Their generic twins are in ``xrnn._scan``; the tests hold the two equal.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat.numpy as compat_numpy
import numpy as np

from xrnn.backends._adapter import ArrayBackend


def rnn_forward_scan(preactivation: np.ndarray, waa: np.ndarray, a0_rows: np.ndarray) -> np.ndarray:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)``, computed in place.

    ``preactivation`` (T_x, m, n_a) must be a buffer xrnn owns: it becomes the returned states.
    """
    states = preactivation
    waa_t = waa.T
    recurrent = np.empty(states.shape[1:], dtype=states.dtype)
    previous = a0_rows
    for t in range(states.shape[0]):
        current = states[t]
        np.matmul(previous, waa_t, out=recurrent)
        np.add(current, recurrent, out=current)
        np.tanh(current, out=current)
        previous = current
    return states


def rnn_backward_scan(
    dstates: np.ndarray, states: np.ndarray, waa: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Backward of :func:`rnn_forward_scan`: ``(dpreactivation, da0_rows)``; reads its inputs only."""
    dz = np.multiply(states, states)
    np.subtract(1, dz, out=dz)  # tanh' for every step at once, out of the loop
    carry = np.zeros(states.shape[1:], dtype=states.dtype)
    incoming = np.empty_like(carry)
    last = states.shape[0] - 1
    for t in range(last, -1, -1):
        if t == last:
            np.multiply(dz[t], dstates[t], out=dz[t])
        else:
            np.add(dstates[t], carry, out=incoming)
            np.multiply(dz[t], incoming, out=dz[t])
        np.matmul(dz[t], waa, out=carry)
    return dz, carry


class NumpyBackend(ArrayBackend):
    """NumPy on the host CPU."""

    name = "numpy"
    rnn_forward_scan = staticmethod(rnn_forward_scan)
    rnn_backward_scan = staticmethod(rnn_backward_scan)

    @property
    def xp(self) -> ModuleType:
        return compat_numpy

    def asarray(self, obj: Any, *, dtype: Any = None, device: Any = None) -> np.ndarray:
        if device not in (None, "cpu"):
            raise ValueError(f"device for the numpy backend must be None or 'cpu', got {device!r}")
        return np.asarray(obj, dtype=self.resolve_dtype(dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def standard_normal(self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any) -> np.ndarray:
        samples = np.random.default_rng(seed).standard_normal(shape)
        return self.asarray(samples, dtype=dtype, device=device)

    def default_device(self) -> str:
        return "cpu"


BACKEND = NumpyBackend()
