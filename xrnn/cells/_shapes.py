"""Parameter shapes written in the sizes ``n_x``, ``n_a`` and ``n_y``, and the check that solves them.

A cell states each parameter's shape once, axis by axis: an integer, a size, or a sum of them such as
``"n_a + n_x"``. :func:`solve_sizes` reads the sizes off the parameters it is given, in the cell's key
order, and rejects any parameter whose shape disagrees, naming the key, the expected and the actual shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xrnn._typing import Array

#: The sizes a parameter shape may use: ``n_y`` only in the output layer.
SIZES = ("n_x", "n_a", "n_y")
#: The sizes a cell's own parameters may use.
CELL_SIZES = ("n_x", "n_a")

#: One axis as the user writes it: ``3``, ``"n_a"``, ``"n_a + n_x"``.
Axis = int | str


@dataclass(frozen=True)
class Extent:
    """One axis as a sum: ``constant + sum(count * size)``, e.g. ``n_a + n_x`` or ``2 * n_a`` (``n_a + n_a``)."""

    text: str
    constant: int
    counts: tuple[tuple[str, int], ...]

    def value(self, sizes: Mapping[str, int]) -> int | None:
        """The length for ``sizes``, or ``None`` while a size it needs is unknown."""
        if any(size not in sizes for size, _ in self.counts):
            return None
        return self.constant + sum(count * sizes[size] for size, count in self.counts)

    def unknown(self, sizes: Mapping[str, int]) -> list[str]:
        return [size for size, _ in self.counts if size not in sizes]


def parse_axis(axis: Axis, where: str) -> Extent:
    """``axis`` as an :class:`Extent`; ``where`` names it in the error (``"parameters['W'] axis 1"``)."""
    if isinstance(axis, bool) or not isinstance(axis, int | str):
        raise TypeError(f"{where} must be an int or a size such as 'n_a + n_x', got {axis!r}")
    if isinstance(axis, int):
        if axis < 1:
            raise ValueError(f"{where} must be at least 1, got {axis}")
        return Extent(str(axis), axis, ())
    constant = 0
    counts: dict[str, int] = {}
    for term in axis.split("+"):
        term = term.strip()
        if term.isdigit():
            constant += int(term)
        elif term in SIZES:
            counts[term] = counts.get(term, 0) + 1
        else:
            raise ValueError(
                f"{where} is {axis!r}: {term!r} is not a size; an axis is an int, {', '.join(CELL_SIZES)}, "
                "or a sum of them such as 'n_a + n_x'"
            )
    return Extent(" + ".join(term.strip() for term in axis.split("+")), constant, tuple(counts.items()))


def parse_shape(shape: Sequence[Axis], where: str) -> tuple[Extent, ...]:
    """A parameter's shape as extents; at least one axis."""
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise TypeError(f"{where} must be a tuple of axes such as ('n_a', 'n_x'), got {shape!r}")
    return tuple(parse_axis(axis, f"{where} axis {index}") for index, axis in enumerate(shape))


def describe(shape: Sequence[Extent]) -> str:
    """``(n_a, n_a + n_x)``, as messages show a shape."""
    return f"({', '.join(extent.text for extent in shape)})"


# Every call checks its parameters, whose shapes rarely change: what a set of shapes gave is remembered.
_solved: dict[tuple[int, tuple[object, ...]], tuple[object, dict[str, int], dict[str, str]]] = {}


def solve_sizes(
    shapes: Mapping[str, tuple[Extent, ...]], parameters: Mapping[str, Array], sizes: dict[str, int] | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """:func:`check_sizes`, remembered per ``shapes`` mapping and parameter shapes when no size is given."""
    if sizes is not None:
        return check_sizes(shapes, parameters, sizes)
    key = (id(shapes), tuple([parameters[name].shape for name in shapes]))
    known = _solved.get(key)
    if known is None or known[0] is not shapes:
        found, sources = check_sizes(shapes, parameters)
        if len(_solved) > 256:
            _solved.clear()
        known = _solved[key] = (shapes, found, sources)
    return dict(known[1]), dict(known[2])


def check_sizes(
    shapes: Mapping[str, tuple[Extent, ...]], parameters: Mapping[str, Array], sizes: dict[str, int] | None = None
) -> tuple[dict[str, int], dict[str, str]]:
    """Check ``parameters`` against ``shapes`` in order, learning each size from the first key that fixes it.

    Returns the sizes and, for each, the key it was read from. ``sizes`` may hold sizes known already
    (from the data); an axis whose sizes stay unknown is left unchecked, for a second call once they are known.
    Raises ``ValueError`` naming the first parameter whose shape cannot be right.
    """
    sizes = {} if sizes is None else sizes
    sources: dict[str, str] = {}
    for key, shape in shapes.items():
        name = f"parameters['{key}']"
        actual = tuple(int(n) for n in parameters[key].shape)
        if len(actual) != len(shape):
            hint = _bias_hint(shape, actual)
            known = tuple(extent.value(sizes) for extent in shape)
            if None not in known:
                raise ValueError(f"{name} must have shape {describe(shape)} = {known}, got {actual}{hint}")
            raise ValueError(f"{name} must be {len(shape)}-D with shape {describe(shape)}, got shape {actual}{hint}")
        if 0 in actual:
            raise ValueError(f"{name} must have shape {describe(shape)} with every axis at least 1, got {actual}")
        _learn(shape, actual, sizes, sources, key, name)
        expected = tuple(extent.value(sizes) for extent in shape)
        if any(length is not None and length != found for length, found in zip(expected, actual, strict=True)):
            shown = tuple("?" if length is None else length for length in expected)
            raise ValueError(
                f"{name} must have shape {describe(shape)} = {shown}, got {actual}{_bias_hint(shape, actual)}"
            )
    return sizes, sources


def blame(
    shapes: Mapping[str, tuple[Extent, ...]], parameters: Mapping[str, Array], known: Mapping[str, int]
) -> ValueError | None:
    """For parameters whose shapes disagree, the error that names the odd one out.

    :func:`check_sizes` learns each size from the first key that has it, so a wrong first key would be
    reported on a right one. Here each size is the value most axes that are that size alone agree on,
    ``known`` (from the data) counting once and winning ties; the error is the first key that differs.
    """
    votes: dict[str, list[int]] = {size: [value] for size, value in known.items() if size in SIZES}
    for key, shape in shapes.items():
        actual = tuple(int(n) for n in parameters[key].shape)
        if len(actual) != len(shape):
            continue
        for extent, length in zip(shape, actual, strict=True):
            if extent.constant == 0 and len(extent.counts) == 1 and extent.counts[0][1] == 1:
                votes.setdefault(extent.counts[0][0], []).append(length)
    agreed = {size: max(values, key=values.count) for size, values in votes.items()}
    try:
        check_sizes(shapes, parameters, agreed)
    except ValueError as error:
        return error
    return None


def _learn(
    shape: tuple[Extent, ...],
    actual: tuple[int, ...],
    sizes: dict[str, int],
    sources: dict[str, str],
    key: str,
    name: str,
) -> None:
    """Read every size that one axis of ``shape`` leaves as its only unknown, until none is left."""
    progress = True
    while progress:
        progress = False
        for extent, length in zip(shape, actual, strict=True):
            unknown = extent.unknown(sizes)
            if len(unknown) != 1:
                continue
            size = unknown[0]
            count = dict(extent.counts)[size]
            rest = extent.value({**sizes, size: 0})
            assert rest is not None
            value, remainder = divmod(length - rest, count)
            if value < 1:
                raise ValueError(f"{name} must have shape {describe(shape)} with {size} >= 1, got {actual}")
            if remainder:
                raise ValueError(f"{name} has shape {actual}, where no whole {size} fits {describe(shape)}")
            sizes[size] = value
            sources[size] = key
            progress = True


def _bias_hint(shape: Sequence[Extent], actual: tuple[int, ...]) -> str:
    if len(shape) == 2 and shape[1].text == "1" and len(actual) == 1:
        return f"; a 1-D bias would broadcast along the batch axis, reshape it to ({actual[0]}, 1)"
    return ""


def parse_shapes(shapes: Mapping[str, Sequence[Axis]]) -> dict[str, tuple[Extent, ...]]:
    """Every parameter's shape parsed, in order."""
    return {key: parse_shape(shape, f"parameters[{key!r}]") for key, shape in shapes.items()}
