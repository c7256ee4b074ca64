"""The tanh recurrence and its backward, written once against the Array API standard.

These are the generic twins of the fast paths in ``xrnn.backends``; the RNN's declared
:class:`~xrnn.cells._spec.ProjectedScan` names both, and ``xrnn.cells._projected.run_scan`` picks the
fast path for the arrays' library when it has one.

Layout is time-major with one row per example: ``states[t]`` is ``a<t+1>`` transposed, of shape
``(m, n_a)``, so every step reads and writes one contiguous block.
"""

from __future__ import annotations

from types import ModuleType

from xrnn._masking import carry, zero_masked
from xrnn._typing import Array


def generic_forward_scan(
    xp: ModuleType, preactivation: Array, waa: Array, a0_rows: Array, keep: Array | None = None
) -> Array:
    """``states[t] = tanh(preactivation[t] + states[t-1] @ waa.T)`` with ``states[-1] = a0_rows``.

    ``preactivation`` is ``(T_x, m, n_a)``: the input projection plus bias for every step. Where the
    time-major mask ``keep`` ``(T_x, m, 1)`` is false, ``states[t] = states[t-1]`` (see ``xrnn._masking``).
    """
    waa_t = waa.T
    previous = a0_rows
    states = []
    for t in range(preactivation.shape[0]):
        new = xp.tanh(preactivation[t, ...] + xp.matmul(previous, waa_t))
        previous = new if keep is None else carry(xp, keep[t, ...], new, previous)
        states.append(previous)
    return xp.stack(states)


def generic_backward_scan(
    xp: ModuleType,
    dstates: Array,
    states: Array,
    waa: Array,
    keep: Array | None = None,
    after: tuple[Array, ...] | None = None,
) -> tuple[Array, Array]:
    """Backward of :func:`generic_forward_scan`.

    ``dstates[t]`` is the gradient reaching ``states[t]`` from outside the recurrence (the output
    layer). Returns ``dpreactivation`` ``(T_x, m, n_a)`` and the gradient of ``a0_rows``. Masked steps
    ignore their ``dstates``, get a zero ``dpreactivation`` and pass the gradient on unchanged.
    ``after``: the gradient reaching the last state from beyond the sequence, ``(rows,)`` (a later
    segment's, in checkpointed BPTT); none by default.
    """
    tanh_derivative = 1 - states * states  # for every step at once, out of the loop
    dstates = zero_masked(xp, keep, dstates)
    through = None if after is None else after[0]
    reversed_dz = []
    for t in range(states.shape[0] - 1, -1, -1):
        incoming = dstates[t, ...] if through is None else dstates[t, ...] + through
        dz = tanh_derivative[t, ...] * incoming
        through = xp.matmul(dz, waa)
        if keep is not None:
            through = carry(xp, keep[t, ...], through, incoming)
        reversed_dz.append(dz)
    return zero_masked(xp, keep, xp.stack(reversed_dz[::-1])), through
