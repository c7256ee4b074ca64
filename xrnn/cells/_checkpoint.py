"""BPTT within a memory budget: binomial checkpointing (Griewank's *revolve*) over chunks of steps.

With ``checkpoints=N`` the engine holds at most ``N`` step states at any moment: ``c`` snapshots (the
states after some chunks) and the cache of the one chunk of ``k`` steps being differentiated, with
``c + k <= N`` (``a0``, the inputs and what the call returns are not counted). Each chunk is run forward
again when its turn comes; to reach it, the engine *advances* from the nearest snapshot, and revolve places
the snapshots so that these advances are as few as they can be: with ``c`` snapshots and ``l`` chunks, if
``r`` is the smallest integer with ``C(c + r, c) >= l``, revolve advances ``r l - C(c + r, c + 1)`` chunks
in all (``C`` the binomial coefficient; :func:`minimal_advances`), the proven minimum for ``c`` snapshots
(Griewank 1992; Griewank and Walther 2000). The chunk length ``k`` is the one, of all splits of ``N`` into
``c + k``, whose total forward work (the advances plus one forward of every chunk) is least. See
``docs/checkpointing.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from xrnn._validation import expect_integer


def binomial(c: int, r: int) -> int:
    """``beta(c, r) = C(c + r, c)``: the most chunks ``c`` snapshots reverse with each advanced ``r`` times."""
    return math.comb(c + r, c) if r >= 0 else 0


def repetitions(chunks: int, snapshots: int) -> int:
    """The smallest ``r`` with ``binomial(snapshots, r) >= chunks``."""
    r = 0
    while binomial(snapshots, r) < chunks:
        r += 1
    return r


def minimal_advances(chunks: int, snapshots: int) -> int:
    """The fewest chunk advances that reverse ``chunks`` chunks with ``snapshots`` snapshots (revolve's bound)."""
    if chunks <= 1:
        return 0
    if snapshots == 0:
        return chunks * (chunks - 1) // 2
    r = repetitions(chunks, snapshots)
    return r * chunks - binomial(snapshots + 1, r - 1)


def split(chunks: int, snapshots: int) -> int:
    """Where revolve puts the next snapshot: this many chunks after the start, ``1 <= m < chunks``."""
    r = repetitions(chunks, snapshots)
    # Optimal when each part is reversed within its own bound: the left with r - 1 repetitions, the right
    # with one snapshot fewer (Griewank and Walther 2000, proposition 1).
    return max(1, binomial(snapshots, r - 2), chunks - binomial(snapshots - 1, r))


@dataclass(frozen=True)
class Plan:
    """How ``steps`` steps are reversed within ``budget`` states.

    Attributes
    ----------
    steps, budget : int
        ``T_x`` and ``N``.
    chunk : int
        Steps per chunk ``k`` (the last chunk may be shorter).
    snapshots : int
        ``c = N - k``, the snapshots revolve may hold.
    forward_steps : int
        The steps run forward by the reversal: one forward of every chunk plus revolve's advances.
    """

    steps: int
    budget: int
    chunk: int
    snapshots: int
    forward_steps: int

    @property
    def chunks(self) -> int:
        return -(-self.steps // self.chunk)

    def bounds(self, index: int) -> tuple[int, int]:
        """The steps ``[start, stop)`` of chunk ``index``."""
        return index * self.chunk, min((index + 1) * self.chunk, self.steps)


def plan(steps: int, budget: int) -> Plan:
    """The chunk length and snapshot count of least forward work for ``steps`` steps in ``budget`` states."""
    best: Plan | None = None
    for chunk in range(1, min(budget, steps) + 1):
        chunks = -(-steps // chunk)
        snapshots = min(budget - chunk, chunks - 1)
        if snapshots < 0:
            continue
        work = steps + chunk * minimal_advances(chunks, snapshots)
        if best is None or work < best.forward_steps:
            best = Plan(steps, budget, chunk, snapshots, work)
    assert best is not None
    return best


#: ``advance(chunk_index, state) -> state``: run a chunk forward from ``state``, keeping only its last state.
Advance = Callable[[int, object], object]
#: ``reverse(chunk_index, state, after) -> after``: run a chunk forward storing its cache, then its backward
#: from ``after`` (the gradients beyond it); returns the gradients reaching its start.
Reverse = Callable[[int, object, object], object]


def run(
    schedule: Plan,
    initial: object,
    snapshots: dict[int, object],
    advance: Advance,
    reverse: Reverse,
    after: object = None,
    *,
    ready: frozenset[int] = frozenset(),
) -> object:
    """Reverse every chunk of ``schedule``, last first, from ``initial`` (the state before chunk 0).

    ``snapshots`` maps chunk indices to the state before that chunk, as the forward pass left them
    (:func:`spine`); the reversal takes and releases its own. ``ready``: chunks whose cache the caller still
    holds (the first sweep's last one), which ``reverse`` gets ``None`` for instead of a state advanced to
    them. Returns the gradients reaching ``initial``.
    """

    def states_before(index: int) -> object:
        if index in ready:
            return None
        return initial if index == 0 else snapshots[index]

    def reverse_range(start: int, stop: int, free: int, gradient: object) -> object:
        while stop - start > 1:
            if free == 0:  # no snapshot left: advance from the start to each chunk in turn
                for index in range(stop - 1, start, -1):
                    gradient = reverse(index, None if index in ready else _advance_from(start, index), gradient)
                stop = start + 1
                break
            middle = start + split(stop - start, free)
            needed = not (stop - middle == 1 and middle in ready)
            if needed and middle not in snapshots:
                snapshots[middle] = _advance_from(start, middle)
            gradient = reverse_range(middle, stop, free - 1, gradient)
            snapshots.pop(middle, None)
            stop = middle
        return reverse(start, states_before(start), gradient)

    def _advance_from(start: int, stop: int) -> object:
        state = initial if start == 0 else snapshots[start]
        for index in range(start, stop):
            state = advance(index, state)
        return state

    return reverse_range(0, schedule.chunks, schedule.snapshots, after)


def spine(schedule: Plan) -> list[int]:
    """The chunks whose starting states the first forward pass keeps: the snapshots revolve takes on its
    way to the last chunk (at most ``schedule.snapshots`` of them)."""
    kept, start, free, stop = [], 0, schedule.snapshots, schedule.chunks
    while stop - start > 1 and free > 0:
        start += split(stop - start, free)
        kept.append(start)
        free -= 1
    return kept


def check_budget(checkpoints: object) -> int | None:
    """``checkpoints`` must be ``None`` or a positive integer of any integer type (a bool is not one)."""
    if checkpoints is None:
        return None
    why = " (the states BPTT may hold at once)"
    return expect_integer("checkpoints", checkpoints, low=1, kind="a positive int or None", why=why)
