"""Any cell over a whole sequence, one call of its step forward (and step backward) per time step.

This is how the engine runs a cell that declares no sequence optimisation (every researcher's own cell),
and the per-step reference the declared optimisations are held equal to. It works in the spec's column
layout: step ``t`` reads ``x[:, :, t]`` and each state is ``(n_a, m)``.

Masks: at a padded step the states are carried unchanged; in the backward pass that step's gradient from
the outputs is ignored, the step's backward sees a zero incoming gradient in the padded columns (so they
add nothing to any parameter gradient), its ``dxt`` is zero there, and the gradient reaching its new
state passes straight to the previous state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import array_api_compat

from xrnn._masking import carry
from xrnn._typing import Array
from xrnn._validation import a_library_array, namespace_of
from xrnn.cells._caches import SequenceCache, StepLoopCache
from xrnn.cells._door import Checked, describe_value
from xrnn.cells._spec import CellContractError, CellSpec, State

#: Called with each step's index and what its backward saw and returned (for per-step statistics).
StepObserver = Callable[[int, State, dict[str, Array]], None]


def forward(
    cell: CellSpec, checked: Checked, x: Array, initial: Sequence[Array], params: Mapping[str, Array]
) -> StepLoopCache:
    """Every step of ``cell`` over ``x (n_x, m, T_x)``, keeping each step's cache."""
    xp, keep = checked.xp, checked.keep
    state = tuple(initial)
    caches: list[Any] = []
    histories: list[list[Array]] = [[] for _ in state]
    layout: list[Any] = []  # of the states: what every step after the first must return
    for t in range(int(x.shape[2])):
        returned = cell.step_forward(x[:, :, t], state, params)
        if t == 0 or not _returns_like(returned, 2, layout):
            check_step_forward(cell, returned, state, step=t)
            layout = _layout(state)
        new, step_cache = returned
        if keep is not None:
            columns = keep[t, ...].T
            new = tuple(carry(xp, columns, n, old) for n, old in zip(new, state, strict=True))
        state = tuple(new)
        caches.append(step_cache)
        for history, value in zip(histories, state, strict=True):
            history.append(value.T)
    stacked = tuple(xp.stack(history) for history in histories)
    return StepLoopCache(cell, tuple(caches), stacked[0], stacked, x, tuple(initial), params, keep)


def backward(
    cache: SequenceCache,
    dstates: Array,
    after: tuple[Array, ...] | None = None,
    observe: StepObserver | None = None,
) -> dict[str, Array]:
    """BPTT one step at a time from ``dstates (T_x, m, n_a)``, the gradient reaching each hidden state from
    outside the recurrence, and ``after``, the gradients reaching the last step's states from beyond the
    sequence. Works on any sequence cache, through its per-step caches (``cache.step(t)``).

    ``observe(t, dstate, dparameters)``, if given, sees each step's incoming gradient and its parameter
    gradients (already zero in padded columns).
    """
    cell, keep = cache.cell, cache.mask
    xp = namespace_of(cache.states)
    through = tuple(xp.zeros_like(state) for state in cache.initial) if after is None else tuple(after)
    totals: dict[str, Array] = {}
    dxs: list[Array] = []
    layout: list[Any] = []  # of the last step's results, once checked: what every other step must return
    for t in range(cache.steps - 1, -1, -1):
        columns = None if keep is None else keep[t, ...].T
        outer = dstates[t, ...].T
        incoming = (carry(xp, columns, through[0] + outer, through[0]), *through[1:])
        dstate = incoming if columns is None else tuple(_zero_padded(xp, columns, g) for g in incoming)
        returned = cell.step_backward(dstate, cache.step(t))
        if not layout or not _returns_like(returned, 3, layout, cell.keys):
            _check_gradients(cell, cache, returned, dstate, step=t)
            layout = layout or _layout(_flat(returned, cell.keys))
        dxt, dprevious, dparams = returned
        if columns is not None:
            dxt = _zero_padded(xp, columns, dxt)
            dprevious = tuple(carry(xp, columns, d, g) for d, g in zip(dprevious, incoming, strict=True))
        if observe is not None:
            observe(t, dstate, dparams)
        for key, value in dparams.items():
            totals[key] = value if key not in totals else totals[key] + value
        dxs.append(dxt)
        through = tuple(dprevious)
    grads = {"dx": xp.stack(dxs[::-1], axis=2)}
    grads.update({f"d{name}": value for name, value in zip(cell.initial_names, through, strict=True)})
    grads.update({f"d{key}": totals[f"d{key}"] for key in cell.keys})
    return grads


def _zero_padded(xp: ModuleType, columns: Array, values: Array) -> Array:
    return xp.where(columns, values, xp.zeros_like(values))


# -- checks of what a cell's step functions return ---------------------------------------------------------
# The first step of every call is checked in full; every other step only for the same arrays' types, shapes and
# dtypes (a shape that broadcasts into the running sums would otherwise be a silently wrong gradient).
def _flat(returned: tuple[Any, ...], keys: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The arrays of a step's results, in order: a state, or ``dxt``, ``dstate_prev`` and the ``d`` + keys."""
    if not keys:
        state = returned[0]
        if not isinstance(state, tuple):
            raise TypeError("not a tuple")
        return state
    dxt, dprevious, dparams = returned
    if not isinstance(dprevious, tuple) or len(dparams) != len(keys):
        raise TypeError("not a tuple, or other keys")
    return (dxt, *dprevious, *(dparams[f"d{key}"] for key in keys))


def _layout(arrays: Sequence[Any]) -> list[tuple[type, Any, Any]]:
    """Type, shape and dtype of each array (a list: comparing two is cheap, dtypes by identity first)."""
    return [(type(a), a.shape, a.dtype) for a in arrays]


def _returns_like(returned: object, count: int, layout: list[Any], keys: tuple[str, ...] = ()) -> bool:
    """Whether a later step returned a ``count``-tuple whose arrays have the first step's ``layout``."""
    if type(returned) is not tuple or len(returned) != count:
        return False
    try:
        return _layout(_flat(returned, keys)) == layout
    except (TypeError, ValueError, KeyError, AttributeError):
        return False


def check_step_forward(cell: CellSpec, returned: object, state: State, *, step: int = 0) -> None:
    """``returned`` must be ``(new_state, cache)``, ``new_state`` a tuple like ``state``."""
    _check_results(cell, _function("step_forward", step == 0), returned, ("new_state", "cache"))
    assert isinstance(returned, tuple)
    _check_state(cell, _function("step_forward", step == 0), "new_state", returned[0], state)


def _function(name: str, first: bool) -> str:
    return name if first else f"{name} (on a later step)"


def _check_results(cell: CellSpec, function: str, returned: object, names: tuple[str, ...]) -> None:
    if not isinstance(returned, tuple) or len(returned) != len(names):
        raise CellContractError(
            f"cell {cell.name!r}: {function} returned {describe_value(returned)}; expected a tuple of {len(names)} "
            f"({', '.join(names)})"
        )


def _check_state(cell: CellSpec, function: str, what: str, value: object, like: State) -> None:
    """``value`` must be a tuple like ``like``: one array per state, each of its shape, library, dtype, device."""
    where = f"cell {cell.name!r}: {function} returned {what}"
    if not isinstance(value, tuple) or len(value) != len(like):
        count = f"{len(like)} array{'s' if len(like) > 1 else ''}"
        raise CellContractError(
            f"{where} as {describe_value(value)}; expected a tuple of {count} ({', '.join(cell.state)})"
        )
    for name, array, reference in zip(cell.state, value, like, strict=True):
        _check_array(f"{where}[{cell.state.index(name)}] ({name})", array, reference, tuple(reference.shape))


def _check_gradients(cell: CellSpec, cache: SequenceCache, returned: object, dstate: State, *, step: int) -> None:
    function = _function("step_backward", step == cache.steps - 1)
    _check_results(cell, function, returned, ("dxt", "dstate_prev", "dparameters"))
    assert isinstance(returned, tuple)
    dxt, dprevious, dparams = returned
    where = f"cell {cell.name!r}: {function} returned"
    reference = dstate[0]
    m = int(reference.shape[1])
    _check_array(f"{where} dxt", dxt, reference, (int(cache.x.shape[0]), m))
    _check_state(cell, function, "dstate_prev", dprevious, dstate)
    if not isinstance(dparams, dict):
        raise CellContractError(f"{where} dparameters as {type(dparams).__name__}; expected a dict of 'd' + key")
    expected = [f"d{key}" for key in cell.keys]
    if sorted(dparams) != sorted(expected):
        missing = [key for key in expected if key not in dparams]
        extra = [key for key in dparams if key not in expected]
        raise CellContractError(
            f"{where} dparameters with keys {sorted(dparams)}; missing {missing}, unexpected {extra}"
        )
    for key in cell.keys:
        shape = tuple(int(n) for n in cache.parameters[key].shape)
        _check_array(f"{where} dparameters['d{key}']", dparams[f"d{key}"], reference, shape)


def _check_array(where: str, value: Any, reference: Array, shape: tuple[int, ...]) -> None:
    if type(value) is not type(reference):
        raise CellContractError(f"{where} as {type(value).__name__}; expected {a_library_array(reference)}")
    if tuple(value.shape) != shape:
        raise CellContractError(f"{where} with shape {tuple(value.shape)}; expected {shape}")
    if value.dtype != reference.dtype:
        raise CellContractError(f"{where} with dtype {value.dtype}; expected {reference.dtype}")
    device, expected_device = array_api_compat.device(value), array_api_compat.device(reference)
    if device != expected_device:
        raise CellContractError(f"{where} on device {device}; expected {expected_device}")
