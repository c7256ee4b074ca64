"""The tasks: their data, validation sets, baselines and objectives; the configuration and the schedules."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from typing import Any

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn.cells import get_cell
from xrnn.gradcheck import numerical_gradient, relative_error
from xrnn.patterns import many_to_many_loss_and_gradients, one_hot
from xrnn.train import objectives
from xrnn.train.config import TrainConfig
from xrnn.train.objectives import BLANK, DELIMITER, Adding, Copy, adding_inputs
from xrnn.train.schedules import learning_rate
from xrnn.train.tasks import VALIDATION_SIZE, AddingTask, CharTask, CopyTask, default_corpus, make_task
from xrnn.train.trainer import make_trainer

TEXT = default_corpus()


# -- char -----------------------------------------------------------------------------------------
def test_the_char_task_holds_out_the_end_of_the_text() -> None:
    task = CharTask(TrainConfig(seq_len=10, batch=64, val_fraction=0.2), TEXT)
    split = len(TEXT) - int(len(TEXT) * 0.2)
    assert task.train_text == TEXT[:split]
    assert task.validation_text == TEXT[split:]
    assert len(task.vocabulary) == 57  # from the whole text
    for step in (1, 2, 3):
        (windows,) = task.batch(step)
        for row in windows.tolist():
            assert task.vocabulary.decode(row) in task.train_text  # never a held-out character
    chunks = task._validation_batches()
    windows = np.concatenate([chunk[0] for chunk in chunks])
    assert windows.shape == ((len(task.validation_text) - 1) // 10, 11)
    # consecutive windows overlap by one character: every held-out character but the first is a label once
    covered = task.vocabulary.decode(windows[:, 1:].ravel().tolist())
    assert covered == task.validation_text[1 : 1 + len(covered)]


def test_without_a_held_out_part_the_batches_are_those_of_the_runs_before_tasks() -> None:
    """val_fraction 0 keeps the old windows: old checkpoints resume on the same batches."""
    import random

    task = CharTask(TrainConfig(seq_len=8, batch=3, seed=4, val_fraction=0), TEXT)
    rng = random.Random("xrnn-batch:4:7")
    tokens = task.vocabulary.encode(TEXT)
    starts = [rng.randrange(len(tokens) - 8) for _ in range(3)]
    assert task.batch(7)[0].tolist() == [tokens[s : s + 9] for s in starts]


def test_bits_per_character_are_the_loss_in_base_2() -> None:
    task = CharTask(TrainConfig(hidden=8, seq_len=10), TEXT)
    scores = task.evaluate(get_cell("rnn").init(57, 8, 57, seed=0))
    assert scores["val_loss"] == pytest.approx(math.log(57), abs=0.01)  # small weights: uniform predictions
    assert scores["val_bpc"] == pytest.approx(scores["val_loss"] / math.log(2), rel=1e-12)


# -- adding ---------------------------------------------------------------------------------------
def test_adding_batches_mark_one_step_in_each_half_and_are_seeded() -> None:
    task = AddingTask(TrainConfig(task="adding", seq_len=9, batch=500, seed=1))
    values, positions = task.batch(3)
    assert values.shape == (500, 9)
    assert values.dtype == np.float32
    assert values.min() >= 0
    assert values.max() < 1
    assert set(positions[:, 0].tolist()) == set(range(4))
    assert set(positions[:, 1].tolist()) == set(range(4, 9))
    again, other = task.batch(3), AddingTask(TrainConfig(task="adding", seq_len=9, batch=500, seed=2)).batch(3)
    np.testing.assert_array_equal(again[0], values)
    assert not np.array_equal(other[0], values)


def test_adding_inputs_and_targets() -> None:
    values = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    x, targets = adding_inputs(values, np.array([[0, 2], [1, 3]]))
    np.testing.assert_array_equal(x[0], values)
    np.testing.assert_array_equal(x[1], [[1, 0, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_allclose(targets, [[0.4, 1.4]])


def test_the_adding_validation_set_is_fixed_and_the_baseline_is_one_sixth() -> None:
    one, two = (AddingTask(TrainConfig(task="adding", seq_len=30, seed=seed)) for seed in (0, 7))
    for a, b in zip(one._validation_batches(), two._validation_batches(), strict=True):
        np.testing.assert_array_equal(a[0], b[0])  # the same set for every run of this length
    assert sum(chunk[0].shape[0] for chunk in one._validation_batches()) == VALIDATION_SIZE
    measured = float(one.baseline().rsplit("; ", 1)[1].split()[0])
    assert abs(measured - 1 / 6) < 0.02
    assert "0.167" in one.baseline()


def test_a_model_that_answers_one_scores_the_baseline() -> None:
    task = AddingTask(TrainConfig(task="adding", seq_len=20, hidden=4))
    initial = get_cell("rnn").init(2, 4, 1, dtype="float32", seed=0)
    parameters = {key: np.zeros_like(value) for key, value in initial.items()}
    parameters["by"] = np.ones((1, 1), dtype=np.float32)
    measured = float(task.baseline().rsplit("; ", 1)[1].split()[0])
    assert task.evaluate(parameters)["val_loss"] == pytest.approx(measured, abs=1e-4)


# -- copy -----------------------------------------------------------------------------------------
def test_copy_sequences_show_ten_symbols_and_ask_for_them_after_the_delay() -> None:
    task = CopyTask(TrainConfig(task="copy", cell="gru", delay=4, batch=3))
    (symbols,) = task.batch(1)
    assert symbols.shape == (3, 10)
    assert symbols.max() < 8
    parameters = get_cell("gru").init(10, 5, 10, dtype="float32", seed=0)
    x, labels = task.objective.inputs(parameters, symbols)
    tokens = x.argmax(axis=0)
    assert x.shape == (10, 3, 24)
    assert labels.shape == (3, 24)
    np.testing.assert_array_equal(tokens[:, :10], symbols)
    assert (tokens[:, 10:13] == BLANK).all()
    assert (tokens[:, 13] == DELIMITER).all()
    assert (tokens[:, 14:] == BLANK).all()
    assert (labels[:, :14] == BLANK).all()
    np.testing.assert_array_equal(labels[:, 14:], symbols)


def test_the_copy_baseline_is_ten_log_eight_over_the_length() -> None:
    task = CopyTask(TrainConfig(task="copy", delay=100))
    assert f"= {10 * math.log(8) / 120:.4f}" in task.baseline()


def test_copy_accuracy_counts_the_recalled_symbols_only(monkeypatch: pytest.MonkeyPatch) -> None:
    task = CopyTask(TrainConfig(task="copy", delay=3, dtype="float64"))
    parameters = get_cell("rnn").init(10, 4, 10, seed=0)
    (symbols,) = task._validation_batches()[0]
    task._validation = [(symbols,)]
    _, labels = task.objective.inputs(parameters, symbols)
    answers = {"labels": labels}  # a stand-in model: logits of 50 on these labels at every step
    monkeypatch.setattr(
        objectives, "many_to_many_logits", lambda x, p, *, cell: 50 * one_hot(answers["labels"], 10, dtype=np.float64)
    )
    scores = task.evaluate(parameters)
    assert scores["val_accuracy"] == 1.0
    assert scores["val_loss"] < 1e-12
    wrong = labels.copy()
    wrong[:, -10:] = (wrong[:, -10:] + 1) % 8  # every recalled symbol wrong, every blank right
    answers["labels"] = wrong
    scores = task.evaluate(parameters)
    assert scores["val_accuracy"] == 0.0
    assert scores["val_loss"] == pytest.approx(50 * 10 / 23, rel=1e-9)  # 10 of 23 steps wrong by 50 nats


# -- objectives -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_objectives_gradients_match_finite_differences(cell: str) -> None:
    rng = np.random.default_rng(0)
    cases = [
        (Adding(cell), 2, 1, (rng.uniform(size=(3, 6)), np.array([[0, 4], [2, 3], [1, 5]]))),
        (Copy(cell, 2), 10, 10, (rng.integers(0, 8, (2, 10)),)),
    ]
    for objective, n_x, n_y, batch in cases:
        params = get_cell(cell).init(n_x, 3, n_y, seed=1, scale=0.5)
        _, grads = objective.loss_and_gradients(params, *batch)
        for key, value in params.items():

            def loss_of(v: np.ndarray, key: str = key, objective: Any = objective, batch: Any = batch) -> float:
                return float(objective.loss_and_gradients({**params, key: v}, *batch)[0])  # noqa: B023 - used at once

            error = relative_error(grads["d" + key], numerical_gradient(loss_of, value))
            assert error < 1e-6, (type(objective).__name__, key, error)


def test_next_token_objective_is_the_many_to_many_loss_of_one_hot_windows(backend: TestBackend) -> None:
    config = TrainConfig(cell="lstm", hidden=6, seq_len=5, batch=3, backend=backend.name, dtype="float64")
    task = make_task(config, text=TEXT)
    params = get_cell("lstm").init(57, 6, 57, backend=backend.name, dtype="float64", seed=0)
    (windows,) = task.batch(1)
    loss, grads = task.objective.loss_and_gradients(params, windows)
    host = {key: backend.to_numpy(value) for key, value in params.items()}
    tokens = backend.to_numpy(windows)
    expected, reference = many_to_many_loss_and_gradients(
        one_hot(tokens[:, :-1], 57, dtype=np.float64), tokens[:, 1:], host
    )
    assert type(grads["dWf"]) is type(params["Wf"])  # the batch's library in, the same library out
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(grads["dWf"]), reference["dWf"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("task", ["char", "adding", "copy"])
def test_batches_are_the_same_numbers_on_every_backend(backend: TestBackend, task: str) -> None:
    options = {"char": {}, "adding": {"seq_len": 7}, "copy": {"delay": 3}}[task]
    host = make_task(TrainConfig(task=task, batch=4, **options)).batch(5)  # type: ignore[arg-type]
    there = make_task(TrainConfig(task=task, batch=4, backend=backend.name, **options)).batch(5)  # type: ignore[arg-type]
    for a, b in zip(there, host, strict=True):
        np.testing.assert_array_equal(backend.to_numpy(a), b)


# -- configuration and schedules ------------------------------------------------------------------
def test_each_task_has_its_own_defaults() -> None:
    assert (TrainConfig().seq_len, TrainConfig().val_fraction, TrainConfig().delay) == (25, 0.1, None)
    assert (TrainConfig(task="adding").seq_len, TrainConfig(task="adding").val_fraction) == (50, 0.0)
    assert (TrainConfig(task="copy").delay, TrainConfig(task="copy").seq_len) == (100, 120)
    assert TrainConfig(task="copy", seq_len=30).delay == 10
    assert TrainConfig(steps=300, schedule="cosine").decay_steps == 300
    assert dataclasses.replace(TrainConfig(steps=300, schedule="step"), steps=600).decay_steps == 300  # kept
    assert TrainConfig(steps=300).decay_steps is None  # the constant schedule has no horizon


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "copy", "delay": 10, "seq_len": 25}, r"delay \+ 20 = 30 steps, got seq_len 25"),
        ({"task": "copy", "delay": 0}, r"the copy task needs a delay of at least 1, .*; got delay 0 and seq_len 20"),
        (  # the delay is seq_len - 20 here: the message names both
            {"task": "copy", "seq_len": 10},
            r"delay of at least 1, so a seq_len \(delay \+ 20\) of at least 21; got delay -10 and seq_len 10",
        ),
        ({"task": "adding", "delay": 10}, "delay is the copy task's; the adding task has none"),
        ({"task": "adding", "seq_len": 1}, "the adding problem needs seq_len of at least 2"),
        ({"task": "adding", "val_fraction": 0.1}, "the adding task validates on a fixed-seed set of its own"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\), got 1.0"),
        ({"val_fraction": 0.0, "patience": 3}, "patience counts evaluations on held-out text"),
        ({"task": "speech"}, "unknown task 'speech'; known: char, adding, copy"),
        ({"schedule": "linear"}, "unknown schedule 'linear'; known: constant, cosine, step"),
        ({"eval_every": 0}, "eval_every must be at least 1, got 0"),
        ({"decay_steps": 10}, "decay_steps is for the cosine and step schedules, not constant; got 10"),
        ({"schedule": "cosine", "decay_steps": 0}, "decay_steps must be at least 1, got 0"),
        ({"patience": -1}, "patience must be at least 0, got -1"),
        ({"seed": -1}, "seed must be at least 0, got -1"),
        ({"optimizer": "lion"}, "unknown optimizer 'lion'; known: sgd, adam"),
        ({"cell": "transformer"}, "unknown cell 'transformer'"),
    ],
)
def test_configurations_no_run_can_use_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options).check()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 2.5}, "steps must be an int, got float 2.5"),  # ran 3 steps
        ({"hidden": None}, "hidden must be an int, got NoneType None"),  # a TypeError from a comparison
        ({"lr": "0.1"}, "lr must be a positive finite number, got str '0.1'"),
        ({"seed": 1.5}, "seed must be an int, got float 1.5"),
    ],
)
def test_configurations_of_the_wrong_type_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        TrainConfig(**options).check()


def test_configurations_take_integers_and_numbers_of_any_type() -> None:
    TrainConfig(steps=np.int64(3), hidden=np.int32(8), lr=np.float32(0.5), momentum=np.float64(0.5)).check()


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        (["cell", "rnn"], "config must be a JSON object, got a list"),
        ({"cell": "rnn", "layers": 2}, r"config has unknown options \['layers'\]"),
        ({"hidden": "128"}, r"config\['hidden'\] must be int, got '128'"),
        ({"hidden": True}, r"config\['hidden'\] must be int, got True"),
        ({"lr": None}, r"config\['lr'\] must be float, got None"),
        ({"hidden": 0}, "hidden must be at least 1, got 0"),
    ],
)
def test_a_saved_configuration_that_does_not_fit_is_rejected(saved: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_saved(saved)


def test_a_configuration_from_before_held_out_evaluation_has_none() -> None:
    old = {"cell": "gru", "hidden": 8, "seq_len": 5, "batch": 2, "steps": 10, "lr": 0.01, "optimizer": "adam"}
    config = TrainConfig.from_saved({**old, "momentum": 0.9, "clip": 5.0, "backend": "numpy", "dtype": "float32"})
    assert (config.task, config.val_fraction, config.schedule, config.patience) == ("char", 0.0, "constant", 0)


def test_schedules() -> None:
    rates = [learning_rate("cosine", 1.0, step, 100) for step in range(1, 103)]
    assert rates[0] == 1.0
    assert rates[100] == rates[101] == pytest.approx(0.01)
    assert all(a > b for a, b in itertools.pairwise(rates[:101]))
    assert rates[50] == pytest.approx(0.505)  # halfway: the mean of lr and lr / 100
    steps = [learning_rate("step", 1.0, step, 100) for step in (1, 50, 51, 75, 76, 200)]
    assert steps == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert {learning_rate("constant", 0.3, step, 10) for step in (1, 10, 1000)} == {0.3}
    with pytest.raises(ValueError, match="decay_steps must be at least 1, got 0"):  # was a ZeroDivisionError
        learning_rate("cosine", 1.0, 1, 0)
    assert learning_rate("constant", 0.3, 1, 0) == 0.3  # no horizon to check
    trainer = make_trainer(TrainConfig(task="adding", hidden=8, seq_len=6, batch=4, steps=0))
    assert [record.step for record in trainer.run(2)] == [1, 2]  # steps=0 with run(N): the rate has no horizon
    with pytest.raises(ValueError, match=r"step must be at least 1 \(steps count from 1\), got 0"):  # was a rate
        learning_rate("cosine", 1.0, 0, 10)


def test_generated_tasks_take_no_text() -> None:
    with pytest.raises(ValueError, match="the adding task generates its data; it takes no text"):
        make_task(TrainConfig(task="adding"), text="abc")
