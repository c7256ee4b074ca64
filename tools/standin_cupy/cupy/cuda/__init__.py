"""Stand-in cupy.cuda: one device, streams (a current-stream stack), stream capture into graphs that
replay the recorded launches, and the fake cuBLAS's handle."""

from __future__ import annotations

import ctypes
import itertools
import threading
from typing import Any

from cupy import _state
from cupy.cuda import device, runtime
from cupy.cuda.device import Device  # noqa: F401

_ids = itertools.count(0x1000, 0x10)
_local = threading.local()


def _stack() -> list[Any]:
    if not hasattr(_local, "streams"):
        _local.streams = []
    return _local.streams


class Graph:
    def __init__(self, ops: list[Any]) -> None:
        self.ops = ops

    def launch(self, stream: Any = None) -> None:
        if _state.capturing():
            raise RuntimeError("stand-in: graph launch during capture")
        _state.count("graph-launch")
        for op in self.ops:
            op()

    def upload(self, stream: Any = None) -> None:
        pass


class Stream:
    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False, priority: int = 0) -> None:
        self.ptr = 0 if null else next(_ids)
        self.non_blocking = non_blocking

    def __enter__(self) -> Stream:
        _stack().append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _stack().pop()

    def use(self) -> Stream:
        _stack()[:] = [self]
        return self

    @property
    def done(self) -> bool:
        return self.ptr not in _state._captures

    def synchronize(self) -> None:
        if self.ptr in _state._captures:
            raise RuntimeError("stand-in: synchronize of a capturing stream")

    def begin_capture(self, mode: Any = None) -> None:
        if self.ptr == 0:
            raise RuntimeError("cannot capture the null stream")
        if get_current_stream() is not self:
            raise RuntimeError("stand-in: begin_capture on a stream that is not current (the launches go elsewhere)")
        _state.begin(self)
        device._cublas.standin_set_capturing(ctypes.c_void_p(self.ptr), 1)

    def end_capture(self) -> Graph:
        device._cublas.standin_set_capturing(ctypes.c_void_p(self.ptr), 0)
        return Graph(_state.end(self))

    def is_capturing(self) -> bool:
        return self.ptr in _state._captures

    def __repr__(self) -> str:
        return f"<Stream {self.ptr:#x}>"


class ExternalStream(Stream):
    def __init__(self, ptr: int, device_id: int = -1) -> None:
        self.ptr = ptr
        self.non_blocking = False


Stream.null = Stream(null=True)  # type: ignore[attr-defined]


def get_current_stream(device_id: int = -1) -> Stream:
    stack = _stack()
    return stack[-1] if stack else Stream.null  # type: ignore[attr-defined]


def is_available() -> bool:
    return runtime.getDeviceCount() > 0
