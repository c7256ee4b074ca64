"""The LSTM and GRU scans on NumPy arrays, written once around their time loops.

Two implementations run them: the NumPy passes (``_numpy_gated``) and the compiled kernels
(``_numba_gated``). Each scan's signature and contract, the arrays it allocates and the layouts its step
products read are stated here, once; an implementation supplies only its loops, which get one record
(:class:`Forward`, :class:`Backward`) and fill in what it holds. The generic twins are in
``xrnn.cells._gated_scans``, and the tests hold both implementations to them.

Layout, as the twins': time-major, one row per example. A step's gates sit side by side in one
``(m, g n_a)`` row block (LSTM ``o, f, i, cc``; GRU ``u, r, cc``), ``w_a`` ``(g n_a, n_a)`` stacks the
gates' state weights in the same order, and ``keep`` ``(T_x, m, 1)`` is the time-major mask (``None``:
every step counts). Where ``keep`` is false a step carries its states over; backward, it ignores its
``dstates``, gets a zero ``dz`` and passes its gradients on unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xrnn.backends._numpy_operands import StepProduct, start_gradients, step_weight


@dataclass(frozen=True)
class Cell:
    """What the scans need to know of a gated cell's layout."""

    name: str  #: the prefix of its scans' names
    splits: tuple[int, ...]  #: the gates at which ``w_a``'s rows start another step product
    states: int  #: the states the recurrence carries (and the gradients its backward carries)

    def products(self, w_a: np.ndarray) -> list[np.ndarray]:
        """``w_a``'s row blocks, one per step product (views)."""
        n_a = w_a.shape[1]
        return np.split(w_a, [gate * n_a for gate in self.splits])


#: ``o, f, i, cc`` from one product; states ``a`` and ``c``.
LSTM = Cell("lstm", splits=(), states=2)
#: ``u, r`` from one product, ``cc`` from a second that reads ``r * a_prev``; state ``a``.
GRU = Cell("gru", splits=(2,), states=1)


@dataclass(frozen=True)
class Forward:
    """What a forward loop reads, and the arrays it fills in."""

    gates: np.ndarray  #: (T_x, m, g n_a): the input projection plus bias, turned into the gates in place
    products: tuple[StepProduct, ...]  #: per step product, ``rows @ block.T``, ``w_a``'s blocks as they come
    initial: tuple[np.ndarray, ...]  #: (m, n_a) each: ``a0_rows`` (and the LSTM's ``c0_rows``), only read
    keep: np.ndarray | None  #: (T_x, m, 1)
    records: tuple[np.ndarray, ...]  #: (T_x, m, n_a) each, empty: the states (and the LSTM's cells)


@dataclass(frozen=True)
class Backward:
    """What a backward loop reads, and the arrays it fills in."""

    dstates: np.ndarray  #: (T_x, m, n_a): the gradient reaching each hidden state from outside the recurrence
    gates: np.ndarray  #: (T_x, m, g n_a)
    recorded: np.ndarray  #: (T_x, m, n_a): what the gates' gradient reads besides them: LSTM cells, GRU states
    initial: np.ndarray  #: (m, n_a): ``recorded`` before the first step (``c0_rows``, ``a0_rows``)
    products: tuple[StepProduct, ...]  #: per step product, ``dz_block @ block``, on C-contiguous blocks of ``w_a``
    keep: np.ndarray | None  #: (T_x, m, 1)
    dz: np.ndarray  #: (T_x, m, g n_a), empty: the loop writes every step
    carried: tuple[np.ndarray, ...]  #: (m, n_a) each, writable: the gradients reaching the last states


ForwardLoop = Callable[[Forward], None]
#: Returns the gradients reaching the initial states: ``carried`` turned in place, or other buffers.
BackwardLoop = Callable[[Backward], tuple[np.ndarray, ...]]


def lstm_forward_scan(loop: ForwardLoop) -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The LSTM's forward scan, ``loop`` running its steps."""

    def lstm_forward_scan(
        projection: np.ndarray,
        w_a: np.ndarray,
        a0_rows: np.ndarray,
        c0_rows: np.ndarray,
        keep: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every LSTM step: ``(gates, states, cells)``, computed in place.

        ``projection`` (T_x, m, 4 n_a), the input projection plus bias in the order ``o, f, i, cc``, must
        be a C-contiguous buffer xrnn owns: it becomes the returned gates. The others are only read. Where
        ``keep`` (T_x, m, 1) is false, both states are carried over.
        """
        gates, states, cells = _forward(LSTM, loop, projection, w_a, (a0_rows, c0_rows), keep)
        return gates, states, cells

    return lstm_forward_scan


def gru_forward_scan(loop: ForwardLoop) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The GRU's forward scan, ``loop`` running its steps."""

    def gru_forward_scan(
        projection: np.ndarray, w_a: np.ndarray, a0_rows: np.ndarray, keep: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every GRU step: ``(gates, states)``, computed in place.

        ``projection`` (T_x, m, 3 n_a), the input projection plus bias in the order ``u, r, cc``, must be
        a C-contiguous buffer xrnn owns: it becomes the returned gates. The others are only read. Where
        ``keep`` (T_x, m, 1) is false, the state is carried over.
        """
        gates, states = _forward(GRU, loop, projection, w_a, (a0_rows,), keep)
        return gates, states

    return gru_forward_scan


def _forward(
    cell: Cell,
    loop: ForwardLoop,
    projection: np.ndarray,
    w_a: np.ndarray,
    initial: tuple[np.ndarray, ...],
    keep: np.ndarray | None,
) -> tuple[np.ndarray, ...]:
    t_x, m, _ = projection.shape
    records = tuple(np.empty((t_x, m, w_a.shape[1]), dtype=projection.dtype) for _ in range(cell.states))
    products = tuple(StepProduct(step_weight(block, m, t_x), m) for block in cell.products(w_a))
    loop(Forward(projection, products, initial, keep, records))
    return (projection, *records)


def backward_scan(cell: Cell, loop: BackwardLoop) -> Callable[..., tuple[np.ndarray, ...]]:
    """The backward scan of ``cell``, ``loop`` running its steps."""

    def backward_scan(
        dstates: np.ndarray,
        gates: np.ndarray,
        recorded: np.ndarray,
        initial_rows: np.ndarray,
        w_a: np.ndarray,
        keep: np.ndarray | None = None,
        after: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Backward of the forward scan: ``(dz, da0_rows)``, and the LSTM's ``dc0_rows``; reads its inputs only.

        ``recorded`` and ``initial_rows`` are the LSTM's ``cells`` and ``c0_rows``, or the GRU's ``states``
        and ``a0_rows``. ``dz`` (T_x, m, g n_a) is the gradient of the gates' preactivations, in the gates'
        order. ``after``: the gradients reaching the last states from beyond the sequence (the LSTM's
        hidden and cell state, the GRU's state).
        """
        m, n_a = initial_rows.shape
        # untransposed GEMMs
        products = tuple(StepProduct(np.ascontiguousarray(block), m) for block in cell.products(w_a))
        dz = np.empty(gates.shape, dtype=gates.dtype)
        carried = tuple(start_gradients(after, (m, n_a), gates.dtype, cell.states))
        return (dz, *loop(Backward(dstates, gates, recorded, initial_rows, products, keep, dz, carried)))

    backward_scan.__name__ = backward_scan.__qualname__ = f"{cell.name}_backward_scan"
    return backward_scan


def scans(
    lstm_forward: ForwardLoop, lstm_backward: BackwardLoop, gru_forward: ForwardLoop, gru_backward: BackwardLoop
) -> tuple[Callable[..., tuple[np.ndarray, ...]], ...]:
    """An implementation's four scans from its loops: ``lstm_forward_scan``, ``lstm_backward_scan``,
    ``gru_forward_scan`` and ``gru_backward_scan``."""
    return (
        lstm_forward_scan(lstm_forward),
        backward_scan(LSTM, lstm_backward),
        gru_forward_scan(gru_forward),
        backward_scan(GRU, gru_backward),
    )
