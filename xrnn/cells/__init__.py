"""Recurrent cells as data, and the one sequence engine that runs them.

A cell is a :class:`Cell`: its parameter keys and shapes, its state names, its step and the step's
backward, its initialiser, and optionally a declared sequence optimisation. The RNN, the LSTM and the GRU
are three of them (:data:`RNN`, :data:`LSTM`, :data:`GRU`); :func:`define` makes a researcher's own, which
then works everywhere they do: masks, every backend, layers, the patterns, sampling, the trainer, Dask
arrays and ``xrnn train --cell MODULE:NAME``. :func:`get_cell` finds a cell by name.

A recurrent *state* is a tuple of ``(n_a, m)`` arrays: ``(a,)`` for the RNN and the GRU, ``(a, c)`` for the
LSTM; the first is the hidden state the outputs read.
"""

from xrnn.cells._caches import SequenceCache, StepCaches, StepLoopCache
from xrnn.cells._cell import BUILTIN, Cell, CellImportError, cell_names, cell_of, define, get_cell, resolve
from xrnn.cells._spec import Block, CellContractError, CellSpec, ProjectedScan, State
from xrnn.cells.gru import GRU
from xrnn.cells.lstm import LSTM
from xrnn.cells.rnn import RNN

__all__ = [
    "BUILTIN",
    "GRU",
    "LSTM",
    "RNN",
    "Block",
    "Cell",
    "CellContractError",
    "CellImportError",
    "CellSpec",
    "ProjectedScan",
    "SequenceCache",
    "State",
    "StepCaches",
    "StepLoopCache",
    "cell_names",
    "cell_of",
    "define",
    "get_cell",
    "resolve",
]
