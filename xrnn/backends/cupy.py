"""CuPy adapter and the CUDA fast paths for the recurrences.

Importing this module imports CuPy; the registry does so only when CuPy is asked for. Each step of the
fast paths is one cuBLAS product and one fused elementwise kernel over a contiguous time-major slice,
and the whole loop is replayed as one CUDA graph (see :class:`_ScanGraphs`). Their generic twins are
in ``xrnn._scan``; the GPU tests hold the two equal.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

import array_api_compat.cupy as compat_cupy
import cupy as cp
import numpy as np

from xrnn.backends._adapter import ArrayBackend
from xrnn.backends._cublas_capture import CapturableProducts

# One pass each instead of three (add, tanh) and four (square, subtract, add, multiply).
_add_tanh = cp.ElementwiseKernel("T recurrent", "T z", "z = tanh(z + recurrent)", "xrnn_add_tanh")
_tanh_backward = cp.ElementwiseKernel(
    "T a, T da, T carry", "T dz", "dz = (1 - a * a) * (da + carry)", "xrnn_tanh_backward"
)


class _Products(Protocol):
    """The two row-major products of the scans."""

    def times_transpose(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None: ...

    def times(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None: ...


class _MatmulProducts:
    """The products through ``cupy.matmul``, for the steps run one by one (captured steps use
    :class:`~xrnn.backends._cublas_capture.CapturableProducts`)."""

    def times_transpose(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w.T``."""
        cp.matmul(a, w.T, out=out)

    def times(self, a: cp.ndarray, w: cp.ndarray, out: cp.ndarray) -> None:
        """``out = a @ w``."""
        cp.matmul(a, w, out=out)


_MATMUL = _MatmulProducts()


def _forward_steps(
    states: cp.ndarray,
    waa: cp.ndarray,
    a0_rows: cp.ndarray,
    recurrent: cp.ndarray,
    products: _Products = _MATMUL,
) -> None:
    """The forward recurrence in place in ``states``; ``recurrent`` is an ``(m, n_a)`` work buffer."""
    previous = a0_rows
    for t in range(states.shape[0]):
        current = states[t]
        products.times_transpose(previous, waa, recurrent)
        _add_tanh(recurrent, current)
        previous = current


def _backward_steps(
    dstates: cp.ndarray,
    states: cp.ndarray,
    waa: cp.ndarray,
    dz: cp.ndarray,
    carry: cp.ndarray,
    products: _Products = _MATMUL,
) -> None:
    """The backward recurrence into ``dz`` and ``carry`` (which ends as the gradient of ``a0_rows``)."""
    carry.fill(0)
    for t in range(states.shape[0] - 1, -1, -1):
        _tanh_backward(states[t], dstates[t], carry, dz[t])
        products.times(dz[t], waa, carry)


def rnn_forward_scan(preactivation: cp.ndarray, waa: cp.ndarray, a0_rows: cp.ndarray, keep: None = None) -> cp.ndarray:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)``, computed in place on the GPU.

    ``keep`` is always ``None``: this backend does not take masks (masked calls run the generic twin).
    """
    states = preactivation
    t_x, m, n_a = states.shape
    with states.device:
        if _graphs.enabled:
            key = ("forward", t_x, m, n_a, states.dtype.char)
            states[...] = _graphs.replay(key, _forward_steps, (preactivation, waa, a0_rows), ((m, n_a),))[0]
            return states
        _forward_steps(states, waa, a0_rows, cp.empty((m, n_a), dtype=states.dtype))
    return states


def rnn_backward_scan(
    dstates: cp.ndarray, states: cp.ndarray, waa: cp.ndarray, keep: None = None
) -> tuple[cp.ndarray, cp.ndarray]:
    """Backward of :func:`rnn_forward_scan`: ``(dpreactivation, da0_rows)``; reads its inputs only."""
    t_x, m, n_a = states.shape
    with states.device:
        if _graphs.enabled:
            key = ("backward", t_x, m, n_a, states.dtype.char)
            buffers = _graphs.replay(key, _backward_steps, (dstates, states, waa), ((t_x, m, n_a), (m, n_a)))
            return buffers[3].copy(), buffers[4].copy()
        dz = cp.empty_like(states)
        carry = cp.empty(states.shape[1:], dtype=states.dtype)
        _backward_steps(dstates, states, waa, dz, carry)
    return dz, carry


class _ScanGraphs:
    """CUDA graphs of the scans, captured once per (direction, shape, dtype, device) and replayed.

    A scan is ``2 T_x`` small launches whose Python and launch overhead dominates at small sizes; a
    graph replays them in one launch. Graphs read and write fixed buffers, so each call copies its
    arrays in and its results out (cheap next to the scan). Set ``XRNN_CUDA_GRAPHS=0`` to run the
    steps one by one. If capture fails (an old driver, a library call that cannot be captured), the
    graphs switch themselves off and the steps run one by one. Not thread-safe.
    """

    capacity = 4

    def __init__(self) -> None:
        self.enabled = os.environ.get("XRNN_CUDA_GRAPHS", "1") != "0"
        # key -> (graph, its buffers, its cuBLAS products: host scalars the graph was recorded with)
        self._captured: OrderedDict[tuple[Any, ...], tuple[Any, tuple[cp.ndarray, ...], Any]] = OrderedDict()

    def replay(
        self,
        key: tuple[Any, ...],
        steps: Callable[..., None],
        arrays: tuple[cp.ndarray, ...],
        work_shapes: tuple[tuple[int, ...], ...],
    ) -> tuple[cp.ndarray, ...]:
        """Run ``steps(*arrays, *work)`` on copies of ``arrays`` and return all the buffers, arrays first.

        The first call for a key runs the steps one by one and captures them; later calls replay.
        """
        key = (*key, cp.cuda.Device().id)
        entry = self._captured.get(key)
        if entry is not None:
            self._captured.move_to_end(key)
            graph, buffers, _ = entry
            self._copy_in(buffers, arrays)
            graph.launch(cp.cuda.get_current_stream())
            return buffers
        buffers = tuple(cp.empty_like(a, order="C") for a in arrays) + tuple(
            cp.empty(shape, dtype=arrays[0].dtype) for shape in work_shapes
        )
        self._copy_in(buffers, arrays)
        # Run once step by step: this call's result, and kernels compiled and cuBLAS set up outside the capture.
        steps(*buffers)
        captured = self._capture(steps, buffers)
        if captured is not None:
            self._captured[key] = (captured[0], buffers, captured[1])
            if len(self._captured) > self.capacity:
                self._captured.popitem(last=False)
        return buffers

    @staticmethod
    def _copy_in(buffers: tuple[cp.ndarray, ...], arrays: tuple[cp.ndarray, ...]) -> None:
        for buffer, array in zip(buffers, arrays, strict=False):
            buffer[...] = array

    def _capture(self, steps: Callable[..., None], buffers: tuple[cp.ndarray, ...]) -> tuple[Any, Any] | None:
        """``(graph, products)`` of the steps on ``buffers``, or ``None`` (graphs then stay off)."""
        stream = cp.cuda.Stream(non_blocking=True)
        try:
            products = CapturableProducts(buffers[0].dtype, stream)
            with stream:
                stream.begin_capture()
                try:
                    steps(*buffers, products=products)
                finally:
                    graph = stream.end_capture()
        except Exception as error:  # any failure means: run the steps one by one from now on
            self.enabled = False
            warnings.warn(f"xrnn: CUDA graph capture failed ({error}); running the scans step by step", stacklevel=3)
            return None
        return graph, products


_graphs = _ScanGraphs()


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
