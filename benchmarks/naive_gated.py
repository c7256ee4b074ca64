"""The per-step baselines of the gated cells: LSTM and GRU loops in plain NumPy, one cell at a time.

The LSTM is the tutorial's ``lstm_cell_forward`` / ``lstm_forward`` / ``lstm_cell_backward`` /
``lstm_backward`` as the tutorial writes them (our own code, not copied): four separate gate products
on ``[a_prev; x_t]`` and the output layer at every step, the weight gradients accumulated step by
step. The GRU follows the same pattern with the lectures' cell (the candidate reads ``r * a_prev``).
Arrays keep the input dtype, as in ``benchmarks/naive.py``.

Both have the signatures of ``xrnn.lstm_forward`` / ``xrnn.gru_forward`` and their backward passes
(``c0`` included), so the suite runs either library through the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.naive import softmax

Params = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-z)))


def lstm_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, c_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[Any, ...]]:
    """One LSTM step: four gate products on ``[a_prev; xt]``, then the output layer and softmax."""
    p = parameters
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(np.dot(p["Wf"], concat) + p["bf"])
    it = sigmoid(np.dot(p["Wi"], concat) + p["bi"])
    cct = np.tanh(np.dot(p["Wc"], concat) + p["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(p["Wo"], concat) + p["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(p["Wy"], a_next) + p["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)


def lstm_forward(
    x: np.ndarray, a0: np.ndarray, parameters: Params, *, c0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The whole sequence, one :func:`lstm_cell_forward` per step: ``(a, y, c, (caches, x))``."""
    _, m, t_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, t_x), dtype=x.dtype)
    c = np.zeros((n_a, m, t_x), dtype=x.dtype)
    y = np.zeros((n_y, m, t_x), dtype=x.dtype)
    a_next = a0
    c_next = np.zeros_like(a0) if c0 is None else c0
    caches = []
    for t in range(t_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    return a, y, c, (caches, x)


def lstm_cell_backward(da_next: np.ndarray, dc_next: np.ndarray, cache: tuple[Any, ...]) -> dict[str, np.ndarray]:
    """Gradients of one LSTM step, given those reaching ``a_next`` and (from later steps) ``c_next``."""
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_next.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c**2)
    dot = da_next * tanh_c * ot * (1 - ot)
    dcct = dc * it * (1 - cct**2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat_t = np.concatenate([a_prev, xt], axis=0).T
    dconcat = np.dot(p["Wf"].T, dft) + np.dot(p["Wi"].T, dit) + np.dot(p["Wc"].T, dcct) + np.dot(p["Wo"].T, dot)
    gradients = {"da_prev": dconcat[:n_a], "dc_prev": dc * ft, "dxt": dconcat[n_a:]}
    for gate, dz in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        gradients["dW" + gate] = np.dot(dz, concat_t)
        gradients["db" + gate] = np.sum(dz, axis=1, keepdims=True)
    return gradients


def lstm_backward(da: np.ndarray, caches: Any) -> dict[str, np.ndarray]:
    """BPTT, one :func:`lstm_cell_backward` per step, accumulating the weight gradients."""
    cell_caches, x = caches
    n_a, m, t_x = da.shape
    p = cell_caches[0][-1]
    dx = np.zeros((x.shape[0], m, t_x), dtype=da.dtype)
    sums = {"d" + key: np.zeros_like(p[key]) for key in ("Wf", "Wi", "Wc", "Wo", "bf", "bi", "bc", "bo")}
    da_prevt = np.zeros((n_a, m), dtype=da.dtype)
    dc_prevt = np.zeros((n_a, m), dtype=da.dtype)
    for t in reversed(range(t_x)):
        gradients = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, cell_caches[t])
        da_prevt, dc_prevt = gradients["da_prev"], gradients["dc_prev"]
        dx[:, :, t] = gradients["dxt"]
        for key in sums:
            sums[key] += gradients[key]
    return {"dx": dx, "da0": da_prevt, "dc0": dc_prevt, **sums}


def gru_cell_forward(
    xt: np.ndarray, a_prev: np.ndarray, parameters: Params
) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
    """One GRU step: update and reset gates on ``[a_prev; xt]``, the candidate on ``[r * a_prev; xt]``."""
    p = parameters
    concat = np.concatenate([a_prev, xt], axis=0)
    ut = sigmoid(np.dot(p["Wu"], concat) + p["bu"])
    rt = sigmoid(np.dot(p["Wr"], concat) + p["br"])
    reset_concat = np.concatenate([rt * a_prev, xt], axis=0)
    cct = np.tanh(np.dot(p["Wc"], reset_concat) + p["bc"])
    a_next = ut * cct + (1 - ut) * a_prev
    yt_pred = softmax(np.dot(p["Wy"], a_next) + p["by"])
    return a_next, yt_pred, (a_next, a_prev, ut, rt, cct, concat, reset_concat, parameters)


def gru_forward(x: np.ndarray, a0: np.ndarray, parameters: Params) -> tuple[np.ndarray, np.ndarray, Any]:
    """The whole sequence, one :func:`gru_cell_forward` per step: ``(a, y, (caches, x))``."""
    _, m, t_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, t_x), dtype=x.dtype)
    y = np.zeros((n_y, m, t_x), dtype=x.dtype)
    a_next = a0
    caches = []
    for t in range(t_x):
        a_next, yt, cache = gru_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y[:, :, t] = yt
        caches.append(cache)
    return a, y, (caches, x)


def gru_cell_backward(da_next: np.ndarray, cache: tuple[Any, ...]) -> dict[str, np.ndarray]:
    """Gradients of one GRU step, given the gradient reaching ``a_next``."""
    a_next, a_prev, ut, rt, cct, concat, reset_concat, p = cache
    n_a = a_next.shape[0]
    dzu = da_next * (cct - a_prev) * ut * (1 - ut)
    dzc = da_next * ut * (1 - cct**2)
    dreset_concat = np.dot(p["Wc"].T, dzc)
    dzr = dreset_concat[:n_a] * a_prev * rt * (1 - rt)
    dconcat = np.dot(p["Wu"].T, dzu) + np.dot(p["Wr"].T, dzr)
    return {
        "da_prev": da_next * (1 - ut) + dreset_concat[:n_a] * rt + dconcat[:n_a],
        "dxt": dconcat[n_a:] + dreset_concat[n_a:],
        "dWu": np.dot(dzu, concat.T),
        "dWr": np.dot(dzr, concat.T),
        "dWc": np.dot(dzc, reset_concat.T),
        "dbu": np.sum(dzu, axis=1, keepdims=True),
        "dbr": np.sum(dzr, axis=1, keepdims=True),
        "dbc": np.sum(dzc, axis=1, keepdims=True),
    }


def gru_backward(da: np.ndarray, caches: Any) -> dict[str, np.ndarray]:
    """BPTT, one :func:`gru_cell_backward` per step, accumulating the weight gradients."""
    cell_caches, x = caches
    n_a, m, t_x = da.shape
    p = cell_caches[0][-1]
    dx = np.zeros((x.shape[0], m, t_x), dtype=da.dtype)
    sums = {"d" + key: np.zeros_like(p[key]) for key in ("Wu", "Wr", "Wc", "bu", "br", "bc")}
    da_prevt = np.zeros((n_a, m), dtype=da.dtype)
    for t in reversed(range(t_x)):
        gradients = gru_cell_backward(da[:, :, t] + da_prevt, cell_caches[t])
        da_prevt = gradients["da_prev"]
        dx[:, :, t] = gradients["dxt"]
        for key in sums:
            sums[key] += gradients[key]
    return {"dx": dx, "da0": da_prevt, **sums}
