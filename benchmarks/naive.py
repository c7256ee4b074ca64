"""The per-step baseline: the spec tutorial's loops in plain NumPy, one cell at a time.

This is the classic ``rnn_cell_forward`` / ``rnn_forward`` / ``rnn_cell_backward`` / ``rnn_backward``
code as the tutorial writes it (our own code, not copied), with two fixes: the backward accumulates
``dWaa`` from ``dtanh @ a_prev.T`` (the tutorial's bug), and the softmax subtracts each column's
maximum. Arrays keep the input dtype (the tutorial's ``np.zeros`` would silently upcast float32 to
float64, which would make the float32 baseline do float64 work).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Params = dict[str, np.ndarray]
CellCache = tuple[np.ndarray, np.ndarray, np.ndarray, Params]


def softmax(z: np.ndarray) -> np.ndarray:
    """Column-wise softmax of ``(n_y, m)`` logits."""
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return np.asarray(e / np.sum(e, axis=0, keepdims=True))


def rnn_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, CellCache]:
    """One step: ``a_next = tanh(Wax xt + Waa a_prev + ba)``, ``yt_pred = softmax(Wya a_next + by)``."""
    wax, waa, wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(np.dot(wax, xt) + np.dot(waa, a_prev) + ba)
    yt_pred = softmax(np.dot(wya, a_next) + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(x: np.ndarray, a0: np.ndarray, parameters: Params) -> tuple[np.ndarray, np.ndarray, Any]:
    """The whole sequence, one :func:`rnn_cell_forward` per step; returns ``(a, y_pred, (caches, x))``."""
    caches = []
    _, m, t_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, t_x), dtype=x.dtype)
    y_pred = np.zeros((n_y, m, t_x), dtype=x.dtype)
    a_next = a0
    for t in range(t_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)


def rnn_cell_backward(da_next: np.ndarray, cache: CellCache) -> dict[str, np.ndarray]:
    """Gradients of one step given the gradient reaching ``a_next``."""
    a_next, a_prev, xt, parameters = cache
    dtanh = (1 - a_next**2) * da_next
    return {
        "dxt": np.dot(parameters["Wax"].T, dtanh),
        "da_prev": np.dot(parameters["Waa"].T, dtanh),
        "dWax": np.dot(dtanh, xt.T),
        "dWaa": np.dot(dtanh, a_prev.T),  # the tutorial's bug fixed: a_prev.T, accumulated below
        "dba": np.sum(dtanh, axis=1, keepdims=True),
    }


def rnn_backward(da: np.ndarray, caches: Any) -> dict[str, np.ndarray]:
    """BPTT, one :func:`rnn_cell_backward` per step, accumulating the weight gradients."""
    cell_caches, _ = caches
    _, _, x1, _ = cell_caches[0]
    n_a, m, t_x = da.shape
    n_x = x1.shape[0]
    dx = np.zeros((n_x, m, t_x), dtype=da.dtype)
    dwax = np.zeros((n_a, n_x), dtype=da.dtype)
    dwaa = np.zeros((n_a, n_a), dtype=da.dtype)
    dba = np.zeros((n_a, 1), dtype=da.dtype)
    da_prevt = np.zeros((n_a, m), dtype=da.dtype)
    for t in reversed(range(t_x)):
        gradients = rnn_cell_backward(da[:, :, t] + da_prevt, cell_caches[t])
        da_prevt = gradients["da_prev"]
        dx[:, :, t] = gradients["dxt"]
        dwax += gradients["dWax"]
        dwaa += gradients["dWaa"]
        dba += gradients["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dwax, "dWaa": dwaa, "dba": dba}
