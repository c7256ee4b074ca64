"""Training progress: a ``tqdm`` bar on a terminal, whole sparse lines anywhere else (a log, a pipe).

Off a terminal tqdm would still redraw its line with ``\\r``; :class:`LineProgress` writes one whole line
at each tenth of the run instead (and the last step), with tqdm's own rate and time formatting.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol, TextIO

from tqdm import tqdm

# Off a terminal, a line is written at each tenth of the run.
LOG_LINES = 10


class Progress(Protocol):
    """What the training loop reports to."""

    def update(self, step: int, loss: float, validation: Mapping[str, float] | None) -> None:
        """After ``step``: its loss, and the scores of the latest evaluation so far (or None)."""

    def write(self, message: str) -> None:
        """A whole line that does not break the progress display."""

    def close(self) -> None:
        """Finish the display."""


def make_progress(total: int, stream: TextIO, *, start: int = 0, interactive: bool | None = None) -> Progress:
    """A :class:`TerminalProgress` when ``stream`` is a terminal (or ``interactive``), else :class:`LineProgress`."""
    if stream.isatty() if interactive is None else interactive:
        return TerminalProgress(total, stream, start=start)
    return LineProgress(total, stream, start=start)


def _scores(loss: float, validation: Mapping[str, float] | None) -> dict[str, str]:
    shown = {"loss": f"{loss:.4f}"}
    shown.update({key: f"{value:.4f}" for key, value in (validation or {}).items()})
    return shown


class TerminalProgress:
    """A tqdm bar: ``step 120/1000 [...] 85.2step/s, loss=2.3456, val_loss=2.4100``."""

    def __init__(self, total: int, stream: TextIO, *, start: int = 0) -> None:
        self._bar = tqdm(total=total, initial=start, file=stream, unit="step", desc="step", dynamic_ncols=True)

    def update(self, step: int, loss: float, validation: Mapping[str, float] | None) -> None:
        self._bar.set_postfix(_scores(loss, validation), refresh=False)
        self._bar.update(step - self._bar.n)

    def write(self, message: str) -> None:
        self._bar.write(message, file=self._bar.fp)

    def close(self) -> None:
        self._bar.close()


class LineProgress:
    """``step 120/1000 loss 2.3456 val_loss 2.4100 [00:01<00:10, 85.2 steps/s]``, about ten lines a run.

    Steps per second count the steps of this run only (not those before a resume).
    """

    def __init__(self, total: int, stream: TextIO, *, start: int = 0) -> None:
        self.total, self.stream, self.start = total, stream, start
        self._began = time.perf_counter()
        self._next = start + 1

    def update(self, step: int, loss: float, validation: Mapping[str, float] | None) -> None:
        if step < self._next and step != self.total:
            return
        self._next = step + max(1, self.total // LOG_LINES)
        elapsed = time.perf_counter() - self._began
        rate = (step - self.start) / elapsed if elapsed > 0 else 0.0
        remaining = (self.total - step) / rate if rate > 0 else None
        scores = " ".join(f"{key} {value}" for key, value in _scores(loss, validation).items())
        times = f"{tqdm.format_interval(elapsed)}<{'?' if remaining is None else tqdm.format_interval(remaining)}"
        self.write(f"step {step:>{len(str(self.total))}}/{self.total} {scores} [{times}, {rate:.1f} steps/s]")

    def write(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass
