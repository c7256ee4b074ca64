"""What the subcommands share: the usage error, argument types, and checks that end in one line."""

from __future__ import annotations

import argparse
import contextlib
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from xrnn.backends import BackendUnavailableError, get_backend

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_Number = TypeVar("_Number", int, float)


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr with exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2, without the usage block.

    Subcommands' parsers are of this class too (``add_subparsers`` makes them of its parser's class);
    ``--help`` is unchanged. ``listing`` says what ``--help`` lists, for the line's pointer to it.
    """

    def __init__(self, *args: Any, listing: str = "the options", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listing = listing

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, usage_line(self.prog, message, self.listing))


def usage_line(prog: str, message: str, listing: str = "the options") -> str:
    """The one line of an option error, with where ``listing`` is listed.

    Examples
    --------
    >>> from xrnn.cli._common import usage_line
    >>> print(usage_line("xrnn sample", "argument --length: must be at least 0, got -1"), end="")
    xrnn sample: error: argument --length: must be at least 0, got -1 (xrnn sample --help lists the options)
    """
    return f"{prog}: error: {' '.join(message.split())} ({prog} --help lists {listing})\n"


def _number(text: str, kind: type[_Number]) -> _Number:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text.strip()}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text.strip()}")
    return value


def fraction(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text.strip()}")
    return value


def non_empty_path(text: str) -> str:
    """A path option's value: an empty one (``--resume ""``) was taken for no option at all."""
    if not text:
        raise argparse.ArgumentTypeError("must be a path, got ''")
    return text


def check_backend(name: str) -> None:
    try:
        get_backend(name)
    except (BackendUnavailableError, ValueError) as error:
        raise UsageError(str(error)) from None


@contextlib.contextmanager
def blame_cell(reference: str) -> Iterator[None]:
    """A researcher's cell (``MODULE:NAME``) that breaks the cell contract, or raises in its own code, within
    this block is bad input: one line that names the cell, the error and the line of the cell's code that
    raised it. Other errors (xrnn's own, a built-in cell's, memory) keep their traceback.
    """
    from xrnn.cells import BUILTIN, CellContractError, get_cell

    if reference in BUILTIN:
        yield
        return
    try:
        yield
    except CellContractError as error:
        raise UsageError(f"cell {reference} breaks the cell contract: {_one_line(error)}") from None
    except Exception as error:
        where = _raised_in(error, get_cell(reference))
        if where is None:
            raise
        raise UsageError(
            f"cell {reference} raised {type(error).__name__}: {_one_line(error)} (at {where}); "
            f"xrnn.gradcheck.check_cell({reference!r}) runs it in Python"
        ) from None


def sample_tokens(source: str, parameters: Any, length: int, *, cell: str, **options: Any) -> list[int]:
    """:func:`xrnn.sampling.sample`, with what the model cannot do (the logits of a diverged run's parameters)
    and a researcher's cell failing as one line; ``source`` says whose parameters they are."""
    from xrnn.sampling import sample

    try:
        with blame_cell(cell):
            return sample(parameters, length, cell=cell, **options)
    except ValueError as error:
        raise UsageError(f"{source}: {error}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _raised_in(error: BaseException, cell: Any) -> str | None:
    """``FILE:LINE in FUNCTION``: the deepest frame in the files of the cell's own functions, if any."""
    package = Path(__file__).resolve().parent.parent
    functions = (cell.step_forward, cell.step_backward, cell.init_parameters)
    files = {code.co_filename for code in (getattr(f, "__code__", None) for f in functions) if code is not None}
    files = {name for name in files if package not in Path(name).resolve().parents}  # xrnn's default init
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in files]
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"


def read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"{path!r} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text:
        raise UsageError(f"{path!r} is empty")
    return text
