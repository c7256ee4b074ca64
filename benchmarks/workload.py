"""The problem the suites time: seeded inputs, parameters, FLOP counts and result comparison."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Size:
    """``(n_x, n_a, m, T_x)``; the suites use ``n_y = n_x`` (output layer as wide as the input)."""

    n_x: int
    n_a: int
    m: int
    t_x: int

    @property
    def n_y(self) -> int:
        return self.n_x

    @property
    def label(self) -> str:
        return f"{self.n_x}x{self.n_a}x{self.m}x{self.t_x}"

    @classmethod
    def parse(cls, text: str) -> Size:
        """``"64x128x32x100"`` or ``"64,128,32,100"`` -> ``Size(64, 128, 32, 100)``."""
        parts = text.replace(",", "x").split("x")
        if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"a size is n_x x n_a x m x T_x, e.g. 64x128x32x100; got {text!r}")
        n_x, n_a, m, t_x = (int(p) for p in parts)
        return cls(n_x, n_a, m, t_x)

    def activation_bytes(self, itemsize: int) -> int:
        """Bytes of the hidden states ``(n_a, m, T_x)``: what BPTT must keep."""
        return self.n_a * self.m * self.t_x * itemsize


#: Gate products per step of each cell: the RNN's one, the LSTM's four (f, i, cc, o), the GRU's three
#: (u, r and the candidate; in xrnn's GRU the candidate multiplies ``r * a_prev``, in PyTorch's it is
#: multiplied by ``r`` after the product: the same multiply-adds).
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

#: Gate letters of the gated cells' parameters (``W<gate>``, ``b<gate>``), in xrnn's order.
GATE_NAMES = {"lstm": ("f", "i", "c", "o"), "gru": ("u", "r", "c")}


def xrnn_flops(size: Size, gates: int = 1) -> int:
    """Multiply-adds x 2 of xrnn's forward (input projection, recurrence, output layer) and backward
    (recurrence, weight gradients, dx) of a cell with ``gates`` gate products per step (:data:`GATES`);
    elementwise work not counted.

    Each gate is one ``(n_a, n_a)`` recurrent product and one ``(n_a, n_x)`` input product per row
    ``T_x m``, three times over (forward; backward through the state; weight gradient, or ``dx`` for
    the input columns); the output layer ``(n_y, n_a)`` is forward only.
    """
    rows = size.t_x * size.m
    return 2 * rows * (gates * (3 * size.n_a * size.n_a + 3 * size.n_x * size.n_a) + size.n_y * size.n_a)


def torch_flops(size: Size, gates: int = 1) -> int:
    """The same for ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, which have no output layer."""
    rows = size.t_x * size.m
    return 2 * rows * gates * (3 * size.n_a * size.n_a + 3 * size.n_x * size.n_a)


def floor_gemm_shape(size: Size, gates: int = 1) -> tuple[int, int, int]:
    """``(M, K, N)`` of the reference product: the recurrent product of all steps and gates at once,
    ``(T_x m, n_a) @ (n_a, gates n_a)``, the largest product of comparable shape."""
    return size.t_x * size.m, size.n_a, gates * size.n_a


def floor_gemm(size: Size, dtype: str, gates: int = 1) -> Callable[[], object]:
    """The reference product of :func:`floor_gemm_shape` on seeded operands, as a call to time."""
    rows, inner, cols = floor_gemm_shape(size, gates)
    rng = np.random.default_rng(1)
    left = rng.standard_normal((rows, inner)).astype(dtype)
    right = rng.standard_normal((inner, cols)).astype(dtype)
    product = np.empty((rows, cols), dtype=dtype)
    return lambda: np.matmul(left, right, out=product)


def make_problem(size: Size, dtype: str, seed: int = 0) -> dict[str, Any]:
    """Seeded host (NumPy) inputs: ``x (n_x, m, T_x)``, ``a0 (n_a, m)``, ``da (n_a, m, T_x)`` and the
    parameters: Glorot-normal ``Wax`` and ``Wya``, ``Waa`` normal with variance ``1/n_a`` (spectral
    radius about 1, so that the states neither vanish nor saturate), small random biases.

    Drawn directly in ``dtype`` with NumPy's generator (no QR, so that the GPU suite's ``n_a = 2048``
    cases are set up in well under a second).
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).type

    def normal(shape: tuple[int, ...], std: float) -> np.ndarray:
        return np.asarray(rng.standard_normal(shape, dtype=kind) * kind(std))

    n_x, n_a, n_y, m, t_x = size.n_x, size.n_a, size.n_y, size.m, size.t_x
    parameters = {
        "Wax": normal((n_a, n_x), math.sqrt(2.0 / (n_a + n_x))),
        "Waa": normal((n_a, n_a), math.sqrt(1.0 / n_a)),
        "Wya": normal((n_y, n_a), math.sqrt(2.0 / (n_y + n_a))),
        "ba": normal((n_a, 1), 0.1),
        "by": normal((n_y, 1), 0.1),
    }
    return {
        "x": normal((n_x, m, t_x), 1.0),
        "a0": normal((n_a, m), 0.5),
        "da": normal((n_a, m, t_x), 1.0),
        "parameters": parameters,
    }


def make_gated_problem(size: Size, cell: str, dtype: str, seed: int = 0) -> dict[str, Any]:
    """Seeded host inputs of the LSTM (``cell="lstm"``) or GRU (``"gru"``), drawn as in :func:`make_problem`:
    ``x``, ``a0``, ``da`` (and the LSTM's ``c0 (n_a, m)``), and per gate ``W (n_a, n_a + n_x)`` whose
    state columns have variance ``1/n_a`` and input columns are Glorot-normal, small random biases,
    ``Wy`` and ``by`` as the RNN's.
    """
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).type

    def normal(shape: tuple[int, ...], std: float) -> np.ndarray:
        return np.asarray(rng.standard_normal(shape, dtype=kind) * kind(std))

    n_x, n_a, n_y, m, t_x = size.n_x, size.n_a, size.n_y, size.m, size.t_x
    parameters = {}
    for gate in GATE_NAMES[cell]:
        state = normal((n_a, n_a), math.sqrt(1.0 / n_a))
        inputs = normal((n_a, n_x), math.sqrt(2.0 / (n_a + n_x)))
        parameters["W" + gate] = np.ascontiguousarray(np.concatenate([state, inputs], axis=1))
        parameters["b" + gate] = normal((n_a, 1), 0.1)
    parameters["Wy"] = normal((n_y, n_a), math.sqrt(2.0 / (n_y + n_a)))
    parameters["by"] = normal((n_y, 1), 0.1)
    problem = {"x": normal((n_x, m, t_x), 1.0), "a0": normal((n_a, m), 0.5), "da": normal((n_a, m, t_x), 1.0)}
    if cell == "lstm":
        problem["c0"] = normal((n_a, m), 0.5)
    return problem | {"parameters": parameters}


GRADIENT_KEYS = ("dx", "da0", "dWax", "dWaa", "dba")
GATED_GRADIENT_KEYS = {
    cell: ("dx", "da0", *(("dc0",) if cell == "lstm" else ()), *(f"{k}{g}" for k in ("dW", "db") for g in gates))
    for cell, gates in GATE_NAMES.items()
}


def relative_errors(actual: Mapping[str, object], expected: Mapping[str, object]) -> dict[str, float]:
    """``||actual - expected|| / ||expected||`` per key present in both (float64 on the host)."""
    errors = {}
    for key in expected:
        if key in actual:
            a = np.asarray(actual[key], dtype=np.float64)
            e = np.asarray(expected[key], dtype=np.float64)
            errors[key] = float(np.linalg.norm(a - e) / max(float(np.linalg.norm(e)), 1e-300))
    return errors


#: Norm-wise relative error below which two implementations agree.
AGREEMENT = {"float32": 1e-3, "float64": 1e-9}
