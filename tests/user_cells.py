"""A researcher's own cell, written only against the public contract of :func:`xrnn.cells.define`.

``LEAKY`` has two states, separate and joint weights, and any Array API library (``xp`` from the arrays):
a leaky integrator of a tanh unit, whose gate ``g`` decides how much of the old integrated state ``s``
to keep; the output state is ``a = tanh(s)``::

    h<t> = tanh(W x<t> + U a<t-1> + b)
    g<t> = sigmoid(V [a<t-1>; x<t>] + c)
    s<t> = g<t> * s<t-1> + (1 - g<t>) * h<t>
    a<t> = tanh(s<t>)

Importable as ``tests.user_cells:LEAKY`` (for ``xrnn train --cell`` and Dask workers).
"""

from __future__ import annotations

from typing import Any

import array_api_compat

import xrnn


def step_forward(xt: Any, state: tuple[Any, ...], p: dict[str, Any]) -> tuple[tuple[Any, ...], Any]:
    xp = array_api_compat.array_namespace(xt)
    a_prev, s_prev = state
    h = xp.tanh(p["W"] @ xt + p["U"] @ a_prev + p["b"])
    joint = xp.concat([a_prev, xt], axis=0)
    g = xrnn.sigmoid(p["V"] @ joint + p["c"])
    s = g * s_prev + (1 - g) * h
    a = xp.tanh(s)
    return (a, s), (a, s_prev, h, g, a_prev, xt, joint, p)


def step_backward(dstate: tuple[Any, ...], cache: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    a, s_prev, h, g, a_prev, xt, joint, p = cache
    xp = array_api_compat.array_namespace(a)
    da, ds_later = dstate
    n_a = a.shape[0]
    ds = ds_later + da * (1 - a * a)
    dzg = ds * (s_prev - h) * g * (1 - g)
    dz = ds * (1 - g) * (1 - h * h)
    djoint = p["V"].T @ dzg
    gradients = {
        "dW": dz @ xt.T,
        "dU": dz @ a_prev.T,
        "db": xp.sum(dz, axis=1, keepdims=True),
        "dV": dzg @ joint.T,
        "dc": xp.sum(dzg, axis=1, keepdims=True),
    }
    dxt = p["W"].T @ dz + djoint[n_a:, ...]
    da_prev = p["U"].T @ dz + djoint[:n_a, ...]
    return dxt, (da_prev, ds * g), gradients


LEAKY = xrnn.cells.define(
    "leaky",
    step_forward,
    step_backward,
    parameters={"W": ("n_a", "n_x"), "U": ("n_a", "n_a"), "b": ("n_a", 1), "V": ("n_a", "n_a + n_x"), "c": ("n_a", 1)},
    state=("a", "s"),
)
