"""The docstrings of the cells' public functions, filled in from each cell's specification.

A cell's keys, shapes and states are stated once, in its :class:`~xrnn.cells._spec.CellSpec`; the
docstrings of ``rnn_forward``, ``lstm_forward``, ... (and their Dask twins) name them through
placeholders such as ``%(parameters)s`` that :func:`fill_doc` replaces. A placeholder alone on its line
may stand for several lines, which take its indentation.
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


def fragments(cell: CellSpec) -> dict[str, str]:
    """Every placeholder's text for ``cell``."""
    carried = "state is" if len(cell.state) == 1 else "states are"
    return {
        "parameters": key_groups(cell, cell.shapes_with_output),
        "keys": ", ".join(cell.shapes_with_output),
        "gradients": key_groups(cell, cell.keys, prefix="d"),
        "initial_gradients": ", ".join(f"``{name} (n_a, m)``" for name in cell.initial_gradient_names),
        "mask": "mask : array of bool, shape (m, T_x), optional\n"
        + textwrap.indent(
            textwrap.fill(
                f"``mask[i, t]`` is ``False`` where example ``i`` has no step ``t`` (padding). There the {carried} "
                "carried unchanged and the step takes no part in the backward pass, so a padded batch gives what "
                f"each example alone gives. {_final_states(cell)} of the next window for truncated BPTT.",
                width=100,
            ),
            "    ",
        ),
        "checkpoints": CHECKPOINTS,
        "raises": RAISES,
        "step_raises": STEP_RAISES,
    }


def fill_doc(cell: CellSpec, **extra: str) -> Callable[[_Function], _Function]:
    """Decorator: replace the placeholders in the function's docstring with ``cell``'s :func:`fragments`
    and the texts ``extra``."""
    own = fragments(cell)
    texts = {**own, **{name: fill_text(text, own) for name, text in extra.items()}}

    def fill(function: _Function) -> _Function:
        function.__doc__ = fill_text(function.__doc__ or "", texts)
        return function

    return fill


def fill_text(doc: str, texts: dict[str, str]) -> str:
    """``doc`` with each placeholder replaced; an unknown one is a ``KeyError`` at import."""

    def replace(match: re.Match[str]) -> str:
        if match["inline"] is not None:
            return texts[match["inline"]]
        indent = match["indent"]
        return "\n".join(indent + line if line else line for line in texts[match["line"]].splitlines())

    return _PLACEHOLDER.sub(replace, doc)
