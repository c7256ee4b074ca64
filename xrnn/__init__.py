"""xrnn: recurrent networks with explicit backpropagation through time, on any Array API library.

The functions take NumPy, CuPy or array-api-strict arrays (or any library array-api-compat knows) and
return arrays of the same library, on the same device, in the same floating dtype. The sequence functions
also take Dask arrays chunked along the batch axis (see :mod:`xrnn.dask_arrays`).

The package is grouped by concern: ``cells`` (the cell specifications and the sequence engine),
``train`` (optimisers, clipping, checkpoints, the trainer), ``parallel`` (Dask arrays and data-parallel
training), ``cli`` (the command line) and ``backends`` (the array libraries and their fast paths).
"""

import sys

from xrnn import backends, cells, cli, gradcheck, layers, patterns, sampling, train
from xrnn.activations import sigmoid, softmax
from xrnn.cells.gru import (
    GRUCache,
    GRUCellCache,
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    init_gru_parameters,
)
from xrnn.cells.lstm import (
    LSTMCache,
    LSTMCellCache,
    init_lstm_parameters,
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
)
from xrnn.cells.rnn import (
    RNNCache,
    RNNCellCache,
    init_parameters,
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    rnn_loss_and_gradients,
)
from xrnn.flow import GradientFlow, gradient_flow
from xrnn.layers import (
    BidirectionalCache,
    StackedCache,
    bidirectional_backward,
    bidirectional_forward,
    stacked_backward,
    stacked_forward,
)
from xrnn.losses import softmax_cross_entropy
from xrnn.parallel import dask_arrays, distributed

__version__ = "0.1.0"

# Module paths from before the grouping into packages, kept importable (``import xrnn.training`` etc.).
_MOVED = {
    "rnn": cells.rnn,
    "lstm": cells.lstm,
    "gru": cells.gru,
    "training": train.trainer,
    "checkpoint": train.checkpoint,
    "optimizers": train.optimizers,
    "clipping": train.clipping,
    "dask_arrays": dask_arrays,
    "distributed": distributed,
}
for _name, _module in _MOVED.items():
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module

__all__ = [
    "BidirectionalCache",
    "GRUCache",
    "GRUCellCache",
    "GradientFlow",
    "LSTMCache",
    "LSTMCellCache",
    "RNNCache",
    "RNNCellCache",
    "StackedCache",
    "backends",
    "bidirectional_backward",
    "bidirectional_forward",
    "cells",
    "cli",
    "dask_arrays",
    "distributed",
    "gradcheck",
    "gradient_flow",
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "init_gru_parameters",
    "init_lstm_parameters",
    "init_parameters",
    "layers",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "patterns",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_loss_and_gradients",
    "sampling",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "stacked_backward",
    "stacked_forward",
    "train",
]
