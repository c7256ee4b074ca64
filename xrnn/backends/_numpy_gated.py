"""NumPy fast paths of the LSTM and GRU recurrences: the loops of ``_gated_driver``'s scans, in NumPy passes.

As for the RNN (``xrnn.backends.numpy``), every step writes into buffers allocated once per call,
with ``out=``. A step's gates are column blocks of one ``(m, g n_a)`` row block, so one call covers
several gates: the three sigmoids of the LSTM, the three gates its cell gradient reaches, the two
sigmoids and the two-gate recurrent product of the GRU. What does not depend on the incoming gradient is
computed for all steps before the backward loop, into the buffer that the loop then turns into ``dz`` in
place. The signatures, contracts and layouts are ``_gated_driver``'s; the generic twins are in
``xrnn.cells._gated_scans``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from xrnn._blocks import gate_blocks
from xrnn.backends import _gated_driver as driver
from xrnn.backends._gated_driver import Backward, Forward
from xrnn.backends._numpy_operands import dropped_rows, incoming_gradient, zero_dropped


def _sigmoid_in_place(z: np.ndarray) -> None:
    """``z <- 1 / (1 + exp(-z))`` in four passes without temporaries.

    Call it under ``np.errstate(over="ignore")``: below about -88 (float32) or -709 (float64)
    ``exp(-z)`` overflows to ``inf``, and ``1 / inf`` is the correct 0.
    """
    np.negative(z, out=z)
    np.exp(z, out=z)
    np.add(z, 1, out=z)
    np.reciprocal(z, out=z)


def _sigmoid_slope(s: np.ndarray, out: np.ndarray) -> None:
    """``out <- s (1 - s)``, the sigmoid's slope from its output."""
    np.subtract(1, s, out=out)
    np.multiply(out, s, out=out)


def _scaled_tanh_slope(t: np.ndarray, scale: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out <- scale (1 - t^2)``, the tanh's slope from its output ``t``, times ``scale``; returns ``out``."""
    np.multiply(t, t, out=out)
    np.subtract(1, out, out=out)
    np.multiply(out, scale, out=out)
    return out


def _times_previous(factor: np.ndarray, first: np.ndarray, steps: np.ndarray) -> None:
    """``factor[t] *= `` the state before step ``t``: ``first`` for ``t = 0``, then ``steps[t - 1]``."""
    np.multiply(factor[0], first, out=factor[0])
    np.multiply(factor[1:], steps[:-1], out=factor[1:])


def _step_drops(drop: np.ndarray | None, t_x: int) -> Iterator[np.ndarray | None]:
    """Each step's padded rows (``None`` without a mask), to zip with the per-step views of a scan."""
    return iter(drop) if drop is not None else itertools.repeat(None, t_x)


def _lstm_forward(scan: Forward) -> None:
    gates, (product,), (a_prev, c_prev), (states, cells) = scan.gates, scan.products, scan.initial, scan.records
    t_x, m, width = gates.shape
    n_a = width // 4
    recurrent = np.empty((m, width), dtype=gates.dtype)
    scratch = np.empty((m, n_a), dtype=gates.dtype)
    # Per-step views come from iterating whole arrays (cheaper than slicing in the loop at small sizes).
    drops = _step_drops(dropped_rows(scan.keep), t_x)
    steps = zip(gates, gates[..., : 3 * n_a], *gate_blocks(gates, 4), states, cells, drops, strict=True)
    with np.errstate(over="ignore"):
        for z, sigmoids, o, f, i, cc, a, c, drop in steps:
            product(a_prev, recurrent)
            np.add(z, recurrent, out=z)
            _sigmoid_in_place(sigmoids)
            np.tanh(cc, out=cc)
            np.multiply(f, c_prev, out=c)
            np.multiply(i, cc, out=scratch)
            np.add(c, scratch, out=c)
            np.tanh(c, out=scratch)
            np.multiply(o, scratch, out=a)
            if drop is not None:
                np.copyto(c, c_prev, where=drop)
                np.copyto(a, a_prev, where=drop)
            a_prev, c_prev = a, c


def _lstm_backward(scan: Backward) -> tuple[np.ndarray, ...]:
    gates, cells, c0_rows, (product,) = scan.gates, scan.recorded, scan.initial, scan.products
    t_x, m, width = gates.shape
    n_a = width // 4
    o, f, i, cc = gate_blocks(gates, 4)
    dz = scan.dz
    factor_o, factor_f, factor_i, factor_cc = gate_blocks(dz, 4)
    # The factors of dz: tanh(c) o (1 - o) for o, and c_prev f (1 - f), cc i (1 - i), i (1 - cc^2).
    for factor, gate in ((factor_o, o), (factor_f, f), (factor_i, i)):
        _sigmoid_slope(gate, factor)
    tanh_c = np.tanh(cells)
    np.multiply(factor_o, tanh_c, out=factor_o)
    through_output = _scaled_tanh_slope(tanh_c, o, out=tanh_c)  # d(c<t>)/d(a<t>) on the output path, in place
    _times_previous(factor_f, c0_rows, cells)
    np.multiply(factor_i, cc, out=factor_i)
    _scaled_tanh_slope(cc, i, factor_cc)
    drop = dropped_rows(scan.keep)
    cell_gates = dz.reshape(t_x, m, 4, n_a)[:, :, 1:, :]  # f, i, cc: the gates the cell gradient reaches
    g_a = np.empty((m, n_a), dtype=gates.dtype)
    dc = np.empty_like(g_a)
    da_next, dc_next = scan.carried
    steps = zip(scan.dstates, through_output, factor_o, cell_gates, dz, f, _step_drops(drop, t_x), strict=True)
    for dstates_t, through_t, factor_o_t, cell_gates_t, dz_t, f_t, drop_t in reversed(list(steps)):
        incoming_gradient(dstates_t, da_next, drop_t, out=g_a)
        np.multiply(g_a, through_t, out=dc)
        np.add(dc, dc_next, out=dc)
        np.multiply(factor_o_t, g_a, out=factor_o_t)
        np.multiply(cell_gates_t, dc[:, None, :], out=cell_gates_t)
        product(dz_t, da_next)
        np.multiply(dc, f_t, out=dc)
        if drop_t is not None:
            np.copyto(da_next, g_a, where=drop_t)
            np.copyto(dc, dc_next, where=drop_t)
        dc, dc_next = dc_next, dc  # dc_next takes the gradient reaching c<t-1>; the other buffer is free
    zero_dropped(dz, drop)
    return da_next, dc_next


def _gru_forward(scan: Forward) -> None:
    gates, (gates_product, candidate_product), (a_prev,), (states,) = (
        scan.gates,
        scan.products,
        scan.initial,
        scan.records,
    )
    t_x, m, width = gates.shape
    n_a = width // 3
    recurrent = np.empty((m, 2 * n_a), dtype=gates.dtype)
    reset_state = np.empty((m, n_a), dtype=gates.dtype)
    candidate_recurrent = np.empty_like(reset_state)
    drops = _step_drops(dropped_rows(scan.keep), t_x)
    steps = zip(gates[..., : 2 * n_a], *gate_blocks(gates, 3), states, drops, strict=True)
    with np.errstate(over="ignore"):
        for both, u, r, cc, a, drop in steps:
            gates_product(a_prev, recurrent)
            np.add(both, recurrent, out=both)
            _sigmoid_in_place(both)
            np.multiply(r, a_prev, out=reset_state)
            candidate_product(reset_state, candidate_recurrent)
            np.add(cc, candidate_recurrent, out=cc)
            np.tanh(cc, out=cc)
            np.subtract(cc, a_prev, out=a)  # a = a_prev + u (cc - a_prev)
            np.multiply(a, u, out=a)
            np.add(a, a_prev, out=a)
            if drop is not None:
                np.copyto(a, a_prev, where=drop)
            a_prev = a


def _gru_backward(scan: Backward) -> tuple[np.ndarray, ...]:
    gates, states, a0_rows, (gates_product, candidate_product) = scan.gates, scan.recorded, scan.initial, scan.products
    t_x, m, width = gates.shape
    n_a = width // 3
    u, r, cc = gate_blocks(gates, 3)
    dz = scan.dz
    factor_u, factor_r, factor_cc = gate_blocks(dz, 3)
    # The factors of dz: (cc - a_prev) u (1 - u), a_prev r (1 - r), u (1 - cc^2); 1 - u is kept for the
    # direct path a_prev -> a.
    direct = np.subtract(1, u)
    np.subtract(cc[0], a0_rows, out=factor_u[0])
    np.subtract(cc[1:], states[:-1], out=factor_u[1:])
    np.multiply(factor_u, u, out=factor_u)
    np.multiply(factor_u, direct, out=factor_u)
    _sigmoid_slope(r, factor_r)
    _times_previous(factor_r, a0_rows, states)
    _scaled_tanh_slope(cc, u, factor_cc)
    drop = dropped_rows(scan.keep)
    g = np.empty((m, n_a), dtype=gates.dtype)
    dreset_state = np.empty_like(g)
    (da_next,) = scan.carried
    dz_gates = dz[..., : 2 * n_a]  # u and r: the gates that act on [a_prev; x]
    steps = zip(scan.dstates, factor_u, factor_r, factor_cc, dz_gates, r, direct, _step_drops(drop, t_x), strict=True)
    for dstates_t, factor_u_t, factor_r_t, factor_cc_t, dz_gates_t, r_t, direct_t, drop_t in reversed(list(steps)):
        incoming_gradient(dstates_t, da_next, drop_t, out=g)
        np.multiply(factor_cc_t, g, out=factor_cc_t)
        candidate_product(factor_cc_t, dreset_state)
        np.multiply(factor_u_t, g, out=factor_u_t)
        np.multiply(factor_r_t, dreset_state, out=factor_r_t)
        gates_product(dz_gates_t, da_next)
        np.multiply(dreset_state, r_t, out=dreset_state)  # da_prev = dz_gates @ W + dreset r + g (1 - u)
        np.add(da_next, dreset_state, out=da_next)
        np.multiply(g, direct_t, out=dreset_state)
        np.add(da_next, dreset_state, out=da_next)
        if drop_t is not None:
            np.copyto(da_next, g, where=drop_t)
    zero_dropped(dz, drop)
    return (da_next,)


lstm_forward_scan, lstm_backward_scan, gru_forward_scan, gru_backward_scan = driver.scans(
    _lstm_forward, _lstm_backward, _gru_forward, _gru_backward
)
