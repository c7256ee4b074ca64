"""CuPy adapter and the CUDA fast paths for the recurrences.

Importing this module imports CuPy; the registry does so only when CuPy is asked for. Each step of the
fast paths is one cuBLAS product and one fused elementwise kernel over a contiguous time-major slice
(the GRU's two of each), with or without a mask, and the whole loop is replayed as one CUDA graph (see
``_cupy_graphs``). The RNN's are here, the gated cells' in ``_cupy_gated``; their generic twins are in
``xrnn.cells._scan`` and ``xrnn.cells._gated_scans``, and the GPU tests hold them equal.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat.cupy as compat_cupy
import cupy as cp
import numpy as np

from xrnn.backends import _cupy_gated
from xrnn.backends._adapter import ArrayBackend
from xrnn.backends._cupy_gated import as_keep, step_keep
from xrnn.backends._cupy_graphs import MATMUL, Products, run_steps, scan_key, start_gradient

# One pass each instead of three (add, tanh) and four (square, subtract, add, multiply).
_add_tanh = cp.ElementwiseKernel("T recurrent", "T z", "z = tanh(z + recurrent)", "xrnn_add_tanh")
_tanh_backward = cp.ElementwiseKernel(
    "T a, T da, T carry", "T dz", "dz = (1 - a * a) * (da + carry)", "xrnn_tanh_backward"
)
# With a mask, keep (m, 1): a padded row carries its state; backward, it gets a zero dz and adds the
# gradient reaching it (carry + extra) to extra, which the next (earlier) step adds back.
_add_tanh_masked = cp.ElementwiseKernel(
    "T recurrent, T previous, bool keep", "T z", "z = keep ? tanh(z + recurrent) : previous", "xrnn_add_tanh_masked"
)
_tanh_backward_masked = cp.ElementwiseKernel(
    "T a, T da, T carry, bool keep",
    "T dz, T extra",
    "if (keep) { dz = (1 - a * a) * (da + (carry + extra)); extra = 0; } else { dz = 0; extra = carry + extra; }",
    "xrnn_tanh_backward_masked",
)


def _forward_steps(
    states: cp.ndarray,
    waa: cp.ndarray,
    a0_rows: cp.ndarray,
    keep: cp.ndarray | None,
    recurrent: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    """The forward recurrence in place in ``states``; ``recurrent`` is an ``(m, n_a)`` work buffer."""
    previous = a0_rows
    for t in range(states.shape[0]):
        current = states[t]
        products.times_transpose(previous, waa, recurrent)
        if keep is None:
            _add_tanh(recurrent, current)
        else:
            _add_tanh_masked(recurrent, previous, keep[t], current)
        previous = current


def _backward_steps(
    dstates: cp.ndarray,
    states: cp.ndarray,
    waa: cp.ndarray,
    keep: cp.ndarray | None,
    after: cp.ndarray | None,
    dz: cp.ndarray,
    carry: cp.ndarray,
    extra: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    """The backward recurrence into ``dz`` and ``carry`` (which ends as the gradient of ``a0_rows``)."""
    start_gradient(carry, after)
    extra.fill(0)
    for t in range(states.shape[0] - 1, -1, -1):
        keep_t = step_keep(keep, t)
        if keep_t is None:
            _tanh_backward(states[t], dstates[t], carry, dz[t])
        else:
            _tanh_backward_masked(states[t], dstates[t], carry, keep_t, dz[t], extra)
        products.times(dz[t], waa, carry)
    if keep is not None:
        cp.add(carry, extra, out=carry)


def rnn_forward_scan(preactivation: cp.ndarray, waa: cp.ndarray, a0_rows: cp.ndarray, keep: Any = None) -> cp.ndarray:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)``, computed in place on the GPU.

    ``preactivation`` (T_x, m, n_a) is a buffer xrnn owns: it becomes the returned states. ``waa`` and
    ``a0_rows`` are only read; where the time-major mask ``keep`` (T_x, m, 1) is false, the state is
    carried over.
    """
    _, m, n_a = preactivation.shape
    key = scan_key("rnn-forward", preactivation, n_a, keep)
    arrays = (preactivation, waa, a0_rows, as_keep(keep))
    (states,) = run_steps(key, _forward_steps, arrays, ((m, n_a),), (0,))
    return states


def rnn_backward_scan(
    dstates: cp.ndarray,
    states: cp.ndarray,
    waa: cp.ndarray,
    keep: Any = None,
    after: tuple[cp.ndarray, ...] | None = None,
) -> tuple[cp.ndarray, cp.ndarray]:
    """Backward of :func:`rnn_forward_scan`: ``(dpreactivation, da0_rows)``; reads its inputs only.

    A masked step ignores its ``dstates``, gets a zero ``dpreactivation`` and passes the gradient on
    unchanged. ``after``: the gradient ``(m, n_a)`` reaching the last state from beyond the sequence.
    """
    t_x, m, n_a = states.shape
    key = scan_key("rnn-backward", states, n_a, keep, after)
    arrays = (dstates, states, waa, as_keep(keep), None if after is None else after[0])
    dz, da0 = run_steps(key, _backward_steps, arrays, ((t_x, m, n_a), (m, n_a), (m, n_a)), (5, 6))
    return dz, da0


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
    lstm_forward_scan = staticmethod(_cupy_gated.lstm_forward_scan)
    lstm_backward_scan = staticmethod(_cupy_gated.lstm_backward_scan)
    gru_forward_scan = staticmethod(_cupy_gated.gru_forward_scan)
    gru_backward_scan = staticmethod(_cupy_gated.gru_backward_scan)
    scans_take_masks = True
    scans_take_after = True

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

    def uniform(
        self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any, low: float, high: float
    ) -> cp.ndarray:
        with _device(device):
            samples = cp.random.default_rng(seed).random(shape, dtype=self.resolve_dtype(dtype))
            return samples * (high - low) + low

    def synchronize(self) -> None:
        cp.cuda.Device().synchronize()

    def default_device(self) -> cp.cuda.Device:
        return cp.cuda.Device()


BACKEND = CupyBackend()
