"""What a recurrent cell *is*, as data: its parameters, its state, its step, and optional declared optimisations.

One :class:`CellSpec` holds every fact about a cell, stated once. The sequence engine (``_engine``) runs
any specification over time; :class:`xrnn.cells.Cell` adds the methods a user calls.

A step works in the spec's column layout, one example per column::

    step_forward(xt (n_x, m), state, parameters) -> (new_state, cache)
    step_backward(dstate, cache) -> (dxt (n_x, m), dstate_prev, {"d" + key: array})

where ``state``, ``new_state``, ``dstate`` and ``dstate_prev`` are tuples of ``(n_a, m)`` arrays, one per
state name, the first being the hidden state ``a`` that the outputs read. ``dstate`` is the whole gradient
reaching ``new_state``: from the outputs and through the recurrence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from xrnn._typing import Array
from xrnn.cells._shapes import Extent, parse_shape

#: A recurrent state: one ``(n_a, m)`` array per state name.
State = tuple[Array, ...]
StepForward = Callable[[Array, State, Mapping[str, Array]], tuple[State, Any]]
StepBackward = Callable[[State, Any], tuple[Array, State, dict[str, Array]]]
#: ``init(n_x, n_a, n_y, *, backend, dtype, seed, device, **options) -> parameters`` (output layer included).
Initializer = Callable[..., dict[str, Array]]


class CellContractError(TypeError, ValueError):
    """What a cell's own step or init returned breaks the cell contract: a value of the wrong kind, shape,
    dtype, library or device, or the wrong keys. Both a TypeError and a ValueError (as NumPy's ``AxisError``
    is both a ValueError and an IndexError), so it is caught as whichever the mistake is."""


@dataclass(frozen=True)
class Block:
    """One gate of a :class:`ProjectedScan`: a column block ``n_a`` wide of the stacked preactivation.

    ``state_weight`` multiplies the previous state and ``input_weight`` the input; when they are the same
    key, it is a joint weight ``(n_a, n_a + n_x)`` on ``[a_prev; x_t]``, state columns first. ``operand``
    names the cache field whose rows the state weight's gradient reads instead of the previous state
    (the GRU's candidate reads ``r * a_prev``); ``None`` for the previous state.
    """

    gate: str
    state_weight: str
    input_weight: str
    bias: str
    operand: str | None = None


@dataclass(frozen=True)
class ProjectedScan:
    """A declared optimisation: the input projection of every step as one product before the loop, a scan
    per backend, and the weight gradients and ``dx`` as single products after it.

    The forward scan ``twin(xp, projection, w_a, *initial_rows, keep)`` returns the arrays named
    ``stored`` (time-major, ``states`` among them); the backward scan ``twin(xp, dstates, *reads, w_a,
    keep)`` returns ``dz`` (the gradient of the stacked preactivation) and the gradient of each initial
    state's rows. ``reads`` names stored arrays and initial states (``"a0"``, ``"c0"``: their rows). A
    backend's fast path of the same signature, registered under ``forward_kernel``/``backward_kernel``,
    replaces the twin (see :func:`xrnn.backends.fast_path`). ``cache_type`` (a
    :class:`~xrnn.cells._caches.ScanCache`) is built with the stored arrays, ``inputs``, the initial states
    (as ``a0``, ``c0``, ...), ``parameters``, ``mask`` and the cell (``cell_spec``).
    """

    blocks: tuple[Block, ...]
    stored: tuple[str, ...]
    reads: tuple[str, ...]
    forward_kernel: str
    forward_twin: Callable[..., Any]
    backward_kernel: str
    backward_twin: Callable[..., Any]
    cache_type: type


@dataclass(frozen=True, eq=False)
class CellSpec:
    """A recurrent cell as data.

    Attributes
    ----------
    name : str
        The name :func:`xrnn.cells.get_cell` finds it by.
    shapes : mapping of str to tuple of Extent
        The cell's own parameters (not the output layer), in order, with their shapes in ``n_x``, ``n_a``.
    state : tuple of str
        The state names; the first is the hidden state ``a`` the outputs read.
    step_forward, step_backward : callable
        One step and its backward, written against the Array API (see the module docstring).
    init : callable
        Seeded parameters, the output layer included.
    output : tuple of str
        The output layer's weight ``(n_y, n_a)`` and bias ``(n_y, 1)`` keys.
    scan : ProjectedScan or None
        The declared sequence optimisation, if any; without one the engine loops over ``step_forward``.
    """

    name: str
    shapes: Mapping[str, tuple[Extent, ...]]
    state: tuple[str, ...]
    step_forward: StepForward
    step_backward: StepBackward
    init_parameters: Initializer
    output: tuple[str, str] = ("Wy", "by")
    scan: ProjectedScan | None = field(default=None, repr=False)

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """The cell's own parameter keys, in order."""
        return tuple(self.shapes)

    @cached_property
    def initial_names(self) -> tuple[str, ...]:
        """The initial states' argument names: ``a0``, ``c0``, ..."""
        return tuple(f"{name}0" for name in self.state)

    @cached_property
    def initial_gradient_names(self) -> tuple[str, ...]:
        """The initial states' gradient names: ``da0``, ``dc0``, ..."""
        return tuple(f"d{name}" for name in self.initial_names)

    @cached_property
    def shapes_with_output(self) -> dict[str, tuple[Extent, ...]]:
        """:attr:`shapes` and the output layer's: ``(n_y, n_a)`` and ``(n_y, 1)``."""
        weight, bias = self.output
        layer = {weight: parse_shape(("n_y", "n_a"), weight), bias: parse_shape(("n_y", 1), bias)}
        return {**self.shapes, **layer}
