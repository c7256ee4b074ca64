"""The ``xrnn`` command line (also ``python -m xrnn``).

Subcommands: ``train`` (a character-level language model), ``sample`` (text from a checkpoint),
``info`` (versions, backends, devices), ``demo`` (forward, BPTT and a gradient check on every
backend) and ``bench`` (the benchmark suites of a source checkout).

Bad input ends with one line on stderr and exit status 2, never a traceback; Ctrl-C during
training saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from xrnn.backends import BackendUnavailableError, backend_names, get_backend, unavailable_reason

DEFAULT_CHECKPOINT = "xrnn-checkpoint.npz"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr with exit status 2."""


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from xrnn.train.trainer import TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="xrnn", description="Recurrent networks with explicit BPTT on any Array API library."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a character-level language model",
        description="Train a character-level language model (many-to-many: predict every next character).",
    )
    train.add_argument("--text", metavar="PATH", help="UTF-8 text to learn (default: ten of Shakespeare's sonnets)")
    train.add_argument(
        "--cell",
        type=_cell_name,
        metavar="CELL",
        help=f"recurrent cell: rnn, lstm, gru, or MODULE:NAME, a cell made with xrnn.cells.define in an importable "
        f"module (the current directory is on the path; checkpoints record it, and loading one imports the module "
        f"again) (default {defaults.cell})",
    )
    train.add_argument("--hidden", type=_positive_int, help=f"hidden units n_a (default {defaults.hidden})")
    train.add_argument("--seq-len", type=_positive_int, help=f"characters per sequence (default {defaults.seq_len})")
    train.add_argument("--batch", type=_positive_int, help=f"sequences per step (default {defaults.batch})")
    train.add_argument(
        "--steps",
        type=_non_negative_int,
        help=f"total steps, counting those before --resume (default {defaults.steps})",
    )
    train.add_argument("--lr", type=_positive_float, help=f"learning rate (default {defaults.lr})")
    train.add_argument("--optimizer", choices=("sgd", "adam"), help=f"(default {defaults.optimizer})")
    train.add_argument("--momentum", type=_fraction, help=f"SGD momentum in [0, 1) (default {defaults.momentum})")
    train.add_argument(
        "--clip",
        type=_non_negative_float,
        help=f"clip the gradients' global norm to this; 0: off (default {defaults.clip})",
    )
    train.add_argument("--backend", choices=backend_names(), help=f"array library (default {defaults.backend})")
    train.add_argument("--dtype", choices=("float32", "float64"), help=f"(default {defaults.dtype})")
    train.add_argument("--seed", type=int, help=f"seeds the parameters and the batches (default {defaults.seed})")
    train.add_argument("--metrics", metavar="PATH", help="write step,loss,grad_norm for every step as CSV")
    train.add_argument("--plot", metavar="PATH", help="draw the loss curve as a PNG (needs matplotlib)")
    train.add_argument("--save", metavar="PATH", help="write a checkpoint at the end (and on Ctrl-C)")
    train.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint")
    train.add_argument(
        "--sample", type=_non_negative_int, default=0, metavar="N", help="print N sampled characters at the end"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="data-parallel on a dask.distributed cluster: a scheduler address (tcp://HOST:8786), or local:N "
        "to start N worker processes on this machine (needs xrnn[dask])",
    )
    train.add_argument(
        "--shards",
        type=_positive_int,
        metavar="N",
        help="with --scheduler: shards per batch (default: the cluster's worker threads)",
    )

    sample = commands.add_parser("sample", help="generate text from a checkpoint of xrnn train")
    sample.add_argument("--load", required=True, metavar="PATH", help="checkpoint written by xrnn train")
    sample.add_argument("--length", type=_non_negative_int, default=200, help="characters to generate (default 200)")
    sample.add_argument(
        "--temperature", type=_positive_float, default=1.0, help="below 1: safer, above 1: wilder (default 1)"
    )
    sample.add_argument("--seed", type=int, default=None, help="seed of the draws (default: different every run)")
    sample.add_argument("--prime", default="", metavar="TEXT", help="text to start from (printed first)")
    sample.add_argument("--backend", choices=backend_names(), default="numpy", help="array library (default numpy)")

    commands.add_parser("info", help="versions, backends and devices")
    commands.add_parser("demo", help="forward, BPTT and a gradient check on every available backend")

    bench = commands.add_parser(
        "bench", help="run a benchmark suite of a source checkout", description="Run benchmarks.<suite>.main(ARGS)."
    )
    bench.add_argument("suite", nargs="?", default="cpu", help="cpu, gpu, docs, profile_cpu (default cpu)")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed on to the suite")
    return parser


def _cell_name(text: str) -> str:
    """A name :func:`xrnn.cells.get_cell` knows (importing ``MODULE`` of ``MODULE:NAME``)."""
    from xrnn.cells import get_cell

    try:
        get_cell(text)
    except (TypeError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


# -- entry point ----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (argparse's own errors exit with 2)."""
    args = build_parser().parse_args(argv)
    handlers = {"train": _train, "sample": _sample, "info": _info, "demo": _demo, "bench": _bench}
    try:
        return handlers[args.command](args)
    except UsageError as error:
        print(f"xrnn {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside the training loop, which saves a checkpoint first
        print(f"\nxrnn {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _check_backend(name: str) -> None:
    try:
        get_backend(name)
    except (BackendUnavailableError, ValueError) as error:
        raise UsageError(str(error)) from None


def _read_text(path: str) -> str:
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


def _load_checkpoint(path: str, backend: str) -> Any:
    from xrnn.train.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path, backend=backend)
    except OSError as error:
        raise UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None


# -- train ----------------------------------------------------------------------------------------
_RUN_OPTIONS = ("cell", "hidden", "seq_len", "batch", "lr", "optimizer", "momentum", "clip", "seed")


def _train(args: argparse.Namespace) -> int:
    from xrnn.train.trainer import CharTrainer, TrainConfig, default_corpus

    if args.plot:
        _require_matplotlib()
    given = {name: getattr(args, name) for name in (*_RUN_OPTIONS, "steps", "backend", "dtype")}
    given = {name: value for name, value in given.items() if value is not None}
    if "backend" in given:
        _check_backend(given["backend"])
    if args.shards is not None and not args.scheduler:
        raise UsageError("--shards needs --scheduler")
    try:
        if args.resume:
            checkpoint = _load_checkpoint(args.resume, given.get("backend", "numpy"))
            saved = checkpoint.metadata
            if saved.get("kind") != "char-lm":
                raise UsageError(f"{args.resume!r} is not a checkpoint of xrnn train")
            for name in _RUN_OPTIONS:
                if name in given and given[name] != saved["config"][name]:
                    flag = "--" + name.replace("_", "-")
                    raise UsageError(
                        f"{flag} {given[name]} differs from the resumed run's {saved['config'][name]}; "
                        "a resumed run keeps its options (only --steps, --backend and --dtype may change)"
                    )
            text_path = args.text or saved.get("text")
            text = _read_text(text_path) if text_path else default_corpus()
            overrides = {name: given[name] for name in ("steps", "backend", "dtype") if name in given}
            _check_backend(overrides.get("backend", saved["config"]["backend"]))
            trainer = CharTrainer.resume(checkpoint, text, text_path=text_path, **overrides)
        else:
            text_path = args.text
            text = _read_text(text_path) if text_path else default_corpus()
            config = TrainConfig(**given)
            _check_backend(config.backend)
            trainer = CharTrainer(config, text, text_path=text_path)
    except ValueError as error:
        raise UsageError(str(error)) from None

    with contextlib.ExitStack() as cluster:
        if args.scheduler:
            trainer.parallel = _data_parallel(args, cluster)
        return _run_training(trainer, args)


def _data_parallel(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """A DataParallel on the cluster of ``--scheduler`` (closed with ``stack``); one-line errors."""
    from xrnn.parallel import distributed

    try:
        client = stack.enter_context(distributed.connect(args.scheduler))
        return distributed.DataParallel(client, shards=args.shards)
    except (ImportError, ValueError, OSError) as error:
        raise UsageError(f"--scheduler: {error}") from None


def _run_training(trainer: Any, args: argparse.Namespace) -> int:
    from xrnn.parallel.distributed import ClusterError  # imports no Dask

    config = trainer.config
    parallel = trainer.parallel
    print(
        f"xrnn train: {config.cell}, {config.hidden} hidden, {len(trainer.vocabulary)} characters, "
        f"{config.backend} {config.dtype}, {config.optimizer} lr {config.lr}, steps {trainer.step}->{config.steps}"
        + ("" if parallel is None else f", data-parallel: {parallel.shards} shards on {args.scheduler}"),
        file=sys.stderr,
    )
    progress = None if args.quiet else _progress_bar(config.steps, trainer.step)
    try:
        while trainer.step < config.steps:
            record = trainer.train_step()
            if progress is not None:
                progress.update(record.step, record.loss, force=record.step == config.steps)
    except (TimeoutError, ClusterError) as error:  # the cluster failed the step: keep the steps that are done
        if progress is not None:
            progress.close()
        path = args.save or DEFAULT_CHECKPOINT
        _save(trainer, path)
        raise UsageError(f"{error}; checkpoint of step {trainer.step} saved to {path}") from None
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        path = args.save or DEFAULT_CHECKPOINT
        _save(trainer, path)
        print(
            f"interrupted after step {trainer.step}; checkpoint saved to {path} "
            f"(continue with: xrnn train --resume {path})",
            file=sys.stderr,
        )
        _write_outputs(trainer, args)
        return EXIT_INTERRUPTED
    if progress is not None:
        progress.close()
    history = trainer.history
    if history:
        print(f"step {trainer.step}: loss {history[-1].loss:.4f} (first step {history[0].loss:.4f})")
    if args.save:
        _save(trainer, args.save)
    _write_outputs(trainer, args)
    if args.sample:
        from xrnn.sampling import sample

        tokens = sample(trainer.parameters, args.sample, seed=config.seed, cell=config.cell)
        print(trainer.vocabulary.decode(tokens))
    return 0


def _progress_bar(total: int, start: int) -> Any:
    from xrnn.cli.progress import ProgressBar

    return ProgressBar(total, sys.stderr, start=start)


def _save(trainer: Any, path: str) -> None:
    try:
        trainer.save(path)
    except OSError as error:
        raise UsageError(f"cannot write checkpoint {path!r}: {error.strerror or error}") from None


def _write_outputs(trainer: Any, args: argparse.Namespace) -> None:
    history = trainer.history
    if args.metrics:
        try:
            with open(args.metrics, "w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(["step", "loss", "grad_norm"])
                writer.writerows([r.step, repr(r.loss), repr(r.grad_norm)] for r in history)
        except OSError as error:
            raise UsageError(f"cannot write metrics {args.metrics!r}: {error.strerror or error}") from None
    if args.plot:
        _plot(history, args.plot, trainer.config)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'xrnn[plot]' (or matplotlib)") from None


def _plot(history: Sequence[Any], path: str, config: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), layout="constrained")
    axes.plot([r.step for r in history], [r.loss for r in history], linewidth=1)
    title = f"xrnn train: {config.cell}, {config.hidden} hidden"
    axes.set(xlabel="step", ylabel="mean cross-entropy (nats)", title=title)
    axes.grid(alpha=0.3)
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise UsageError(f"cannot write plot {path!r}: {error.strerror or error}") from None
    finally:
        plt.close(figure)


# -- sample ---------------------------------------------------------------------------------------
def _sample(args: argparse.Namespace) -> int:
    from xrnn.sampling import sample
    from xrnn.train.trainer import Vocabulary

    _check_backend(args.backend)
    checkpoint = _load_checkpoint(args.load, args.backend)
    if checkpoint.metadata.get("kind") != "char-lm" or "vocabulary" not in checkpoint.metadata:
        raise UsageError(f"{args.load!r} is not a checkpoint of xrnn train")
    vocabulary = Vocabulary(checkpoint.metadata["vocabulary"])
    try:
        prime = vocabulary.encode(args.prime)
    except ValueError as error:
        raise UsageError(f"--prime: {error}") from None
    cell = _checkpoint_cell(checkpoint.metadata, args.load)
    tokens = sample(
        checkpoint.parameters, args.length, prime=prime, temperature=args.temperature, seed=args.seed, cell=cell
    )
    print(args.prime + vocabulary.decode(tokens))
    return 0


def _checkpoint_cell(metadata: dict[str, Any], path: str) -> Any:
    """The cell a checkpoint's run used (``MODULE:NAME`` cells are imported again), as one-line errors."""
    from xrnn.cells import get_cell

    name = metadata.get("config", {}).get("cell", "rnn") if isinstance(metadata.get("config"), dict) else "rnn"
    try:
        return get_cell(name)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{path!r}: {error}") from None


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
    if "benchmarks" not in sys.modules:
        checkout = Path(__file__).resolve().parent.parent
        if (checkout / "benchmarks" / "__init__.py").is_file() and str(checkout) not in sys.path:
            sys.path.append(str(checkout))
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
