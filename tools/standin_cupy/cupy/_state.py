"""Capture state shared by the stand-in: which streams capture and the operations each recorded (CuPy's
default relaxed mode: only work issued on a capturing stream is recorded; other threads' work on their
own streams runs), and counters of the work issued (to show which paths ran)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

_captures: dict[int, list[Callable[[], None]]] = {}  # stream ptr -> recorded ops
_lock = threading.Lock()
counts: Counter[str] = Counter()


def capturing() -> bool:
    """Whether this thread's current stream captures."""
    if not _captures:
        return False
    from cupy import cuda

    return cuda.get_current_stream().ptr in _captures


def begin(stream: Any) -> None:
    with _lock:
        if stream.ptr in _captures:
            raise RuntimeError("stand-in cupy: the stream is already capturing")
        _captures[stream.ptr] = []


def end(stream: Any) -> list[Callable[[], None]]:
    with _lock:
        if stream.ptr not in _captures:
            raise RuntimeError("stand-in cupy: end_capture on a stream that is not capturing")
        return _captures.pop(stream.ptr)


def record(op: Callable[[], None], name: str, stream_ptr: int | None = None) -> None:
    from cupy import cuda

    ptr = cuda.get_current_stream().ptr if stream_ptr is None else stream_ptr
    if ptr not in _captures:
        raise RuntimeError(f"stand-in cupy: {name} recorded on a stream that does not capture")
    with _lock:
        counts[f"captured:{name}"] += 1
    _captures[ptr].append(op)


def count(name: str) -> None:
    with _lock:
        counts[name] += 1
