"""Sequence caches: what a forward pass keeps for its backward pass, seen as the spec's ``(caches, x)``.

The spec's ``rnn_forward`` returns ``caches = (list of per-step caches, x)``. Every sequence cache here
behaves as that 2-tuple (``per_step, x = caches``; ``caches[0][t]`` is step ``t``'s cache, as the cell's step
forward would have made it; ``caches[1]`` is ``x`` in the spec's layout) while storing each activation
once, time-major: the per-step caches are built on access, as views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, overload

from xrnn._blocks import gate_blocks
from xrnn._layout import from_rows
from xrnn._typing import Array
from xrnn._validation import namespace_of

if TYPE_CHECKING:
    from xrnn.cells._spec import CellSpec


class SequenceCache:
    """What every sequence cache offers: the spec's 2-tuple, the hidden states, and each step's cache.

    Subclasses hold ``states (T_x, m, n_a)`` (the hidden states, time-major: ``states[t]`` is ``a<t+1>``
    transposed), ``parameters`` and ``mask`` (time-major ``(T_x, m, 1)`` or ``None``).

    A cache holds the caller's ``x`` and parameters themselves, not copies (a copy of ``x`` would double a
    long sequence's memory), so writing into them between the forward and the backward pass changes the
    gradients; the initial states and the mask are copies. Checkpointed caches notice changed parameters.
    """

    states: Array
    parameters: Mapping[str, Array]
    mask: Array | None

    # What each kind of cache provides (a plain base class: isinstance checks on every call stay cheap).
    @property
    def cell(self) -> CellSpec:
        """The cell whose forward pass made this cache."""
        raise NotImplementedError

    @property
    def initial(self) -> tuple[Array, ...]:
        """The initial states ``(a0, ...)``, each ``(n_a, m)``."""
        raise NotImplementedError

    @property
    def x(self) -> Array:
        """The inputs in the spec's layout ``(n_x, m, T_x)``."""
        raise NotImplementedError

    def _step(self, t: int) -> Any:
        """Step ``t``'s cache, ``0 <= t < T_x``."""
        raise NotImplementedError

    @property
    def a(self) -> Array:
        """Hidden states in the spec's layout ``(n_a, m, T_x)`` (a view of :attr:`states`)."""
        return self.in_spec_layout(self.states)

    def history(self, index: int) -> Array:
        """Every step's value of state ``index`` (0: the hidden state), time-major ``(T_x, m, n_a)``."""
        if index != 0:
            raise IndexError(f"cell {self.cell.name!r} keeps no state {index} in this cache")
        return self.states

    def step(self, t: int) -> Any:
        """The cache of step ``t`` (0-based), as the cell's step forward would have made it."""
        if not 0 <= t < self.steps:
            raise IndexError(f"step t must be in [0, T_x) = [0, {self.steps}), got {t}")
        return self._step(t)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T_x, m, n_a)``: the steps, the batch and the hidden size."""
        t_x, m, n_a = self.states.shape
        return int(t_x), int(m), int(n_a)

    @property
    def steps(self) -> int:
        """``T_x``, the number of steps."""
        return self.shape[0]

    def in_spec_layout(self, rows: Array) -> Array:
        """A time-major ``(T_x, m, n)`` array as a view in the spec's ``(n, m, T_x)`` layout."""
        return from_rows(namespace_of(rows), rows, self.shape[1])

    # -- the spec's (caches, x) ---------------------------------------------------------------------
    def __len__(self) -> int:
        return 2

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Any, ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return (StepCaches(self), self.x)[index]

    def __iter__(self) -> Iterator[Any]:
        return iter((StepCaches(self), self.x))


class StepCaches(Sequence[Any]):
    """The per-step caches of a sequence cache, ``caches[0]``: ``T_x`` of them, each built when read."""

    def __init__(self, cache: SequenceCache) -> None:
        self._cache = cache

    def __len__(self) -> int:
        return self._cache.steps

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._cache.step(t) for t in range(len(self))[index]]
        t = index + len(self) if index < 0 else index
        if not 0 <= t < len(self):
            raise IndexError(f"step {index} is out of range for T_x = {len(self)}")
        return self._cache.step(t)

    def __repr__(self) -> str:
        return f"<{len(self)} step caches of {self._cache.cell.name!r}>"


@dataclass(frozen=True, eq=False)
class StepLoopCache(SequenceCache):
    """The cache of a cell run step by step (a cell without a declared sequence optimisation).

    Attributes
    ----------
    cell_spec : CellSpec
        The cell.
    step_caches : tuple
        What the cell's step forward returned as its cache at each step.
    states : array, shape (T_x, m, n_a)
        The hidden states, time-major.
    state_histories : tuple of arrays, shape (T_x, m, n_a)
        Every state of every step, time-major, in the cell's state order (the first is ``states``).
    inputs_spec : array, shape (n_x, m, T_x)
        ``x`` as the forward pass read it: the caller's, with the padded steps zeroed under a mask.
    initial_states : tuple of arrays, shape (n_a, m)
        The initial states.
    parameters : mapping
        The parameters used (the caller's mapping, not a copy).
    mask : array of bool, shape (T_x, m, 1), or None
        Time-major mask.
    """

    cell_spec: CellSpec
    step_caches: tuple[Any, ...]
    states: Array
    state_histories: tuple[Array, ...]
    inputs_spec: Array
    initial_states: tuple[Array, ...]
    parameters: Mapping[str, Array]
    mask: Array | None = None

    @property
    def cell(self) -> CellSpec:
        return self.cell_spec

    @property
    def initial(self) -> tuple[Array, ...]:
        return self.initial_states

    @property
    def a0(self) -> Array:
        """The initial hidden state ``(n_a, m)``."""
        return self.initial_states[0]

    @property
    def x(self) -> Array:
        return self.inputs_spec

    def history(self, index: int) -> Array:
        return self.state_histories[index]

    def _step(self, t: int) -> Any:
        return self.step_caches[t]


@dataclass(frozen=True, eq=False, kw_only=True)
class ScanCache(SequenceCache):
    """Base of the caches a :class:`~xrnn.cells._spec.ProjectedScan` builds: the inputs are kept time-major,
    the initial states as fields named ``a0``, ``c0``, ... (a cell with more states declares the others), and
    each step's cache is a :attr:`step_type` record whose fields are found by their names in the spec's
    naming: ``a_next``, ``a_prev`` (and ``c_next``, ``c_prev``, ... for the other states), ``xt`` and
    ``parameters``."""

    #: The type of the cache the cell's step forward makes (``RNNCellCache``, ...), which :meth:`step` builds.
    step_type: ClassVar[type[Any]]

    states: Array
    inputs: Array
    a0: Array
    parameters: Mapping[str, Array]
    mask: Array | None = None
    cell_spec: CellSpec = field(repr=False)

    @property
    def cell(self) -> CellSpec:
        return self.cell_spec

    @property
    def initial(self) -> tuple[Array, ...]:
        return tuple([getattr(self, name) for name in self.cell_spec.initial_names])

    @property
    def x(self) -> Array:
        """The inputs in the spec's layout ``(n_x, m, T_x)`` (a view of :attr:`inputs`)."""
        return self.in_spec_layout(self.inputs)

    def _step(self, t: int) -> Any:
        values = self._step_values(t)
        return self.step_type(**{name: values[name] for name in self.step_type._fields})

    def _step_values(self, t: int) -> dict[str, Any]:
        """Every value step ``t``'s record may hold, by field name. Under a mask, a padded step's states are the
        carried ones (and a gated cell's gates are not used)."""
        values: dict[str, Any] = {"xt": self.inputs[t, ...].T, "parameters": self.parameters}
        for index, (name, initial) in enumerate(zip(self.cell.state, self.initial, strict=True)):
            history = self.history(index)
            values[f"{name}_next"] = history[t, ...].T
            values[f"{name}_prev"] = initial if t == 0 else history[t - 1, ...].T
        return values


@dataclass(frozen=True, eq=False, kw_only=True)
class GatedScanCache(ScanCache):
    """A :class:`ScanCache` that also keeps every step's gates side by side, ``gates (T_x, m, g n_a)``, in the
    order of the cell's declared blocks; in a step's record, gate ``f`` is the field ``ft``."""

    gates: Array

    def _step_values(self, t: int) -> dict[str, Any]:
        values = super()._step_values(t)
        names = _gate_names(self)
        for gate, rows in zip(names, gate_blocks(self.gates, len(names)), strict=True):
            values[f"{gate}t"] = rows[t, ...].T
        return values


def _gate_names(cache: Any) -> list[str]:
    """The gates of the cell that made ``cache``, in the order of its declared blocks (the one place the gate
    order is stated)."""
    return [block.gate for block in cache.cell.scan.blocks]


class _View:
    """A documented array computed from a cache when read (a view of its arrays)."""

    def __init__(self, read: Callable[[Any], Array], doc: str) -> None:
        self.read = read
        self.__doc__ = doc

    def __get__(self, cache: Any, owner: type | None = None) -> Any:
        return self if cache is None else self.read(cache)


def gate_views(gate: str, what: str) -> tuple[Any, Any]:
    """Two views of one gate of a cache's stacked ``gates (T_x, m, g n_a)``, found by the gate's name in the
    cell's declared blocks: time-major ``(T_x, m, n_a)``, and in the spec's ``(n_a, m, T_x)`` layout."""

    def rows(cache: Any) -> Array:
        names = _gate_names(cache)
        return gate_blocks(cache.gates, len(names))[names.index(gate)]

    return (
        _View(rows, f"{what} ``(T_x, m, n_a)``, time-major (a view of :attr:`gates`)."),
        _View(lambda cache: cache.in_spec_layout(rows(cache)), f"{what} ``(n_a, m, T_x)`` (a view of :attr:`gates`)."),
    )


def spec_view(attribute: str, what: str) -> Any:
    """A time-major ``(T_x, m, n_a)`` array of a cache, seen in the spec's ``(n_a, m, T_x)`` layout (a view)."""
    return _View(
        lambda cache: cache.in_spec_layout(getattr(cache, attribute)),
        f"{what} ``(n_a, m, T_x)`` (a view of :attr:`{attribute}`).",
    )
