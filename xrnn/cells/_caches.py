"""What the RNN, LSTM and GRU sequence caches share: time-major arrays seen in the spec's layout."""

from __future__ import annotations

from xrnn._layout import from_rows
from xrnn._typing import Array
from xrnn._validation import namespace_of


class TimeMajorCache:
    """Mixin for the sequence caches, which hold ``states`` and ``inputs`` time-major, one row per example.

    The subclasses are frozen dataclasses with at least the fields ``states (T_x, m, n_a)``,
    ``inputs (T_x, m, n_x)`` and ``a0 (n_a, m)``.
    """

    states: Array
    inputs: Array
    a0: Array

    def _spec(self, rows: Array) -> Array:
        """A time-major ``(T_x, m, n)`` array as a view in the spec's ``(n, m, T_x)`` layout."""
        return from_rows(namespace_of(rows), rows, self.a0.shape[1])

    @property
    def a(self) -> Array:
        """Hidden states in the spec's layout ``(n_a, m, T_x)`` (a view of :attr:`states`)."""
        return self._spec(self.states)

    @property
    def x(self) -> Array:
        """The inputs in the spec's layout ``(n_x, m, T_x)`` (a view of :attr:`inputs`)."""
        return self._spec(self.inputs)

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def _check_step(self, t: int) -> None:
        if not 0 <= t < len(self):
            raise IndexError(f"step t must be in [0, T_x) = [0, {len(self)}), got {t}")
