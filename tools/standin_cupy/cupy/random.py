"""Stand-in cupy.random: NumPy's generators, results on the "device"."""

from __future__ import annotations

from typing import Any

import numpy as _np

from cupy._core import wrap as _wrap


class Generator:
    def __init__(self, seed: Any = None) -> None:
        self._g = _np.random.default_rng(seed)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._g, name)
        return lambda *a, **k: _wrap(method(*a, **k))


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)


_global = _np.random.RandomState()


def seed(value: Any = None) -> None:
    _global.seed(value)


def __getattr__(name: str) -> Any:
    method = getattr(_global, name)
    return lambda *a, **k: _wrap(method(*a, **k))
