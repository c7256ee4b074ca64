"""One interface over the three cells (RNN, LSTM, GRU), for code that works with any of them.

:func:`get_cell` gives a :class:`Cell`: its parameter initialiser, the sequence forward and
backward passes, one step for generation, and the names of its output layer (``Wya, by`` for the
RNN, ``Wy, by`` for the gated cells). A recurrent *state* is a tuple: ``(a,)`` for the RNN and the
GRU, ``(a, c)`` for the LSTM, each ``(n_a, m)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import array_api_compat

from xrnn._typing import Array
from xrnn.cells.gated_init import init_gru_parameters, init_lstm_parameters
from xrnn.cells.gru import gru_backward, gru_cell_forward, gru_forward
from xrnn.cells.initializers import init_parameters
from xrnn.cells.lstm import lstm_backward, lstm_cell_forward, lstm_forward
from xrnn.cells.rnn import rnn_backward, rnn_cell_forward, rnn_forward

State = tuple[Array, ...]


@dataclass(frozen=True)
class Cell:
    """A recurrent cell as seen by the training loop, the patterns and the sampler.

    Attributes
    ----------
    name : str
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    output_keys : tuple of str
        The output layer's weight ``(n_y, n_a)`` and bias ``(n_y, 1)`` keys.
    state_size : int
        How many ``(n_a, m)`` arrays make up the recurrent state.
    """

    name: str
    output_keys: tuple[str, str]
    state_size: int
    _init: Callable[..., dict[str, Array]]
    _forward: Callable[[Array, State, Mapping[str, Array], Array | None], tuple[Array, Any]]
    _backward: Callable[[Array, Any], dict[str, Array]]
    _step: Callable[[Array, State, Mapping[str, Array]], State]

    def init(self, n_x: int, n_a: int, n_y: int, **options: Any) -> dict[str, Array]:
        """Seeded parameters; ``options`` are those of :func:`xrnn.init_parameters` (backend, dtype, seed, ...)."""
        return self._init(n_x, n_a, n_y, **options)

    def zero_state(self, parameters: Mapping[str, Array], m: int) -> State:
        """A zero state for ``m`` examples, in the library, dtype and device of ``parameters``."""
        like = parameters[self.output_keys[0]]
        xp = array_api_compat.array_namespace(like)
        zeros = xp.zeros((self.hidden_size(parameters), m), dtype=like.dtype, device=array_api_compat.device(like))
        return (zeros,) * self.state_size

    def hidden_size(self, parameters: Mapping[str, Array]) -> int:
        """``n_a`` of ``parameters``."""
        return int(parameters[self.output_keys[0]].shape[1])

    def forward(
        self, x: Array, state: State, parameters: Mapping[str, Array], mask: Array | None = None
    ) -> tuple[Array, Any]:
        """Hidden states ``a (n_a, m, T_x)`` for inputs ``x (n_x, m, T_x)``, and the cache for :meth:`backward`."""
        return self._forward(x, state, parameters, mask)

    def backward(self, da: Array, cache: Any) -> dict[str, Array]:
        """Gradients of the cell's own parameters (not the output layer), ``dx`` and ``da0``."""
        return self._backward(da, cache)

    def step(self, xt: Array, state: State, parameters: Mapping[str, Array]) -> State:
        """The next state after input ``xt (n_x, m)``."""
        return self._step(xt, state, parameters)


def _rnn_forward(x: Array, state: State, p: Mapping[str, Array], mask: Array | None) -> tuple[Array, Any]:
    a, _, cache = rnn_forward(x, state[0], p, mask=mask)
    return a, cache


def _lstm_forward(x: Array, state: State, p: Mapping[str, Array], mask: Array | None) -> tuple[Array, Any]:
    a, _, _, cache = lstm_forward(x, state[0], p, c0=state[1], mask=mask)
    return a, cache


def _gru_forward(x: Array, state: State, p: Mapping[str, Array], mask: Array | None) -> tuple[Array, Any]:
    a, _, cache = gru_forward(x, state[0], p, mask=mask)
    return a, cache


def _rnn_step(xt: Array, state: State, p: Mapping[str, Array]) -> State:
    return (rnn_cell_forward(xt, state[0], p)[0],)


def _lstm_step(xt: Array, state: State, p: Mapping[str, Array]) -> State:
    a_next, c_next, _, _ = lstm_cell_forward(xt, state[0], state[1], p)
    return (a_next, c_next)


def _gru_step(xt: Array, state: State, p: Mapping[str, Array]) -> State:
    return (gru_cell_forward(xt, state[0], p)[0],)


CELLS: dict[str, Cell] = {
    "rnn": Cell("rnn", ("Wya", "by"), 1, init_parameters, _rnn_forward, rnn_backward, _rnn_step),
    "lstm": Cell("lstm", ("Wy", "by"), 2, init_lstm_parameters, _lstm_forward, lstm_backward, _lstm_step),
    "gru": Cell("gru", ("Wy", "by"), 1, init_gru_parameters, _gru_forward, gru_backward, _gru_step),
}


def get_cell(name: str) -> Cell:
    """The :class:`Cell` called ``name`` (``"rnn"``, ``"lstm"`` or ``"gru"``).

    Examples
    --------
    >>> from xrnn.cells import get_cell
    >>> cell = get_cell("lstm")
    >>> p = cell.init(4, 3, 4, seed=0)
    >>> cell.output_keys, cell.hidden_size(p), [s.shape for s in cell.zero_state(p, m=2)]
    (('Wy', 'by'), 3, [(3, 2), (3, 2)])
    """
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; known cells: {', '.join(CELLS)}") from None


def cell_of(parameters: Mapping[str, Array]) -> Cell:
    """The cell whose parameter keys ``parameters`` has (RNN: ``Waa``; LSTM: ``Wf``; GRU: ``Wu``).

    Examples
    --------
    >>> import xrnn
    >>> from xrnn.cells import cell_of
    >>> cell_of(xrnn.init_parameters(2, 3, 2, seed=0)).name
    'rnn'
    """
    for marker, name in (("Waa", "rnn"), ("Wf", "lstm"), ("Wu", "gru")):
        if marker in parameters:
            return CELLS[name]
    raise ValueError(f"parameters with keys {sorted(parameters)} belong to no known cell (rnn, lstm, gru)")
