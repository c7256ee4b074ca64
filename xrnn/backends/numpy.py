"""NumPy adapter, its ``.npz`` file primitives, and the CPU fast paths for the RNN's recurrence (the gated
cells' are in ``_numba_gated``, compiled, where Numba imports, else in ``_numpy_gated``).

The fast paths write every step into buffers allocated once, with ``out=``, which the Array API
standard cannot express. Their generic twins are in ``xrnn._scan``; the tests hold the two equal.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from functools import cache
from types import ModuleType
from typing import IO, Any

import array_api_compat.numpy as compat_numpy
import numpy as np

from xrnn._typing import Array
from xrnn.backends import _numpy_gated
from xrnn.backends._adapter import ArrayBackend
from xrnn.backends._numpy_operands import dropped_rows, incoming_gradient, start_gradients, step_weight, zero_dropped
from xrnn.backends._registry import to_numpy


def save_npz(stream: IO[bytes], arrays: Mapping[str, Array], *, texts: Mapping[str, str]) -> None:
    """Write ``arrays`` (of any backend, copied to the host) and the strings ``texts`` as one ``.npz`` archive."""
    host = {key: np.asarray(to_numpy(value), order="C") for key, value in arrays.items()}  # 0-D stays 0-D
    strings = [key for key, value in host.items() if value.dtype.kind in "USO"]
    if strings:  # reading back takes string members for texts
        raise TypeError(f"arrays {strings} hold strings or objects; only numbers are saved as arrays")
    host.update({key: np.asarray(text) for key, text in texts.items()})
    np.savez(stream, **host)  # type: ignore[arg-type]  # numpy's stubs type **kwds as allow_pickle


def load_npz(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and the strings of an ``.npz`` archive, read without pickle.

    Raises ``ValueError`` for a file that is not a readable archive.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise ValueError(f"{path!r} is not a readable .npz archive ({error})") from None
    odd = [key for key, value in contents.items() if not isinstance(value, np.ndarray)]
    if odd:  # np.load gives the bytes of a member that is no .npy
        raise ValueError(f"{path!r} is not a readable .npz archive (members {odd} are not .npy arrays)")
    texts = {key: str(value) for key, value in contents.items() if value.dtype.kind == "U"}
    return {key: value for key, value in contents.items() if key not in texts}, texts


def rnn_forward_scan(
    preactivation: np.ndarray, waa: np.ndarray, a0_rows: np.ndarray, keep: np.ndarray | None = None
) -> np.ndarray:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)``, computed in place.

    ``preactivation`` (T_x, m, n_a) must be a C-contiguous buffer xrnn owns: it becomes the returned
    states. ``waa``, ``a0_rows`` and the time-major mask ``keep`` (T_x, m, 1) are only read; where
    ``keep`` is false the state is carried over (see ``xrnn._masking``).
    """
    states = preactivation
    t_x, m, _ = states.shape
    waa_t = step_weight(waa, m, t_x)
    recurrent = np.empty(states.shape[1:], dtype=states.dtype)
    drop = dropped_rows(keep)
    previous = a0_rows
    for t, current in enumerate(states):  # views of each step, in order
        np.dot(previous, waa_t, out=recurrent)
        np.add(current, recurrent, out=current)
        np.tanh(current, out=current)
        if drop is not None:
            np.copyto(current, previous, where=drop[t])
        previous = current
    return states


def rnn_backward_scan(
    dstates: np.ndarray,
    states: np.ndarray,
    waa: np.ndarray,
    keep: np.ndarray | None = None,
    after: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Backward of :func:`rnn_forward_scan`: ``(dpreactivation, da0_rows)``; reads its inputs only.

    ``dz[t] = (1 - states[t]**2) * (dstates[t] + dz[t+1] @ waa)``, and ``da0_rows = dz[0] @ waa``. A
    masked step ignores its ``dstates``, gets a zero ``dz`` and passes the gradient on unchanged.
    ``after``: the gradient reaching the last state from beyond the sequence (only read).
    """
    waa = np.ascontiguousarray(waa)  # the caller's Waa is C-contiguous: no copy, untransposed GEMM
    dz = np.multiply(states, states)
    np.subtract(1, dz, out=dz)  # tanh' for every step at once, out of the loop
    drop = dropped_rows(keep)
    # reaches states[t] through the recurrence
    (carry,) = start_gradients(after, states.shape[1:], states.dtype, 1)
    incoming = np.empty_like(carry)
    for t in range(states.shape[0] - 1, -1, -1):
        incoming_gradient(dstates[t], carry, None if drop is None else drop[t], out=incoming)
        np.multiply(dz[t], incoming, out=dz[t])
        np.dot(dz[t], waa, out=carry)
        if drop is not None:
            np.copyto(carry, incoming, where=drop[t])
    zero_dropped(dz, drop)
    return dz, carry


# Blocks of the layout copy: 64 features x 16 examples x T_x steps keep the source lines it reads in L2.
_ROWS_BLOCK_N = 64
_ROWS_BLOCK_M = 16


def time_major_rows(x: np.ndarray) -> np.ndarray:
    """``(n, m, T_x)`` -> a new C-contiguous ``(T_x * m, n)``: row ``t * m + i`` is example ``i`` at step ``t``.

    The generic twin (``xrnn._layout.to_rows``) is one transposing copy, which reads with a stride of
    ``m * T_x`` elements for every element it writes; copying in blocks keeps each source line in cache
    until all of it is used (2-3x faster for the benchmark's ``x`` and ``da``). Reads ``x`` only.
    """
    n, m, t_x = x.shape
    view = x.transpose(2, 1, 0)
    if n <= _ROWS_BLOCK_N and m <= _ROWS_BLOCK_M:  # one block: one copy, without the loops' per-call cost
        rows: np.ndarray = view.copy()
        return rows.reshape(t_x * m, n)
    rows = np.empty((t_x, m, n), dtype=x.dtype)
    for i in range(0, n, _ROWS_BLOCK_N):
        for j in range(0, m, _ROWS_BLOCK_M):
            block = (slice(None), slice(j, j + _ROWS_BLOCK_M), slice(i, i + _ROWS_BLOCK_N))
            rows[block] = view[block]
    return rows.reshape(t_x * m, n)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """A new array, the softmax of ``x`` along ``axis``, as the generic twin
    (``xrnn.activations.softmax_unchecked``) computes it, bit for bit.

    The reductions are ``ndarray`` methods: NumPy's module-level ``max`` and ``sum`` are Python wrappers
    that cost as much as the arithmetic for the outputs of a small batch (every forward pass computes them).
    """
    e: np.ndarray = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


@cache
def gated_scans() -> ModuleType:
    """The module of the LSTM and GRU scans this process runs: ``_numba_gated`` where Numba imports (the
    ``fast`` extra), else ``_numpy_gated``. Imported on the first look-up, so ``import xrnn`` does not
    import Numba."""
    try:
        from xrnn.backends import _numba_gated
    except ImportError:
        return _numpy_gated
    return _numba_gated


class _GatedScan:
    """A class attribute that is the gated scan ``name`` of :func:`gated_scans`, resolved when first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Callable[..., Any]:
        scan: Callable[..., Any] = getattr(gated_scans(), self.name)
        return scan


class NumpyBackend(ArrayBackend):
    """NumPy on the host CPU."""

    name = "numpy"
    rnn_forward_scan = staticmethod(rnn_forward_scan)
    rnn_backward_scan = staticmethod(rnn_backward_scan)
    lstm_forward_scan = _GatedScan()
    lstm_backward_scan = _GatedScan()
    gru_forward_scan = _GatedScan()
    gru_backward_scan = _GatedScan()
    time_major_rows = staticmethod(time_major_rows)
    softmax = staticmethod(softmax)
    scans_take_masks = True
    scans_take_after = True

    def refused_type(self, kind: type) -> str | None:
        if issubclass(kind, np.ma.MaskedArray):
            return (
                "a NumPy masked array, whose mask xrnn would ignore; pass its data (np.ma.getdata) and mark "
                "padded steps with mask="
            )
        return None

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

    def uniform(
        self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any, low: float, high: float
    ) -> np.ndarray:
        samples = np.random.default_rng(seed).uniform(low, high, shape)
        return self.asarray(samples, dtype=dtype, device=device)

    def default_device(self) -> str:
        return "cpu"


BACKEND = NumpyBackend()
