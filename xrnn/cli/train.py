"""``xrnn train``: train on a task (``char``, ``adding``, ``copy``), evaluate on held-out data, save, resume.

Everything that can be checked before training is checked first: the options, the text, the resumed
checkpoint, and that every output (``--save`` and its best-checkpoint file, ``--metrics``, ``--plot``)
can be written, so that a long run never fails at its end. Ctrl-C (or SIGTERM) saves a checkpoint and
exits with status 130; bad input is one line on stderr and status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from xrnn.backends import backend_names
from xrnn.cli._common import (
    EXIT_INTERRUPTED,
    UsageError,
    blame_cell,
    check_backend,
    fraction,
    non_empty_path,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    read_text,
    sample_tokens,
)

DEFAULT_CHECKPOINT = "xrnn-checkpoint.npz"
#: Options that define a run: a resumed run keeps them (only --steps, --backend and --dtype may change).
RUN_OPTIONS = (
    "task",
    "cell",
    "hidden",
    "seq_len",
    "delay",
    "batch",
    "lr",
    "optimizer",
    "momentum",
    "clip",
    "seed",
    "val_fraction",
    "eval_every",
    "schedule",
    "decay_steps",
    "patience",
)


def add_parser(commands: Any) -> None:
    """The ``train`` subcommand's options."""
    from xrnn.train.config import DEFAULT_DELAY, DEFAULT_SEQ_LEN, TASKS, TrainConfig
    from xrnn.train.schedules import SCHEDULES

    defaults = TrainConfig()
    train = commands.add_parser(
        "train",
        help="train on a task: a character-level language model, the adding problem or the copy task",
        description="Train a recurrent network on a task and evaluate it on held-out data as it goes.",
    )
    train.add_argument(
        "--task",
        choices=TASKS,
        help="char: predict every next character of --text; adding: the adding problem (Le, Jaitly and Hinton "
        "2015), scored by mean squared error; copy: the copy task (Arjovsky, Shah and Bengio 2016) "
        f"(default {defaults.task})",
    )
    train.add_argument(
        "--text",
        type=non_empty_path,
        metavar="PATH",
        help="char task: UTF-8 text (default: nine of Shakespeare's sonnets)",
    )
    train.add_argument(
        "--cell",
        metavar="CELL",
        help="recurrent cell: rnn, lstm, gru, or MODULE:NAME, a cell made with xrnn.cells.define in an importable "
        "module (the current directory is on the path; checkpoints record it, and loading one imports the module "
        f"again) (default {defaults.cell})",
    )
    train.add_argument("--hidden", type=positive_int, help=f"hidden units n_a (default {defaults.hidden})")
    train.add_argument(
        "--seq-len",
        type=positive_int,
        help=f"steps per sequence (default: char {DEFAULT_SEQ_LEN['char']}, adding {DEFAULT_SEQ_LEN['adding']}, "
        "copy --delay + 20)",
    )
    train.add_argument(
        "--delay", type=positive_int, metavar="T", help=f"copy task: the delay T (default {DEFAULT_DELAY})"
    )
    train.add_argument("--batch", type=positive_int, help=f"sequences per step (default {defaults.batch})")
    train.add_argument(
        "--steps", type=non_negative_int, help=f"total steps, counting those before --resume (default {defaults.steps})"
    )
    train.add_argument("--lr", type=positive_float, help=f"learning rate (default {defaults.lr})")
    train.add_argument("--optimizer", choices=("sgd", "adam"), help=f"(default {defaults.optimizer})")
    train.add_argument("--momentum", type=fraction, help=f"SGD momentum in [0, 1) (default {defaults.momentum})")
    train.add_argument(
        "--clip",
        type=non_negative_float,
        help=f"clip the gradients' global norm to this; 0: off (default {defaults.clip})",
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning rate: constant, cosine (down to lr/100 at --decay-steps) or step (lr/10 after half of "
        "--decay-steps, lr/100 after three quarters) (default constant)",
    )
    train.add_argument("--decay-steps", type=positive_int, metavar="N", help="the schedule's length (default --steps)")
    train.add_argument(
        "--val-fraction",
        type=fraction,
        help="char task: the share of the text held out for validation, from its end (default 0.1); "
        "adding and copy validate on a fixed-seed set of 1000 sequences",
    )
    train.add_argument(
        "--eval-every",
        type=positive_int,
        metavar="N",
        help=f"steps between evaluations (default {defaults.eval_every})",
    )
    train.add_argument(
        "--patience",
        type=non_negative_int,
        metavar="N",
        help="stop after N evaluations without a better validation loss; 0: never (default 0)",
    )
    train.add_argument("--backend", choices=backend_names(), help=f"array library (default {defaults.backend})")
    train.add_argument("--dtype", choices=("float32", "float64"), help=f"(default {defaults.dtype})")
    train.add_argument(
        "--seed", type=non_negative_int, help=f"seeds the parameters and the batches (default {defaults.seed})"
    )
    train.add_argument(
        "--metrics",
        type=non_empty_path,
        metavar="PATH",
        help="write every step's loss (and each evaluation's scores) as CSV, settings first",
    )
    train.add_argument(
        "--plot",
        type=non_empty_path,
        metavar="PATH",
        help="draw the training and validation curves as a PNG (needs matplotlib)",
    )
    train.add_argument(
        "--flow",
        type=non_empty_path,
        metavar="PATH",
        help="draw the mean gradient reaching each time step's hidden state, over training, as a PNG heatmap "
        "(numbers in PATH with a .csv suffix: step, t, norm; needs matplotlib); a resumed run records its own "
        "steps only",
    )
    train.add_argument(
        "--flow-every",
        type=positive_int,
        metavar="N",
        help="with --flow: record every N steps (default: --eval-every's)",
    )
    train.add_argument(
        "--save",
        type=non_empty_path,
        metavar="PATH",
        help="write the last checkpoint here (at the end and on Ctrl-C) and the best by validation loss beside it "
        "(run.npz: run.best.npz)",
    )
    train.add_argument(
        "--resume", type=non_empty_path, metavar="PATH", help="continue the run saved in this checkpoint"
    )
    train.add_argument(
        "--sample",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="char task: print N sampled characters at the end",
    )
    train.add_argument("--quiet", action="store_true", help="no progress display")
    train.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="data-parallel on a dask.distributed cluster: a scheduler address (tcp://HOST:8786), or local:N "
        "to start N worker processes on this machine (needs xrnn[dask])",
    )
    train.add_argument(
        "--shards",
        type=positive_int,
        metavar="N",
        help="with --scheduler: shards per batch (default: the worker threads)",
    )


def best_path(path: str) -> str:
    """Where ``--save PATH`` keeps the best checkpoint: ``run.npz`` -> ``run.best.npz``.

    Examples
    --------
    >>> from xrnn.cli.train import best_path
    >>> best_path("runs/ck.npz"), best_path("ck")
    ('runs/ck.best.npz', 'ck.best')
    """
    target = Path(path)
    if not target.name:  # "." or "/": not a file, which --save's own check reports
        return f"{path}.best"
    return str(target.with_name(f"{target.stem}.best{target.suffix}"))


def run(args: argparse.Namespace) -> int:
    """``xrnn train`` with parsed ``args``."""
    given = {name: getattr(args, name) for name in (*RUN_OPTIONS, "steps", "backend", "dtype")}
    given = {name: value for name, value in given.items() if value is not None}
    _check_before_training(args, given)
    trainer = _resumed(args, given) if args.resume else _fresh(args, given)
    config = trainer.config
    if args.sample and config.task != "char":
        raise UsageError(f"--sample needs the char task; this run is of the {config.task} task")
    if "momentum" in given and config.optimizer != "sgd":  # it would be ignored
        raise UsageError(f"--momentum is for --optimizer sgd; this run's optimizer is {config.optimizer}")
    if args.shards is not None and args.shards > config.batch:
        raise UsageError(f"--shards {args.shards} is more than the batch of {config.batch} sequences")
    _try_first_step(trainer)
    if args.resume and args.save:
        _carry_best(trainer, args.resume, args.save)
    with contextlib.ExitStack() as cluster:
        if args.scheduler:
            trainer.parallel = _data_parallel(args, cluster)
        return _train(trainer, args)


def _check_before_training(args: argparse.Namespace, given: dict[str, Any]) -> None:
    from xrnn.train._npz import check_writable
    from xrnn.train.config import cell_named

    for flag, path in (("--plot", args.plot), ("--flow", args.flow)):
        if path:
            try:
                import matplotlib  # noqa: F401 - first: an imported matplotlib.figure hides its absence
                from matplotlib.figure import Figure
            except ImportError:
                raise UsageError(f"{flag} needs matplotlib: pip install 'xrnn[plot]' (or matplotlib)") from None
            formats = Figure().canvas.get_supported_filetypes()
            suffix = Path(path).suffix.lower()
            if suffix and suffix[1:] not in formats:  # found before training, not by savefig after it
                listed = ", ".join(f".{name}" for name in sorted(formats))
                raise UsageError(f"{flag} {path!r}: matplotlib cannot write {suffix} files; use one of {listed}")
    if args.flow_every is not None and not args.flow:
        raise UsageError("--flow-every needs --flow")
    if "cell" in given:
        try:
            cell_named(given["cell"])
        except ValueError as error:
            raise UsageError(f"--cell: {error}") from None
    if "backend" in given:
        check_backend(given["backend"])
    if args.shards is not None and not args.scheduler:
        raise UsageError("--shards needs --scheduler")
    if args.text and given.get("task", "char") != "char":
        raise UsageError(f"--text is for the char task; the {given['task']} task generates its data")
    outputs = [("checkpoint", args.save), ("checkpoint", args.save and best_path(args.save))]
    outputs += [("metrics", args.metrics), ("plot", args.plot), ("flow plot", args.flow)]
    if args.flow:
        from xrnn.cli.flow import FlowRecorder

        outputs.append(("flow numbers", str(FlowRecorder.csv_path(args.flow))))
    written: dict[Path, str] = {}
    for what, path in outputs:
        if path:
            resolved = Path(path).resolve()
            if resolved in written:  # the later file would overwrite the earlier
                raise UsageError(f"the {written[resolved]} and the {what} would both be written to {path!r}")
            written[resolved] = what
            try:
                check_writable(path, replaced=what == "checkpoint")
            except OSError as error:
                raise UsageError(f"cannot write {what} {path!r}: {error.strerror or error}") from None


def _try_first_step(trainer: Any) -> None:
    """The next step's maths on one sequence of its batch, before any output: a researcher's cell that breaks
    the cell contract, or raises, is one line of bad input rather than a traceback below the run's header."""
    if trainer.step < trainer.config.steps:
        one = tuple(array[:1, ...] for array in trainer.task.batch(trainer.step + 1))  # every array m first
        with blame_cell(trainer.config.cell):
            trainer.task.objective.loss_and_gradients(trainer.parameters, *one)


def _fresh(args: argparse.Namespace, given: dict[str, Any]) -> Any:
    from xrnn.train.trainer import TrainConfig, make_trainer

    try:
        config = TrainConfig(**given)
        config.check()
        check_backend(config.backend)
        text = read_text(args.text) if args.text else None
        return make_trainer(config, text=text, text_path=args.text)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _resumed(args: argparse.Namespace, given: dict[str, Any]) -> Any:
    from xrnn.train.checkpoint import load_checkpoint
    from xrnn.train.saved_runs import RESUMABLE_OVERRIDES
    from xrnn.train.trainer import Trainer

    path = args.resume
    try:
        checkpoint = load_checkpoint(path, backend=given.get("backend", "numpy"))
    except OSError as error:
        raise UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    saved = checkpoint.metadata.get("config")
    saved = saved if isinstance(saved, dict) else {}
    for name in RUN_OPTIONS:
        if name in given and name in saved and given[name] != saved[name]:
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} {given[name]} differs from the resumed run's {saved[name]}; "
                f"a resumed run keeps its options (only --steps, --backend and --dtype may change)"
            )
    text_path = args.text or checkpoint.metadata.get("text")
    text = read_text(text_path) if isinstance(text_path, str) and text_path else None
    overrides = {name: given[name] for name in RESUMABLE_OVERRIDES if name in given}
    check_backend(str(overrides.get("backend", saved.get("backend", "numpy"))))
    try:
        return Trainer.resume(checkpoint, text=text, text_path=text_path, **overrides)
    except ValueError as error:
        raise UsageError(f"cannot resume from {path!r}: {error}") from None


def _carry_best(trainer: Any, resumed: str, save: str) -> None:
    """Give ``--save`` the resumed run's best checkpoint too, which a new path would lack until a better one."""
    from xrnn.train.checkpoint import load_checkpoint, save_checkpoint

    source, target = best_path(resumed), best_path(save)
    if trainer.best_step is None or Path(source).resolve() == Path(target).resolve():
        return
    if trainer.best_step == trainer.step:
        _save(trainer, target)
        return
    try:
        best = load_checkpoint(source)
    except (OSError, ValueError):
        best = None
    if best is None or best.metadata.get("step") != trainer.best_step:
        print(
            f"note: the best checkpoint of the resumed run (step {trainer.best_step}) is not at {source!r}; "
            f"{target!r} is written at the next better validation loss",
            file=sys.stderr,
        )
        return
    try:
        save_checkpoint(target, best.parameters, optimizer=best.optimizer, metadata=best.metadata)
    except OSError as error:
        raise UsageError(f"cannot write checkpoint {target!r}: {error.strerror or error}") from None


def _data_parallel(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """A DataParallel on the cluster of ``--scheduler`` (closed with ``stack``); one-line errors."""
    from xrnn.parallel import distributed

    try:
        client = stack.enter_context(distributed.connect(args.scheduler))
        return distributed.DataParallel(client, shards=args.shards)
    except (ImportError, ValueError, OSError) as error:
        raise UsageError(f"--scheduler: {error}") from None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a batch system's notice, ``kill``) ends the run like Ctrl-C: with a checkpoint, no temporary file."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(trainer: Any, args: argparse.Namespace) -> int:
    from xrnn.cli.progress import make_progress
    from xrnn.parallel.distributed import ClusterError  # imports no Dask

    config, task = trainer.config, trainer.task
    sizes = f"{task.n_x} characters" if config.task == "char" else f"n_x {task.n_x}, n_y {task.n_y}"
    parallel = trainer.parallel
    print(
        f"xrnn train: {config.task} (seq_len {config.seq_len}), {config.cell}, {config.hidden} hidden, {sizes}, "
        f"{config.backend} {config.dtype}, {config.optimizer} lr {config.lr} {config.schedule}, "
        f"steps {trainer.step}->{config.steps}"
        + ("" if parallel is None else f", data-parallel: {parallel.shards} shards on {args.scheduler}"),
        file=sys.stderr,
    )
    baseline = task.baseline()
    if baseline:
        print(f"baseline: {baseline}", file=sys.stderr)
    progress = None if args.quiet else make_progress(config.steps, sys.stderr, start=trainer.step)
    flow = _flow_recorder(args, config)
    with _sigterm_as_interrupt():
        try:
            while trainer.step < config.steps and not trainer.stopped:
                record = trainer.train_step()
                if flow is not None:
                    flow.maybe_record(trainer, record.step)
                if args.save and record.validation is not None and trainer.best_step == record.step:
                    _save(trainer, best_path(args.save))
                if progress is not None:
                    progress.update(record.step, record.loss, _latest_validation(trainer))
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
            _write_outputs(trainer, args, flow)
            return EXIT_INTERRUPTED
        if progress is not None:
            progress.close()
        _summarise(trainer)
        if args.save:
            _save(trainer, args.save)
            if trainer.best_step is None and config.evaluates:
                print(
                    f"note: no step was scored on held-out data (every --eval-every {config.eval_every} steps; "
                    f"this run ended at step {trainer.step}), so this run wrote no {best_path(args.save)!r}",
                    file=sys.stderr,
                )
        _write_outputs(trainer, args, flow)
    if args.sample:
        tokens = sample_tokens("--sample", trainer.parameters, args.sample, seed=config.seed, cell=config.cell)
        print(trainer.vocabulary.decode(tokens))
    return 0


def _latest_validation(trainer: Any) -> dict[str, float] | None:
    for record in reversed(trainer.history):
        if record.validation is not None:  # in the metrics' order: a checkpoint's JSON sorts the keys
            from xrnn.cli.metrics import columns

            order = columns(trainer.task)[4:]
            return {name: record.validation[name] for name in order if name in record.validation}
    return None


def _summarise(trainer: Any) -> None:
    history = trainer.history
    if not history:
        return
    print(f"step {trainer.step}: loss {history[-1].loss:.4f} (first step {history[0].loss:.4f})")
    if trainer.stopped:
        print(f"stopped early: {trainer.config.patience} evaluations without a better validation loss", file=sys.stderr)
    if trainer.best_step is not None:
        latest = _latest_validation(trainer) or {}
        scores = ", ".join(f"{key} {value:.4f}" for key, value in latest.items())
        print(f"validation: {scores}; best val_loss {trainer.best_val_loss:.4f} at step {trainer.best_step}")


def _save(trainer: Any, path: str) -> None:
    try:
        trainer.save(path)
    except OSError as error:
        raise UsageError(f"cannot write checkpoint {path!r}: {error.strerror or error}") from None


def _flow_recorder(args: argparse.Namespace, config: Any) -> Any:
    if not args.flow:
        return None
    from xrnn.cli.flow import FlowRecorder

    return FlowRecorder(args.flow_every or config.eval_every)


def _write_outputs(trainer: Any, args: argparse.Namespace, flow: Any = None) -> None:
    from xrnn import __version__
    from xrnn.cli.metrics import plot, write_metrics

    if args.metrics:
        try:
            with open(args.metrics, "w", newline="", encoding="utf-8") as stream:
                write_metrics(stream, trainer.task, trainer.history, __version__)
        except OSError as error:
            raise UsageError(f"cannot write metrics {args.metrics!r}: {error.strerror or error}") from None
    if args.plot:
        try:
            plot(trainer.history, args.plot, trainer.task)
        except OSError as error:
            raise UsageError(f"cannot write plot {args.plot!r}: {error.strerror or error}") from None
    if flow is not None:
        config = trainer.config
        try:
            flow.write(args.flow, f"gradient flow: {config.task}, {config.cell}, {config.hidden} hidden")
        except OSError as error:
            raise UsageError(f"cannot write {args.flow!r}: {error.strerror or error}") from None
