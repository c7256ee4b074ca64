"""Data-parallel training on a dask.distributed cluster: the single-process numbers, with or without faults.

One ``LocalCluster`` of two single-threaded worker processes on loopback serves the whole module. The fault
tests kill a worker process with SIGKILL (its nanny starts a new one) and check that the run ends with the
numbers of a run without the fault. The reduction adds the shards in a fixed order, but not always to the
last bit: BLAS kernels may round differently for differently aligned copies of the same data, and a shard
that moves to another worker is a new copy. So the comparisons are float64 ``rtol = 1e-12``, which a shard
lost or counted twice (a change of order 1/4 here) fails by eleven orders of magnitude.
Every wait is bounded; the parallel runs are float64 on NumPy (the workers compute with NumPy).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

distributed = pytest.importorskip(
    "distributed", reason="data-parallel training needs dask.distributed: pip install 'xrnn[dask]'"
)

from xrnn.parallel.distributed import ClusterError, DataParallel, PendingStep, connect, shard_sizes  # noqa: E402
from xrnn.patterns import many_to_many_loss_and_gradients, one_hot  # noqa: E402
from xrnn.train.trainer import CharTrainer, TrainConfig, default_corpus, make_trainer  # noqa: E402

WAIT = 30  # seconds: the bound on every wait for the cluster
F64 = {"rtol": 1e-12, "atol": 1e-14}


def _config(cell: str = "rnn", **options: Any) -> TrainConfig:
    values = {"cell": cell, "hidden": 12, "seq_len": 6, "batch": 7, "steps": 6, "dtype": "float64", "seed": 5}
    values["val_fraction"] = 0.0
    return TrainConfig(**{**values, **options})


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, timeout=WAIT) as c,
    ):
        c.wait_for_workers(2, timeout=WAIT)
        yield c


def _single_process(config: TrainConfig) -> CharTrainer:
    trainer = CharTrainer(config, default_corpus())
    trainer.run()
    return trainer


def _assert_same_run(got: CharTrainer, expected: CharTrainer) -> None:
    """The same steps, losses and gradient norms at every step, and the same final parameters (float64)."""
    assert [r.step for r in got.history] == [r.step for r in expected.history] == list(range(1, got.step + 1))
    got_history = np.array([[r.loss, r.grad_norm] for r in got.history])
    expected_history = np.array([[r.loss, r.grad_norm] for r in expected.history])
    np.testing.assert_allclose(got_history, expected_history, **F64)
    assert list(got.parameters) == list(expected.parameters)
    for key in expected.parameters:
        assert got.parameters[key].dtype == np.float64
        np.testing.assert_allclose(got.parameters[key], expected.parameters[key], **F64, err_msg=key)


def _kill(client: Any, address: str) -> None:
    """SIGKILL the worker process at ``address``: no goodbye to the scheduler; its nanny starts a new one."""
    pids = client.run(os.getpid, workers=[address])
    os.kill(pids[address], signal.SIGKILL)


# ------------------------------------------------------------------------------- single-process numbers


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_data_parallel_training_equals_the_single_process_run(client: Any, cell: str) -> None:
    config = _config(cell)
    parallel = CharTrainer(
        config, default_corpus(), parallel=DataParallel(client, shards=3, split_every=2, timeout=WAIT)
    )
    parallel.run()
    _assert_same_run(parallel, _single_process(config))


@pytest.mark.parametrize(
    ("shards", "split_every", "batch"),
    [(1, 2, 7), (2, 8, 7), (7, 2, 7), (4, 3, 3)],  # one shard; fewer than a level; one example each; shards > m
    ids=["one-shard", "one-level", "one-example-each", "more-shards-than-examples"],
)
def test_shards_and_tree_shape_do_not_change_the_numbers(
    client: Any, shards: int, split_every: int, batch: int
) -> None:
    config = _config(batch=batch, optimizer="sgd", steps=4)
    engine = DataParallel(client, shards=shards, split_every=split_every, timeout=WAIT)
    parallel = CharTrainer(config, default_corpus(), parallel=engine)
    parallel.run()
    _assert_same_run(parallel, _single_process(config))


def test_one_step_gives_the_loss_and_every_gradient(client: Any) -> None:
    trainer = CharTrainer(_config("lstm"), default_corpus())
    x, labels = trainer.batch(1)
    pending = DataParallel(client, shards=3, timeout=WAIT).submit(x, labels, trainer.parameters)
    assert isinstance(pending, PendingStep)
    assert pending.shards == (3, 2, 2)
    assert pending.count == 7 * 6
    loss, gradients = DataParallel(client, shards=3, timeout=WAIT).gather(pending)
    expected_loss, expected = many_to_many_loss_and_gradients(x, labels, trainer.parameters)
    np.testing.assert_allclose(loss, expected_loss, **F64)
    assert sorted(gradients) == sorted("d" + key for key in trainer.parameters)
    for key, value in gradients.items():
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected[key], **F64, err_msg=key)


def test_float_targets_are_sharded_along_their_batch_axis(client: Any) -> None:
    trainer = CharTrainer(_config("gru"), default_corpus())
    x, labels = trainer.batch(1)
    targets = one_hot(labels, x.shape[0], dtype=np.float64)  # (n_y, m, T_x)
    loss, gradients = DataParallel(client, shards=2, timeout=WAIT).loss_and_gradients(x, targets, trainer.parameters)
    expected_loss, expected = many_to_many_loss_and_gradients(x, targets, trainer.parameters)
    np.testing.assert_allclose(loss, expected_loss, **F64)
    np.testing.assert_allclose(gradients["dWu"], expected["dWu"], **F64)


def test_default_shards_are_the_worker_threads(client: Any) -> None:
    assert DataParallel(client).shards == 2


# ------------------------------------------------------------------------------------------------ faults


def test_a_worker_killed_between_steps_changes_nothing(client: Any) -> None:
    config = _config("rnn", steps=8)
    expected = CharTrainer(config, default_corpus(), parallel=DataParallel(client, shards=4, timeout=WAIT))
    expected.run()
    trainer = CharTrainer(config, default_corpus(), parallel=DataParallel(client, shards=4, timeout=WAIT))
    trainer.run(3)
    before = client.run(os.getpid)
    _kill(client, sorted(before)[0])
    trainer.run()  # the remaining worker computes at once; the restarted one joins when it is up
    _assert_same_run(trainer, expected)
    client.wait_for_workers(2, timeout=WAIT)
    assert set(client.run(os.getpid).values()) != set(before.values())  # a new worker process


class _KillBeforeGather(DataParallel):
    """Kill the worker that holds a step's summed vector once that step is done, before the client reads it."""

    def __init__(self, *args: Any, kill_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at
        self.calls = 0
        self.killed: list[str] = []

    def gather(self, pending: PendingStep) -> tuple[Any, dict[str, Any]]:
        self.calls += 1
        if self.calls == self.kill_at:
            distributed.wait([pending.future], timeout=WAIT)
            holders = self.client.who_has([pending.future])[pending.future.key]
            assert len(holders) == 1
            _kill(self.client, holders[0])
            self.killed.append(holders[0])
        return super().gather(pending)


def test_a_step_whose_result_is_lost_is_recomputed_once(client: Any) -> None:
    config = _config("gru", steps=6)
    expected = CharTrainer(config, default_corpus(), parallel=DataParallel(client, shards=4, timeout=WAIT))
    expected.run()
    engine = _KillBeforeGather(client, shards=4, split_every=2, timeout=WAIT, kill_at=3)
    trainer = CharTrainer(config, default_corpus(), parallel=engine)
    trainer.run()
    # The only copy of step 3's result died with its worker; the scheduler recomputed the step from its
    # tasks' lineage (the shards were already released), and the client committed it once.
    assert len(engine.killed) == 1
    _assert_same_run(trainer, expected)
    _assert_same_run(trainer, _single_process(config))
    client.wait_for_workers(2, timeout=WAIT)


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shards": 0}, "shards must be at least 1, got 0"),
        ({"split_every": 1}, "split_every must be at least 2, got 1"),
        ({"timeout": 0}, "timeout must be positive or None, got 0"),
    ],
)
def test_bad_options_are_rejected(client: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataParallel(client, **options)


def test_bad_shapes_are_rejected_before_any_task(client: Any) -> None:
    engine = DataParallel(client, shards=2)
    trainer = CharTrainer(_config(), default_corpus())
    x, labels = trainer.batch(1)
    with pytest.raises(ValueError, match=r"x must have shape \(n_x, m, T_x\)"):
        engine.submit(x[0], labels, trainer.parameters)
    with pytest.raises(ValueError, match="labels must have shape"):
        engine.submit(x, labels[:3], trainer.parameters)


def test_shard_sizes() -> None:
    assert shard_sizes(7, 3) == [3, 2, 2]
    assert shard_sizes(3, 5) == [1, 1, 1]
    assert shard_sizes(4, 1) == [4]
    with pytest.raises(ValueError, match="m must be at least 1, got 0"):
        shard_sizes(0, 2)
    with pytest.raises(TypeError, match="m must be an int, got float"):  # gave float sizes
        shard_sizes(10.0, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["local:0", "local:two", "local:"])
def test_connect_rejects_a_bad_local_cluster(address: str) -> None:
    with pytest.raises(ValueError, match="local:N needs a positive number of workers"), connect(address):
        pass


def test_connect_reports_an_address_where_no_scheduler_answers() -> None:
    with (
        pytest.raises(OSError, match=r"no dask scheduler answered at 'tcp://127\.0\.0\.1:9'"),
        connect("tcp://127.0.0.1:9", timeout=1),
    ):
        pass


def test_a_step_that_takes_too_long_raises_timeout_error(client: Any) -> None:
    trainer = CharTrainer(_config(), default_corpus())
    x, labels = trainer.batch(1)
    engine = DataParallel(client, shards=2, timeout=0.2)
    pending = engine.submit(x, labels, trainer.parameters)
    slow = client.submit(time.sleep, 2, pure=False)  # stands for a step the cluster does not finish in time
    try:
        with pytest.raises(TimeoutError, match=r"did not finish the step within 0\.2 s"):
            engine.gather(PendingStep(slow, pending.shapes, pending.count, pending.shards))
    finally:
        slow.cancel()
    engine.timeout = WAIT
    assert float(engine.gather(pending)[0]) > 0  # the real step is unaffected


# --------------------------------------------------------------------------------------------- benchmark


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_benchmark_counts_every_parameter(cell: str) -> None:
    from benchmarks.dask_scaling import communication

    trainer = CharTrainer(_config(cell, dtype="float32"), default_corpus())
    n_x = len(trainer.vocabulary)
    counted = communication(trainer.config, n_x, shards=3, split_every=2)
    assert counted["parameters"] == sum(value.size for value in trainer.parameters.values())
    (windows,) = trainer.task.batch(1)
    assert counted["shard_bytes"] == [windows.nbytes * m_i // 7 for m_i in (3, 2, 2)]
    # 3 shard vectors, then 2 partial sums, then the sum to the client
    assert counted["reduction_bytes_at_most"] == 6 * counted["gradient_vector_bytes"]


def test_the_benchmark_writes_its_table_and_json(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import dask_scaling

    path = tmp_path / "scaling.json"
    options = ["--workers", "1", "--steps", "1", "--warmup", "1", "--hidden", "8", "--batch", "4", "--seq-len", "5"]
    options += ["--in-process-threads", "0"]  # BLAS's own threads: threadpoolctl is not a test dependency
    assert dask_scaling.main([*options, "--json", str(path)]) == 0
    result = json.loads(path.read_text(encoding="utf-8"))
    assert [row["run"] for row in result["rows"]] == ["in-process", "dask 1"]
    assert result["rows"][1]["communication"]["shard_bytes"] == [4 * (5 + 1) * 8]  # token ids, not one-hot
    assert result["rows"][1]["steps_per_s"] > 0
    assert "dask 1" in capsys.readouterr().out


def test_a_task_that_killed_its_workers_is_a_cluster_error(client: Any) -> None:
    """``distributed.KilledWorker`` (the scheduler's allowed-failures used up) becomes one clear error."""

    class KilledFuture:
        def result(self, timeout: float | None = None) -> Any:
            raise distributed.KilledWorker("shard-0", SimpleNamespace(address="tcp://127.0.0.1:1234"), 3)

    pending = PendingStep(KilledFuture(), (("Wax", (2, 3)),), 6, (3,))
    message = r"the cluster gave up on the step \(.*shard-0.*\); are the workers out of memory\?"
    with pytest.raises(ClusterError, match=message):
        DataParallel(client, shards=1, timeout=WAIT).gather(pending)


# --------------------------------------------------------------------------------------- tasks, token ids


@pytest.mark.parametrize(
    "options",
    [
        {"task": "adding", "cell": "lstm", "seq_len": 8, "eval_every": 3},
        {"task": "copy", "cell": "gru", "delay": 3, "seq_len": None, "eval_every": 3, "schedule": "cosine"},
        {"val_fraction": 0.1, "eval_every": 3, "patience": 5},
    ],
    ids=["adding", "copy", "char-held-out"],
)
def test_every_task_trains_data_parallel_as_in_one_process(client: Any, options: dict[str, Any]) -> None:
    config = _config(**options)
    parallel = make_trainer(config, parallel=DataParallel(client, shards=3, split_every=2, timeout=WAIT))
    parallel.run()
    single = make_trainer(config)
    single.run()
    _assert_same_run(parallel, single)
    got = [r.validation["val_loss"] for r in parallel.history if r.validation]
    expected = [r.validation["val_loss"] for r in single.history if r.validation]
    np.testing.assert_allclose(got, expected, **F64)


class _Recording:
    """A client that notes the arguments of every task submitted through it."""

    def __init__(self, client: Any) -> None:
        self.client, self.submitted = client, []

    def submit(self, function: Any, *args: Any, key: str, **options: Any) -> Any:
        self.submitted.append((key, args))
        return self.client.submit(function, *args, key=key, **options)


def test_the_shards_receive_token_ids_not_one_hot_inputs(client: Any) -> None:
    recording = _Recording(client)
    trainer = CharTrainer(_config(), default_corpus(), parallel=DataParallel(recording, shards=3, timeout=WAIT))
    trainer.train_step()
    shards = [args for key, args in recording.submitted if key.startswith("xrnn-shard-")]
    assert len(shards) == 3
    (windows,) = trainer.task.batch(1)
    for (_, ids), rows in zip(shards, ([0, 3], [3, 5], [5, 7]), strict=True):
        assert ids.dtype == np.int64  # the windows of token ids: (m_i, T_x + 1) integers
        np.testing.assert_array_equal(ids, windows[rows[0] : rows[1]])
    x, labels = trainer.batch(1)
    assert sum(ids.nbytes for _, ids in shards) * 29 < x.nbytes + labels.nbytes  # one-hot float64: 58 times more


def test_a_batch_that_does_not_line_up_is_rejected_before_any_task(client: Any) -> None:
    engine = DataParallel(client, shards=2)
    objective = make_trainer(_config(task="adding")).task.objective
    values, positions = np.zeros((4, 6)), np.zeros((3, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="every array of batch must have the same m >= 1 along axis 0"):
        engine.submit_batch(objective, (values, positions), {})
    with pytest.raises(ValueError, match="batch must be one or more arrays with the batch along axis 0"):
        engine.submit_batch(objective, (), {})


def test_the_shipped_bytes_benchmark_measures_about_thirty_times_less_for_characters() -> None:
    from benchmarks.shipped_bytes import measure

    measured = measure(TrainConfig(batch=32, hidden=16, val_fraction=0.0), shards=2)
    assert measured["full_inputs_bytes"] > 25 * measured["compact_batch_bytes"]
    copy = measure(TrainConfig(task="copy", delay=20, batch=8, hidden=8), shards=2)
    assert copy["ratio"] > 10
