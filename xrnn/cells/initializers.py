"""Seeded parameter initialisation on any backend and dtype."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType

import array_api_compat

from xrnn._typing import Array
from xrnn.backends import get_backend

SCHEMES = ("small", "glorot")


def init_parameters(
    n_x: int,
    n_a: int,
    n_y: int,
    *,
    backend: str = "numpy",
    dtype: object = "float64",
    seed: int | None = None,
    scheme: str = "small",
    scale: float = 0.01,
    device: object = None,
) -> dict[str, Array]:
    """Random RNN parameters ``Wax, Waa, Wya, ba, by`` with zero biases.

    Parameters
    ----------
    n_x, n_a, n_y : int
        Input, hidden and output sizes (each at least 1).
    backend : str
        Where the arrays live: ``"numpy"``, ``"cupy"``, ``"array_api_strict"``.
    dtype : str or dtype
        ``"float32"`` or ``"float64"`` (or a dtype of the backend).
    seed : int, optional
        Seed of the backend's own generator (NumPy's PCG64 on the host, CuPy's on the GPU), so a seed
        gives the same numbers on NumPy and array-api-strict, and other numbers on CuPy.
    scheme : {"small", "glorot"}
        ``"small"``: standard normal times ``scale`` (the spec tutorial's ``randn * 0.01``).
        ``"glorot"``: Glorot-normal ``Wax`` and ``Wya``, and an orthogonal ``Waa`` that keeps the
        recurrence from shrinking or blowing up gradients at the start of training.
    scale : float
        Standard deviation for ``scheme="small"``.
    device : optional
        Target device in the backend's terms (``None``: its default).

    Returns
    -------
    dict
        ``Wax (n_a, n_x)``, ``Waa (n_a, n_a)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.

    Examples
    --------
    >>> import xrnn
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0, dtype="float32")
    >>> {k: (v.shape, str(v.dtype)) for k, v in p.items()}["Waa"]
    ((5, 5), 'float32')
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    sizes = {"Wax": (n_a, n_x), "Waa": (n_a, n_a), "Wya": (n_y, n_a)}
    xp, weights = gaussian_weights(n_x, n_a, n_y, sizes, backend=backend, dtype=dtype, seed=seed, device=device)
    if scheme == "small":
        weights = {key: w * scale for key, w in weights.items()}
    else:
        weights["Wax"] = weights["Wax"] * math.sqrt(2.0 / (n_a + n_x))
        weights["Wya"] = weights["Wya"] * math.sqrt(2.0 / (n_y + n_a))
        weights["Waa"] = _orthogonal(xp, weights["Waa"])
    return {**weights, **zero_biases(xp, {"ba": n_a, "by": n_y}, like=weights["Wax"])}


def gaussian_weights(
    n_x: int,
    n_a: int,
    n_y: int,
    shapes: Mapping[str, tuple[int, int]],
    *,
    backend: str,
    dtype: object,
    seed: int | None,
    device: object,
) -> tuple[ModuleType, dict[str, Array]]:
    """Check the sizes, then cut one seeded standard-normal stream into the named matrices, in order."""
    for name, size in (("n_x", n_x), ("n_a", n_a), ("n_y", n_y)):
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")
    adapter = get_backend(backend)
    xp = adapter.xp
    total = sum(rows * cols for rows, cols in shapes.values())
    samples = adapter.standard_normal((total,), seed=seed, dtype=adapter.resolve_dtype(dtype), device=device)
    weights, start = {}, 0
    for key, (rows, cols) in shapes.items():
        weights[key] = xp.reshape(samples[start : start + rows * cols], (rows, cols))
        start += rows * cols
    return xp, weights


def zero_biases(xp: ModuleType, sizes: Mapping[str, int], like: Array) -> dict[str, Array]:
    """Zero column vectors ``(n, 1)`` in ``like``'s dtype and on its device."""
    at = array_api_compat.device(like)
    return {key: xp.zeros((n, 1), dtype=like.dtype, device=at) for key, n in sizes.items()}


def _orthogonal(xp: object, gaussian: Array) -> Array:
    """The Q of a QR decomposition, signs fixed so that it is uniformly (Haar) distributed."""
    q, r = xp.linalg.qr(gaussian)  # type: ignore[attr-defined]
    signs = xp.sign(xp.linalg.diagonal(r))  # type: ignore[attr-defined]
    return q * signs[None, :]
