"""A dependency-free progress bar: one line redrawn with ``\\r`` on a terminal, plain lines in a log."""

from __future__ import annotations

import time
from typing import TextIO

# Off a terminal (a log file, a pipe), a line is written at each tenth of the run.
_LOG_LINES = 10


class ProgressBar:
    """``step 120/1000 [###-------] loss 2.3456  85.2 steps/s``.

    On a terminal the line is redrawn at most ``rate`` times a second. Elsewhere (``stream.isatty()``
    is false, or ``interactive=False``) each update that reaches the next tenth of ``total`` writes
    one whole line, so that a log gets about ten lines and no carriage returns. Steps per second
    count the steps of this run only (not those before a resume).
    """

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        start: int = 0,
        width: int = 24,
        rate: float = 10.0,
        interactive: bool | None = None,
    ) -> None:
        self.total, self.stream, self.start, self.width = total, stream, start, width
        self.interactive = stream.isatty() if interactive is None else interactive
        self._interval = 1.0 / rate
        self._began = time.perf_counter()
        self._last_draw = float("-inf")
        self._next_log_step = start + 1
        self._drawn = False

    def update(self, step: int, loss: float, *, force: bool = False) -> None:
        """Show ``step`` and ``loss`` (unless it is too soon for another line and not ``force``)."""
        now = time.perf_counter()
        if not force and not self._due(step, now):
            return
        self._last_draw = now
        elapsed = now - self._began
        speed = (step - self.start) / elapsed if elapsed > 0 else 0.0
        filled = self.width * step // self.total if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        digits = len(str(self.total))
        line = f"step {step:>{digits}}/{self.total} [{bar}] loss {loss:.4f} {speed:7.1f} steps/s"
        if self.interactive:
            self._drawn = True
            self.stream.write(f"\r{line}")
        else:
            self.stream.write(f"{line}\n")
            self._next_log_step = step + max(1, self.total // _LOG_LINES)
        self.stream.flush()

    def _due(self, step: int, now: float) -> bool:
        if self.interactive:
            return now - self._last_draw >= self._interval
        return step >= self._next_log_step

    def close(self) -> None:
        """End the terminal line, if anything was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
