"""The ``xrnn`` command line: train, sample, info, bench, and every error path (exit 2, one line)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.user_cells import LEAKY
from xrnn import cli
from xrnn.backends import BackendUnavailableError, available_backends, backend_names
from xrnn.cli._common import UsageError, blame_cell
from xrnn.cli.progress import make_progress
from xrnn.parallel.distributed import ClusterError
from xrnn.train.checkpoint import load_checkpoint
from xrnn.train.trainer import CharTrainer, Trainer

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--hidden", "16", "--seq-len", "8", "--batch", "4", "--quiet"]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default checkpoint path is relative


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _assert_usage_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _csv_rows(path: Path) -> list[str]:
    """The metrics' CSV lines after the settings' ``#`` lines."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


# -- train ----------------------------------------------------------------------------------------
def test_train_writes_metrics_checkpoint_and_samples(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = _run(
        capsys, "train", *FAST, "--steps", "5", "--metrics", "m.csv", "--save", "c.npz", "--sample", "30"
    )
    assert status == 0, err
    rows = _csv_rows(tmp_path / "m.csv")
    assert rows[0] == "step,loss,grad_norm,lr,val_loss,val_bpc"
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]
    assert (tmp_path / "c.npz").is_file()
    assert out.splitlines()[0].startswith("step 5: loss ")
    assert len(out.split("\n", 1)[1].rstrip("\n")) == 30  # the sample


def test_two_runs_with_one_seed_write_identical_metrics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv", "c.csv"):
        seed = "2" if name == "c.csv" else "1"
        assert cli.main(["train", *FAST, "--steps", "8", "--seed", seed, "--metrics", name]) == 0
    capsys.readouterr()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_resume_continues_exactly(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["train", *FAST, "--steps", "12", "--metrics", "straight.csv"]) == 0
    assert cli.main(["train", *FAST, "--steps", "6", "--save", "half.npz"]) == 0
    assert cli.main(["train", "--resume", "half.npz", "--steps", "12", "--quiet", "--metrics", "resumed.csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[2]  # "step 12: loss ..." of the straight and the resumed run
    assert (tmp_path / "straight.csv").read_bytes() == (tmp_path / "resumed.csv").read_bytes()


@pytest.mark.parametrize(
    "failure",
    [TimeoutError("the cluster did not finish the step within 5 s"), ClusterError("the cluster gave up on the step")],
    ids=["timeout", "killed workers"],
)
def test_a_failed_cluster_step_keeps_the_done_steps(
    failure: Exception, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the data-parallel engine raises when the cluster fails a step: one line, exit 2, and a
    checkpoint of the steps before it (the engine itself is tested in test_distributed.py)."""
    original = CharTrainer.train_step
    failures = [failure]

    def fails_at_step_3(self: CharTrainer) -> Any:
        if self.step == 2 and failures:
            raise failures.pop()
        return original(self)

    monkeypatch.setattr(CharTrainer, "train_step", fails_at_step_3)
    status, _, err = _run(capsys, "train", *FAST, "--steps", "5", "--save", "c.npz")
    _assert_usage_error(status, err.split("\n", 1)[1], str(failure), "checkpoint of step 2 saved to c.npz")
    assert cli.main(["train", *FAST, "--steps", "3", "--resume", "c.npz"]) == 0  # the checkpoint resumes


def test_resume_refuses_to_change_the_runs_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", *FAST, "--steps", "1", "--save", "c.npz"]) == 0
    capsys.readouterr()
    status, _, err = _run(capsys, "train", "--resume", "c.npz", "--hidden", "32")
    _assert_usage_error(status, err, "--hidden 32 differs from the resumed run's 16")


def test_resuming_to_fewer_steps_than_the_run_has_done_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["train", *FAST, "--steps", "3", "--save", "c.npz", "--metrics", "first.csv"]) == 0
    capsys.readouterr()
    saved = (tmp_path / "c.npz").read_bytes()
    status, out, err = _run(capsys, "train", "--resume", "c.npz", "--steps", "2", "--save", "c.npz")
    _assert_usage_error(status, err, "cannot resume from 'c.npz': steps 2 is fewer than the 3 steps the run has done")
    assert out == ""
    assert (tmp_path / "c.npz").read_bytes() == saved
    # As many steps as done: nothing to train, the run's outputs are written again (a restarted job's last call).
    status, out, err = _run(capsys, "train", "--resume", "c.npz", "--steps", "3", "--quiet", "--metrics", "again.csv")
    assert status == 0, err
    assert "steps 3->3" in err
    assert out.startswith("step 3: loss ")
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "first.csv").read_bytes()


def test_progress_off_a_terminal_is_whole_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Captured stderr is not a terminal: about one line per tenth of the run, no carriage returns."""
    status, _, err = _run(capsys, "train", "--hidden", "8", "--seq-len", "5", "--batch", "2", "--steps", "40")
    assert status == 0
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    assert "\r" not in err
    assert [line.split()[1] for line in lines] == [f"{step}/40" for step in range(1, 41, 4)] + ["40/40"]
    assert all(" loss " in line and line.endswith(" steps/s]") for line in lines)


def test_progress_on_a_terminal_is_a_tqdm_bar() -> None:
    stream = io.StringIO()
    bar = make_progress(4, stream, interactive=True)
    for step in range(1, 5):
        bar.update(step, 1.0 / step, {"val_loss": 2.0} if step == 4 else None)
    bar.close()
    text = stream.getvalue()
    assert "\r" in text
    assert text.endswith("\n")
    last = text.rsplit("\r", 1)[-1]
    assert "4/4" in last
    assert "loss=0.2500" in last
    assert "val_loss=2.0000" in last


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib; its absence is tested separately")
    status, _, err = _run(capsys, "train", *FAST, "--steps", "3", "--plot", "loss.png")
    assert status == 0, err
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_suite_that_is_no_module_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "bench", ".cpu")  # was "needs 'benchmarks.', which is not installed"
    _assert_usage_error(status, err, "a benchmark suite is a module name such as 'cpu', got '.cpu'")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--optimizer", "adam", "--momentum", "0.5"],
            "--momentum is for --optimizer sgd; this run's optimizer is adam",
        ),
        (["--shards", "64", "--scheduler", "local:1"], "--shards 64 is more than the batch of 4 sequences"),
    ],
)
def test_options_the_run_would_ignore_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Both were accepted without a word: Adam has no momentum, and no shard can be empty."""
    status, _, err = _run(capsys, "train", *FAST, "--steps", "1", *argv)
    _assert_usage_error(status, err, message)


def test_outputs_that_would_overwrite_each_other_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--steps", "2", "--save", "run.npz", "--metrics", "./run.npz")
    _assert_usage_error(status, err, "the checkpoint and the metrics would both be written to './run.npz'")
    assert not (tmp_path / "run.npz").exists()  # the metrics overwrote the checkpoint


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe (POSIX)")
def test_a_checkpoint_path_that_is_not_a_regular_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "pipe")  # as root, --save /dev/null replaced the device with a file
    status, _, err = _run(capsys, "train", *FAST, "--steps", "2", "--save", "pipe")
    _assert_usage_error(status, err, "cannot write checkpoint 'pipe': not a regular file")


@pytest.mark.parametrize("flag", ["--plot", "--flow"])
def test_a_figure_matplotlib_cannot_write_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib; its absence is tested separately")
    status, _, err = _run(capsys, "train", *FAST, "--steps", "3", flag, "loss.txt", "--save", "run.npz")
    _assert_usage_error(status, err, f"{flag} 'loss.txt': matplotlib cannot write .txt files; use one of ", ".png")
    assert not (tmp_path / "run.npz").exists()  # savefig raised after the whole run, with a traceback


def test_plot_without_matplotlib_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    status, _, err = _run(capsys, "train", *FAST, "--steps", "3", "--plot", "loss.png")
    _assert_usage_error(status, err, "--plot needs matplotlib")
    assert not (tmp_path / "loss.png").exists()


def _needs_distributed() -> None:
    pytest.importorskip("distributed", reason="--scheduler needs dask.distributed: pip install 'xrnn[dask]'")


def test_train_on_a_local_cluster_matches_the_single_process_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _needs_distributed()
    run = [*FAST, "--steps", "4", "--dtype", "float64"]
    assert cli.main(["train", *run, "--metrics", "single.csv"]) == 0
    status, _, err = _run(
        capsys, "train", *run, "--scheduler", "local:2", "--shards", "3", "--metrics", "parallel.csv", "--save", "p.npz"
    )
    assert status == 0, err
    assert "data-parallel: 3 shards on local:2" in err
    single = [line.split(",") for line in _csv_rows(tmp_path / "single.csv")[1:]]
    parallel = [line.split(",") for line in _csv_rows(tmp_path / "parallel.csv")[1:]]
    assert [row[0] for row in parallel] == ["1", "2", "3", "4"]
    for got, expected in zip(parallel, single, strict=True):
        for a, b in zip(got[1:4], expected[1:4], strict=True):
            assert float(a) == pytest.approx(float(b), rel=1e-12)
    assert (tmp_path / "p.npz").is_file()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--scheduler", "local:0"], "--scheduler: local:N needs a positive number of workers N, got 'local:0'"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler: no dask scheduler answered at 'tcp://127.0.0.1:9'"),
        (["--shards", "2"], "--shards needs --scheduler"),
    ],
)
def test_bad_scheduler_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: list[str], fragment: str
) -> None:
    if "--scheduler" in options:
        _needs_distributed()
        monkeypatch.setattr("xrnn.parallel.distributed.CONNECT_TIMEOUT", 1.0)
    status, _, err = _run(capsys, "train", *FAST, "--steps", "1", *options)
    _assert_usage_error(status, err, fragment)


def test_scheduler_without_distributed_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    status, _, err = _run(capsys, "train", *FAST, "--steps", "1", "--scheduler", "local:1")
    _assert_usage_error(status, err, "--scheduler: data-parallel training needs dask.distributed")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell's background job inherits SIGINT ignored


@pytest.mark.skipif(sys.platform == "win32", reason="sending SIGINT to a child process is POSIX only")
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "xrnn", "train", "--steps", "1000000", "--hidden", "16"],
        cwd=tmp_path,
        env=_environment(),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    ) as process:
        assert process.stderr is not None
        seen = ""
        while "loss" not in seen:  # the progress bar: training has started
            character = process.stderr.read(1)
            assert character, f"xrnn train ended early: {seen}"
            seen += character
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=120) == 130
    assert "Traceback" not in seen + rest
    assert "checkpoint saved to xrnn-checkpoint.npz" in rest
    assert (tmp_path / "xrnn-checkpoint.npz").is_file()
    status = subprocess.run(
        [sys.executable, "-m", "xrnn", "sample", "--load", "xrnn-checkpoint.npz", "--length", "5", "--seed", "0"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr


@pytest.mark.parametrize(
    ("setup", "fragments"),
    [
        (lambda p: None, ("cannot read 'corpus.txt'", "No such file or directory")),
        (lambda p: (p / "corpus.txt").mkdir(), ("cannot read 'corpus.txt'", "Is a directory")),
        (lambda p: (p / "corpus.txt").write_bytes(b""), ("'corpus.txt' is empty",)),
        (lambda p: (p / "corpus.txt").write_bytes(b"caf\xe9 \xff"), ("'corpus.txt' is not UTF-8 text",)),
        (lambda p: (p / "corpus.txt").write_text("tiny"), ("has 4 characters; seq_len 8 needs at least 9",)),
    ],
)
def test_bad_training_text_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: object, fragments: tuple[str, ...]
) -> None:
    setup(tmp_path)  # type: ignore[operator]
    status, _, err = _run(capsys, "train", *FAST, "--text", "corpus.txt")
    _assert_usage_error(status, err, *fragments)


def _parser_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The exit status and stderr of an error the argument parser finds (it exits rather than returns)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    assert isinstance(exit_info.value.code, int)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--steps", "-1"], ("argument --steps: must be at least 0, got -1",)),
        (["train", "--steps", "many"], ("argument --steps: must be an integer, got 'many'",)),
        (["train", "--hidden", "0"], ("argument --hidden: must be at least 1, got 0",)),
        (["train", "--seq-len", "0"], ("argument --seq-len: must be at least 1, got 0",)),
        (["train", "--batch", "0"], ("argument --batch: must be at least 1, got 0",)),
        (["train", "--lr", "-1"], ("argument --lr: must be a positive number, got -1",)),
        (["train", "--lr", "nan"], ("argument --lr: must be a positive number, got nan",)),
        (["train", "--lr", "inf"], ("argument --lr: must be a positive number, got inf",)),
        (["train", "--clip", "nan"], ("argument --clip: must be 0 or a positive number, got nan",)),
        (["train", "--momentum", "1.5"], ("argument --momentum: must be in [0, 1), got 1.5",)),
        (["train", "--dtype", "float16"], ("argument --dtype: invalid choice: 'float16'", "'float32', 'float64'")),
        (["train", "--backend", "jax"], ("argument --backend: invalid choice: 'jax'",)),
        (["train", "--val-fraction", "1"], ("argument --val-fraction: must be in [0, 1), got 1",)),
        (["train", "--eval-every", "0"], ("argument --eval-every: must be at least 1, got 0",)),
        (["train", "--patience", "-1"], ("argument --patience: must be at least 0, got -1",)),
        (["train", "--decay-steps", "0"], ("argument --decay-steps: must be at least 1, got 0",)),
        (["train", "--delay", "-1"], ("argument --delay: must be at least 1, got -1",)),
        (["train", "--flow-every", "0"], ("argument --flow-every: must be at least 1, got 0",)),
        (["train", "--sample", "-5"], ("argument --sample: must be at least 0, got -5",)),
        (["train", "--shards", "0"], ("argument --shards: must be at least 1, got 0",)),
        (["train", "--seed", "-1"], ("argument --seed: must be at least 0, got -1",)),
        (["train", "--steps"], ("argument --steps: expected one argument",)),
        (["train", "--no-such-option"], ("unrecognized arguments: --no-such-option",)),
        (["sample"], ("the following arguments are required: --load",)),
        (["sample", "--load", "c.npz", "--length", "-1"], ("argument --length: must be at least 0, got -1",)),
        (["sample", "--load", "c.npz", "--temperature", "0"], ("argument --temperature: must be a positive number",)),
        (["sample", "--load", "c.npz", "--temperature", "nan"], ("argument --temperature: must be a positive",)),
        (["sample", "--load", "c.npz", "--temperature", "inf"], ("argument --temperature: must be a positive",)),
        (["sample", "--load", "c.npz", "--seed", "-1"], ("argument --seed: must be at least 0, got -1",)),
        (["sample", "--load", "c.npz", "--no-such-option"], ("unrecognized arguments: --no-such-option",)),
        (["info", "--verbose"], ("unrecognized arguments: --verbose",)),
        (["train", "--resume", ""], ("argument --resume: must be a path, got ''",)),  # started a fresh run
        (["train", "--save", ""], ("argument --save: must be a path, got ''",)),  # saved nothing, silently
        (["train", "--text", ""], ("argument --text: must be a path, got ''",)),  # trained on the sonnets
        (["sample", "--load", ""], ("argument --load: must be a path, got ''",)),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_an_option_the_parser_refuses_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragments: tuple[str, ...]
) -> None:
    """One line, exit 2: argparse's usage block (a dozen lines for train) is left to --help."""
    status, err = _parser_error(capsys, *argv)
    prog = f"xrnn {argv[0]}"
    _assert_usage_error(status, err, f"{prog}: error: ", *fragments, f"({prog} --help lists the options)")
    assert "usage:" not in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [([], "the following arguments are required: COMMAND"), (["tran"], "argument COMMAND: invalid choice: 'tran'")],
)
def test_a_missing_or_unknown_subcommand_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    status, err = _parser_error(capsys, *argv)
    _assert_usage_error(status, err, f"xrnn: error: {fragment}", "(xrnn --help lists the commands)")


@pytest.mark.parametrize("command", ["train", "sample"])
def test_help_still_prints_the_usage_and_every_option(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: xrnn {command} [-h] ")
    assert "  --seed SEED " in out
    assert "\noptions:\n" in out or "\noptional arguments:\n" in out


def test_an_unavailable_backend_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(name: str) -> None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: there is no CUDA device")

    monkeypatch.setattr("xrnn.cli._common.get_backend", unavailable)
    status, _, err = _run(capsys, "train", *FAST, "--backend", "cupy")
    _assert_usage_error(status, err, "backend 'cupy' is unavailable: there is no CUDA device")


@pytest.mark.parametrize("name", [n for n in backend_names() if n not in available_backends()])
def test_a_backend_that_cannot_run_here_is_a_usage_error(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--backend", name)
    _assert_usage_error(status, err, f"backend {name!r} is unavailable")
    status, _, err = _run(capsys, "sample", "--load", "missing.npz", "--backend", name)
    _assert_usage_error(status, err, f"backend {name!r} is unavailable")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--text", "missing.txt"], "cannot read 'missing.txt': No such file or directory"),
        (["--hidden", "0"], "argument --hidden: must be at least 1, got 0 (xrnn train --help lists the options)"),
    ],
    ids=["found by xrnn", "found by the parser"],
)
def test_usage_errors_from_the_installed_entry_point_have_no_traceback(
    tmp_path: Path, argv: list[str], line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xrnn", "train", *argv],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == f"xrnn train: error: {line}\n"


# -- sample ---------------------------------------------------------------------------------------
def test_sample_is_deterministic_with_a_seed_and_starts_with_the_prime(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", *FAST, "--steps", "3", "--save", "c.npz"]) == 0
    capsys.readouterr()
    args = ["sample", "--load", "c.npz", "--length", "40", "--seed", "5", "--prime", "Shall I"]
    status, first, _ = _run(capsys, *args)
    assert status == 0
    assert first.startswith("Shall I")
    assert len(first.rstrip("\n")) == len("Shall I") + 40
    assert _run(capsys, *args)[1] == first
    assert _run(capsys, *args[:-4], "--seed", "6", "--prime", "Shall I")[1] != first


@pytest.mark.parametrize(
    ("setup", "extra", "fragments"),
    [
        (lambda p: None, [], ("cannot read 'c.npz'", "No such file or directory")),
        (lambda p: (p / "c.npz").write_text("not a checkpoint"), [], ("'c.npz' is not an .npz archive",)),
        (
            lambda p: cli.main(["train", *FAST, "--steps", "1", "--save", "c.npz"]),
            ["--prime", "\u00e9"],
            ("--prime: character '\u00e9' is not in the model's vocabulary",),
        ),
    ],
)
def test_bad_sample_input_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: object, extra: list[str], fragments: tuple[str, ...]
) -> None:
    setup(tmp_path)  # type: ignore[operator]
    capsys.readouterr()
    status, _, err = _run(capsys, "sample", "--load", "c.npz", *extra)
    _assert_usage_error(status, err, *fragments)


def test_sample_rejects_a_checkpoint_not_written_by_train(capsys: pytest.CaptureFixture[str]) -> None:
    from xrnn import init_parameters
    from xrnn.train.checkpoint import save_checkpoint

    save_checkpoint("c.npz", init_parameters(3, 4, 3, seed=0))
    status, _, err = _run(capsys, "sample", "--load", "c.npz")
    _assert_usage_error(status, err, "'c.npz' is not a model of xrnn train: its metadata has no known 'kind'")


def test_a_run_samples_and_resumes_on_another_backend(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("array_api_strict")
    assert cli.main(["train", *FAST, "--steps", "2", "--save", "c.npz"]) == 0
    capsys.readouterr()
    status, out, err = _run(capsys, "sample", "--load", "c.npz", "--length", "5", "--backend", "array_api_strict")
    assert (status, len(out)) == (0, 6), err  # 5 characters and the newline (the dtype check once refused them)
    assert cli.main(["train", "--resume", "c.npz", "--steps", "3", "--backend", "array_api_strict", "--quiet"]) == 0


def _edited_run(change: str) -> None:
    """A saved char run, then edited in the way ``change`` names."""
    from xrnn.train.checkpoint import load_checkpoint, save_checkpoint

    assert cli.main(["train", *FAST, "--steps", "2", "--save", "c.npz"]) == 0
    saved = load_checkpoint("c.npz")
    parameters, metadata = dict(saved.parameters), dict(saved.metadata)
    if change == "kind":
        metadata["kind"] = ["char-lm"]
    if change == "int-parameter":
        parameters["Waa"] = parameters["Waa"].astype(np.int64)
    if change == "nan-parameters":  # a diverged run's
        parameters["Waa"] = parameters["Waa"] * np.nan
    if change == "vocabulary":
        metadata["vocabulary"] = "a" * len(metadata["vocabulary"])
    save_checkpoint("c.npz", parameters, optimizer=saved.optimizer, metadata=metadata)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("kind", "its metadata has no known 'kind' (xrnn train writes one), got ['char-lm']"),  # a TypeError
        ("int-parameter", "its parameter 'Waa' has dtype int64; a run's are float32 or float64"),  # a cell's error
        ("nan-parameters", "the model's logits for token 0 are not finite (NaN or inf)"),  # random.choices' error
        ("vocabulary", "a vocabulary holds each character once, got ['a'] more than once"),  # sampled 'aaaa'
    ],
)
def test_a_damaged_run_is_one_line_for_sample(capsys: pytest.CaptureFixture[str], change: str, message: str) -> None:
    _edited_run(change)
    capsys.readouterr()
    status, _, err = _run(capsys, "sample", "--load", "c.npz", "--length", "5")
    _assert_usage_error(status, err, message)


# -- info, bench ----------------------------------------------------------------------------------
def test_a_reader_that_leaves_early_ends_the_command_quietly() -> None:
    """``xrnn sample ... | head -c 10``: the closed pipe was a BrokenPipeError traceback."""
    script = (  # a subcommand that prints more than a pipe holds (64 KiB), quickly
        "from xrnn.cli import command\n"
        "command._info = lambda args: print('x' * 200_000) or 0\n"
        "raise SystemExit(command.main(['info']))\n"
    )
    command = [sys.executable, "-c", script]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment()) as process:
        assert process.stdout is not None
        process.stdout.read(10)
        process.stdout.close()  # before xrnn has written everything
        _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err, err
    assert process.returncode == 1


def test_info_lists_versions_backends_and_devices(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "info")
    assert status == 0
    assert out.startswith("xrnn 0.1.0\n")
    assert "\nnumpy " in out
    assert "\narray-api-compat " in out
    for name in backend_names():
        line = next(line for line in out.splitlines() if line.startswith(f"  {name}: "))
        assert ("available; devices: " in line) == (name in available_backends()), line
    assert "  numpy: available; devices: cpu" in out


def test_bench_reports_a_missing_suite(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "bench", "no_such_suite")
    _assert_usage_error(status, err, "no benchmark suite 'no_such_suite'", "pip does not install")


# -- tasks, held-out evaluation, best checkpoints -------------------------------------------------
ADDING = ["--task", "adding", "--seq-len", "10", "--hidden", "8", "--batch", "4", "--eval-every", "3", "--quiet"]
COPY = ["--task", "copy", "--delay", "3", "--cell", "gru", "--hidden", "8", "--batch", "4", "--eval-every", "3"]
COPY += ["--quiet"]


def test_the_adding_task_prints_its_baseline_and_writes_validation_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = _run(capsys, "train", *ADDING, "--steps", "7", "--metrics", "m.csv", "--seed", "3")
    assert status == 0, err
    assert "baseline: always answering 1 scores a mean squared error of 0.167" in err
    text = (tmp_path / "m.csv").read_text()
    settings = dict(line[2:].split(": ", 1) for line in text.splitlines() if line.startswith("# "))
    assert {
        key: settings[key] for key in ("xrnn", "task", "cell", "seed", "n_x", "n_a", "n_y", "backend", "dtype")
    } == {
        "xrnn": "0.1.0",
        "task": "adding",
        "cell": "rnn",
        "seed": "3",
        "n_x": "2",
        "n_a": "8",
        "n_y": "1",
        "backend": "numpy",
        "dtype": "float32",
    }
    rows = _csv_rows(tmp_path / "m.csv")
    assert rows[0] == "step,loss,grad_norm,lr,val_loss"
    assert [row.split(",")[4] != "" for row in rows[1:]] == [False, False, True, False, False, True, False]
    assert "validation: val_loss" in out


def test_the_copy_task_scores_the_recalled_symbols(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = _run(capsys, "train", *COPY, "--steps", "3", "--metrics", "m.csv")
    assert status == 0, err
    assert f"= {10 * np.log(8) / 23:.4f} and recalls 1 symbol in 8" in err
    rows = _csv_rows(tmp_path / "m.csv")
    assert rows[0] == "step,loss,grad_norm,lr,val_loss,val_accuracy"
    assert 0 <= float(rows[3].split(",")[5]) <= 1


@pytest.mark.parametrize(
    "options",
    [
        [*FAST, "--schedule", "cosine", "--decay-steps", "12", "--eval-every", "4", "--patience", "4"],
        [*ADDING, "--schedule", "step", "--decay-steps", "12", "--optimizer", "sgd", "--lr", "0.1", "--clip", "0"],
        [*COPY, "--patience", "2"],
    ],
    ids=["char-cosine-patience", "adding-step-sgd", "copy-patience"],
)
def test_resume_continues_exactly_with_every_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]
) -> None:
    """Metrics (losses, rates, validation scores), the best checkpoint and the last one: as if never stopped."""
    assert cli.main(["train", *options, "--steps", "12", "--metrics", "straight.csv", "--save", "straight.npz"]) == 0
    assert cli.main(["train", *options, "--steps", "5", "--save", "half.npz"]) == 0
    resumed = ["train", "--resume", "half.npz", "--steps", "12", "--quiet", "--metrics", "resumed.csv"]
    assert cli.main([*resumed, "--save", "half.npz"]) == 0  # the best so far may be from before the resume
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[-2]  # "step 12: loss ..." of the straight and the resumed run
    assert (tmp_path / "straight.csv").read_bytes() == (tmp_path / "resumed.csv").read_bytes()
    for name in ("straight.npz", "straight.best.npz"):
        straight = load_checkpoint(tmp_path / name)
        resumed_checkpoint = load_checkpoint(tmp_path / name.replace("straight", "half"))
        for metadata in (straight.metadata, resumed_checkpoint.metadata):
            del metadata["config"]["steps"]  # a best checkpoint of the first half has that half's target
        assert straight.metadata == resumed_checkpoint.metadata
        for key, value in straight.parameters.items():
            np.testing.assert_array_equal(resumed_checkpoint.parameters[key], value)


def test_a_run_resumed_into_a_new_save_path_has_the_best_checkpoint_there_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The best of the first part is carried to ``--save``'s best file, not only written at a later improvement."""
    options = [*ADDING, "--optimizer", "sgd", "--lr", "1"]  # its best is at step 3, never beaten
    assert cli.main(["train", *options, "--steps", "12", "--save", "straight.npz"]) == 0
    assert cli.main(["train", *options, "--steps", "6", "--save", "first.npz"]) == 0
    best_before = load_checkpoint(tmp_path / "first.best.npz").metadata["step"]
    assert cli.main(["train", "--resume", "first.npz", "--steps", "12", "--quiet", "--save", "second.npz"]) == 0
    straight, second = (load_checkpoint(tmp_path / name) for name in ("straight.best.npz", "second.best.npz"))
    for metadata in (straight.metadata, second.metadata):
        del metadata["config"]["steps"]
    assert straight.metadata == second.metadata
    for key, value in straight.parameters.items():
        np.testing.assert_array_equal(second.parameters[key], value)
    assert best_before == 3


def test_resuming_without_the_best_checkpoint_says_where_it_is_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["train", *ADDING, "--optimizer", "sgd", "--lr", "1", "--steps", "6", "--save", "first.npz"]) == 0
    (tmp_path / "first.best.npz").unlink()
    status, _, err = _run(capsys, "train", "--resume", "first.npz", "--steps", "7", "--save", "second.npz")
    assert status == 0, err
    assert "the best checkpoint of the resumed run (step 3) is not at 'first.best.npz'" in err
    assert not (tmp_path / "second.best.npz").exists()


def test_a_resumed_run_prints_its_validation_scores_in_the_order_the_run_did(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The scores come back from the checkpoint's JSON with sorted keys; the summary keeps val_loss first."""
    status, out, err = _run(capsys, "train", *FAST, "--steps", "4", "--eval-every", "2", "--save", "a.npz")
    assert status == 0, err
    straight = [line for line in out.splitlines() if line.startswith("validation:")]
    status, out, err = _run(capsys, "train", "--resume", "a.npz", "--steps", "4", "--quiet")
    assert status == 0, err
    assert [line for line in out.splitlines() if line.startswith("validation:")] == straight
    assert straight[0].startswith("validation: val_loss ")


def test_a_run_that_ends_before_its_first_evaluation_says_it_has_no_best_checkpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--steps", "3", "--eval-every", "5", "--save", "short.npz")
    assert status == 0, err
    assert "no step was scored on held-out data (every --eval-every 5 steps; this run ended at step 3)" in err
    assert "so this run wrote no 'short.best.npz'" in err
    assert (tmp_path / "short.npz").exists()
    assert not (tmp_path / "short.best.npz").exists()
    status, _, err = _run(capsys, "train", *FAST, "--steps", "5", "--eval-every", "5", "--save", "scored.npz")
    assert status == 0, err
    assert "no step was scored" not in err
    assert (tmp_path / "scored.best.npz").exists()


def test_the_best_checkpoint_is_the_step_of_the_lowest_validation_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["train", *ADDING, "--steps", "12", "--metrics", "m.csv", "--save", "runs.npz"]) == 0
    rows = [row.split(",") for row in _csv_rows(tmp_path / "m.csv")[1:]]
    evaluated = [(float(row[4]), int(row[0])) for row in rows if row[4]]
    best = load_checkpoint(tmp_path / "runs.best.npz").metadata
    assert best["step"] == min(evaluated)[1]
    assert best["best"] == [min(evaluated)[1], min(evaluated)[0]]
    assert load_checkpoint(tmp_path / "runs.npz").metadata["step"] == 12


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--save", "missing/c.npz"], ("cannot write checkpoint 'missing/c.npz': No such file or directory",)),
        (["--metrics", "missing/m.csv"], ("cannot write metrics 'missing/m.csv': No such file or directory",)),
        (["--save", "."], ("cannot write checkpoint '.': Is a directory",)),
    ],
)
def test_outputs_that_cannot_be_written_are_found_before_training(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: list[str], fragments: tuple[str, ...]
) -> None:
    """A missing folder used to end the run after its last step, losing it."""

    def no_training(self: Any) -> Any:
        raise AssertionError("trained before checking the outputs")

    monkeypatch.setattr(Trainer, "train_step", no_training)
    status, _, err = _run(capsys, "train", *FAST, "--steps", "5", *options)
    _assert_usage_error(status, err, *fragments)


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--cell", "transformer"], ("--cell: unknown cell 'transformer'",)),
        ([*ADDING, "--sample", "10"], ("--sample needs the char task; this run is of the adding task",)),
        ([*ADDING, "--text", "t.txt"], ("--text is for the char task; the adding task generates its data",)),
        (["--delay", "5"], ("delay is the copy task's; the char task has none",)),
        ([*ADDING, "--val-fraction", "0.2"], ("the adding task validates on a fixed-seed set of its own",)),
        ([*COPY, "--seq-len", "30"], ("the copy task's sequences have delay + 20 = 23 steps, got seq_len 30",)),
        (["--decay-steps", "10"], ("decay_steps is for the cosine and step schedules, not constant",)),
        (["--val-fraction", "0", "--patience", "2"], ("patience counts evaluations on held-out text",)),
    ],
)
def test_options_that_do_not_fit_together_are_usage_errors(
    capsys: pytest.CaptureFixture[str], options: list[str], fragments: tuple[str, ...]
) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--steps", "1", *options)
    _assert_usage_error(status, err, *fragments)


def test_a_resumed_run_keeps_its_new_options_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", *ADDING, "--steps", "1", "--save", "c.npz"]) == 0
    capsys.readouterr()
    status, _, err = _run(capsys, "train", "--resume", "c.npz", "--eval-every", "5")
    _assert_usage_error(status, err, "--eval-every 5 differs from the resumed run's 3")


# -- checkpoints whose contents do not fit: one line naming the file, exit 2 ------------------------
def _rewrite(path: Path, *, arrays: dict[str, Any] | None = None, **document: Any) -> None:
    """Rewrite the checkpoint at ``path``: its JSON document's entries and its arrays changed as given."""
    from xrnn.train._npz import read_npz, write_npz

    host, saved = read_npz(path)
    for key, value in document.items():
        if key.startswith("metadata."):
            name = key.split(".", 1)[1]
            if value is None:
                del saved["metadata"][name]
            else:
                saved["metadata"][name] = value
        else:
            saved[key] = value
    write_npz(path, {**host, **(arrays or {})}, saved)


BAD_CONTENTS = {
    "short-vocabulary": ({"metadata.vocabulary": "abc"}, "a vocabulary of 3 characters needs (16, 3)"),
    "parameter-shape": (
        {"arrays": {f"{key}/Waa": np.zeros((3, 3), dtype=np.float32) for key in ("param", "optim/m", "optim/v")}},
        "parameter 'Waa' has shape (3, 3); the run's configuration with a vocabulary of 57 characters needs (16, 16)",
    ),
    "metadata-list": ({"metadata": [1, 2]}, "has metadata that is a JSON list, not an object"),
    "no-text-hash": ({"metadata.text_sha256": None}, "no 'text_sha256' (a char-task checkpoint needs it)"),
    "no-config": ({"metadata.config": None}, "its metadata has no 'config'"),
    "slot-shape": ({"arrays": {"optim/m/Waa": np.zeros((2, 2))}}, "optimizer slot m['Waa'] of shape (2, 2)"),
    "optimizer-name": (
        {"optimizer": {"name": "lion", "config": {"lr": 0.01}, "step": 1}},
        "unknown optimizer 'lion'",
    ),
}


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize("case", list(BAD_CONTENTS))
def test_a_checkpoint_whose_contents_do_not_fit_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str, command: str
) -> None:
    assert cli.main(["train", *FAST, "--steps", "1", "--save", "c.npz"]) == 0
    capsys.readouterr()
    changes, fragment = BAD_CONTENTS[case]
    _rewrite(tmp_path / "c.npz", **changes)
    argv = ["train", "--resume", "c.npz", "--steps", "2"] if command == "resume" else ["sample", "--load", "c.npz"]
    status, _, err = _run(capsys, *argv)
    _assert_usage_error(status, err, "'c.npz'", fragment)


def test_a_json_member_that_is_not_json_is_one_line_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    np.savez(tmp_path / "c.npz", __json__=np.asarray("[not json"))
    for argv in (["train", "--resume", "c.npz"], ["sample", "--load", "c.npz"]):
        status, _, err = _run(capsys, *argv)
        _assert_usage_error(status, err, "'c.npz' holds a '__json__' that is not JSON")


def test_sample_at_a_tiny_temperature_is_greedy(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", *FAST, "--steps", "3", "--save", "c.npz"]) == 0
    capsys.readouterr()
    runs = [_run(capsys, "sample", "--load", "c.npz", "--temperature", "1e-40", "--seed", str(s)) for s in (1, 2)]
    assert [status for status, _, _ in runs] == [0, 0], runs
    assert runs[0][1] == runs[1][1]  # greedy: the seed does not matter


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child process is POSIX only")
def _written(paths: Iterable[Path]) -> bool:
    """Whether one of ``paths`` exists with some content (a path may vanish while it is looked at)."""
    for path in paths:
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


def test_sigterm_during_a_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Killed while writing the checkpoint, the run used to leave its half-written temporary file behind."""
    script = (
        "import sys, time, xrnn.train._npz as npz\n"
        "def slow(stream, arrays, *, texts):\n"
        "    stream.write(b'PK\\x03\\x04 part of an archive')\n"
        "    stream.flush()\n"
        "    time.sleep(60)\n"
        "npz.save_npz = slow\n"
        "from xrnn.cli import main\n"
        "sys.exit(main(['train', '--steps', '2', '--hidden', '8', '--quiet', '--save', 'c.npz']))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=tmp_path, env=_environment(), stderr=subprocess.PIPE, text=True
    ) as process:
        deadline = time.monotonic() + 120
        while not _written(tmp_path.glob(".c.npz.*.tmp")):  # not the empty one the start's writability check makes
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


MY_CELL = """
import numpy as np
import xrnn


def step_forward(xt, state, p):
    a = np.tanh(p["W"] @ np.concatenate([state[0], xt]) + p["b"])
    return (a,), (a, state[0], xt, p)


def step_backward(dstate, cache):
    a, a_prev, xt, p = cache
    dz = (1 - a * a) * dstate[0]
    dj = p["W"].T @ dz
    n_a = a.shape[0]
    return dj[n_a:], (dj[:n_a],), {"dW": dz @ np.concatenate([a_prev, xt]).T, "db": dz.sum(axis=1, keepdims=True)}


JOINT = xrnn.cells.define(
    "cli_joint_rnn", step_forward, step_backward, parameters={"W": ("n_a", "n_a + n_x"), "b": ("n_a", 1)}
)
"""


def test_a_researchers_cell_trains_resumes_and_samples_by_module_and_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--cell MODULE:NAME: the name goes into the run's config and every later step finds the cell by it."""
    (tmp_path / "cli_cells.py").write_text(MY_CELL)
    run = ["train", "--cell", "cli_cells:JOINT", "--hidden", "8", "--seq-len", "6", "--batch", "3", "--quiet"]
    assert cli.main([*run, "--steps", "4", "--metrics", "straight.csv"]) == 0
    assert cli.main([*run, "--steps", "2", "--save", "c.npz"]) == 0
    assert cli.main(["train", "--resume", "c.npz", "--steps", "4", "--quiet", "--metrics", "resumed.csv"]) == 0
    assert _csv_rows(tmp_path / "straight.csv") == _csv_rows(tmp_path / "resumed.csv")
    assert "# cell: cli_cells:JOINT" in (tmp_path / "resumed.csv").read_text()
    capsys.readouterr()
    status, out, err = _run(capsys, "sample", "--load", "c.npz", "--length", "12", "--seed", "1")
    assert status == 0, err
    assert len(out.rstrip("\n")) == 12
    (tmp_path / "cli_cells.py").rename(tmp_path / "elsewhere.py")  # the model is fine; its module is gone
    sys.modules.pop("cli_cells", None)
    status, _, err = _run(capsys, "sample", "--load", "c.npz", "--length", "12")
    _assert_usage_error(
        status, err, "'c.npz' needs its cell, which cannot be loaded here: cell 'cli_cells:JOINT': no module"
    )
    status, _, err = _run(capsys, "train", "--cell", "no_such_module:CELL", "--steps", "1")
    _assert_usage_error(status, err, "--cell: cell 'no_such_module:CELL': no module 'no_such_module' to import")


BROKEN_CELLS = (
    MY_CELL
    + """

def short_forward(xt, state, p):
    (a,), cache = step_forward(xt, state, p)
    return (a[:-1],), cache


def failing_backward(dstate, cache):
    return 1 / 0


SHAPES = {"W": ("n_a", "n_a + n_x"), "b": ("n_a", 1)}
SHORT = xrnn.cells.define("cli_short", short_forward, step_backward, parameters=SHAPES)
FAILING = xrnn.cells.define("cli_failing", step_forward, failing_backward, parameters=SHAPES)
"""
)


def test_a_researchers_cell_that_breaks_the_contract_or_raises_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The cell's first step runs before any output; what it breaks or raises is bad input, named in one line."""
    (tmp_path / "cli_broken.py").write_text(BROKEN_CELLS)
    run = ["train", "--hidden", "8", "--seq-len", "6", "--batch", "3", "--steps", "2", "--save", "c.npz"]
    status, out, err = _run(capsys, *run, "--cell", "cli_broken:SHORT")
    _assert_usage_error(
        status,
        err,
        "cell cli_broken:SHORT breaks the cell contract: cell 'cli_short': step_forward returned new_state[0] (a) "
        "with shape (7, 1); expected (8, 1)",  # the trial step runs one sequence of the batch
    )
    line = 1 + BROKEN_CELLS.splitlines().index("    return 1 / 0")
    status, out, err = _run(capsys, *run, "--cell", "cli_broken:FAILING")
    _assert_usage_error(
        status,
        err,
        f"cell cli_broken:FAILING raised ZeroDivisionError: division by zero (at cli_broken.py:{line} in "
        "failing_backward); xrnn.gradcheck.check_cell('cli_broken:FAILING') runs it in Python",
    )
    assert out == ""
    assert not (tmp_path / "c.npz").exists()
    assert cli.main([*run, "--cell", "cli_broken:JOINT", "--quiet"]) == 0
    capsys.readouterr()
    (tmp_path / "cli_broken.py").write_text(BROKEN_CELLS.replace("    a = np.tanh(", "    1 / 0\n    a = np.tanh(", 1))
    sys.modules.pop("cli_broken", None)  # the cell's code changed since the run: sampling now fails in it
    status, out, err = _run(capsys, "sample", "--load", "c.npz", "--length", "5")
    _assert_usage_error(status, err, "cli_broken:JOINT raised ZeroDivisionError: division by zero (at cli_broken.py:7")


def test_only_the_cells_own_errors_are_blamed_on_it() -> None:
    """An error outside the cell's code (xrnn's, or memory) keeps its traceback: it is not bad input."""
    with pytest.raises(MemoryError, match="not the cell's"), blame_cell("tests.user_cells:LEAKY"):
        raise MemoryError("not the cell's")
    blamed = r"cell tests.user_cells:LEAKY raised KeyError: 'W' \(at user_cells.py:\d+ in step_forward\)"
    with pytest.raises(UsageError, match=blamed), blame_cell("tests.user_cells:LEAKY"):
        LEAKY.step_forward(np.ones((3, 2)), (np.zeros((4, 2)),) * 2, {})  # fails in the cell's own code


def test_flow_draws_the_gradient_at_every_time_step_and_writes_its_numbers(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--flow draws with matplotlib (the plot extra)")
    run = ["train", "--task", "adding", "--seq-len", "12", "--steps", "6", "--flow", "flow.png", "--flow-every", "2"]
    assert cli.main([*run, *FAST[:2], "--batch", "4", "--quiet"]) == 0
    assert (tmp_path / "flow.png").stat().st_size > 0
    rows = (tmp_path / "flow.csv").read_text().splitlines()
    assert rows[0] == "step,t,norm"
    steps = sorted({int(row.split(",")[0]) for row in rows[1:]})
    assert steps == [1, 2, 4, 6]
    norms = {(int(s), int(t)): float(n) for s, t, n in (row.split(",") for row in rows[1:])}
    assert len(norms) == 4 * 12
    # the adding problem's loss reads the last state only: what reaches the first steps has faded
    assert norms[(1, 0)] < norms[(1, 11)]


def test_flow_every_without_flow_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--steps", "1", "--flow-every", "5")
    _assert_usage_error(status, err, "--flow-every needs --flow")
