"""xrnn: recurrent networks with explicit backpropagation through time, on any Array API library.

The functions take NumPy, CuPy or array-api-strict arrays (or any library array-api-compat knows) and
return arrays of the same library, on the same device, in the same floating dtype.
"""

from xrnn import backends
from xrnn.activations import sigmoid, softmax
from xrnn.initializers import init_parameters
from xrnn.losses import softmax_cross_entropy
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
    "RNNCache",
    "RNNCellCache",
    "backends",
    "init_parameters",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
    "rnn_loss_and_gradients",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
]
