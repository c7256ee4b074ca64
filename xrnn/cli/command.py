"""The ``xrnn`` command line (also ``python -m xrnn``).

Subcommands: ``train`` (a task: a character-level language model, the adding problem, the copy task;
see :mod:`xrnn.cli.train`), ``sample`` (text from a checkpoint of the char task),
``info`` (versions, backends, devices), ``demo`` (forward, BPTT and a gradient check on every
backend) and ``bench`` (the benchmark suites of a source checkout).

Bad input ends with one line on stderr and exit status 2, never a traceback; Ctrl-C (or SIGTERM)
during training saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from xrnn.backends import backend_names, get_backend, unavailable_reason
from xrnn.cli import train
from xrnn.cli._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    UsageError,
    check_backend,
    non_empty_path,
    non_negative_int,
    positive_float,
    sample_tokens,
    usage_line,
)


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (its errors are one line: see :class:`xrnn.cli._common.Parser`)."""
    parser = Parser(
        prog="xrnn",
        description="Recurrent networks with explicit BPTT on any Array API library.",
        listing="the commands",
    )
    from xrnn import __version__

    parser.add_argument("--version", action="version", version=f"xrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train.add_parser(commands)

    sample = commands.add_parser("sample", help="generate text from a checkpoint of xrnn train")
    sample.add_argument(
        "--load", required=True, type=non_empty_path, metavar="PATH", help="checkpoint written by xrnn train"
    )
    sample.add_argument("--length", type=non_negative_int, default=200, help="characters to generate (default 200)")
    sample.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        help="below 1: safer, above 1: wilder, tiny (1e-9): the most likely character (default 1)",
    )
    sample.add_argument(
        "--seed", type=non_negative_int, default=None, help="seed of the draws (default: different every run)"
    )
    sample.add_argument("--prime", default="", metavar="TEXT", help="text to start from (printed first)")
    sample.add_argument("--backend", choices=backend_names(), default="numpy", help="array library (default numpy)")

    commands.add_parser("info", help="versions, backends and devices")
    commands.add_parser("demo", help="forward, BPTT and a gradient check on every available backend")

    bench = commands.add_parser(
        "bench", help="run a benchmark suite of a source checkout", description="Run benchmarks.<suite>.main(ARGS)."
    )
    bench.add_argument(
        "suite", nargs="?", default="cpu", help="a module of benchmarks/ with a main(): cpu (default), gpu, docs, ..."
    )
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the suite")
    return parser


# -- entry point ----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the parser's errors exit with 2)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # argparse hands what no parser knows to the top one: name the subcommand given
        parser.exit(
            EXIT_USAGE, usage_line(f"{parser.prog} {args.command}", f"unrecognized arguments: {' '.join(unknown)}")
        )
    handlers = {"train": train.run, "sample": _sample, "info": _info, "demo": _demo, "bench": _bench}
    try:
        status = handlers[args.command](args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must raise where it is caught
        return status
    except BrokenPipeError:  # the reader of the output left (``| head``): stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush would raise again
        return 1
    except UsageError as error:
        print(f"xrnn {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside the training loop, which saves a checkpoint first
        print(f"\nxrnn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


# -- sample ---------------------------------------------------------------------------------------
def _sample(args: argparse.Namespace) -> int:
    from xrnn.train.trainer import load_char_model

    check_backend(args.backend)
    try:
        model = load_char_model(args.load, backend=args.backend)
    except OSError as error:
        raise UsageError(f"cannot read {args.load!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    vocabulary = model.vocabulary
    try:
        prime = vocabulary.encode(args.prime)
    except ValueError as error:
        raise UsageError(f"--prime: {error}") from None
    options = {"prime": prime, "temperature": args.temperature, "seed": args.seed, "cell": model.cell}
    tokens = sample_tokens(repr(args.load), model.parameters, args.length, **options)
    print(args.prime + vocabulary.decode(tokens))
    return 0


# -- info -----------------------------------------------------------------------------------------
def _info(args: argparse.Namespace) -> int:
    from xrnn import __version__

    print(f"xrnn {__version__}")
    print(f"python {platform.python_version()} ({sys.executable})")
    for package in ("numpy", "array-api-compat", "array-api-strict", "cupy", "matplotlib"):
        print(f"{package} {_version(package)}")
    print("backends:")
    for name in backend_names():
        reason = unavailable_reason(name)
        if reason is not None:
            print(f"  {name}: unavailable ({reason})")
            continue
        print(f"  {name}: available; devices: {', '.join(_devices(name))}")
    return 0


def _version(package: str) -> str:
    if package == "cupy":
        candidates = [d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"].startswith("cupy")]
        package = candidates[0] if candidates else package
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _devices(name: str) -> list[str]:
    xp = get_backend(name).xp
    try:
        devices = xp.__array_namespace_info__().devices()
    except Exception as error:  # a library without the inspection API, or a driver that fails here
        return [f"unknown ({error})"]
    return [str(device) for device in devices]


# -- demo, bench ----------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from xrnn.cli.demo import run_demo

    return run_demo()


def _bench(args: argparse.Namespace) -> int:
    """Run ``benchmarks.<suite>.main(args)`` from a source checkout; exit 2 where there is none."""
    if not all(part.isidentifier() for part in args.suite.split(".")):
        raise UsageError(f"a benchmark suite is a module name such as 'cpu', got {args.suite!r}")
    if "benchmarks" not in sys.modules:  # the checkout xrnn runs from (an editable install), or the one here
        for checkout in (Path(__file__).resolve().parent.parent.parent, Path.cwd()):
            if (checkout / "benchmarks" / "__init__.py").is_file() and (checkout / "xrnn").is_dir():
                if str(checkout) not in sys.path:
                    sys.path.append(str(checkout))
                break
    try:
        module = importlib.import_module(f"benchmarks.{args.suite}")
    except ModuleNotFoundError as error:
        if error.name in ("benchmarks", f"benchmarks.{args.suite}"):
            raise UsageError(
                f"no benchmark suite {args.suite!r}: xrnn bench runs the benchmarks/ package of a source "
                "checkout, which pip does not install"
            ) from None
        raise UsageError(f"benchmark suite {args.suite!r} needs {error.name!r}, which is not installed") from None
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise UsageError(f"benchmarks.{args.suite} has no main() to run")
    status = entry(list(args.args))
    return int(status or 0)
