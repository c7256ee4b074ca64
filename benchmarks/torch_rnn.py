"""The PyTorch baseline: ``torch.nn.RNN(nonlinearity="tanh")`` set to xrnn's parameters.

It computes what xrnn's forward+backward computes, except xrnn's output layer: the hidden states,
then the backward of ``(out * da).sum()`` with ``x``, ``h0`` and the weights requiring gradients, so
that ``dx``, ``da0``, ``dWax``, ``dWaa`` and ``dba`` are all computed as in ``xrnn.rnn_backward``.
Inputs are handed to PyTorch in its own (time-major) layout, and to xrnn in the spec's layout
``(n, m, T_x)``; each library gets its native layout, and xrnn's transposes count against xrnn.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchRNN:
    """One ``nn.RNN`` with its inputs, on ``device`` in ``dtype`` (``"float32"``/``"float64"``)."""

    def __init__(
        self,
        torch: Any,
        x: np.ndarray,
        a0: np.ndarray,
        da: np.ndarray,
        parameters: dict[str, np.ndarray],
        *,
        device: str = "cpu",
        dtype: str = "float64",
    ) -> None:
        self.torch = torch
        n_x, _, _ = x.shape
        n_a = a0.shape[0]
        kind = getattr(torch, dtype)
        self.rnn = torch.nn.RNN(n_x, n_a, nonlinearity="tanh", bias=True, device=device, dtype=kind)
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(torch.as_tensor(parameters["Wax"]))
            self.rnn.weight_hh_l0.copy_(torch.as_tensor(parameters["Waa"]))
            self.rnn.bias_ih_l0.copy_(torch.as_tensor(parameters["ba"][:, 0]))
            self.rnn.bias_hh_l0.zero_()  # xrnn has one bias; PyTorch's second one stays zero

        def tensor(array: np.ndarray, grad: bool = False) -> Any:
            host = np.ascontiguousarray(array)
            return torch.as_tensor(host, dtype=kind, device=device).requires_grad_(grad)

        self.x = tensor(x.transpose(2, 1, 0), grad=True)  # (T_x, m, n_x)
        self.h0 = tensor(a0.T[None], grad=True)  # (1, m, n_a)
        self.da = tensor(da.transpose(2, 1, 0))  # (T_x, m, n_a)
        self._out: Any = None

    def _clear_gradients(self) -> None:
        self.x.grad = None
        self.h0.grad = None
        self.rnn.zero_grad(set_to_none=True)

    def forward(self) -> Any:
        out, _ = self.rnn(self.x, self.h0)
        return out

    def forward_backward(self) -> None:
        self._clear_gradients()
        (self.forward() * self.da).sum().backward()

    def prepare_backward(self) -> None:
        """Untimed set-up of :meth:`backward`: a fresh graph."""
        self._clear_gradients()
        self._out = self.forward()

    def backward(self) -> None:
        (self._out * self.da).sum().backward()
        self._out = None

    def results(self) -> dict[str, np.ndarray]:
        """``a`` and the gradients in xrnn's layouts, as float64 NumPy arrays (after a forward+backward)."""
        self.forward_backward()
        with self.torch.no_grad():
            out = self.forward()

        def host(t: Any) -> np.ndarray:
            return np.asarray(t.detach().cpu().double().numpy())

        return {
            "a": host(out).transpose(2, 1, 0),
            "dx": host(self.x.grad).transpose(2, 1, 0),
            "da0": host(self.h0.grad[0]).T,
            "dWax": host(self.rnn.weight_ih_l0.grad),
            "dWaa": host(self.rnn.weight_hh_l0.grad),
            "dba": host(self.rnn.bias_ih_l0.grad)[:, None],
        }
