"""The PyTorch baselines: ``torch.nn.RNN(nonlinearity="tanh")``, ``nn.LSTM`` and ``nn.GRU`` set to xrnn's
parameters.

Each computes what xrnn's forward+backward computes, except xrnn's output layer: the hidden states,
then the backward of ``(out * da).sum()`` with ``x``, ``h0`` (and the LSTM's ``c0``) and the weights
requiring gradients, so that ``dx``, ``da0`` and the weight and bias gradients are all computed as in
``xrnn.rnn_backward`` / ``lstm_backward`` / ``gru_backward``. Inputs are handed to PyTorch in its own
(time-major) layout, and to xrnn in the spec's layout ``(n, m, T_x)``; each library gets its native
layout, and xrnn's transposes count against xrnn.

xrnn has one bias per gate; PyTorch's second set (``bias_hh``) stays zero. The gate orders differ
(PyTorch's LSTM stacks ``i, f, g, o``, its GRU ``r, z, n``); the weights are stacked in PyTorch's order.
PyTorch's GRU is a different cell: its candidate is ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
the reset gate applied after the recurrent product, where the lectures' (and xrnn's) is
``tanh(Wc [r * a_prev; x] + bc)``; and its update gate ``z`` weighs the old state, ``h' = (1 - z) n + z h``,
so it is loaded with ``-Wu, -bu`` (then ``z = 1 - u``). The two agree where ``h0 = 0`` and ``T_x = 1``,
and do the same number of multiply-adds everywhere, but their results differ in general.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchRNN:
    """One ``nn.RNN`` with its inputs, on ``device`` in ``dtype`` (``"float32"``/``"float64"``)."""

    #: Whether its results are xrnn's (same maths) and can be compared with them.
    comparable = True

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
        c0: np.ndarray | None = None,
    ) -> None:
        self.torch = torch
        n_x, _, _ = x.shape
        n_a = a0.shape[0]
        self.n_a = n_a
        kind = getattr(torch, dtype)
        self.rnn = self._module(n_x, n_a, device, kind)
        with torch.no_grad():
            self._load(parameters)
            self.rnn.bias_hh_l0.zero_()  # xrnn has one bias; PyTorch's second one stays zero

        def tensor(array: np.ndarray, grad: bool = False) -> Any:
            host = np.ascontiguousarray(array)
            return torch.as_tensor(host, dtype=kind, device=device).requires_grad_(grad)

        self.x = tensor(x.transpose(2, 1, 0), grad=True)  # (T_x, m, n_x)
        self.h0 = tensor(a0.T[None], grad=True)  # (1, m, n_a)
        self.c0 = None if c0 is None else tensor(c0.T[None], grad=True)
        self.da = tensor(da.transpose(2, 1, 0))  # (T_x, m, n_a)
        self._out: Any = None

    def _module(self, n_x: int, n_a: int, device: str, kind: Any) -> Any:
        return self.torch.nn.RNN(n_x, n_a, nonlinearity="tanh", bias=True, device=device, dtype=kind)

    def _load(self, parameters: dict[str, np.ndarray]) -> None:
        self.rnn.weight_ih_l0.copy_(self.torch.as_tensor(parameters["Wax"]))
        self.rnn.weight_hh_l0.copy_(self.torch.as_tensor(parameters["Waa"]))
        self.rnn.bias_ih_l0.copy_(self.torch.as_tensor(parameters["ba"][:, 0]))

    def _state(self) -> Any:
        return self.h0

    def _clear_gradients(self) -> None:
        self.x.grad = None
        self.h0.grad = None
        if self.c0 is not None:
            self.c0.grad = None
        self.rnn.zero_grad(set_to_none=True)

    def forward(self) -> Any:
        out, _ = self.rnn(self.x, self._state())
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

    def _weight_gradients(self) -> dict[str, np.ndarray]:
        return {
            "dWax": _host(self.rnn.weight_ih_l0.grad),
            "dWaa": _host(self.rnn.weight_hh_l0.grad),
            "dba": _host(self.rnn.bias_ih_l0.grad)[:, None],
        }

    def results(self) -> dict[str, np.ndarray]:
        """``a`` and the gradients in xrnn's layouts, as float64 NumPy arrays (after a forward+backward)."""
        self.forward_backward()
        with self.torch.no_grad():
            out = self.forward()
        results = {
            "a": _host(out).transpose(2, 1, 0),
            "dx": _host(self.x.grad).transpose(2, 1, 0),
            "da0": _host(self.h0.grad[0]).T,
        }
        if self.c0 is not None:
            results["dc0"] = _host(self.c0.grad[0]).T
        return results | self._weight_gradients()


def _host(t: Any) -> np.ndarray:
    return np.asarray(t.detach().cpu().double().numpy())


class _TorchGated(TorchRNN):
    """A gated cell whose ``(n_a, n_a + n_x)`` gate weights are stacked into PyTorch's two matrices."""

    #: ``(xrnn key of the gate, sign)`` in PyTorch's order.
    order: tuple[tuple[str, int], ...] = ()

    def _load(self, parameters: dict[str, np.ndarray]) -> None:
        n_a = self.n_a
        stacked = np.concatenate([sign * parameters["W" + gate] for gate, sign in self.order])
        bias = np.concatenate([sign * parameters["b" + gate][:, 0] for gate, sign in self.order])
        self.rnn.weight_ih_l0.copy_(self.torch.as_tensor(np.ascontiguousarray(stacked[:, n_a:])))
        self.rnn.weight_hh_l0.copy_(self.torch.as_tensor(np.ascontiguousarray(stacked[:, :n_a])))
        self.rnn.bias_ih_l0.copy_(self.torch.as_tensor(bias))

    def _weight_gradients(self) -> dict[str, np.ndarray]:
        n_a = self.n_a
        ih, hh = _host(self.rnn.weight_ih_l0.grad), _host(self.rnn.weight_hh_l0.grad)
        bias = _host(self.rnn.bias_ih_l0.grad)[:, None]
        gradients = {}
        for g, (gate, sign) in enumerate(self.order):
            rows = slice(g * n_a, (g + 1) * n_a)
            gradients["dW" + gate] = sign * np.concatenate([hh[rows], ih[rows]], axis=1)
            gradients["db" + gate] = sign * bias[rows]
        return gradients


class TorchLSTM(_TorchGated):
    """One ``nn.LSTM`` with xrnn's LSTM parameters and inputs (``c0`` required)."""

    order = (("i", 1), ("f", 1), ("c", 1), ("o", 1))

    def _module(self, n_x: int, n_a: int, device: str, kind: Any) -> Any:
        return self.torch.nn.LSTM(n_x, n_a, bias=True, device=device, dtype=kind)

    def _state(self) -> Any:
        return self.h0, self.c0


class TorchGRU(_TorchGated):
    """One ``nn.GRU`` loaded with xrnn's GRU parameters: the same work, a different candidate (see the
    module docstring), so :meth:`results` are not xrnn's."""

    comparable = False
    order = (("r", 1), ("u", -1), ("c", 1))

    def _module(self, n_x: int, n_a: int, device: str, kind: Any) -> Any:
        return self.torch.nn.GRU(n_x, n_a, bias=True, device=device, dtype=kind)
