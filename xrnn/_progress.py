"""A dependency-free progress bar for a terminal: one line on stderr, redrawn with ``\\r``."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """``step 120/1000 [###-------] loss 2.3456  85.2 steps/s``, redrawn at most ``rate`` times a second.

    Steps per second count the steps of this run only (not those before a resume).
    """

    def __init__(self, total: int, stream: TextIO, *, start: int = 0, width: int = 24, rate: float = 10.0) -> None:
        self.total, self.stream, self.start, self.width = total, stream, start, width
        self._interval = 1.0 / rate
        self._began = time.perf_counter()
        self._last_draw = float("-inf")
        self._drawn = False

    def update(self, step: int, loss: float, *, force: bool = False) -> None:
        """Show ``step`` and ``loss`` (skipped when the last redraw was too recent, unless ``force``)."""
        now = time.perf_counter()
        if not force and now - self._last_draw < self._interval:
            return
        self._last_draw = now
        elapsed = now - self._began
        speed = (step - self.start) / elapsed if elapsed > 0 else 0.0
        filled = self.width * step // self.total if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        digits = len(str(self.total))
        self._drawn = True
        self.stream.write(f"\rstep {step:>{digits}}/{self.total} [{bar}] loss {loss:.4f} {speed:7.1f} steps/s")
        self.stream.flush()

    def close(self) -> None:
        """End the line, if anything was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
