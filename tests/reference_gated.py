"""Independent float64 references for the gated cells: the tutorial's per-step loops in plain NumPy,
one column block per step, each gate with its own weight. Written without any xrnn code."""

from __future__ import annotations

from typing import Any

import numpy as np

Params = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


# ---------------------------------------------------------------- LSTM


def lstm_step(xt: np.ndarray, a_prev: np.ndarray, c_prev: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    concat = np.concatenate([a_prev, xt], axis=0)
    f = sigmoid(p["Wf"] @ concat + p["bf"])
    i = sigmoid(p["Wi"] @ concat + p["bi"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    o = sigmoid(p["Wo"] @ concat + p["bo"])
    c = f * c_prev + i * cct
    a = o * np.tanh(c)
    y = softmax(p["Wy"] @ a + p["by"])
    return {"a": a, "c": c, "y": y, "f": f, "i": i, "cct": cct, "o": o, "concat": concat, "c_prev": c_prev}


def lstm_forward(x: np.ndarray, a0: np.ndarray, c0: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    """``a, c, y, f, i, cct, o`` each stacked along a last time axis."""
    steps = []
    a_prev, c_prev = a0, c0
    for t in range(x.shape[2]):
        step = lstm_step(x[:, :, t], a_prev, c_prev, p)
        steps.append(step)
        a_prev, c_prev = step["a"], step["c"]
    return {key: np.stack([s[key] for s in steps], axis=2) for key in ("a", "c", "y", "f", "i", "cct", "o")}


def lstm_step_backward(da: np.ndarray, dc_next: np.ndarray, s: dict[str, np.ndarray], p: Params) -> dict[str, Any]:
    n_a = da.shape[0]
    tc = np.tanh(s["c"])
    dc = dc_next + da * s["o"] * (1 - tc**2)
    dz = {
        "f": dc * s["c_prev"] * s["f"] * (1 - s["f"]),
        "i": dc * s["cct"] * s["i"] * (1 - s["i"]),
        "c": dc * s["i"] * (1 - s["cct"] ** 2),
        "o": da * tc * s["o"] * (1 - s["o"]),
    }
    dconcat = sum(p["W" + g].T @ dz[g] for g in dz)
    grads: dict[str, Any] = {"dxt": dconcat[n_a:], "da_prev": dconcat[:n_a], "dc_prev": dc * s["f"]}
    for g in dz:
        grads["dW" + g] = dz[g] @ s["concat"].T
        grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
    return grads


def lstm_backward(da: np.ndarray, x: np.ndarray, a0: np.ndarray, c0: np.ndarray, p: Params) -> dict[str, Any]:
    steps = []
    a_prev, c_prev = a0, c0
    for t in range(x.shape[2]):
        steps.append(lstm_step(x[:, :, t], a_prev, c_prev, p))
        a_prev, c_prev = steps[-1]["a"], steps[-1]["c"]
    grads: dict[str, Any] = {"dx": np.zeros_like(x)}
    for g in "fico":
        grads["dW" + g] = np.zeros_like(p["W" + g])
        grads["db" + g] = np.zeros_like(p["b" + g])
    da_prev, dc_prev = np.zeros_like(a0), np.zeros_like(c0)
    for t in reversed(range(x.shape[2])):
        step = lstm_step_backward(da[:, :, t] + da_prev, dc_prev, steps[t], p)
        grads["dx"][:, :, t] = step["dxt"]
        for g in "fico":
            grads["dW" + g] += step["dW" + g]
            grads["db" + g] += step["db" + g]
        da_prev, dc_prev = step["da_prev"], step["dc_prev"]
    grads["da0"], grads["dc0"] = da_prev, dc_prev
    return grads


def lstm_problem(n_x: int, n_a: int, n_y: int, m: int, t_x: int, seed: int = 0, scale: float = 0.5) -> dict[str, Any]:
    """Random float64 inputs, initial states, an upstream gradient ``da`` and parameters."""
    rng = np.random.default_rng(seed)
    parameters = {f"W{g}": scale * rng.standard_normal((n_a, n_a + n_x)) for g in "fico"}
    parameters.update({f"b{g}": scale * rng.standard_normal((n_a, 1)) for g in "fico"})
    parameters["Wy"] = scale * rng.standard_normal((n_y, n_a))
    parameters["by"] = scale * rng.standard_normal((n_y, 1))
    return {
        "x": rng.standard_normal((n_x, m, t_x)),
        "a0": rng.standard_normal((n_a, m)),
        "c0": rng.standard_normal((n_a, m)),
        "da": rng.standard_normal((n_a, m, t_x)),
        "parameters": parameters,
    }


# ---------------------------------------------------------------- GRU


def gru_step(xt: np.ndarray, a_prev: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    concat = np.concatenate([a_prev, xt], axis=0)
    u = sigmoid(p["Wu"] @ concat + p["bu"])
    r = sigmoid(p["Wr"] @ concat + p["br"])
    reset_concat = np.concatenate([r * a_prev, xt], axis=0)
    cct = np.tanh(p["Wc"] @ reset_concat + p["bc"])
    a = u * cct + (1 - u) * a_prev
    y = softmax(p["Wy"] @ a + p["by"])
    return {
        "a": a,
        "y": y,
        "u": u,
        "r": r,
        "cct": cct,
        "concat": concat,
        "reset_concat": reset_concat,
        "a_prev": a_prev,
    }


def gru_forward(x: np.ndarray, a0: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    """``a, y, u, r, cct`` each stacked along a last time axis."""
    steps = []
    a_prev = a0
    for t in range(x.shape[2]):
        steps.append(gru_step(x[:, :, t], a_prev, p))
        a_prev = steps[-1]["a"]
    return {key: np.stack([s[key] for s in steps], axis=2) for key in ("a", "y", "u", "r", "cct")}


def gru_step_backward(da: np.ndarray, s: dict[str, np.ndarray], p: Params) -> dict[str, Any]:
    n_a = da.shape[0]
    du = da * (s["cct"] - s["a_prev"])
    dcct = da * s["u"]
    dzu = du * s["u"] * (1 - s["u"])
    dzc = dcct * (1 - s["cct"] ** 2)
    dreset_concat = p["Wc"].T @ dzc
    dr = dreset_concat[:n_a] * s["a_prev"]
    dzr = dr * s["r"] * (1 - s["r"])
    dconcat = p["Wu"].T @ dzu + p["Wr"].T @ dzr
    return {
        "dxt": dconcat[n_a:] + dreset_concat[n_a:],
        "da_prev": da * (1 - s["u"]) + dreset_concat[:n_a] * s["r"] + dconcat[:n_a],
        "dWu": dzu @ s["concat"].T,
        "dbu": dzu.sum(axis=1, keepdims=True),
        "dWr": dzr @ s["concat"].T,
        "dbr": dzr.sum(axis=1, keepdims=True),
        "dWc": dzc @ s["reset_concat"].T,
        "dbc": dzc.sum(axis=1, keepdims=True),
    }


def gru_backward(da: np.ndarray, x: np.ndarray, a0: np.ndarray, p: Params) -> dict[str, Any]:
    steps = []
    a_prev = a0
    for t in range(x.shape[2]):
        steps.append(gru_step(x[:, :, t], a_prev, p))
        a_prev = steps[-1]["a"]
    grads: dict[str, Any] = {"dx": np.zeros_like(x)}
    for g in "urc":
        grads["dW" + g] = np.zeros_like(p["W" + g])
        grads["db" + g] = np.zeros_like(p["b" + g])
    da_prev = np.zeros_like(a0)
    for t in reversed(range(x.shape[2])):
        step = gru_step_backward(da[:, :, t] + da_prev, steps[t], p)
        grads["dx"][:, :, t] = step["dxt"]
        for g in "urc":
            grads["dW" + g] += step["dW" + g]
            grads["db" + g] += step["db" + g]
        da_prev = step["da_prev"]
    grads["da0"] = da_prev
    return grads


def gru_problem(n_x: int, n_a: int, n_y: int, m: int, t_x: int, seed: int = 0, scale: float = 0.5) -> dict[str, Any]:
    """Random float64 inputs, initial state, an upstream gradient ``da`` and parameters."""
    rng = np.random.default_rng(seed)
    parameters = {f"W{g}": scale * rng.standard_normal((n_a, n_a + n_x)) for g in "urc"}
    parameters.update({f"b{g}": scale * rng.standard_normal((n_a, 1)) for g in "urc"})
    parameters["Wy"] = scale * rng.standard_normal((n_y, n_a))
    parameters["by"] = scale * rng.standard_normal((n_y, 1))
    return {
        "x": rng.standard_normal((n_x, m, t_x)),
        "a0": rng.standard_normal((n_a, m)),
        "da": rng.standard_normal((n_a, m, t_x)),
        "parameters": parameters,
    }
