"""CUDA fast paths of the LSTM and GRU recurrences: per step one cuBLAS product and one fused kernel.

Each step of the LSTM is the recurrent product ``a<t-1> @ W_a^T`` (cuBLAS) and one elementwise kernel
for all of its gate arithmetic, forward and backward; the GRU's candidate reads the reset gate of the
same step, so its steps are two products and two kernels. Signatures, gate orders (LSTM ``o, f, i, cc``;
GRU ``u, r, cc``), masks and ``after`` are those of the CPU scans (``_gated_driver``), and each kernel does
the arithmetic of the compiled CPU step it stands for (``_numba_gated``); the generic twins are in
``xrnn.cells._gated_scans``, and the GPU tests hold all of them equal. Every scan is replayed as a CUDA
graph where graphs are on (see ``_cupy_graphs``).

A kernel runs one thread per element ``(row, j)`` of an ``(m, n_a)`` step; it reads and writes the
step's gates, an ``(m, g n_a)`` row block, as a raw C-contiguous array at ``row g n_a + k n_a + j`` for
gate ``k``. The masked variant of a kernel takes the step's ``keep`` (m, 1), broadcast over the row: a
padded row carries its states over and, backward, gets a zero ``dz`` and passes its gradients on.
Importing this module imports CuPy.
"""

from __future__ import annotations

from typing import Any

import cupy as cp

from xrnn.backends._cupy_graphs import MATMUL, Products, run_steps, scan_key, start_gradient

_PREAMBLE = """
template <typename T> __device__ __forceinline__ T xrnn_sigmoid(const T x) { return 1 / (1 + exp(-x)); }
"""
# Where (row, j) of the (m, n_a) step has its first gate in the step's (m, g n_a) block: row g n_a + j.
_FIRST_GATE = "const ptrdiff_t row = static_cast<ptrdiff_t>(i) / n_a, first = i + ({g} - 1) * n_a * row;\n"


class StepKernel:
    """One step's fused elementwise kernel over ``gates`` gates, in two variants: without a mask, and with the
    step's mask ``keep`` (m, 1) as its last input. The body reads ``kept`` (``true`` without a mask) and
    ``row`` and ``first``, where its element's first gate is."""

    def __init__(
        self, name: str, in_params: str, out_params: str, body: str, *, gates: int, masked: bool = True
    ) -> None:
        body = _FIRST_GATE.format(g=gates) + body
        self.plain = cp.ElementwiseKernel(
            in_params, out_params, "const bool kept = true;\n" + body, f"xrnn_{name}", preamble=_PREAMBLE
        )
        self.masked = (
            cp.ElementwiseKernel(
                in_params + ", bool keep",
                out_params,
                "const bool kept = keep;\n" + body,
                f"xrnn_{name}_masked",
                preamble=_PREAMBLE,
            )
            if masked
            else None
        )

    def __call__(self, inputs: tuple[Any, ...], keep_t: cp.ndarray | None, outputs: tuple[Any, ...]) -> None:
        if keep_t is None:
            self.plain(*inputs, *outputs)
        elif self.masked is None:
            raise ValueError(f"{self.plain.name} has no masked variant")
        else:
            self.masked(*inputs, keep_t, *outputs)


_LSTM_FORWARD = StepKernel(
    "lstm_forward",
    "raw T recurrent, T a_prev, T c_prev, int32 n_a",
    "raw T z, T a, T c",
    """
    const ptrdiff_t o_at = first, f_at = first + n_a, i_at = first + 2 * n_a, cc_at = first + 3 * n_a;
    const T o = xrnn_sigmoid(z[o_at] + recurrent[o_at]);
    const T f = xrnn_sigmoid(z[f_at] + recurrent[f_at]);
    const T ig = xrnn_sigmoid(z[i_at] + recurrent[i_at]);
    const T cc = tanh(z[cc_at] + recurrent[cc_at]);
    z[o_at] = o;
    z[f_at] = f;
    z[i_at] = ig;
    z[cc_at] = cc;
    if (kept) {
        const T c_new = f * c_prev + ig * cc;
        c = c_new;
        a = o * tanh(c_new);
    } else {
        c = c_prev;
        a = a_prev;
    }
    """,
    gates=4,
)
# The gradient reaching a<t> is dstates + da_mat + extra: da_mat the later step's product dz @ W_a, extra
# what padded rows passed on (0 elsewhere); a padded row ignores dstates and adds da_mat to extra.
_LSTM_BACKWARD = StepKernel(
    "lstm_backward",
    "T dstates, T da_mat, T cell, T c_prev, raw T gates, int32 n_a",
    "raw T dz, T extra, T dc_next",
    """
    const ptrdiff_t o_at = first, f_at = first + n_a, i_at = first + 2 * n_a, cc_at = first + 3 * n_a;
    if (kept) {
        const T g = dstates + (da_mat + extra);
        const T o = gates[o_at], f = gates[f_at], ig = gates[i_at], cc = gates[cc_at];
        const T tanh_c = tanh(cell);
        const T dc = dc_next + g * (o * (1 - tanh_c * tanh_c));
        dz[o_at] = tanh_c * o * (1 - o) * g;
        dz[f_at] = c_prev * f * (1 - f) * dc;
        dz[i_at] = cc * ig * (1 - ig) * dc;
        dz[cc_at] = ig * (1 - cc * cc) * dc;
        dc_next = dc * f;
        extra = 0;
    } else {
        extra = da_mat + extra;
        dz[o_at] = 0;
        dz[f_at] = 0;
        dz[i_at] = 0;
        dz[cc_at] = 0;
    }
    """,
    gates=4,
)
_GRU_FORWARD_GATES = StepKernel(
    "gru_forward_gates",
    "raw T recurrent, T a_prev, int32 n_a",
    "raw T z, T reset_state",
    """
    const ptrdiff_t u_at = first, r_at = first + n_a;
    const ptrdiff_t ru_at = i + n_a * row, rr_at = ru_at + n_a;  // in recurrent, (m, 2 n_a)
    const T u = xrnn_sigmoid(z[u_at] + recurrent[ru_at]);
    const T r = xrnn_sigmoid(z[r_at] + recurrent[rr_at]);
    z[u_at] = u;
    z[r_at] = r;
    reset_state = r * a_prev;
    """,
    gates=3,
    masked=False,
)
_GRU_FORWARD_STATE = StepKernel(
    "gru_forward_state",
    "T candidate, T a_prev, int32 n_a",
    "raw T z, T a",
    """
    const ptrdiff_t cc_at = first + 2 * n_a;
    const T cc = tanh(z[cc_at] + candidate);
    z[cc_at] = cc;
    a = kept ? a_prev + z[first] * (cc - a_prev) : a_prev;
    """,
    gates=3,
)
# The gradient reaching a<t> is g = dstates + da_mat + partial: da_mat the later step's product through
# the gates, partial the rest (through 1 - u and the reset gate; g itself where that step was padded).
_GRU_BACKWARD_CANDIDATE = StepKernel(
    "gru_backward_candidate",
    "T dstates, T da_mat, T partial, raw T gates, int32 n_a",
    "raw T dz, T g",
    """
    const ptrdiff_t cc_at = first + 2 * n_a;
    if (kept) {
        const T total = dstates + (da_mat + partial);
        const T cc = gates[cc_at];
        g = total;
        dz[cc_at] = total * (gates[first] * (1 - cc * cc));
    } else {
        g = da_mat + partial;
        dz[cc_at] = 0;
    }
    """,
    gates=3,
)
_GRU_BACKWARD_GATES = StepKernel(
    "gru_backward_gates",
    "T dreset_state, T g, T a_prev, raw T gates, int32 n_a",
    "raw T dz, T partial",
    """
    const ptrdiff_t u_at = first, r_at = first + n_a, cc_at = first + 2 * n_a;
    if (kept) {
        const T u = gates[u_at], r = gates[r_at], cc = gates[cc_at];
        dz[u_at] = g * ((cc - a_prev) * u * (1 - u));
        dz[r_at] = dreset_state * (a_prev * r * (1 - r));
        partial = g * (1 - u) + dreset_state * r;
    } else {
        dz[u_at] = 0;
        dz[r_at] = 0;
        partial = g;
    }
    """,
    gates=3,
)


def step_keep(keep: cp.ndarray | None, t: int) -> cp.ndarray | None:
    """Step ``t``'s mask ``(m, 1)``, or ``None``."""
    return None if keep is None else keep[t]


def as_keep(keep: Any) -> cp.ndarray | None:
    """The time-major mask ``(T_x, m, 1)`` as booleans (no copy when it is), or ``None``."""
    return None if keep is None else keep.astype(cp.bool_, copy=False)


def _owned(array: cp.ndarray) -> cp.ndarray:
    """``array`` itself where C-contiguous (the kernels index the gates as raw C-contiguous blocks), else a copy."""
    return array if array.flags.c_contiguous else cp.ascontiguousarray(array)


def _lstm_forward_steps(
    gates: cp.ndarray,
    w_a: cp.ndarray,
    a0_rows: cp.ndarray,
    c0_rows: cp.ndarray,
    keep: cp.ndarray | None,
    states: cp.ndarray,
    cells: cp.ndarray,
    recurrent: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    n_a = states.shape[2]
    a_prev, c_prev = a0_rows, c0_rows
    for t in range(gates.shape[0]):
        products.times_transpose(a_prev, w_a, recurrent)
        _LSTM_FORWARD((recurrent, a_prev, c_prev, n_a), step_keep(keep, t), (gates[t], states[t], cells[t]))
        a_prev, c_prev = states[t], cells[t]


def lstm_forward_scan(
    projection: cp.ndarray, w_a: cp.ndarray, a0_rows: cp.ndarray, c0_rows: cp.ndarray, keep: Any = None
) -> tuple[cp.ndarray, cp.ndarray, cp.ndarray]:
    """Every LSTM step: ``(gates, states, cells)``, computed in place on the GPU; as
    ``_gated_driver.lstm_forward_scan``.

    ``projection`` (T_x, m, 4 n_a), the input projection plus bias in the order ``o, f, i, cc``, is a
    buffer xrnn owns: it becomes the returned gates (where C-contiguous). ``w_a`` (4 n_a, n_a), ``a0_rows``
    and ``c0_rows`` (m, n_a) are only read. Where ``keep`` (T_x, m, 1) is false, both states are carried over.
    """
    gates = _owned(projection)
    t_x, m, width = gates.shape
    n_a = width // 4
    key = scan_key("lstm-forward", gates, n_a, keep)
    arrays = (gates, w_a, a0_rows, c0_rows, as_keep(keep))
    work = ((t_x, m, n_a), (t_x, m, n_a), (m, width))
    gates, states, cells = run_steps(key, _lstm_forward_steps, arrays, work, (0, 5, 6))
    return gates, states, cells


def _lstm_backward_steps(
    dstates: cp.ndarray,
    gates: cp.ndarray,
    cells: cp.ndarray,
    c0_rows: cp.ndarray,
    w_a: cp.ndarray,
    keep: cp.ndarray | None,
    after_a: cp.ndarray | None,
    after_c: cp.ndarray | None,
    dz: cp.ndarray,
    da_mat: cp.ndarray,
    dc_next: cp.ndarray,
    extra: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    n_a = cells.shape[2]
    start_gradient(da_mat, after_a)
    start_gradient(dc_next, after_c)
    extra.fill(0)
    for t in range(gates.shape[0] - 1, -1, -1):
        c_prev = cells[t - 1] if t > 0 else c0_rows
        inputs = (dstates[t], da_mat, cells[t], c_prev, gates[t], n_a)
        _LSTM_BACKWARD(inputs, step_keep(keep, t), (dz[t], extra, dc_next))
        products.times(dz[t], w_a, da_mat)
    if keep is not None:
        cp.add(da_mat, extra, out=da_mat)


def lstm_backward_scan(
    dstates: cp.ndarray,
    gates: cp.ndarray,
    cells: cp.ndarray,
    c0_rows: cp.ndarray,
    w_a: cp.ndarray,
    keep: Any = None,
    after: tuple[cp.ndarray, ...] | None = None,
) -> tuple[cp.ndarray, cp.ndarray, cp.ndarray]:
    """Backward of :func:`lstm_forward_scan`: ``(dz, da0_rows, dc0_rows)``; reads its inputs only.

    A masked step ignores its ``dstates``, gets a zero ``dz`` and passes both gradients on unchanged.
    ``after``: the gradients ``(m, n_a)`` reaching the last hidden and cell states from beyond the sequence.
    """
    gates = _owned(gates)
    t_x, m, width = gates.shape
    n_a = width // 4
    after_a, after_c = (None, None) if after is None else after
    key = scan_key("lstm-backward", gates, n_a, keep, after)
    arrays = (dstates, gates, cells, c0_rows, w_a, as_keep(keep), after_a, after_c)
    work = ((t_x, m, width), (m, n_a), (m, n_a), (m, n_a))
    dz, da0, dc0 = run_steps(key, _lstm_backward_steps, arrays, work, (8, 9, 10))
    return dz, da0, dc0


def _gru_forward_steps(
    gates: cp.ndarray,
    w_a: cp.ndarray,
    a0_rows: cp.ndarray,
    keep: cp.ndarray | None,
    states: cp.ndarray,
    recurrent: cp.ndarray,
    reset_state: cp.ndarray,
    candidate: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    n_a = states.shape[2]
    w_gates, w_candidate = w_a[: 2 * n_a], w_a[2 * n_a :]
    a_prev = a0_rows
    for t in range(gates.shape[0]):
        products.times_transpose(a_prev, w_gates, recurrent)
        _GRU_FORWARD_GATES((recurrent, a_prev, n_a), None, (gates[t], reset_state))
        products.times_transpose(reset_state, w_candidate, candidate)
        _GRU_FORWARD_STATE((candidate, a_prev, n_a), step_keep(keep, t), (gates[t], states[t]))
        a_prev = states[t]


def gru_forward_scan(
    projection: cp.ndarray, w_a: cp.ndarray, a0_rows: cp.ndarray, keep: Any = None
) -> tuple[cp.ndarray, cp.ndarray]:
    """Every GRU step: ``(gates, states)``, computed in place on the GPU; as ``_gated_driver.gru_forward_scan``.

    ``projection`` (T_x, m, 3 n_a), the input projection plus bias in the order ``u, r, cc``, is a buffer
    xrnn owns: it becomes the returned gates (where C-contiguous). ``w_a`` (3 n_a, n_a) and ``a0_rows``
    (m, n_a) are only read. Where ``keep`` (T_x, m, 1) is false, the state is carried over.
    """
    gates = _owned(projection)
    t_x, m, width = gates.shape
    n_a = width // 3
    key = scan_key("gru-forward", gates, n_a, keep)
    arrays = (gates, w_a, a0_rows, as_keep(keep))
    work = ((t_x, m, n_a), (m, 2 * n_a), (m, n_a), (m, n_a))
    gates, states = run_steps(key, _gru_forward_steps, arrays, work, (0, 4))
    return gates, states


def _gru_backward_steps(
    dstates: cp.ndarray,
    gates: cp.ndarray,
    states: cp.ndarray,
    a0_rows: cp.ndarray,
    w_a: cp.ndarray,
    keep: cp.ndarray | None,
    after_a: cp.ndarray | None,
    dz: cp.ndarray,
    da_mat: cp.ndarray,
    partial: cp.ndarray,
    g: cp.ndarray,
    dreset_state: cp.ndarray,
    products: Products = MATMUL,
) -> None:
    n_a = states.shape[2]
    w_gates, w_candidate = w_a[: 2 * n_a], w_a[2 * n_a :]
    start_gradient(da_mat, after_a)
    partial.fill(0)
    for t in range(gates.shape[0] - 1, -1, -1):
        a_prev = states[t - 1] if t > 0 else a0_rows
        dz_t, keep_t = dz[t], step_keep(keep, t)
        _GRU_BACKWARD_CANDIDATE((dstates[t], da_mat, partial, gates[t], n_a), keep_t, (dz_t, g))
        products.times(dz_t[:, 2 * n_a :], w_candidate, dreset_state)
        _GRU_BACKWARD_GATES((dreset_state, g, a_prev, gates[t], n_a), keep_t, (dz_t, partial))
        products.times(dz_t[:, : 2 * n_a], w_gates, da_mat)
    cp.add(da_mat, partial, out=da_mat)


def gru_backward_scan(
    dstates: cp.ndarray,
    gates: cp.ndarray,
    states: cp.ndarray,
    a0_rows: cp.ndarray,
    w_a: cp.ndarray,
    keep: Any = None,
    after: tuple[cp.ndarray, ...] | None = None,
) -> tuple[cp.ndarray, cp.ndarray]:
    """Backward of :func:`gru_forward_scan`: ``(dz, da0_rows)``; reads its inputs only.

    A masked step ignores its ``dstates``, gets a zero ``dz`` and passes the gradient on unchanged.
    ``after``: the gradient ``(m, n_a)`` reaching the last state from beyond the sequence.
    """
    gates = _owned(gates)
    t_x, m, width = gates.shape
    n_a = width // 3
    key = scan_key("gru-backward", gates, n_a, keep, after)
    arrays = (dstates, gates, states, a0_rows, w_a, as_keep(keep), None if after is None else after[0])
    work = ((t_x, m, width), (m, n_a), (m, n_a), (m, n_a), (m, n_a))
    dz, da0 = run_steps(key, _gru_backward_steps, arrays, work, (7, 8))
    return dz, da0
