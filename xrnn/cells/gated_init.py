"""Seeded parameters for the gated cells (LSTM, GRU) on any backend and dtype."""

from __future__ import annotations

from collections.abc import Sequence

from xrnn._typing import Array
from xrnn.cells.initializers import gaussian_weights, zero_biases

_LSTM_GATES = ("f", "i", "c", "o")
_GRU_GATES = ("u", "r", "c")


def init_lstm_parameters(
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    scale: float = 0.01,
    device: object = None,
) -> dict[str, Array]:
    """Random LSTM parameters: standard normal weights times ``scale``, zero biases.

    Parameters
    ----------
    n_x, n_a, n_y : int
        Input, hidden and output sizes (each at least 1).
    backend, dtype, seed, device
        As in :func:`xrnn.init_parameters`.
    scale : float
        Standard deviation of the weights.

    Returns
    -------
    dict
        ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)``, ``bf, bi, bc, bo (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> from xrnn.cells.gated_init import init_lstm_parameters
    >>> p = init_lstm_parameters(3, 5, 2, seed=0, dtype="float32")
    >>> p["Wf"].shape, p["bo"].shape, str(p["Wy"].dtype)
    ((5, 8), (5, 1), 'float32')
    """
    return _init(_LSTM_GATES, n_x, n_a, n_y, backend, dtype, seed, scale, device)


def init_gru_parameters(
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    scale: float = 0.01,
    device: object = None,
) -> dict[str, Array]:
    """Random GRU parameters: standard normal weights times ``scale``, zero biases.

    Parameters are as in :func:`init_lstm_parameters`.

    Returns
    -------
    dict
        ``Wu, Wr, Wc (n_a, n_a + n_x)``, ``bu, br, bc (n_a, 1)``, ``Wy (n_y, n_a)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> from xrnn.cells.gated_init import init_gru_parameters
    >>> p = init_gru_parameters(3, 5, 2, seed=0)
    >>> sorted(p)
    ['Wc', 'Wr', 'Wu', 'Wy', 'bc', 'br', 'bu', 'by']
    """
    return _init(_GRU_GATES, n_x, n_a, n_y, backend, dtype, seed, scale, device)


def _init(
    gates: Sequence[str],
    n_x: int,
    n_a: int,
    n_y: int,
    backend: str,
    dtype: object,
    seed: int | None,
    scale: float,
    device: object,
) -> dict[str, Array]:
    shapes = {f"W{gate}": (n_a, n_a + n_x) for gate in gates}
    shapes["Wy"] = (n_y, n_a)
    xp, weights = gaussian_weights(n_x, n_a, n_y, shapes, backend=backend, dtype=dtype, seed=seed, device=device)
    parameters = {key: w * scale for key, w in weights.items()}
    biases = zero_biases(xp, {**{f"b{gate}": n_a for gate in gates}, "by": n_y}, like=parameters["Wy"])
    return {**parameters, **biases}
