"""The LSTM and GRU recurrences and their backward, written once against the Array API standard.

These are the generic twins of the gated fast paths in ``xrnn.backends`` (``_scan`` holds the RNN's);
the cells' declared :class:`~xrnn.cells._spec.ProjectedScan` name them, and
``xrnn.cells._projected.run_scan`` picks the fast path for the arrays' library when it has one.

Layout is time-major with one row per example, as in ``xrnn._scan``. The gates of a step sit side by
side in one ``(m, g n_a)`` block, in the orders the cells declare (LSTM ``o, f, i, cc``: the three sigmoid
gates first; GRU ``u, r, cc``; see their ``ProjectedScan`` blocks). ``w_a`` is
the state columns of the gate weights stacked in the same order, ``(g n_a, n_a)``, and
``projection`` the input projection plus bias of every step, ``(T_x, m, g n_a)``.
"""

from __future__ import annotations

from types import ModuleType

from xrnn._blocks import gate_blocks, previous_rows
from xrnn._masking import carry, zero_masked
from xrnn._typing import Array
from xrnn.activations import sigmoid_unchecked


def generic_lstm_forward_scan(
    xp: ModuleType, projection: Array, w_a: Array, a0_rows: Array, c0_rows: Array, keep: Array | None = None
) -> tuple[Array, Array, Array]:
    """Every step of the LSTM: ``(gates, states, cells)``, of shapes ``(T_x, m, 4 n_a)`` and ``(T_x, m, n_a)``.

    ``gates[t]`` holds ``o, f, i, cc`` of step ``t``. Where the time-major mask ``keep`` ``(T_x, m, 1)``
    is false, the states are carried (see ``xrnn._masking``).
    """
    n_a = a0_rows.shape[1]
    w_a_t = w_a.T
    a_prev, c_prev = a0_rows, c0_rows
    gates, states, cells = [], [], []
    for t in range(projection.shape[0]):
        z = projection[t, ...] + xp.matmul(a_prev, w_a_t)
        step = xp.concat([sigmoid_unchecked(xp, z[:, : 3 * n_a]), xp.tanh(z[:, 3 * n_a :])], axis=1)
        o, f, i, cc = gate_blocks(step, 4)
        c_next = f * c_prev + i * cc
        a_next = o * xp.tanh(c_next)
        if keep is not None:
            c_next = carry(xp, keep[t, ...], c_next, c_prev)
            a_next = carry(xp, keep[t, ...], a_next, a_prev)
        gates.append(step)
        states.append(a_next)
        cells.append(c_next)
        a_prev, c_prev = a_next, c_next
    return xp.stack(gates), xp.stack(states), xp.stack(cells)


def generic_lstm_backward_scan(
    xp: ModuleType,
    dstates: Array,
    gates: Array,
    cells: Array,
    c0_rows: Array,
    w_a: Array,
    keep: Array | None = None,
    after: tuple[Array, ...] | None = None,
) -> tuple[Array, Array, Array]:
    """Backward of :func:`generic_lstm_forward_scan`: ``(dz, da0_rows, dc0_rows)``.

    ``dstates[t]`` is the gradient reaching the hidden state of step ``t`` from outside the recurrence;
    ``dz`` ``(T_x, m, 4 n_a)`` is the gradient of the gates' preactivations, in the gates' order.
    Masked steps ignore their ``dstates``, get a zero ``dz`` and pass both gradients on unchanged.
    Everything that does not depend on the incoming gradient is computed for all steps before the loop.
    ``after`` holds the gradients reaching the last hidden and cell states from beyond the sequence.
    """
    o, f, i, cc = gate_blocks(gates, 4)
    tanh_c = xp.tanh(cells)
    through_output = o * (1 - tanh_c * tanh_c)  # d(c<t>)/d(a<t>) along the output path
    c_prev = previous_rows(xp, c0_rows, cells)
    # d(preactivation)/d(a<t>) for o, d(preactivation)/d(c<t>) for f, i, cc.
    factors = xp.concat([tanh_c * o * (1 - o), c_prev * f * (1 - f), cc * i * (1 - i), i * (1 - cc * cc)], axis=2)
    dstates = zero_masked(xp, keep, dstates)
    da_next, dc_next = (xp.zeros_like(dstates[0, ...]),) * 2 if after is None else after
    reversed_dz = []
    for t in range(dstates.shape[0] - 1, -1, -1):
        g_a = dstates[t, ...] + da_next
        dc = dc_next + g_a * through_output[t, ...]
        dz = factors[t, ...] * xp.concat([g_a, dc, dc, dc], axis=1)
        reversed_dz.append(dz)
        step_keep = None if keep is None else keep[t, ...]
        da_next = carry(xp, step_keep, xp.matmul(dz, w_a), g_a)
        dc_next = carry(xp, step_keep, dc * f[t, ...], dc_next)
    return zero_masked(xp, keep, xp.stack(reversed_dz[::-1])), da_next, dc_next


def generic_gru_forward_scan(
    xp: ModuleType, projection: Array, w_a: Array, a0_rows: Array, keep: Array | None = None
) -> tuple[Array, Array]:
    """Every step of the GRU: ``(gates, states)``, of shapes ``(T_x, m, 3 n_a)`` and ``(T_x, m, n_a)``.

    ``gates[t]`` holds ``u, r, cc`` of step ``t``. Each step does two recurrent products, because the
    candidate reads the state after the reset gate of the same step.
    """
    n_a = a0_rows.shape[1]
    gates_t, candidate_t = w_a[: 2 * n_a, ...].T, w_a[2 * n_a :, ...].T
    a_prev = a0_rows
    gates, states = [], []
    for t in range(projection.shape[0]):
        s = sigmoid_unchecked(xp, projection[t, :, : 2 * n_a] + xp.matmul(a_prev, gates_t))
        u, r = s[:, :n_a], s[:, n_a:]
        cc = xp.tanh(projection[t, :, 2 * n_a :] + xp.matmul(r * a_prev, candidate_t))
        a_next = a_prev + u * (cc - a_prev)
        if keep is not None:
            a_next = carry(xp, keep[t, ...], a_next, a_prev)
        gates.append(xp.concat([s, cc], axis=1))
        states.append(a_next)
        a_prev = a_next
    return xp.stack(gates), xp.stack(states)


def generic_gru_backward_scan(
    xp: ModuleType,
    dstates: Array,
    gates: Array,
    states: Array,
    a0_rows: Array,
    w_a: Array,
    keep: Array | None = None,
    after: tuple[Array, ...] | None = None,
) -> tuple[Array, Array]:
    """Backward of :func:`generic_gru_forward_scan`: ``(dz, da0_rows)``, ``dz`` in the gates' order.

    A step is two recurrent products, through the candidate and then through both gates. ``after``: the
    gradient reaching the last state from beyond the sequence.
    """
    n_a = states.shape[2]
    u, r, cc = gate_blocks(gates, 3)
    a_prev = previous_rows(xp, a0_rows, states)
    # d(preactivation)/d(a<t>) of the update gate and the candidate, d(reset preactivation)/d(r * a_prev).
    to_update = (cc - a_prev) * u * (1 - u)
    to_candidate = u * (1 - cc * cc)
    to_reset = a_prev * r * (1 - r)
    direct = 1 - u
    dstates = zero_masked(xp, keep, dstates)
    gates_a, candidate_a = w_a[: 2 * n_a, ...], w_a[2 * n_a :, ...]
    da_next = xp.zeros_like(dstates[0, ...]) if after is None else after[0]
    reversed_dz = []
    for t in range(dstates.shape[0] - 1, -1, -1):
        g = dstates[t, ...] + da_next
        dzc = g * to_candidate[t, ...]
        dreset_state = xp.matmul(dzc, candidate_a)
        dz_gates = xp.concat([g * to_update[t, ...], dreset_state * to_reset[t, ...]], axis=1)
        da_prev = g * direct[t, ...] + dreset_state * r[t, ...] + xp.matmul(dz_gates, gates_a)
        da_next = carry(xp, None if keep is None else keep[t, ...], da_prev, g)
        reversed_dz.append(xp.concat([dz_gates, dzc], axis=1))
    return zero_masked(xp, keep, xp.stack(reversed_dz[::-1])), da_next
