"""What the CuPy scans share: their two row-major products, and the CUDA graphs they are replayed as.

Importing this module imports CuPy. A scan's steps are a function ``steps(*buffers, products=...)``
over arrays it is given (its inputs, some of them ``None``, then its work buffers); :func:`run_steps`
runs them once, step by step, or replays them as one CUDA graph (:class:`ScanGraphs`).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import cupy as cp

from xrnn.backends._cublas_capture import CapturableProducts


class Products(Protocol):
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


MATMUL = _MatmulProducts()


def start_gradient(buffer: cp.ndarray, after: cp.ndarray | None) -> None:
    """``buffer <- after``, or zeros without one: where a backward loop starts (no allocation, so it can be
    captured)."""
    if after is None:
        buffer.fill(0)
    else:
        buffer[...] = after


def scan_key(name: str, rows: cp.ndarray, n_a: int, keep: Any, after: Any = None) -> tuple[Any, ...]:
    """The key of a scan's graph (see :class:`ScanGraphs`): ``name`` (cell and direction), ``T_x`` and ``m``
    from ``rows`` (T_x, m, ...), ``n_a``, ``rows``' dtype, and whether ``keep`` and ``after`` are given."""
    t_x, m = rows.shape[:2]
    return (name, t_x, m, n_a, rows.dtype.char, keep is not None, after is not None)


class ScanGraphs:
    """CUDA graphs of the scans, captured once per key and device and replayed.

    A key (:func:`scan_key`) names the scan (cell and direction), its shape and dtype, and whether it has a mask and the
    gradients ``after`` its last step (the captured launches differ). A scan is a few small launches per
    step whose Python and launch overhead dominates at small sizes; a graph replays them in one launch.
    Graphs read and write fixed buffers, so each call copies its arrays in and its results out (cheap next
    to the scan). Set ``XRNN_CUDA_GRAPHS=0`` to run the steps one by one. If capture fails (an old driver,
    a library call that cannot be captured), the graphs switch themselves off and the steps run one by
    one. Threads (Dask's scheduler on CuPy chunks) share the graphs through :attr:`lock`, held by
    :func:`run_steps` from a call's copies in to its copies out; the GPU then runs them in that order
    where the threads share a stream (CuPy's default stream, as Dask's threads do).
    """

    capacity = 4

    def __init__(self) -> None:
        self.enabled = os.environ.get("XRNN_CUDA_GRAPHS", "1") != "0"
        self.lock = threading.Lock()
        # key -> (graph, its buffers, its cuBLAS products: host scalars the graph was recorded with)
        self._captured: OrderedDict[tuple[Any, ...], tuple[Any, tuple[cp.ndarray | None, ...], Any]] = OrderedDict()

    def replay(
        self,
        key: tuple[Any, ...],
        steps: Callable[..., None],
        arrays: Sequence[cp.ndarray | None],
        work_shapes: Sequence[tuple[int, ...]],
        dtype: Any,
    ) -> tuple[cp.ndarray | None, ...]:
        """Run ``steps(*arrays, *work)`` on copies of ``arrays`` and return all the buffers, arrays first
        (``None`` stays ``None``; work buffers are of ``dtype``).

        The first call for a key runs the steps one by one, captures them and replays the capture; later
        calls replay.
        """
        key = (*key, cp.cuda.Device().id)
        entry = self._captured.get(key)
        if entry is not None:
            self._captured.move_to_end(key)
            graph, buffers, _ = entry
            self._copy_in(buffers, arrays)
            graph.launch(cp.cuda.get_current_stream())
            return buffers
        inputs = tuple(None if a is None else cp.empty_like(a, order="C") for a in arrays)
        buffers = inputs + tuple(cp.empty(shape, dtype=dtype) for shape in work_shapes)
        self._copy_in(buffers, arrays)
        # Run once step by step: kernels compiled and cuBLAS set up outside the capture (and the result if
        # capture fails).
        steps(*buffers)
        captured = self._capture(steps, buffers, dtype)
        if captured is not None:
            self._captured[key] = (captured[0], buffers, captured[1])
            if len(self._captured) > self.capacity:
                self._captured.popitem(last=False)
            # This call's result from the graph too: cuBLAS may pick another algorithm under capture than
            # CuPy's products did, and a call must not give other bits for being the first of its shape.
            self._copy_in(buffers, arrays)
            captured[0].launch(cp.cuda.get_current_stream())
        return buffers

    @staticmethod
    def _copy_in(buffers: tuple[cp.ndarray | None, ...], arrays: Sequence[cp.ndarray | None]) -> None:
        for buffer, array in zip(buffers, arrays, strict=False):
            if buffer is not None:
                buffer[...] = array

    def _capture(
        self, steps: Callable[..., None], buffers: tuple[cp.ndarray | None, ...], dtype: Any
    ) -> tuple[Any, Any] | None:
        """``(graph, products)`` of the steps on ``buffers``, or ``None`` (graphs then stay off)."""
        stream = cp.cuda.Stream(non_blocking=True)
        try:
            products = CapturableProducts(dtype, stream)
            with stream:
                stream.begin_capture()
                try:
                    steps(*buffers, products=products)
                finally:
                    graph = stream.end_capture()
        except Exception as error:  # any failure means: run the steps one by one from now on
            self.enabled = False
            warnings.warn(f"xrnn: CUDA graph capture failed ({error}); running the scans step by step", stacklevel=4)
            return None
        return graph, products


graphs = ScanGraphs()


def run_steps(
    key: tuple[Any, ...],
    steps: Callable[..., None],
    arrays: Sequence[cp.ndarray | None],
    work_shapes: Sequence[tuple[int, ...]],
    results: Sequence[int],
) -> tuple[cp.ndarray, ...]:
    """The buffers ``results`` (indices into ``(*arrays, *work)``) after ``steps`` ran over them, replayed
    from a graph where :data:`graphs` is enabled, else step by step. ``arrays[0]`` is a float array.

    Step by step, the arrays are used as they are, so the steps may write only into ``arrays[0]`` (a
    buffer xrnn owns: a forward scan's projection, which becomes its gates) and the work buffers. A
    replayed result is copied out of the graph's buffers, ``arrays[0]`` into itself.
    """
    first: cp.ndarray = arrays[0]
    dtype = first.dtype
    with first.device:
        if graphs.enabled:
            with graphs.lock:  # another thread's call would copy its arrays into these buffers
                buffers = graphs.replay(key, steps, arrays, work_shapes, dtype)
                out = []
                for index in results:
                    if index == 0:
                        first[...] = buffers[0]
                        out.append(first)
                    else:
                        out.append(buffers[index].copy())  # type: ignore[union-attr]  # results are never None
            return tuple(out)
        buffers = (*arrays, *(cp.empty(shape, dtype=dtype) for shape in work_shapes))
        steps(*buffers)
        return tuple(buffers[index] for index in results)
