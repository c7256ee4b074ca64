"""The interface every backend adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

from xrnn._typing import Array

# Every scan takes the time-major mask ``keep`` (T_x, m, 1) last, or None.
#: ``rnn_forward_scan(preactivation, waa, a0_rows, keep) -> states``; see ``xrnn._scan``.
ForwardScan = Callable[[Array, Array, Array, Array | None], Array]
#: ``rnn_backward_scan(dstates, states, waa, keep) -> (dpreactivation, da0_rows)``.
BackwardScan = Callable[[Array, Array, Array, Array | None], tuple[Array, Array]]
#: ``lstm_forward_scan(projection, w_a, a0_rows, c0_rows, keep) -> (gates, states, cells)``; see ``xrnn._gated_scans``.
LSTMForwardScan = Callable[[Array, Array, Array, Array, Array | None], tuple[Array, Array, Array]]
#: ``lstm_backward_scan(dstates, gates, cells, c0_rows, w_a, keep) -> (dz, da0_rows, dc0_rows)``.
LSTMBackwardScan = Callable[[Array, Array, Array, Array, Array, Array | None], tuple[Array, Array, Array]]
#: ``gru_forward_scan(projection, w_a, a0_rows, keep) -> (gates, states)``.
GRUForwardScan = Callable[[Array, Array, Array, Array | None], tuple[Array, Array]]
#: ``gru_backward_scan(dstates, gates, states, a0_rows, w_a, keep) -> (dz, da0_rows)``.
GRUBackwardScan = Callable[[Array, Array, Array, Array, Array, Array | None], tuple[Array, Array]]
#: ``time_major_rows(x) -> rows``: ``(n, m, T_x)`` to a new ``(T_x * m, n)``; see ``xrnn._layout.to_rows``.
TimeMajorRows = Callable[[Array], Array]
#: ``softmax(x, axis) -> a new array``; see ``xrnn.activations.softmax_unchecked``.
Softmax = Callable[[Array, int], Array]


class ArrayBackend(ABC):
    """One array library as xrnn sees it.

    Subclasses live in ``xrnn/backends/<name>.py``, the only modules that import an array library.
    The math modules never call an adapter except to look up an optional fast path.
    """

    #: Registry name, e.g. ``"numpy"``.
    name: ClassVar[str]
    #: Fast paths. ``None`` means the generic Array API twin (``xrnn._scan``, ``xrnn._gated_scans``,
    #: ``xrnn._layout``, ``xrnn.activations``) serves.
    rnn_forward_scan: ForwardScan | None = None
    rnn_backward_scan: BackwardScan | None = None
    lstm_forward_scan: LSTMForwardScan | None = None
    lstm_backward_scan: LSTMBackwardScan | None = None
    gru_forward_scan: GRUForwardScan | None = None
    gru_backward_scan: GRUBackwardScan | None = None
    time_major_rows: TimeMajorRows | None = None
    softmax: Softmax | None = None
    #: Whether the scans accept a mask; when not, calls with a mask run the generic twins.
    scans_take_masks: ClassVar[bool] = False
    #: Whether the backward scans accept ``after``, the gradients reaching the last states from beyond the
    #: sequence (checkpointed BPTT's later segments); when not, such calls run the generic twins.
    scans_take_after: ClassVar[bool] = False

    @property
    @abstractmethod
    def xp(self) -> ModuleType:
        """The Array API namespace of this library (array-api-compat's wrapper where one exists)."""

    @abstractmethod
    def asarray(self, obj: Any, *, dtype: Any = None, device: Any = None) -> Array:
        """Convert host data (NumPy arrays, sequences, scalars) to this library on ``device``."""

    @abstractmethod
    def to_numpy(self, x: Array) -> Any:
        """Copy ``x`` to a NumPy array on the host."""

    @abstractmethod
    def standard_normal(self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any) -> Array:
        """Seeded standard-normal samples, generated where the array will live."""

    @abstractmethod
    def uniform(
        self, shape: tuple[int, ...], *, seed: int | None, dtype: Any, device: Any, low: float, high: float
    ) -> Array:
        """Seeded samples uniform on ``[low, high)``, generated where the array will live."""

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the library imports but cannot run here, or ``None`` when it can."""
        return None

    def synchronize(self) -> None:  # noqa: B027 - host libraries have nothing to wait for
        """Wait for queued device work to finish (for timing); a no-op on the host."""

    def default_device(self) -> Any:
        """The device new arrays land on when none is given."""
        return None

    def refused_type(self, kind: type) -> str | None:
        """Why xrnn refuses arrays of type ``kind`` of this library (``"a ..."``), or ``None``: a subclass
        whose extra meaning the Array API code would silently drop."""
        return None

    def resolve_dtype(self, dtype: Any) -> Any:
        """Accept ``"float32"``/``"float64"`` or a dtype object of this library."""
        if isinstance(dtype, str):
            if dtype not in ("float32", "float64"):
                raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
            return getattr(self.xp, dtype)
        return dtype

    def __repr__(self) -> str:
        return f"<xrnn backend {self.name!r}>"
