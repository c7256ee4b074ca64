"""The docstrings of the cells' public functions, filled in from each cell's specification.

A cell's keys, shapes and states are stated once, in its :class:`~xrnn.cells._spec.CellSpec`; the
docstrings of ``rnn_forward``, ``lstm_forward``, ... (and their Dask twins) name them through
placeholders such as ``%(keys)s`` that :func:`fill_doc` replaces. The Parameters, Returns and Raises sections
of the step and sequence functions, which differ between the cells only in what the specification says,
are placeholders too (``%(forward_sections)s``, ...); each function keeps its summary and its examples. A
placeholder alone on its line may stand for several lines, which take its indentation.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from typing import TypeVar

from xrnn.cells._spec import CellSpec

_Function = TypeVar("_Function", bound=Callable[..., object])

_PLACEHOLDER = re.compile(r"^(?P<indent> *)%\((?P<line>\w+)\)s$|%\((?P<inline>\w+)\)s", re.MULTILINE)

#: The errors every checked entry point raises before any work starts.
RAISES = """\
Raises
------
TypeError
    Non-floating or mixed dtypes, mixed array libraries, non-array arguments, a non-boolean mask.
ValueError
    Shapes that disagree (a 1-D bias included), missing parameter keys, arrays on different devices."""

#: The same for one step, which takes no mask.
STEP_RAISES = """\
Raises
------
TypeError
    Non-floating or mixed dtypes, mixed array libraries, non-array arguments.
ValueError
    Shapes that disagree, missing parameter keys, arrays on different devices."""

CHECKPOINTS = """\
checkpoints : int, optional
    Memory-budgeted BPTT: the backward pass holds at most this many step states at once and
    recomputes the others from snapshots, by binomial checkpointing (see ``docs/checkpointing.md``).
    ``None`` (or ``T_x`` or more) keeps everything."""


def key_groups(cell: CellSpec, keys: Iterable[str], prefix: str = "") -> str:
    """``keys`` grouped by shape, in the cell's order: ``Wf, Wi (n_a, n_a + n_x)``, ``bf, bi (n_a, 1)``."""
    shapes = cell.shapes_with_output
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(", ".join(extent.text for extent in shapes[key]), []).append(prefix + key)
    return ", ".join(f"``{', '.join(names)} ({shape})``" for shape, names in groups.items())


def _final_states(cell: CellSpec) -> str:
    finals = " and ".join(f"``{name}[..., -1]``" for name in cell.state)
    initials = " and ".join(f"``{name}``" for name in cell.initial_names)
    if len(cell.state) == 1:
        return f"{finals} is then every example's final state: pass it as {initials}"
    return f"{finals} are then every example's final states: pass them as {initials}"


def entry(names: str, kind: str, text: str) -> str:
    """One numpydoc entry: ``names : kind`` and ``text`` below it, indented and wrapped."""
    return described(f"{names} : {kind}", text)


def described(head: str, text: str) -> str:
    """``head`` and ``text`` below it, indented and wrapped, never inside a ````literal````."""
    kept = re.sub(r"``[^`]*``", lambda literal: literal[0].replace(" ", "\0"), text)
    return head + "\n" + textwrap.indent(textwrap.fill(kept, width=100), "    ").replace("\0", " ")


def sections(*blocks: tuple[str, Iterable[str]]) -> str:
    """Numpydoc sections, each a title, its underline and its entries."""
    return "\n\n".join("\n".join((title, "-" * len(title), *entries)) for title, entries in blocks)


def _names(cell: CellSpec, prefix: str, suffix: str) -> str:
    return ", ".join(prefix + name + suffix for name in cell.state)


def _states(cell: CellSpec) -> str:
    return "The hidden state" if len(cell.state) == 1 else f"The states ``{', '.join(cell.state)}``"


def _step_sections(cell: CellSpec, own: dict[str, str]) -> dict[str, str]:
    """The sections of ``{name}_cell_forward`` and ``{name}_cell_backward``."""
    weight, bias = cell.output
    forward = sections(
        (
            "Parameters",
            [
                entry("xt", "array, shape (n_x, m)", "Input at step ``t``."),
                entry(_names(cell, "", "_prev"), "array, shape (n_a, m)", f"{_states(cell)} at step ``t-1``."),
                entry("parameters", "mapping", f"{own['parameters']}."),
            ],
        ),
        (
            "Returns",
            [
                entry(_names(cell, "", "_next"), "array, shape (n_a, m)", f"{_states(cell)} at step ``t``."),
                entry(
                    "yt_pred", "array, shape (n_y, m)", f"``softmax({weight} a_next + {bias})`` over the class axis."
                ),
                entry("cache", "%(step_cache)s", f"For :func:`{cell.name}_cell_backward`."),
            ],
        ),
    )
    reaching = " and ".join(f"``{name}_next``" for name in cell.state)
    others = " and ".join(f"``{name}_next``" for name in cell.state[1:])
    directly = f" directly (what flows from ``a_next`` into {others} is added here)" if others else ""
    previous = ", ".join(f"``d{name}_prev (n_a, m)``" for name in cell.state)
    backward = sections(
        (
            "Parameters",
            [
                entry(
                    _names(cell, "d", "_next"),
                    "array, shape (n_a, m)",
                    f"What reaches {reaching}{directly}: from the outputs and from later steps.",
                ),
                entry("cache", "%(step_cache)s", f"From :func:`{cell.name}_cell_forward` (or :meth:`%(cache)s.step`)."),
            ],
        ),
        ("Returns", [described("dict", f"``dxt (n_x, m)``, {previous}, {own['gradients']}.")]),
    )
    return {"step_forward_sections": f"{forward}\n\n{STEP_RAISES}", "step_backward_sections": backward}


def _sequence_sections(cell: CellSpec, own: dict[str, str]) -> dict[str, str]:
    """The sections of ``{name}_forward`` and ``{name}_backward``."""
    later = cell.state[1:]
    forward = sections(
        (
            "Parameters",
            [
                entry("x", "array, shape (n_x, m, T_x)", "Inputs for every step."),
                entry("a0", "array, shape (n_a, m), or None", "Initial hidden state (``None``: zeros)."),
                entry("parameters", "mapping", f"{own['parameters']}."),
                *(
                    entry(f"{s}0", "array, shape (n_a, m), optional", f"Initial ``{s}``; zeros when omitted.")
                    for s in later
                ),
                own["mask"],
                CHECKPOINTS,
            ],
        ),
        (
            "Returns",
            [
                entry(
                    "a",
                    "array, shape (n_a, m, T_x)",
                    "Hidden states ``a<1> ... a<T_x>`` (a new array; writing to it does not touch the cache).",
                ),
                entry(
                    "%(y)s",
                    "array, shape (n_y, m, T_x)",
                    "Softmax outputs for every step (meaningless at padded steps).",
                ),
                *(
                    entry(s, "array, shape (n_a, m, T_x)", f"States ``{s}<1> ... {s}<T_x>`` (a new array).")
                    for s in later
                ),
                entry(
                    "caches",
                    "%(cache)s",
                    f"For :func:`{cell.name}_backward`. It is also the spec's ``(caches, x)``: ``caches[0][t]`` is "
                    "step ``t``'s cache (as :meth:`%(cache)s.step` gives it) and ``caches[1]`` is ``x`` "
                    "(under a ``mask``, with its padded steps zeroed).",
                ),
            ],
        ),
    )
    backward = sections(
        (
            "Parameters",
            [
                entry(
                    "da",
                    "array, shape (n_a, m, T_x)",
                    "Gradient of the loss with respect to each hidden state ``a<t>`` from outside the recurrence (for "
                    "example from the output layer); the gradient through the recurrence is added here. Ignored at "
                    "steps the forward mask marks as padding.",
                ),
                entry("caches", "%(cache)s", f"From :func:`{cell.name}_forward`."),
            ],
        ),
        ("Returns", [described("dict", f"``dx (n_x, m, T_x)``, {own['initial_gradients']}, {own['gradients']}.")]),
    )
    return {"forward_sections": f"{forward}\n\n{RAISES}", "backward_sections": backward}


def fragments(cell: CellSpec) -> dict[str, str]:
    """Every placeholder's text for ``cell``, but ``%(step_cache)s``, the class name of its step's cache, which
    :func:`fill_doc` takes as an ``extra`` (the specification does not know the step functions' types)."""
    carried = "state is" if len(cell.state) == 1 else "states are"
    own = {
        "parameters": key_groups(cell, cell.shapes_with_output),
        "keys": ", ".join(cell.shapes_with_output),
        "gradients": key_groups(cell, cell.keys, prefix="d"),
        "initial_gradients": ", ".join(f"``{name} (n_a, m)``" for name in cell.initial_gradient_names),
        "mask": entry(
            "mask",
            "array of bool, shape (m, T_x), optional",
            f"``mask[i, t]`` is ``False`` where example ``i`` has no step ``t`` (padding). There the {carried} "
            "carried unchanged and the step takes no part in the backward pass, so a padded batch gives what "
            f"each example alone gives. {_final_states(cell)} of the next window for truncated BPTT.",
        ),
        "y": "y_pred",
        "cache": "" if cell.scan is None else cell.scan.cache_type.__name__,
        "cache_attributes": "\n".join(
            (
                entry("inputs", "array, shape (T_x, m, n_x)", "The input sequence in the same layout."),
                entry(
                    ", ".join(cell.initial_names),
                    "array, shape (n_a, m)",
                    "The initial state (the caller's array)."
                    if len(cell.state) == 1
                    else "The initial states (the caller's arrays).",
                ),
                entry(
                    "parameters",
                    "mapping",
                    "The parameters used (the caller's mapping, not a copy). Update them only after the backward pass.",
                ),
                entry(
                    "mask",
                    "array of bool, shape (T_x, m, 1), or None",
                    f"Time-major ``mask`` (see :func:`{cell.name}_forward`); ``None`` when every step is real.",
                ),
                entry("cell_spec", "Cell", "The cell whose forward pass made this cache (also :attr:`cell`)."),
            )
        ),
    }
    return {**own, **_step_sections(cell, own), **_sequence_sections(cell, own)}


#: The public functions of a cell whose Parameters, Returns and Raises sections :func:`fill_doc` writes.
ROLES = ("step_forward", "step_backward", "forward", "backward")

_EXAMPLES = re.compile(r"^(?P<indent> *)Examples\n", re.MULTILINE)


def fill_doc(cell: CellSpec, role: str | None = None, **extra: str) -> Callable[[_Function], _Function]:
    """Decorator: replace the placeholders in the function's docstring with ``cell``'s :func:`fragments`
    and the texts ``extra``.

    ``role``, one of :data:`ROLES`, says which of the cell's public functions it decorates (``"forward"``
    for ``{name}_forward``, ...): the sections the specification writes for that function
    (``%(forward_sections)s``, ...) then go before the docstring's Examples, as numpydoc orders them.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    texts = {**fragments(cell), **extra}

    def fill(function: _Function) -> _Function:
        doc = function.__doc__ or ""
        if role is not None:
            doc = _with_sections(doc, role, function.__name__)
        # twice: the sections hold placeholders of their own (the caches' names, the outputs')
        function.__doc__ = fill_text(fill_text(doc, texts), texts)
        return function

    return fill


def _with_sections(doc: str, role: str, name: str) -> str:
    """``doc`` with the placeholder of ``role``'s sections on its own line before the Examples heading."""
    examples = _EXAMPLES.search(doc)
    if examples is None:
        raise ValueError(f"the docstring of {name} needs an Examples section, which the {role} sections precede")
    placeholder = f"{examples['indent']}%({role}_sections)s\n\n"
    return doc[: examples.start()] + placeholder + doc[examples.start() :]


def fill_text(doc: str, texts: dict[str, str]) -> str:
    """``doc`` with each placeholder replaced; an unknown one is a ``KeyError`` at import."""

    def replace(match: re.Match[str]) -> str:
        if match["inline"] is not None:
            return texts[match["inline"]]
        indent = match["indent"]
        return "\n".join(indent + line if line else line for line in texts[match["line"]].splitlines())

    return _PLACEHOLDER.sub(replace, doc)
