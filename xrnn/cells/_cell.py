"""The :class:`Cell` a user calls, the registry of cells by name, and :func:`define` for a researcher's own."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import library_name
from xrnn.backends import backend_of, get_backend
from xrnn.cells import _engine
from xrnn.cells._caches import SequenceCache
from xrnn.cells._door import check_initial, check_parameter_shapes, check_step, describe_value, parameter_shapes
from xrnn.cells._init import check_sizes, compute_dtype, concrete, glorot_uniform
from xrnn.cells._loop import check_step_forward
from xrnn.cells._shapes import CELL_SIZES, Axis, describe, parse_shape
from xrnn.cells._spec import CellContractError, CellSpec, Initializer, State, StepBackward, StepForward

#: The cells xrnn ships; their names cannot be defined again.
BUILTIN = ("rnn", "lstm", "gru")
#: The output layer of a defined cell: ``Wy (n_y, n_a)``, ``by (n_y, 1)``.
OUTPUT = ("Wy", "by")
#: The options :meth:`Cell.init` always hands a cell's initialiser, and their defaults.
INIT_OPTIONS: dict[str, Any] = {"backend": "numpy", "dtype": "float64", "seed": None, "device": None}


class CellImportError(ValueError):
    """A ``MODULE:NAME`` cell that cannot be loaded here: no such module, its import failed, or ``NAME`` is not
    a cell made by :func:`define`. A checkpoint that names such a cell is sound; the code it needs is missing."""


@dataclass(frozen=True, eq=False)
class Cell(CellSpec):
    """A recurrent cell: its specification (see :class:`xrnn.cells.CellSpec`) and what can be done with it.

    Every cell, built in or defined with :func:`define`, runs through the same sequence engine: masks,
    every backend, layers, the patterns, sampling, the trainer and Dask arrays work for all of them.

    Examples
    --------
    >>> import numpy as np, xrnn
    >>> cell = xrnn.cells.get_cell("lstm")
    >>> p = cell.init(4, 3, 4, seed=0)
    >>> a, cache = cell.forward(np.ones((4, 2, 5)), cell.zero_state(p, 2), p)
    >>> grads = cell.backward(np.ones_like(a), cache)
    >>> cell.state, a.shape, sorted(grads)[:3], len(cache[0])
    (('a', 'c'), (3, 2, 5), ['dWc', 'dWf', 'dWi'], 5)
    """

    @property
    def output_keys(self) -> tuple[str, str]:
        """The output layer's weight ``(n_y, n_a)`` and bias ``(n_y, 1)`` keys."""
        return self.output

    @property
    def state_size(self) -> int:
        """How many ``(n_a, m)`` arrays make up the state."""
        return len(self.state)

    def init(self, n_x: int, n_a: int, n_y: int, **options: Any) -> dict[str, Array]:
        """Seeded parameters, the output layer included.

        ``options``: ``backend`` (``"numpy"``, ``"cupy"``, ``"array_api_strict"``), ``dtype`` (``"float32"``,
        ``"float64"``), ``seed`` and ``device``, which always reach the cell's initialiser (with the defaults
        of :data:`INIT_OPTIONS` where not given), and whatever else it takes.
        """
        options = {**INIT_OPTIONS, **options}
        sizes = check_sizes(n_x, n_a, n_y)
        expected = compute_dtype(options["backend"], options["dtype"])  # before a researcher's init sees it
        returned = self.init_parameters(n_x, n_a, n_y, **options)
        if not isinstance(returned, Mapping):
            raise CellContractError(
                f"cell {self.name!r}: init returned {describe_value(returned)}; expected a dict of parameters"
            )
        parameters = dict(returned)
        given = [key for key in self.output if key in parameters]
        if not given:  # an initialiser of the cell's own keys only: add a Glorot-uniform output layer
            layer = parameter_shapes(self, output=True)
            draw = {key: layer[key] for key in self.output}
            where = {key: options[key] for key in ("backend", "dtype", "device")}
            seed = None if options["seed"] is None else options["seed"] + 1
            parameters.update(glorot_uniform(draw, n_x, n_a, n_y, seed=seed, **where))
        self._check_initialised(parameters, sizes, options["backend"], options["dtype"], expected)
        return parameters

    def _check_initialised(
        self, parameters: Mapping[str, Any], sizes: Mapping[str, int], backend: str, dtype: object, expected: object
    ) -> None:
        """What the initialiser returned must be the cell's keys (the output layer's both or neither), arrays
        of the library and dtype asked for (``dtype``, resolved as ``expected``), of the shapes the sizes asked
        for give (a user's ``init`` may get any of them wrong)."""
        where = f"cell {self.name!r}: init returned"
        shapes = parameter_shapes(self, output=True)
        missing = [key for key in shapes if key not in parameters]
        unexpected = [key for key in parameters if key not in shapes]
        if missing or unexpected:
            raise CellContractError(
                f"{where} parameters with keys {sorted(parameters)}; missing {missing}, unexpected {unexpected}"
            )
        adapter = get_backend(backend)
        for key, extents in shapes.items():
            value = parameters[key]
            is_array: bool = array_api_compat.is_array_api_obj(value)  # a bool: no narrowing of Any
            if not is_array or backend_of(value) is not adapter:
                got = f"an array of {library_name(value)}" if is_array else type(value).__name__
                raise CellContractError(
                    f"{where} parameters[{key!r}] as {got}; expected an array of backend {backend!r}"
                )
            if value.dtype != expected:
                raise CellContractError(
                    f"{where} parameters[{key!r}] with dtype {value.dtype}; asked for dtype {dtype!r}"
                )
            shape = concrete(extents, sizes)
            if tuple(value.shape) != shape:
                raise CellContractError(
                    f"{where} parameters[{key!r}] with shape {tuple(value.shape)}; "
                    f"expected {describe(extents)} = {shape} for the sizes asked for"
                )

    def forward(
        self,
        x: Array,
        state: Sequence[Array | None] | None,
        parameters: Mapping[str, Array],
        mask: Array | None = None,
        *,
        checkpoints: int | None = None,
    ) -> tuple[Array, Any]:
        """Hidden states ``a (n_a, m, T_x)`` (a new array) for inputs ``x (n_x, m, T_x)``, and the cache.

        ``state`` holds one ``(n_a, m)`` array per state name (``None``: zeros; ``state=None``: all zeros).
        ``mask (m, T_x)``, ``False`` at padding, carries the state over padded steps. The output layer's
        keys may be absent from ``parameters``. ``checkpoints``: memory-budgeted BPTT, as in
        :func:`xrnn.rnn_forward`.
        """
        result = _engine.forward(self, x, check_initial(self, state), parameters, mask=mask, checkpoints=checkpoints)
        return result.states[0], result.cache

    def backward(self, da: Array, cache: Any) -> dict[str, Array]:
        """Gradients of :meth:`forward` given ``da (n_a, m, T_x)``, the gradient reaching each hidden state
        from outside the recurrence: ``"d" + key`` for the cell's keys (not the output layer), ``dx`` and
        ``"d" + name + "0"`` for each initial state."""
        made_by = getattr(cache, "cell", None)
        if isinstance(made_by, CellSpec) and made_by.name != self.name:
            raise TypeError(f"cache was made by cell {made_by.name!r}, not by {self.name!r}")
        return _engine.backward(da, cache)

    def step(self, xt: Array, state: Sequence[Array], parameters: Mapping[str, Array]) -> State:
        """The state after one step on ``xt (n_x, m)``."""
        given = tuple(check_initial(self, state))
        check_step(self, xt, given, parameters, output=False)
        returned = self.step_forward(xt, given, parameters)
        check_step_forward(self, returned, given)
        return tuple(returned[0])

    def sizes(self, parameters: Mapping[str, Array]) -> dict[str, int]:
        """``n_x``, ``n_a``, ``n_y`` of ``parameters`` (checked against the cell's shapes)."""
        sizes, _ = check_parameter_shapes(self, parameters, output=True)
        return sizes

    def hidden_size(self, parameters: Mapping[str, Array]) -> int:
        """``n_a`` of ``parameters``."""
        return int(parameters[self.output[0]].shape[1])

    def zero_state(self, parameters: Mapping[str, Array], m: int) -> State:
        """A zero state for ``m`` examples, in the library, dtype and device of ``parameters``."""
        like = parameters[self.output[0]]
        xp = array_api_compat.array_namespace(like)
        zeros = xp.zeros((self.hidden_size(parameters), m), dtype=like.dtype, device=array_api_compat.device(like))
        return (zeros,) * len(self.state)

    def stepwise(self) -> Cell:
        """This cell without its declared sequence optimisation: the engine then runs its step functions one
        step at a time (the reference the optimisation is held equal to)."""
        return replace(self, scan=None)


_registry: dict[str, Cell] = {}


def check_made_by(caches: object, cell: CellSpec, cache_name: str) -> None:
    """``caches`` must be the cache of ``cell``'s sequence forward (``rnn_forward`` for ``"rnn"``, ...), or a
    cache a registered handler owns (Dask); ``cache_name`` is what the message calls it."""
    made_by = getattr(caches, "cell", None)
    if made_by is cell:
        return
    if not isinstance(caches, SequenceCache) and (_engine.handler_of(caches) is None or made_by is None):
        raise TypeError(f"caches must be the {cache_name} returned by {cell.name}_forward, got {type(caches).__name__}")
    if not isinstance(made_by, CellSpec) or made_by.name != cell.name:
        made = getattr(made_by, "name", made_by)
        raise TypeError(
            f"caches was made by {made}_forward, but this backward pass needs the cache of {cell.name}_forward"
        )


def register_builtin(cell: Cell) -> Cell:
    """Make a cell xrnn ships findable by name."""
    assert cell.name in BUILTIN
    _registry[cell.name] = cell
    return cell


def define(
    name: str,
    step_forward: StepForward,
    step_backward: StepBackward,
    *,
    parameters: Mapping[str, Sequence[Axis]],
    state: Sequence[str] = ("a",),
    init: Initializer | None = None,
) -> Cell:
    """Define a recurrent cell from its step and the step's backward, as the spec writes ``rnn_cell_forward``
    and ``rnn_cell_backward``; the cell then works everywhere the built-in cells do.

    Parameters
    ----------
    name : str
        The cell's name for :func:`get_cell` (defining it again replaces the earlier definition; the
        built-in names ``rnn``, ``lstm``, ``gru`` cannot be replaced).
    step_forward : callable
        ``step_forward(xt, state, parameters) -> (new_state, cache)``: ``xt (n_x, m)``, ``state`` a tuple of
        ``(n_a, m)`` arrays; ``new_state`` a tuple like ``state``, ``cache`` anything. Any Array API code:
        get ``xp`` from the arrays.
    step_backward : callable
        ``step_backward(dstate, cache) -> (dxt, dstate_prev, dparameters)``: ``dstate`` is the whole gradient
        reaching ``new_state`` (from the outputs and through the recurrence); ``dparameters`` holds
        ``"d" + key`` for each of the cell's keys.
    parameters : mapping
        The cell's own keys and their shapes, each axis an int, ``"n_x"``, ``"n_a"`` or a sum such as
        ``"n_a + n_x"``. The output layer ``Wy (n_y, n_a)``, ``by (n_y, 1)`` is added by the engine.
    state : sequence of str
        The state names; the first is the hidden state ``a`` the outputs read.
    init : callable, optional
        ``init(n_x, n_a, n_y, *, backend, dtype, seed, device) -> parameters`` (the cell's keys, and the
        output layer's if it wants to draw them). Default: a seeded Glorot-uniform draw for the matrices and
        zeros for the ``(..., 1)`` biases.

    Returns
    -------
    Cell

    Raises
    ------
    ValueError
        An unknown size in a shape, a key whose gradient name clashes with ``dx``, an initial state's
        gradient (``da0``, ...) or the output layer, a state name given twice, a built-in name.
    TypeError
        Step functions or an ``init`` that are not callable, shapes that are not tuples of axes.

    Examples
    --------
    A tanh RNN written the spec's way, with its keys in one joint weight:

    >>> import numpy as np, xrnn
    >>> def step_forward(xt, state, p):
    ...     a = np.tanh(p["W"] @ np.concatenate([state[0], xt]) + p["b"])
    ...     return (a,), (a, state[0], xt, p)
    >>> def step_backward(dstate, cache):
    ...     a, a_prev, xt, p = cache
    ...     dz = (1 - a * a) * dstate[0]
    ...     joint = np.concatenate([a_prev, xt])
    ...     dj = p["W"].T @ dz
    ...     n_a = a.shape[0]
    ...     return dj[n_a:], (dj[:n_a],), {"dW": dz @ joint.T, "db": dz.sum(axis=1, keepdims=True)}
    >>> cell = xrnn.cells.define("joint_rnn", step_forward, step_backward,
    ...                          parameters={"W": ("n_a", "n_a + n_x"), "b": ("n_a", 1)})
    >>> p = cell.init(3, 4, 2, seed=0)
    >>> sorted(p), max(xrnn.gradcheck.check_cell(cell).values()) < 1e-7
    (['W', 'Wy', 'b', 'by'], True)
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not name or ":" in name:
        raise ValueError(f"name must be a non-empty string without ':', got {name!r}")
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in cell and cannot be replaced; choose another name")
    for label, function in (("step_forward", step_forward), ("step_backward", step_backward), ("init", init)):
        if not callable(function) and not (label == "init" and function is None):
            raise TypeError(f"{label} must be callable, got {type(function).__name__}")
    states = _check_state_names(state)
    shapes = _check_shapes(parameters, states)
    cell = Cell(
        name=name,
        shapes=shapes,
        state=states,
        step_forward=step_forward,
        step_backward=step_backward,
        init_parameters=init if init is not None else partial(glorot_uniform, {**shapes, **_output_shapes()}),
        output=OUTPUT,
    )
    _registry[name] = cell
    return cell


def get_cell(name: str | Cell) -> Cell:
    """The cell called ``name``: a built-in (``"rnn"``, ``"lstm"``, ``"gru"``), one made with :func:`define`,
    or ``"MODULE:NAME"``, the attribute ``NAME`` of the importable module ``MODULE`` (imported with the
    current directory on the path, as ``python -m`` has it; importing runs the module's code).

    Examples
    --------
    >>> from xrnn.cells import get_cell
    >>> cell = get_cell("lstm")
    >>> p = cell.init(4, 3, 4, seed=0)
    >>> cell.output_keys, cell.hidden_size(p), [s.shape for s in cell.zero_state(p, m=2)]
    (('Wy', 'by'), 3, [(3, 2), (3, 2)])
    """
    if isinstance(name, Cell):
        return name
    if not isinstance(name, str):
        raise TypeError(f"cell must be a cell name or a Cell, got {type(name).__name__}")
    if ":" in name:
        return _imported(name)
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(_registry)
        raise ValueError(f"unknown cell {name!r}; known cells: {known} (or MODULE:NAME to import one)") from None


def cell_names() -> tuple[str, ...]:
    """The names :func:`get_cell` knows now: the built-in cells, then the defined ones."""
    return tuple(_registry)


def cell_of(parameters: Mapping[str, Array]) -> Cell:
    """The cell whose keys (its own and its output layer's) ``parameters`` has.

    Examples
    --------
    >>> import xrnn
    >>> from xrnn.cells import cell_of
    >>> cell_of(xrnn.init_parameters(2, 3, 2, seed=0)).name
    'rnn'
    """
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping, got {type(parameters).__name__}")
    matches = [cell for cell in _registry.values() if all(key in parameters for key in (*cell.keys, *cell.output))]
    exact = [cell for cell in matches if set(parameters) == {*cell.keys, *cell.output}]
    if len(matches) == 1 or len(exact) == 1:
        return matches[0] if len(matches) == 1 else exact[0]
    if matches:
        names = ", ".join(cell.name for cell in matches)
        raise ValueError(f"parameters with keys {sorted(parameters)} fit several cells ({names}); pass cell=")
    raise ValueError(
        f"parameters with keys {sorted(parameters)} belong to no known cell ({', '.join(_registry)}); pass cell="
    )


def resolve(cell: str | Cell | None, parameters: Mapping[str, Array]) -> Cell:
    """``cell`` (a name or a Cell), or the cell the keys of ``parameters`` identify when it is ``None``."""
    return cell_of(parameters) if cell is None else get_cell(cell)


# -- define's checks ------------------------------------------------------------------------------------
def _check_state_names(state: Sequence[str]) -> tuple[str, ...]:
    if isinstance(state, str) or not isinstance(state, Sequence) or len(state) == 0:
        raise TypeError(f"state must be a non-empty tuple of names such as ('a',), got {state!r}")
    names = tuple(state)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"state names must be identifiers such as 'a' or 'c', got {name!r}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"state names must differ; {twice} given more than once in {names}")
    return names


def _check_shapes(parameters: Mapping[str, Sequence[Axis]], states: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(parameters, Mapping) or not parameters:
        raise TypeError(f"parameters must be a non-empty mapping of keys to shapes, got {parameters!r}")
    reserved = {"dx": "the input's gradient dx"}
    reserved.update({f"d{name}0": f"the initial state's gradient d{name}0" for name in states})
    reserved.update({f"d{key}": f"the output layer's {key}" for key in OUTPUT})
    shapes = {}
    for key, shape in parameters.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"parameter keys must be non-empty strings, got {key!r}")
        if f"d{key}" in reserved:
            raise ValueError(f"parameter key {key!r} clashes with {reserved[f'd{key}']}; rename it")
        parsed = parse_shape(shape, f"parameters[{key!r}]")
        if any(size not in CELL_SIZES for extent in parsed for size, _ in extent.counts):
            allowed = " and ".join(CELL_SIZES)
            raise ValueError(f"parameters[{key!r}] uses n_y, which only the output layer has; use {allowed}")
        shapes[key] = parsed
    return shapes


def _output_shapes() -> dict[str, Any]:
    weight, bias = OUTPUT
    return {weight: parse_shape(("n_y", "n_a"), weight), bias: parse_shape(("n_y", 1), bias)}


# -- MODULE:NAME ----------------------------------------------------------------------------------------
def _imported(reference: str) -> Cell:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"cell {reference!r} must be MODULE:NAME, e.g. 'mycells:MGU'")
    if module_name.endswith(".py") or not all(part.isidentifier() for part in module_name.split(".")):
        raise ValueError(
            f"cell {reference!r}: MODULE must be a module's import name such as 'mycells' or 'lab.cells', "
            f"not a path; run from the module's folder or put that folder on PYTHONPATH"
        )
    try:
        with _current_directory_on_path():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise CellImportError(f"cell {reference!r}: no module {error.name!r} to import") from None
    except (Exception, SystemExit) as error:  # the researcher's module failed (or exited): say so in one line
        raise CellImportError(
            f"cell {reference!r}: importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from None
    if not hasattr(module, attribute):
        raise CellImportError(f"cell {reference!r}: module {module_name!r} has no attribute {attribute!r}")
    found = getattr(module, attribute)
    if not isinstance(found, Cell):
        kind = type(found).__name__
        article = "an" if kind[0] in "aeiouAEIOU" else "a"
        raise CellImportError(
            f"cell {reference!r}: {module_name}.{attribute} is {article} {kind}, not a cell made by xrnn.cells.define"
        )
    return found


@contextmanager
def _current_directory_on_path() -> Iterator[None]:
    here = str(Path.cwd())
    added = here not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added:
            sys.path.remove(here)
