"""The ``xrnn`` command line: train, sample, info, bench, and every error path (exit 2, one line)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from xrnn import cli
from xrnn.backends import BackendUnavailableError, available_backends, backend_names
from xrnn.cli.progress import ProgressBar
from xrnn.parallel.distributed import ClusterError
from xrnn.train.trainer import CharTrainer

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


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


# -- train ----------------------------------------------------------------------------------------
def test_train_writes_metrics_checkpoint_and_samples(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = _run(
        capsys, "train", *FAST, "--steps", "5", "--metrics", "m.csv", "--save", "c.npz", "--sample", "30"
    )
    assert status == 0, err
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[0] == "step,loss,grad_norm"
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


def test_progress_off_a_terminal_is_whole_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Captured stderr is not a terminal: about one line per tenth of the run, no carriage returns."""
    status, _, err = _run(capsys, "train", "--hidden", "8", "--seq-len", "5", "--batch", "2", "--steps", "40")
    assert status == 0
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    assert "\r" not in err
    assert [line.split()[1] for line in lines] == [f"{step}/40" for step in range(1, 41, 4)] + ["40/40"]
    assert all("loss " in line and line.endswith("steps/s") for line in lines)


def test_progress_on_a_terminal_redraws_one_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(4, stream, interactive=True, rate=1e9)
    for step in range(1, 5):
        bar.update(step, 1.0 / step)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "\rstep 4/4 [" + "#" * 24 + "] loss 0.2500" in text


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib; its absence is tested separately")
    status, _, err = _run(capsys, "train", *FAST, "--steps", "3", "--plot", "loss.png")
    assert status == 0, err
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    single = [line.split(",") for line in (tmp_path / "single.csv").read_text().splitlines()[1:]]
    parallel = [line.split(",") for line in (tmp_path / "parallel.csv").read_text().splitlines()[1:]]
    assert [row[0] for row in parallel] == ["1", "2", "3", "4"]
    for got, expected in zip(parallel, single, strict=True):
        for a, b in zip(got[1:], expected[1:], strict=True):
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


@pytest.mark.parametrize(
    "options",
    [
        ["--hidden", "0"],
        ["--lr", "-1"],
        ["--cell", "transformer"],
        ["--backend", "jax"],
        ["--steps", "many"],
        ["--dtype", "float16"],
        ["--momentum", "1.5"],
    ],
)
def test_invalid_options_exit_2(capsys: pytest.CaptureFixture[str], options: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *options])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument" in err
    assert "Traceback" not in err


def test_an_unavailable_backend_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(name: str) -> None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: there is no CUDA device")

    monkeypatch.setattr(cli.command, "get_backend", unavailable)
    status, _, err = _run(capsys, "train", *FAST, "--backend", "cupy")
    _assert_usage_error(status, err, "backend 'cupy' is unavailable: there is no CUDA device")


@pytest.mark.parametrize("name", [n for n in backend_names() if n not in available_backends()])
def test_a_backend_that_cannot_run_here_is_a_usage_error(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, _, err = _run(capsys, "train", *FAST, "--backend", name)
    _assert_usage_error(status, err, f"backend {name!r} is unavailable")
    status, _, err = _run(capsys, "sample", "--load", "missing.npz", "--backend", name)
    _assert_usage_error(status, err, f"backend {name!r} is unavailable")


def test_usage_errors_from_the_installed_entry_point_have_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xrnn", "train", "--text", "missing.txt"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "xrnn train: error: cannot read 'missing.txt': No such file or directory"


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
    _assert_usage_error(status, err, "'c.npz' is not a checkpoint of xrnn train")


# -- info, bench ----------------------------------------------------------------------------------
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
