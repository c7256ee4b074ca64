"""Compiled (Numba) fast paths of the LSTM and GRU recurrences: each step's gate arithmetic in one pass.

The NumPy fast paths (``_numpy_gated``) spend about half of an LSTM forward+backward in a dozen
elementwise NumPy passes per step; here each step does its BLAS product(s) with ``np.matmul(out=)``,
as there, and everything else in one compiled loop over the ``(m, g n_a)`` block: the LSTM one kernel
per step and direction, the GRU two (its candidate's product sits between its gates). Signatures,
results and the handling of masks and ``after`` are those of ``_numpy_gated``; the generic twins are in
``xrnn.cells._gated_scans``, and the tests hold all three equal.

Importing this module imports Numba; ``xrnn.backends.numpy`` does so only when a gated scan is first
looked up (see ``gated_scans``). The kernels compile on their first call per dtype and cache the machine
code beside this file (``cache=True``), so later processes load it. Numba keys that cache on this file
only: after editing ``_numba_math.py`` alone, delete ``__pycache__/_numba_gated.*``.

Arithmetic stays in the arrays' dtype: a float literal would promote float32 to float64 in Numba, so
the kernels take ``one`` (``1`` of the dtype). ``exp``, ``tanh`` and the sigmoid are ``_numba_math``'s,
which LLVM vectorises (the C library's are scalar calls); saturated gates are exact and silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba
import numpy as np

from xrnn.backends._numba_math import sigmoid, tanh
from xrnn.backends._numpy_operands import start_gradients, step_weight

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
    scratch: np.ndarray,
    one: Any,
) -> None:
    """``z += recurrent``, then the gates ``o, f, i, cc`` in ``z``, the new cell ``c`` and state ``a``.

    Each row's gates go to ``scratch`` (g n_a), then back into ``z``: stores into ``z`` beside its loads
    at other offsets keep LLVM from vectorising the loop (6x slower, measured). ``tanh(c)`` takes a
    second loop: in the first, it waits on the gates' ``exp`` and division, a chain too long for the
    out-of-order window to overlap iterations (1.2x slower in one loop, measured).
    """
    m, width = z.shape
    n_a = width // 4
    for row in range(m):
        zr, rr, ap, cp, ar, cr = z[row], recurrent[row], a_prev[row], c_prev[row], a[row], c[row]
        for j in range(n_a):
            o = sigmoid(zr[j] + rr[j])
            f = sigmoid(zr[n_a + j] + rr[n_a + j])
            i = sigmoid(zr[2 * n_a + j] + rr[2 * n_a + j])
            cc = tanh(zr[3 * n_a + j] + rr[3 * n_a + j])
            scratch[j], scratch[n_a + j], scratch[2 * n_a + j], scratch[3 * n_a + j] = o, f, i, cc
            cr[j] = f * cp[j] + i * cc
        for j in range(n_a):
            ar[j] = scratch[j] * tanh(cr[j])
        for j in range(width):
            zr[j] = scratch[j]
        if masked and not keep_t[row]:
            for j in range(n_a):
                cr[j] = cp[j]
                ar[j] = ap[j]


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
    scratch: np.ndarray,
    one: Any,
) -> None:
    """One backward step before its product: ``dz_t``, and in place ``dc_next`` (-> the gradient reaching
    ``c<t-1>``) and ``extra`` (the gradient a padded row passes on, 0 on the others). Each row's ``dz``
    goes through ``scratch`` (g n_a): stores into one array at several offsets keep LLVM from
    vectorising the loop (3.7x slower, measured).

    The gradient reaching ``a<t>`` is ``dstates_t + da_mat + extra``, ``da_mat`` being the previous
    (later) step's product ``dz @ w_a``; a padded row ignores ``dstates_t``.
    """
    m, width = dz_t.shape
    n_a = width // 4
    for row in range(m):
        kept = not masked or keep_t[row]
        ds, dm, ex, dcn = dstates_t[row], da_mat[row], extra[row], dc_next[row]
        gr, cr, cp, dzr = gates_t[row], cells_t[row], c_prev[row], dz_t[row]
        if kept:
            for j in range(n_a):
                g = ds[j] + (dm[j] + ex[j])  # extra is 0 but after a padded step
                o, f, i, cc = gr[j], gr[n_a + j], gr[2 * n_a + j], gr[3 * n_a + j]
                tanh_c = tanh(cr[j])
                dc = dcn[j] + g * (o * (one - tanh_c * tanh_c))
                scratch[j] = tanh_c * o * (one - o) * g
                scratch[n_a + j] = cp[j] * f * (one - f) * dc
                scratch[2 * n_a + j] = cc * i * (one - i) * dc
                scratch[3 * n_a + j] = i * (one - cc * cc) * dc
                dcn[j] = dc * f
                ex[j] = 0
            for j in range(width):
                dzr[j] = scratch[j]
        else:
            for j in range(n_a):
                ex[j] = dm[j] + ex[j]
                dzr[j] = dzr[n_a + j] = dzr[2 * n_a + j] = dzr[3 * n_a + j] = 0


@_compiled
def _gru_forward_gates(
    z: np.ndarray, recurrent: np.ndarray, a_prev: np.ndarray, reset_state: np.ndarray, scratch: np.ndarray
) -> None:
    """``u, r`` = sigmoids of ``z[:, :2 n_a] + recurrent``, in ``z`` (through ``scratch``, as in
    :func:`_lstm_forward_step`); ``reset_state = r * a_prev``."""
    m, width = z.shape
    n_a = width // 3
    for row in range(m):
        zr, rr, ap, rs = z[row], recurrent[row], a_prev[row], reset_state[row]
        for j in range(n_a):
            u = sigmoid(zr[j] + rr[j])
            r = sigmoid(zr[n_a + j] + rr[n_a + j])
            scratch[j], scratch[n_a + j] = u, r
            rs[j] = r * ap[j]
        for j in range(2 * n_a):
            zr[j] = scratch[j]


@_compiled
def _gru_forward_state(
    z: np.ndarray,
    candidate: np.ndarray,
    a_prev: np.ndarray,
    a: np.ndarray,
    keep_t: np.ndarray,
    masked: bool,
    scratch: np.ndarray,
) -> None:
    """``cc = tanh(z[:, 2 n_a:] + candidate)``, in ``z`` (through ``scratch``); ``a = a_prev + u (cc - a_prev)``,
    carried where padded."""
    m, width = z.shape
    n_a = width // 3
    for row in range(m):
        zr, cr, ap, ar = z[row], candidate[row], a_prev[row], a[row]
        for j in range(n_a):
            cc = tanh(zr[2 * n_a + j] + cr[j])
            scratch[j] = cc
            ar[j] = (cc - ap[j]) * zr[j] + ap[j]
        for j in range(n_a):
            zr[2 * n_a + j] = scratch[j]
        if masked and not keep_t[row]:
            for j in range(n_a):
                ar[j] = ap[j]


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
    m, width = dz_t.shape
    n_a = width // 3
    for row in range(m):
        kept = not masked or keep_t[row]
        ds, dm, pr, gb, gr, dzr = dstates_t[row], da_mat[row], partial[row], g_buffer[row], gates_t[row], dz_t[row]
        if kept:
            for j in range(n_a):
                g = ds[j] + (dm[j] + pr[j])
                gb[j] = g
                cc = gr[2 * n_a + j]
                dzr[2 * n_a + j] = g * (gr[j] * (one - cc * cc))
        else:
            for j in range(n_a):
                gb[j] = dm[j] + pr[j]
                dzr[2 * n_a + j] = 0


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
    scratch: np.ndarray,
    one: Any,
) -> None:
    """The gates' ``dz`` (through ``scratch``) from ``g`` and ``dreset_state = dz_cc @ Wc_a`` (0 on padded
    rows), and ``partial``:
    the gradient reaching ``a<t-1>`` other than through the gates' product (``g`` itself on padded rows)."""
    m, width = dz_t.shape
    n_a = width // 3
    for row in range(m):
        kept = not masked or keep_t[row]
        dr, gb, gr, ap, dzr, pr = dreset_state[row], g_buffer[row], gates_t[row], a_prev[row], dz_t[row], partial[row]
        if kept:
            for j in range(n_a):
                g, u, r = gb[j], gr[j], gr[n_a + j]
                scratch[j] = g * ((gr[2 * n_a + j] - ap[j]) * u * (one - u))
                scratch[n_a + j] = dr[j] * (ap[j] * r * (one - r))
                pr[j] = g * (one - u) + dr[j] * r
            for j in range(2 * n_a):
                dzr[j] = scratch[j]
        else:
            for j in range(n_a):
                dzr[j] = dzr[n_a + j] = 0
                pr[j] = gb[j]


def _rows_copy(rows: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """A writable C-contiguous copy of a small ``(m, n)`` operand: one compiled signature for every caller's
    layout and flags (views, transposes, read-only arrays)."""
    return np.array(rows, dtype=dtype, order="C")


def _keep_rows(keep: np.ndarray | None, t_x: int, m: int) -> tuple[np.ndarray, bool]:
    """The mask as ``(T_x, m)`` booleans (C-contiguous, writable) and whether there is one."""
    if keep is None:
        return np.ones((t_x, m), dtype=np.bool_), False
    return np.array(keep[:, :, 0], dtype=np.bool_, order="C"), True


def lstm_forward_scan(
    projection: np.ndarray, w_a: np.ndarray, a0_rows: np.ndarray, c0_rows: np.ndarray, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every LSTM step: ``(gates, states, cells)``, computed in place; as ``_numpy_gated.lstm_forward_scan``.

    ``projection`` (T_x, m, 4 n_a) must be a C-contiguous buffer xrnn owns: it becomes the returned gates.
    The others are only read. Where ``keep`` (T_x, m, 1) is false, both states are carried over.
    """
    gates = projection
    t_x, m, width = gates.shape
    dtype = gates.dtype
    states = np.empty((t_x, m, width // 4), dtype=dtype)
    cells = np.empty_like(states)
    w_a_t = step_weight(w_a, m, t_x)
    recurrent = np.empty((m, width), dtype=dtype)
    scratch = np.empty(width, dtype=dtype)
    keep_rows, masked = _keep_rows(keep, t_x, m)
    one = dtype.type(1)
    a_prev, c_prev = _rows_copy(a0_rows, dtype), _rows_copy(c0_rows, dtype)
    for t in range(t_x):
        np.matmul(a_prev, w_a_t, out=recurrent)
        _lstm_forward_step(gates[t], recurrent, a_prev, c_prev, states[t], cells[t], keep_rows[t], masked, scratch, one)
        a_prev, c_prev = states[t], cells[t]
    return gates, states, cells


def lstm_backward_scan(
    dstates: np.ndarray,
    gates: np.ndarray,
    cells: np.ndarray,
    c0_rows: np.ndarray,
    w_a: np.ndarray,
    keep: np.ndarray | None = None,
    after: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`lstm_forward_scan`: ``(dz, da0_rows, dc0_rows)``; reads its inputs only.

    A masked step ignores its ``dstates``, gets a zero ``dz`` and passes both gradients on unchanged.
    ``after``: the gradients reaching the last hidden and cell states from beyond the sequence.
    """
    t_x, m, width = gates.shape
    dtype = gates.dtype
    dstates, gates, cells = (np.ascontiguousarray(array, dtype=dtype) for array in (dstates, gates, cells))
    dz = np.empty_like(gates)
    w_a = np.ascontiguousarray(w_a)  # untransposed GEMM
    da_mat, dc_next = start_gradients(after, (m, width // 4), dtype, 2)
    extra = np.zeros_like(da_mat)
    scratch = np.empty(width, dtype=dtype)
    c0 = _rows_copy(c0_rows, dtype)
    keep_rows, masked = _keep_rows(keep, t_x, m)
    one = dtype.type(1)
    for t in range(t_x - 1, -1, -1):
        c_prev = cells[t - 1] if t > 0 else c0
        _lstm_backward_step(
            dstates[t], da_mat, extra, dc_next, gates[t], cells[t], c_prev, dz[t], keep_rows[t], masked, scratch, one
        )
        np.matmul(dz[t], w_a, out=da_mat)
    if masked:
        np.add(da_mat, extra, out=da_mat)
    return dz, da_mat, dc_next


def gru_forward_scan(
    projection: np.ndarray, w_a: np.ndarray, a0_rows: np.ndarray, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every GRU step: ``(gates, states)``, computed in place; as ``_numpy_gated.gru_forward_scan``.

    ``projection`` (T_x, m, 3 n_a) must be a C-contiguous buffer xrnn owns: it becomes the returned gates.
    The others are only read. Where ``keep`` (T_x, m, 1) is false, the state is carried over.
    """
    gates = projection
    t_x, m, width = gates.shape
    n_a = width // 3
    dtype = gates.dtype
    states = np.empty((t_x, m, n_a), dtype=dtype)
    gates_t = step_weight(w_a[: 2 * n_a], m, t_x)
    candidate_t = step_weight(w_a[2 * n_a :], m, t_x)
    recurrent = np.empty((m, 2 * n_a), dtype=dtype)
    reset_state = np.empty((m, n_a), dtype=dtype)
    candidate = np.empty_like(reset_state)
    scratch = np.empty(width, dtype=dtype)
    keep_rows, masked = _keep_rows(keep, t_x, m)
    a_prev = _rows_copy(a0_rows, dtype)
    for t in range(t_x):
        np.matmul(a_prev, gates_t, out=recurrent)
        _gru_forward_gates(gates[t], recurrent, a_prev, reset_state, scratch)
        np.matmul(reset_state, candidate_t, out=candidate)
        _gru_forward_state(gates[t], candidate, a_prev, states[t], keep_rows[t], masked, scratch)
        a_prev = states[t]
    return gates, states


def gru_backward_scan(
    dstates: np.ndarray,
    gates: np.ndarray,
    states: np.ndarray,
    a0_rows: np.ndarray,
    w_a: np.ndarray,
    keep: np.ndarray | None = None,
    after: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Backward of :func:`gru_forward_scan`: ``(dz, da0_rows)``; reads its inputs only.

    A masked step ignores its ``dstates``, gets a zero ``dz`` and passes the gradient on unchanged.
    ``after``: the gradient reaching the last state from beyond the sequence.
    """
    t_x, m, width = gates.shape
    n_a = width // 3
    dtype = gates.dtype
    dstates, gates, states = (np.ascontiguousarray(array, dtype=dtype) for array in (dstates, gates, states))
    dz = np.empty_like(gates)
    gates_a = np.ascontiguousarray(w_a[: 2 * n_a])  # untransposed GEMMs
    candidate_a = np.ascontiguousarray(w_a[2 * n_a :])
    (da_mat,) = start_gradients(after, (m, n_a), dtype, 1)
    partial = np.zeros_like(da_mat)
    g_buffer = np.empty_like(da_mat)
    dreset_state = np.empty_like(da_mat)
    scratch = np.empty(2 * n_a, dtype=dtype)
    a0 = _rows_copy(a0_rows, dtype)
    keep_rows, masked = _keep_rows(keep, t_x, m)
    one = dtype.type(1)
    for t in range(t_x - 1, -1, -1):
        a_prev = states[t - 1] if t > 0 else a0
        dz_t = dz[t]
        _gru_backward_candidate(dstates[t], da_mat, partial, g_buffer, gates[t], dz_t, keep_rows[t], masked, one)
        np.matmul(dz_t[:, 2 * n_a :], candidate_a, out=dreset_state)
        _gru_backward_gates(dreset_state, g_buffer, gates[t], a_prev, dz_t, partial, keep_rows[t], masked, scratch, one)
        np.matmul(dz_t[:, : 2 * n_a], gates_a, out=da_mat)
    np.add(da_mat, partial, out=da_mat)
    return dz, da_mat
