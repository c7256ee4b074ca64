"""An independent float64 reference: the spec's per-step loops in plain NumPy, with its bugs fixed
(``dWaa`` instead of ``Waa``, a column-wise stable softmax). Written without any xrnn code."""

from __future__ import annotations

from typing import Any

import numpy as np

Params = dict[str, np.ndarray]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def forward(x: np.ndarray, a0: np.ndarray, p: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hidden states, probabilities and logits, each (·, m, T_x)."""
    _, m, t_x = x.shape
    a = np.zeros((p["Waa"].shape[0], m, t_x))
    logits = np.zeros((p["Wya"].shape[0], m, t_x))
    a_prev = a0
    for t in range(t_x):
        a_prev = np.tanh(p["Wax"] @ x[:, :, t] + p["Waa"] @ a_prev + p["ba"])
        a[:, :, t] = a_prev
        logits[:, :, t] = p["Wya"] @ a_prev + p["by"]
    probabilities = np.stack([softmax(logits[:, :, t]) for t in range(t_x)], axis=2)
    return a, probabilities, logits


def backward(da: np.ndarray, x: np.ndarray, a0: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    """BPTT for the hidden-state gradient ``da`` (n_a, m, T_x), one step at a time."""
    a, _, _ = forward(x, a0, p)
    grads = {"dx": np.zeros_like(x), "dWax": 0 * p["Wax"], "dWaa": 0 * p["Waa"], "dba": 0 * p["ba"]}
    da_prev = np.zeros_like(a0)
    for t in reversed(range(x.shape[2])):
        a_prev = a0 if t == 0 else a[:, :, t - 1]
        dz = (1 - a[:, :, t] ** 2) * (da[:, :, t] + da_prev)
        grads["dx"][:, :, t] = p["Wax"].T @ dz
        grads["dWax"] += dz @ x[:, :, t].T
        grads["dWaa"] += dz @ a_prev.T
        grads["dba"] += dz.sum(axis=1, keepdims=True)
        da_prev = p["Waa"].T @ dz
    grads["da0"] = da_prev
    return grads


def one_hot(labels: np.ndarray, n_y: int) -> np.ndarray:
    """(m, T_x) integers -> (n_y, m, T_x)."""
    return (np.arange(n_y)[:, None, None] == labels[None]).astype(float)


def loss(x: np.ndarray, a0: np.ndarray, targets: np.ndarray, p: Params) -> float:
    """Mean over m * T_x of the cross-entropy against ``targets`` (n_y, m, T_x)."""
    _, probabilities, _ = forward(x, a0, p)
    return float(-(targets * np.log(probabilities)).sum() / (x.shape[1] * x.shape[2]))


def problem(n_x: int, n_a: int, n_y: int, m: int, t_x: int, seed: int = 0, scale: float = 0.5) -> dict[str, Any]:
    """Random float64 inputs of the given sizes, with weights large enough to exercise tanh'."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((n_x, m, t_x)),
        "a0": rng.standard_normal((n_a, m)),
        "da": rng.standard_normal((n_a, m, t_x)),
        "labels": rng.integers(0, n_y, (m, t_x)),
        "parameters": {
            "Wax": scale * rng.standard_normal((n_a, n_x)),
            "Waa": scale * rng.standard_normal((n_a, n_a)),
            "Wya": scale * rng.standard_normal((n_y, n_a)),
            "ba": scale * rng.standard_normal((n_a, 1)),
            "by": scale * rng.standard_normal((n_y, 1)),
        },
    }
