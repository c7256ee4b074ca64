"""Compiled (Numba) fast paths of the LSTM and GRU recurrences: each step's gate arithmetic in one pass.

The NumPy fast paths (``_numpy_gated``) spend about half of an LSTM forward+backward in a dozen
elementwise NumPy passes per step; here each step does its BLAS product(s) with ``np.dot(out=)`` (``StepProduct``),
as there, and everything else in one compiled loop over the ``(m, g n_a)`` block: the LSTM one kernel
per step and direction, the GRU two (its candidate's product sits between its gates). These are the
loops of ``_gated_driver``'s scans, which state the signatures, contracts and layouts once for both
implementations; the generic twins are in ``xrnn.cells._gated_scans``, and the tests hold all three equal.

Importing this module imports Numba; ``xrnn.backends.numpy`` does so only when a gated scan is first
looked up (see ``gated_scans``). The kernels compile on their first call per dtype and cache the machine
code beside this file (``cache=True``), so later processes load it. Numba keys that cache on this file
only: after editing ``_numba_math.py`` alone, delete ``__pycache__/_numba_gated.*``.

Arithmetic stays in the arrays' dtype: a float literal would promote float32 to float64 in Numba, so
the kernels take ``one`` (``1`` of the dtype) where they need it. ``exp``, ``tanh`` and the sigmoid are
``_numba_math``'s, which LLVM vectorises (the C library's are scalar calls); saturated gates are exact
and silent. The kernels index rows as ``array[row, j]``: a row view (``array[row]``) costs two calls into
Numba's reference counting per view and row (10-33% of a kernel, measured). A loop stores into one array
at one offset, or in place: stores beside loads at other offsets of the same array keep LLVM from
vectorising it (3-6x slower), so a gate block written in place is a view (``cc = z[row, 3 n_a:]``), which
LLVM checks against the other arrays at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np

from xrnn.backends import _gated_driver as driver
from xrnn.backends._gated_driver import Backward, Forward
from xrnn.backends._numba_math import sigmoid, tanh

# fastmath 'contract' alone (fused multiply-adds), as in _numba_math: no flag that assumes finite values.
_JIT: dict[str, Any] = {
    "cache": True,
    "fastmath": {"contract"},
    "nogil": True,
    "error_model": "numpy",
    "boundscheck": False,
}
_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(function: _F) -> _F:
    """``numba.njit`` with the options above, typed for mypy (Numba has no stubs)."""
    compiled: _F = numba.njit(**_JIT)(function)
    return compiled


@_compiled
def _lstm_forward_step(
    z: np.ndarray,
    recurrent: np.ndarray,
    a_prev: np.ndarray,
    c_prev: np.ndarray,
    a: np.ndarray,
    c: np.ndarray,
    keep_t: np.ndarray,
    masked: bool,
) -> None:
    """``z += recurrent``, then the gates ``o, f, i, cc`` in ``z``, the new cell ``c`` and state ``a``.

    The three sigmoid gates are one pass in place, the candidate another through a view of its block (in
    place at offsets of ``z`` itself, LLVM would not vectorise the loop that reads the other gates). The
    cell and ``tanh(c)`` take a loop each: ``tanh(c)`` in the cell's loop waits on the candidate's ``exp``
    and division, a chain too long for the out-of-order window to overlap iterations (1.2x slower).
    """
    m, width = z.shape
    n_a = width // 4
    for row in range(m):
        for j in range(3 * n_a):
            z[row, j] = sigmoid(z[row, j] + recurrent[row, j])
        cc = z[row, 3 * n_a :]
        for j in range(n_a):
            cc[j] = tanh(cc[j] + recurrent[row, 3 * n_a + j])
        for j in range(n_a):
            c[row, j] = z[row, n_a + j] * c_prev[row, j] + z[row, 2 * n_a + j] * cc[j]
        for j in range(n_a):
            a[row, j] = z[row, j] * tanh(c[row, j])
        if masked and not keep_t[row]:
            for j in range(n_a):
                c[row, j], a[row, j] = c_prev[row, j], a_prev[row, j]


@_compiled
def _lstm_backward_step(
    dstates_t: np.ndarray,
    da_mat: np.ndarray,
    extra: np.ndarray,
    dc_next: np.ndarray,
    gates_t: np.ndarray,
    cells_t: np.ndarray,
    c_prev: np.ndarray,
    dz_t: np.ndarray,
    keep_t: np.ndarray,
    masked: bool,
    one: Any,
) -> None:
    """One backward step before its product: ``dz_t``, and in place ``dc_next`` (-> the gradient reaching
    ``c<t-1>``) and ``extra`` (the gradient a padded row passes on, 0 on the others).

    The gradient reaching ``a<t>`` is ``dstates_t + da_mat + extra``, ``da_mat`` being the previous
    (later) step's product ``dz @ w_a``; a padded row ignores ``dstates_t``. Each gate's ``dz`` block is
    its own loop: stores into one array at several offsets keep LLVM from vectorising (3.7x slower), and a
    scratch row and its copy cost 1.3-1.6x these four loops, which re-read ``dc`` from ``dc_next`` in L1.
    """
    m, width = dz_t.shape
    n_a = width // 4
    for row in range(m):
        if masked and not keep_t[row]:
            for j in range(n_a):
                extra[row, j] = da_mat[row, j] + extra[row, j]
            for j in range(width):
                dz_t[row, j] = 0
            continue
        for j in range(n_a):
            g = dstates_t[row, j] + (da_mat[row, j] + extra[row, j])  # extra is 0 but after a padded step
            o, tanh_c = gates_t[row, j], tanh(cells_t[row, j])
            dz_t[row, j] = tanh_c * o * (one - o) * g
            dc_next[row, j] = dc_next[row, j] + g * (o * (one - tanh_c * tanh_c))  # now dc, the gradient reaching c
            extra[row, j] = 0
        for j in range(n_a):
            f = gates_t[row, n_a + j]
            dz_t[row, n_a + j] = c_prev[row, j] * f * (one - f) * dc_next[row, j]
        for j in range(n_a):
            i, cc = gates_t[row, 2 * n_a + j], gates_t[row, 3 * n_a + j]
            dz_t[row, 2 * n_a + j] = cc * i * (one - i) * dc_next[row, j]
        for j in range(n_a):
            i, cc = gates_t[row, 2 * n_a + j], gates_t[row, 3 * n_a + j]
            dz_t[row, 3 * n_a + j] = i * (one - cc * cc) * dc_next[row, j]
            dc_next[row, j] = dc_next[row, j] * gates_t[row, n_a + j]


@_compiled
def _gru_forward_gates(z: np.ndarray, recurrent: np.ndarray, a_prev: np.ndarray, reset_state: np.ndarray) -> None:
    """``u, r`` = sigmoids of ``z[:, :2 n_a] + recurrent``, in place in ``z``; ``reset_state = r * a_prev``."""
    m, width = z.shape
    n_a = width // 3
    for row in range(m):
        for j in range(2 * n_a):
            z[row, j] = sigmoid(z[row, j] + recurrent[row, j])
        for j in range(n_a):
            reset_state[row, j] = z[row, n_a + j] * a_prev[row, j]


@_compiled
def _gru_forward_state(
    z: np.ndarray, candidate: np.ndarray, a_prev: np.ndarray, a: np.ndarray, keep_t: np.ndarray, masked: bool
) -> None:
    """``cc = tanh(z[:, 2 n_a:] + candidate)``, in place in ``z`` (through a view, as in
    :func:`_lstm_forward_step`); ``a = a_prev + u (cc - a_prev)``, carried where padded."""
    m, width = z.shape
    n_a = width // 3
    for row in range(m):
        cc = z[row, 2 * n_a :]
        for j in range(n_a):
            cc[j] = tanh(cc[j] + candidate[row, j])
        for j in range(n_a):
            a[row, j] = (cc[j] - a_prev[row, j]) * z[row, j] + a_prev[row, j]
        if masked and not keep_t[row]:
            for j in range(n_a):
                a[row, j] = a_prev[row, j]


@_compiled
def _gru_backward_candidate(
    dstates_t: np.ndarray,
    da_mat: np.ndarray,
    partial: np.ndarray,
    g_buffer: np.ndarray,
    gates_t: np.ndarray,
    dz_t: np.ndarray,
    keep_t: np.ndarray,
    masked: bool,
    one: Any,
) -> None:
    """The gradient reaching ``a<t>``, ``g = dstates_t + da_mat + partial`` (a padded row ignores
    ``dstates_t``), into ``g_buffer``, and the candidate's ``dz`` (0 on padded rows)."""
    n_a = g_buffer.shape[1]
    for row in range(g_buffer.shape[0]):
        kept = not masked or keep_t[row]
        for j in range(n_a):
            g_buffer[row, j] = (dstates_t[row, j] if kept else 0) + (da_mat[row, j] + partial[row, j])
        for j in range(n_a):
            cc = gates_t[row, 2 * n_a + j]
            dz_t[row, 2 * n_a + j] = g_buffer[row, j] * (gates_t[row, j] * (one - cc * cc)) if kept else 0


@_compiled
def _gru_backward_gates(
    dreset_state: np.ndarray,
    g_buffer: np.ndarray,
    gates_t: np.ndarray,
    a_prev: np.ndarray,
    dz_t: np.ndarray,
    partial: np.ndarray,
    keep_t: np.ndarray,
    masked: bool,
    one: Any,
) -> None:
    """The gates' ``dz`` from ``g`` and ``dreset_state = dz_cc @ Wc_a`` (0 on padded rows), and ``partial``:
    the gradient reaching ``a<t-1>`` other than through the gates' product (``g`` itself on padded rows).
    One loop per ``dz`` block, as in :func:`_lstm_backward_step`."""
    m, width = dz_t.shape
    n_a = width // 3
    for row in range(m):
        if masked and not keep_t[row]:
            for j in range(2 * n_a):
                dz_t[row, j] = 0
            for j in range(n_a):
                partial[row, j] = g_buffer[row, j]
            continue
        for j in range(n_a):
            g, u = g_buffer[row, j], gates_t[row, j]
            dz_t[row, j] = g * ((gates_t[row, 2 * n_a + j] - a_prev[row, j]) * u * (one - u))
            partial[row, j] = g * (one - u) + dreset_state[row, j] * gates_t[row, n_a + j]
        for j in range(n_a):
            r = gates_t[row, n_a + j]
            dz_t[row, n_a + j] = dreset_state[row, j] * (a_prev[row, j] * r * (one - r))


def _rows_copy(rows: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """A writable C-contiguous copy of a small ``(m, n)`` operand: one compiled signature for every caller's
    layout and flags (views, transposes, read-only arrays)."""
    return np.array(rows, dtype=dtype, order="C")


def _keep_rows(keep: np.ndarray | None, t_x: int, m: int) -> tuple[np.ndarray, bool]:
    """The mask as ``(T_x, m)`` booleans (C-contiguous, writable) and whether there is one."""
    if keep is None:
        return np.ones((t_x, m), dtype=np.bool_), False
    return np.array(keep[:, :, 0], dtype=np.bool_, order="C"), True


def _backward_reads(scan: Backward) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool, Any]:
    """What a compiled backward loop reads, in one compiled signature for every caller's layout and flags:
    ``dstates``, ``gates``, ``recorded`` and ``initial`` C-contiguous in the gates' dtype (copies only where
    they are not), the mask as rows (see :func:`_keep_rows`) and ``1`` of the dtype."""
    dtype = scan.gates.dtype
    dstates, gates, recorded = (
        np.ascontiguousarray(array, dtype=dtype) for array in (scan.dstates, scan.gates, scan.recorded)
    )
    keep_rows, masked = _keep_rows(scan.keep, *gates.shape[:2])
    return dstates, gates, recorded, _rows_copy(scan.initial, dtype), keep_rows, masked, dtype.type(1)


def _lstm_forward(scan: Forward) -> None:
    gates, (product,), (states, cells) = scan.gates, scan.products, scan.records
    t_x, m, width = gates.shape
    recurrent = np.empty((m, width), dtype=gates.dtype)
    keep_rows, masked = _keep_rows(scan.keep, t_x, m)
    a_prev, c_prev = (_rows_copy(rows, gates.dtype) for rows in scan.initial)
    for t in range(t_x):
        product(a_prev, recurrent)
        _lstm_forward_step(gates[t], recurrent, a_prev, c_prev, states[t], cells[t], keep_rows[t], masked)
        a_prev, c_prev = states[t], cells[t]


def _lstm_backward(scan: Backward) -> tuple[np.ndarray, ...]:
    dstates, gates, cells, c0, keep_rows, masked, one = _backward_reads(scan)
    (product,), dz, (da_mat, dc_next) = scan.products, scan.dz, scan.carried
    extra = np.zeros_like(da_mat)
    for t in range(gates.shape[0] - 1, -1, -1):
        c_prev = cells[t - 1] if t > 0 else c0
        _lstm_backward_step(
            dstates[t], da_mat, extra, dc_next, gates[t], cells[t], c_prev, dz[t], keep_rows[t], masked, one
        )
        product(dz[t], da_mat)
    if masked:
        np.add(da_mat, extra, out=da_mat)
    return da_mat, dc_next


def _gru_forward(scan: Forward) -> None:
    gates, (gates_product, candidate_product), (states,) = scan.gates, scan.products, scan.records
    t_x, m, _ = gates.shape
    dtype = gates.dtype
    n_a = states.shape[2]
    recurrent = np.empty((m, 2 * n_a), dtype=dtype)
    reset_state = np.empty((m, n_a), dtype=dtype)
    candidate = np.empty_like(reset_state)
    keep_rows, masked = _keep_rows(scan.keep, t_x, m)
    (a_prev,) = (_rows_copy(rows, dtype) for rows in scan.initial)
    for t in range(t_x):
        gates_product(a_prev, recurrent)
        _gru_forward_gates(gates[t], recurrent, a_prev, reset_state)
        candidate_product(reset_state, candidate)
        _gru_forward_state(gates[t], candidate, a_prev, states[t], keep_rows[t], masked)
        a_prev = states[t]


def _gru_backward(scan: Backward) -> tuple[np.ndarray, ...]:
    dstates, gates, states, a0, keep_rows, masked, one = _backward_reads(scan)
    (gates_product, candidate_product), dz, (da_mat,) = scan.products, scan.dz, scan.carried
    n_a = da_mat.shape[1]
    partial = np.zeros_like(da_mat)
    g_buffer = np.empty_like(da_mat)
    dreset_state = np.empty_like(da_mat)
    for t in range(gates.shape[0] - 1, -1, -1):
        a_prev = states[t - 1] if t > 0 else a0
        dz_t = dz[t]
        _gru_backward_candidate(dstates[t], da_mat, partial, g_buffer, gates[t], dz_t, keep_rows[t], masked, one)
        candidate_product(dz_t[:, 2 * n_a :], dreset_state)
        _gru_backward_gates(dreset_state, g_buffer, gates[t], a_prev, dz_t, partial, keep_rows[t], masked, one)
        gates_product(dz_t[:, : 2 * n_a], da_mat)
    np.add(da_mat, partial, out=da_mat)
    return (da_mat,)


lstm_forward_scan, lstm_backward_scan, gru_forward_scan, gru_backward_scan = driver.scans(
    _lstm_forward, _lstm_backward, _gru_forward, _gru_backward
)
