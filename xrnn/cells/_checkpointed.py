"""Checkpointed BPTT for every cell: the forward pass keeps revolve's snapshots, the backward recomputes chunks.

See ``_checkpoint`` for the schedule. Each chunk runs through the ordinary paths (``_run``): the cell's
declared optimisation where it has one, the step loop otherwise; between chunks travel only the states
(forward) and the gradients reaching them (``after``, backward).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import array_api_compat

from xrnn._layout import from_rows
from xrnn._typing import Array
from xrnn._validation import namespace_of
from xrnn.cells._caches import SequenceCache
from xrnn.cells._checkpoint import Plan, run, spine
from xrnn.cells._door import Checked
from xrnn.cells._run import last_states, run_backward, run_forward
from xrnn.cells._spec import CellSpec

State = tuple[Array, ...]


def fingerprint(xp: ModuleType, parameters: Mapping[str, Array]) -> dict[str, tuple[int, str, str]]:
    """Per key: the array's identity, its sum and its sum of squares. A recompute with parameters that
    changed since the forward pass would give wrong gradients; this is how it is noticed. The sums are
    kept as text, so that a NaN (parameters of a diverged run) equals itself."""
    return {
        key: (id(value), repr(float(xp.sum(value))), repr(float(xp.sum(value * value))))
        for key, value in parameters.items()
    }


@dataclass(frozen=True)
class Chunks:
    """The checked call, cut into the plan's chunks: runs any chunk forward from a state."""

    cell: CellSpec
    checked: Checked
    x: Array
    parameters: Mapping[str, Array]
    schedule: Plan

    def forward(self, index: int, state: State) -> SequenceCache:
        """Chunk ``index``'s cache, from the states before it."""
        start, stop = self.schedule.bounds(index)
        keep = self.checked.keep
        checked = self.checked._replace(
            sizes={**self.checked.sizes, "T_x": stop - start},
            keep=None if keep is None else keep[start:stop, ...],
        )
        return run_forward(self.cell, checked, self.x[:, :, start:stop], state, self.parameters)

    def advance(self, index: int, state: object) -> State:
        return last_states(self.forward(index, state))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class CheckpointedCache(SequenceCache):
    """The cache of a forward pass with ``checkpoints=N``: the inputs, and the states before the chunks
    revolve's first sweep keeps (``snapshots``); the backward pass recomputes the rest.

    ``caches[0][t]`` recomputes step ``t``'s cache from the nearest snapshot before it. ``tail`` holds the
    last chunk's cache from the first sweep (within the budget: the snapshots and one chunk), which the
    first backward pass uses instead of running that chunk again.
    """

    chunks: Chunks
    initial_states: tuple[Array, ...]
    snapshots: Mapping[int, State]
    dimensions: tuple[int, int, int]
    fingerprint_at_forward: Mapping[str, tuple[int, str, str]] = field(repr=False)
    tail: dict[int, SequenceCache] = field(default_factory=dict, repr=False)

    @property
    def cell(self) -> CellSpec:
        return self.chunks.cell

    @property
    def parameters(self) -> Mapping[str, Array]:  # type: ignore[override]
        return self.chunks.parameters

    @property
    def mask(self) -> Array | None:  # type: ignore[override]
        return self.chunks.checked.keep

    @property
    def initial(self) -> tuple[Array, ...]:
        return self.initial_states

    @property
    def x(self) -> Array:
        return self.chunks.x

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.dimensions

    @property
    def states(self) -> Array:
        raise AttributeError(
            "a checkpointed cache keeps only its snapshots, not every state; the forward pass returned them"
        )

    def in_spec_layout(self, rows: Array) -> Array:
        return from_rows(namespace_of(rows), rows, self.dimensions[1])

    def check_parameters(self) -> None:
        """Raise if the parameters changed since the forward pass (the recomputed steps would differ)."""
        now = fingerprint(self.chunks.checked.xp, self.parameters)
        changed = [key for key, value in now.items() if value != self.fingerprint_at_forward.get(key)]
        if changed:
            raise ValueError(
                f"parameters {changed} changed between the forward and the backward pass; a checkpointed "
                "backward pass recomputes steps from the parameters, so it would give wrong gradients. "
                "Update the parameters only after the backward pass (or pass copies)"
            )

    def _step(self, t: int) -> Any:
        self.check_parameters()
        index = t // self.chunks.schedule.chunk
        start = max((k for k in self.snapshots if k <= index), default=0)
        state: State = self.initial_states if start == 0 else self.snapshots[start]
        for chunk in range(start, index):
            state = self.chunks.advance(chunk, state)
        return self.chunks.forward(index, state).step(t - index * self.chunks.schedule.chunk)


def forward(
    cell: CellSpec,
    checked: Checked,
    x: Array,
    initial: Sequence[Array],
    parameters: Mapping[str, Array],
    schedule: Plan,
    *,
    histories: int,
    visit: Callable[[int, SequenceCache], None] | None = None,
) -> tuple[CheckpointedCache, list[list[Array]]]:
    """The first sweep: every chunk forward once, keeping revolve's snapshots and, for ``histories``
    states, each chunk's time-major values (what the call returns). ``visit(index, cache)`` sees each
    chunk's cache before it is dropped."""
    chunks = Chunks(cell, checked, x, parameters, schedule)
    kept = set(spine(schedule))
    snapshots: dict[int, State] = {}
    pieces: list[list[Array]] = [[] for _ in range(histories)]
    state: State = tuple(initial)
    last = schedule.chunks - 1
    for index in range(last):
        cache = chunks.forward(index, state)
        _visited(cache, index, visit, pieces)
        state = last_states(cache)
        if index + 1 in kept:
            snapshots[index + 1] = state
        del cache  # before the next chunk's forward, so that two chunks' caches are never held at once
    tail = chunks.forward(last, state)
    _visited(tail, last, visit, pieces)
    dimensions = (schedule.steps, checked.sizes["m"], checked.sizes["n_a"])
    seen = fingerprint(checked.xp, parameters)
    return CheckpointedCache(chunks, tuple(initial), snapshots, dimensions, seen, {last: tail}), pieces


def _visited(
    cache: SequenceCache, index: int, visit: Callable[[int, SequenceCache], None] | None, pieces: list[list[Array]]
) -> None:
    if visit is not None:
        visit(index, cache)
    for number, piece in enumerate(pieces):
        piece.append(cache.history(number))


#: ``gradient(index, chunk_cache)``: what reaches a chunk's hidden states from outside the recurrence,
#: ``(L, m, n_a)`` time-major.
ChunkGradient = Callable[[int, SequenceCache], Array]
#: ``chunk_backward(index, chunk_cache, dstates, after) -> gradients``: one chunk's BPTT.
ChunkBackward = Callable[[int, SequenceCache, Array, Any], dict[str, Array]]


def backward(
    cache: CheckpointedCache, gradient: ChunkGradient, chunk_backward: ChunkBackward | None = None
) -> dict[str, Array]:
    """Reverse every chunk with revolve's schedule: ``gradient(index, chunk_cache)`` gives the gradient
    reaching the chunk's hidden states, ``chunk_backward(index, chunk_cache, dstates, after)`` runs its
    BPTT (by default the path that made the chunk's cache)."""
    cache.check_parameters()
    chunks, cell = cache.chunks, cache.cell
    xp = chunks.checked.xp
    totals: dict[str, Array] = {}
    # dx is written chunk by chunk into one array: concatenating the chunks' pieces at the end would hold
    # dx twice at the peak.
    x = chunks.x
    dx = xp.empty(tuple(x.shape), dtype=x.dtype, device=array_api_compat.device(x))

    def reverse(index: int, state: object, after: object) -> object:
        kept = cache.tail.pop(index, None)  # the first sweep's last chunk, used once
        chunk = kept if kept is not None else chunks.forward(index, state)  # type: ignore[arg-type]
        dstates = gradient(index, chunk)
        if chunk_backward is None:
            grads = run_backward(chunk, dstates, after)  # type: ignore[arg-type]
        else:
            grads = chunk_backward(index, chunk, dstates, after)
        start, stop = chunks.schedule.bounds(index)
        dx[:, :, start:stop] = grads.pop("dx")
        for key in cell.keys:
            name = f"d{key}"
            totals[name] = grads[name] if name not in totals else totals[name] + grads[name]
        return tuple(grads[f"d{name}"] for name in cell.initial_names)

    ready = frozenset(cache.tail)
    reaching = run(chunks.schedule, cache.initial_states, dict(cache.snapshots), chunks.advance, reverse, ready=ready)
    result = {"dx": dx}
    result.update({f"d{name}": value for name, value in zip(cell.initial_names, reaching, strict=True)})  # type: ignore[call-overload]
    result.update({f"d{key}": totals[f"d{key}"] for key in cell.keys})
    return result
