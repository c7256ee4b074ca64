"""The one entrance of the sequence engine: every argument is checked here, once, into a :class:`Checked`.

Below the door, code trusts the record it is handed and checks nothing again. Messages name the argument
and give the expected and the actual shape, dtype, library or device, in the spec's sizes
``n_x, n_a, n_y, m, T_x``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import NamedTuple

import array_api_compat

from xrnn._masking import mask_rows
from xrnn._typing import Array
from xrnn._validation import (
    check_data_shapes,
    check_parameters,
    common_namespace,
    expect_float32_or_float64,
    expect_shape,
)
from xrnn.cells._memo import remembered
from xrnn.cells._shapes import Extent, blame, solve_sizes
from xrnn.cells._spec import CellSpec

#: The data arguments' shapes: a sequence, a step's input, a state.
SEQUENCE = ("n_x", "m", "T_x")
STEP_INPUT = ("n_x", "m")
STATE = ("n_a", "m")


class Checked(NamedTuple):
    """What the door found: the arrays' namespace, every size, and the mask, time-major.

    Attributes
    ----------
    xp : module
        The Array API namespace of every array of the call.
    sizes : dict of str to int
        ``n_x``, ``n_a``, ``m`` (and ``T_x`` for sequences, ``n_y`` when the output layer was checked).
    keep : array of bool, shape (T_x, m, 1), or None
        The mask, time-major (see ``xrnn._masking``).
    sources : dict of str to str
        For each size read off the parameters, the key it was read from.
    """

    xp: ModuleType
    sizes: dict[str, int]
    keep: Array | None = None
    sources: Mapping[str, str] | None = None


def parameter_shapes(cell: CellSpec, *, output: bool) -> Mapping[str, tuple[Extent, ...]]:
    """The shapes to check: the cell's keys, and the output layer's when ``output``."""
    return cell.shapes_with_output if output else cell.shapes


def check_parameter_shapes(
    cell: CellSpec, parameters: Mapping[str, Array], *, output: bool
) -> tuple[dict[str, int], dict[str, str]]:
    """Check the keys and the shapes of ``parameters``: the sizes they give, and the key each came from."""
    shapes = parameter_shapes(cell, output=output)
    check_parameters(parameters, tuple(shapes))
    try:
        return solve_sizes(shapes, parameters)
    except ValueError as error:
        raise blame(shapes, parameters, {}) or error from None


def check_call(
    cell: CellSpec,
    parameters: Mapping[str, Array],
    data: Mapping[str, tuple[Array, Sequence[str]]],
    *,
    output: bool,
    mask: object = None,
) -> Checked:
    """Check a call of ``cell``: ``data`` maps argument names to ``(array, sizes)`` (``x`` or ``xt`` first).

    Checks, in order: the parameter keys; one library, floating dtype and device for every array; the
    parameter shapes against each other; the data against the parameters; the mask.
    """
    shapes = parameter_shapes(cell, output=output)
    params = check_parameters(parameters, tuple(shapes))
    named = {name: array for name, (array, _) in data.items()}
    named.update({name: params[key] for key, name in _argument_names(shapes).items()})
    xp = common_namespace(named)
    first_name, (first, _) = next(iter(data.items()))
    expect_cell_dtype(xp, first_name, first)
    sizes, sources = check_shapes(shapes, params, data)
    keep = mask_rows(xp, mask, first, sizes) if first_name == "x" else None
    return Checked(xp, sizes, keep, sources)


def expect_cell_dtype(xp: ModuleType, name: str, array: Array) -> None:
    """``array`` (of one call's common dtype) must be float32 or float64: NumPy's float16 and long double are
    real floating dtypes too, but the compiled kernels take neither, and float16 overflows in a loss."""
    reason = f' (the cells compute in these two: cast with xrnn.backends.asarray({name}, backend=..., dtype="float32"))'
    expect_float32_or_float64(xp, name, array, reason=reason)


_names: dict[int, tuple[object, object]] = {}


def _argument_names(shapes: Mapping[str, object]) -> dict[str, str]:
    """``{key: "parameters['key']"}``, as messages name the parameters (worked out once per cell)."""
    return remembered(_names, shapes, _name_arguments)


def _name_arguments(shapes: Mapping[str, object]) -> dict[str, str]:
    return {key: f"parameters['{key}']" for key in shapes}


def check_shapes(
    shapes: Mapping[str, tuple[Extent, ...]],
    parameters: Mapping[str, Array],
    data: Mapping[str, tuple[Array, Sequence[str]]],
) -> tuple[dict[str, int], dict[str, str]]:
    """The shapes alone (nothing is read but ``.shape``): the parameters against each other, then the data
    against them. Returns every size and, for those the parameters fixed, the key each came from."""
    try:
        sizes, sources = solve_sizes(shapes, parameters)
    except ValueError as error:
        raise blame(shapes, parameters, _data_sizes(data)) or error from None
    open_sizes = len(sizes) < len(_used_sizes(shapes))
    check_data_shapes(data, sizes)
    if open_sizes:  # sizes no parameter fixed: the data gave them, so the shapes can be checked in full now
        solve_sizes(shapes, parameters, sizes)
    return sizes, sources


def _data_sizes(data: Mapping[str, tuple[Array, Sequence[str]]]) -> dict[str, int]:
    """The sizes the data arrays of the right number of axes give (the first array that has a size wins)."""
    sizes: dict[str, int] = {}
    for array, symbols in data.values():
        if array.ndim == len(symbols):
            for size, length in zip(symbols, array.shape, strict=True):
                sizes.setdefault(size, int(length))
    return sizes


def check_step(
    cell: CellSpec, xt: Array, state: Sequence[Array], parameters: Mapping[str, Array], *, output: bool
) -> Checked:
    """Check one step's call: ``xt (n_x, m)`` and the previous states (named ``a_prev``, ``c_prev``, ...)."""
    data = {"xt": (xt, STEP_INPUT), **{f"{name}_prev": (s, STATE) for name, s in zip(cell.state, state, strict=True)}}
    return check_call(cell, parameters, data, output=output)


def check_step_gradients(reference: tuple[str, Array], gradients: Mapping[str, Array]) -> ModuleType:
    """Check the gradients given to a step's backward (``da_next``, ...) against the cache's array
    ``reference`` (``("cache.a_next", a_next)``): one library, dtype and device, and its shape ``(n_a, m)``."""
    xp = common_namespace({reference[0]: reference[1], **gradients})
    sizes = {"n_a": int(reference[1].shape[0]), "m": int(reference[1].shape[1])}
    for name, gradient in gradients.items():
        expect_shape(name, gradient, STATE, sizes)
    return xp


def initial_data(cell: CellSpec, initial: Sequence[Array | None]) -> dict[str, tuple[Array, Sequence[str]]]:
    """The initial states given (``None`` entries are zeros, filled in after the checks), by argument name."""
    return {name: (state, STATE) for name, state in zip(cell.initial_names, initial, strict=True) if state is not None}


def check_initial(cell: CellSpec, initial: object, argument: str = "state") -> Sequence[Array | None]:
    """``initial`` must hold one entry per state name (``None``: zeros), or be ``None`` (all zeros)."""
    if initial is None:
        return (None,) * len(cell.state)
    count = len(cell.state)
    names = ", ".join(cell.initial_names)
    if not isinstance(initial, tuple | list) or len(initial) != count:
        raise TypeError(
            f"{argument} must be a tuple of {count} array{'s' if count > 1 else ''} ({names}) for cell "
            f"{cell.name!r}, got {describe_value(initial)}"
        )
    return initial


def fill_zeros(
    xp: ModuleType, initial: Sequence[Array | None], checked: Checked, like: Array, *, copied: bool = True
) -> tuple[Array, ...]:
    """The initial states with every ``None`` replaced by zeros ``(n_a, m)`` in ``like``'s dtype, on its device.

    ``copied``: the given states are copied, for a cache that outlives the call: it keeps them for the
    backward pass, and truncated BPTT's ``a0[...] = a[..., -1]`` between the passes must not change its
    gradients.
    """
    given = [state if state is None or not copied else xp.astype(state, state.dtype, copy=True) for state in initial]
    if all(state is not None for state in given):  # every state given: no zeros to place
        return tuple(given)
    shape = (checked.sizes["n_a"], checked.sizes["m"])
    device = array_api_compat.device(like)
    return tuple(xp.zeros(shape, dtype=like.dtype, device=device) if state is None else state for state in given)


_used: dict[int, tuple[object, object]] = {}


def _used_sizes(shapes: Mapping[str, tuple[Extent, ...]]) -> frozenset[str]:
    """The sizes ``shapes`` uses (worked out once per cell)."""
    return remembered(_used, shapes, _sizes_used)


def _sizes_used(shapes: Mapping[str, tuple[Extent, ...]]) -> frozenset[str]:
    return frozenset(size for shape in shapes.values() for extent in shape for size, _ in extent.counts)


def describe_value(value: object) -> str:
    """``a tuple of 2``, ``a list of 3``, or the type's name: what a message says was given."""
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
