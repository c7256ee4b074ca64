"""xrnn: recurrent networks with explicit backpropagation through time, on any Array API library.

The functions take NumPy, CuPy or array-api-strict arrays (or any library array-api-compat knows) and
return arrays of the same library, on the same device, in the same floating dtype. The sequence functions
also take Dask arrays chunked along the batch axis (see :mod:`xrnn.dask_arrays`).
"""

from xrnn import backends, dask_arrays
from xrnn.activations import sigmoid, softmax
from xrnn.gated_init import init_gru_parameters, init_lstm_parameters
from xrnn.gru import GRUCache, GRUCellCache, gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from xrnn.initializers import init_parameters
from xrnn.layers import (
    BidirectionalCache,
    StackedCache,
    bidirectional_backward,
    bidirectional_forward,
    stacked_backward,
    stacked_forward,
)
from xrnn.losses import softmax_cross_entropy
from xrnn.lstm import LSTMCache, LSTMCellCache, lstm_backward, lstm_cell_backward, lstm_cell_forward, lstm_forward
from xrnn.rnn import (
    RNNCache,
    RNNCellCache,
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    rnn_loss_and_gradients,
)

__version__ = "0.1.0"

__all__ = [
    "BidirectionalCache",
    "GRUCache",
    "GRUCellCache",
    "LSTMCache",
    "LSTMCellCache",
    "RNNCache",
    "RNNCellCache",
    "StackedCache",
    "backends",
    "bidirectional_backward",
    "bidirectional_forward",
    "dask_arrays",
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "init_gru_parameters",
    "init_lstm_parameters",
    "init_parameters",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_loss_and_gradients",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "stacked_backward",
    "stacked_forward",
]
