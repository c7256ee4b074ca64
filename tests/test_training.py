"""The training loop: deterministic, resumable with every option, evaluated on held-out data, and it learns."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from xrnn.train.tasks import CharTask
from xrnn.train.trainer import CharTrainer, TrainConfig, Trainer, Vocabulary, default_corpus, load_model, make_trainer

SMALL = TrainConfig(hidden=24, seq_len=10, batch=8, steps=30, seed=3)


def test_default_corpus_ships_with_the_package() -> None:
    text = default_corpus()
    assert len(text) > 5000
    assert len(Vocabulary.from_text(text)) == 57


def test_the_default_configuration_learns_the_default_corpus() -> None:
    config = TrainConfig()
    records = CharTrainer(config, default_corpus()).run(200)  # a fifth of the default steps
    first, last = records[0].loss, np.mean([r.loss for r in records[-20:]])
    assert abs(first - np.log(57)) < 0.01  # small initial weights: uniform predictions
    assert last < first - 1.3, (first, last)  # 4.04 -> about 2.1


def test_same_seed_same_run_other_seed_other_run() -> None:
    text = default_corpus()
    one, two = CharTrainer(SMALL, text).run(), CharTrainer(SMALL, text).run()
    assert one == two
    other = CharTrainer(dataclasses.replace(SMALL, seed=4), text).run()
    assert [r.loss for r in other] != [r.loss for r in one]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resuming_from_a_checkpoint_continues_exactly(optimizer: str, tmp_path: Path) -> None:
    config = dataclasses.replace(SMALL, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.3)
    text = default_corpus()
    straight = CharTrainer(config, text)
    straight.run(30)
    first_half = CharTrainer(config, text)
    first_half.run(15)
    first_half.save(tmp_path / "half.npz")
    resumed = CharTrainer.resume(load_checkpoint(tmp_path / "half.npz"), text)
    assert resumed.step == 15
    resumed.run(30)
    assert resumed.history == straight.history  # every loss and gradient norm, bit for bit
    for key, value in straight.parameters.items():
        np.testing.assert_array_equal(resumed.parameters[key], value)


def test_a_numpy_checkpoint_resumes_on_another_backend(backend: TestBackend, tmp_path: Path) -> None:
    config = dataclasses.replace(SMALL, dtype="float64")
    text = default_corpus()
    straight = CharTrainer(config, text)
    straight.run(20)
    half = CharTrainer(config, text)
    half.run(10)
    half.save(tmp_path / "half.npz")
    resumed = CharTrainer.resume(load_checkpoint(tmp_path / "half.npz"), text, backend=backend.name)
    resumed.run(20)
    assert resumed.config.backend == backend.name
    np.testing.assert_allclose([r.loss for r in resumed.history], [r.loss for r in straight.history], rtol=1e-9)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_train_and_resume(cell: str, tmp_path: Path) -> None:
    config = dataclasses.replace(SMALL, cell=cell, hidden=8, seq_len=6, batch=4, steps=6, val_fraction=0)
    text = "abcabcabcabcabcabc"
    trainer = CharTrainer(config, text)
    trainer.run(3)
    trainer.save(tmp_path / "c.npz")
    resumed = CharTrainer.resume(load_checkpoint(tmp_path / "c.npz"), text)
    resumed.run()
    straight = CharTrainer(config, text)
    straight.run()
    assert resumed.history == straight.history
    params, vocabulary = load_model(tmp_path / "c.npz")
    assert vocabulary.chars == "abc"
    assert "Wy" in params


def test_text_too_short_for_the_sequence_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="has 5 characters; seq_len 10 needs at least 11"):
        CharTrainer(SMALL, "hello")
    with pytest.raises(ValueError, match="empty"):
        CharTrainer(SMALL, "")
    with pytest.raises(ValueError, match=r"val_fraction 0.1 of the text's 50 characters holds out 5; seq_len 10"):
        CharTrainer(SMALL, "abcde" * 10)
    with pytest.raises(ValueError, match=r"val_fraction 0.9 leaves 5 characters to train on; seq_len 10 needs"):
        CharTrainer(dataclasses.replace(SMALL, val_fraction=0.9), "abcde" * 10)


def test_resuming_on_another_text_is_rejected(tmp_path: Path) -> None:
    trainer = CharTrainer(SMALL, default_corpus())
    trainer.run(1)
    trainer.save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="text differs"):
        CharTrainer.resume(load_checkpoint(tmp_path / "c.npz"), default_corpus()[:-1])


def test_resuming_to_fewer_steps_than_done_is_rejected_and_as_many_trains_nothing(tmp_path: Path) -> None:
    trainer = CharTrainer(SMALL, default_corpus())
    trainer.run(3)
    trainer.save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="steps 2 is fewer than the 3 steps the run has done"):
        CharTrainer.resume(load_checkpoint(tmp_path / "c.npz"), default_corpus(), steps=2)
    same = CharTrainer.resume(load_checkpoint(tmp_path / "c.npz"), default_corpus(), steps=3)
    assert same.step == 3
    assert same.run() == []


def test_vocabulary_rejects_unknown_characters() -> None:
    with pytest.raises(ValueError, match="character 'z' is not in the model's vocabulary"):
        Vocabulary("abc").encode("abz")


# -- held-out evaluation, schedules, early stopping, other tasks -----------------------------------
RUNS = {
    "char-cosine-patience": TrainConfig(
        hidden=16, seq_len=8, batch=4, steps=24, eval_every=4, schedule="cosine", patience=3, val_fraction=0.2
    ),
    "adding-step-sgd": TrainConfig(
        task="adding",
        cell="gru",
        hidden=8,
        seq_len=12,
        batch=5,
        steps=24,
        eval_every=5,
        schedule="step",
        optimizer="sgd",
        lr=0.2,
    ),
    "copy-lstm-clip-off": TrainConfig(
        task="copy", cell="lstm", hidden=8, delay=3, batch=4, steps=24, eval_every=6, clip=0, patience=2
    ),
}


@pytest.mark.parametrize("name", list(RUNS))
@pytest.mark.parametrize("stop_at", [5, 12])
def test_resuming_is_exact_with_every_option(name: str, stop_at: int, tmp_path: Path) -> None:
    """Stopped between evaluations or at one: the same records (losses, rates, validation), the same best
    step and the same parameters as the run that never stopped."""
    config = RUNS[name]
    straight = make_trainer(config)
    straight.run()
    first = make_trainer(dataclasses.replace(config, steps=stop_at))
    first.run()
    first.save(tmp_path / "half.npz")
    resumed = Trainer.resume(load_checkpoint(tmp_path / "half.npz"), steps=config.steps)
    assert resumed.config == config  # decay_steps comes from the checkpoint, not from the first run's steps
    resumed.run()
    assert resumed.history == straight.history
    assert (resumed.best_step, resumed.best_val_loss, resumed.stopped) == (
        straight.best_step,
        straight.best_val_loss,
        straight.stopped,
    )
    for key, value in straight.parameters.items():
        np.testing.assert_array_equal(resumed.parameters[key], value)


def test_records_carry_the_rate_and_the_scores_of_each_evaluation() -> None:
    trainer = make_trainer(RUNS["char-cosine-patience"])
    records = trainer.run(8)
    assert [r.lr for r in records] == [trainer.config.learning_rate(step) for step in range(1, 9)]
    assert [r.step for r in records if r.validation is not None] == [4, 8]
    assert set(records[3].validation or {}) == {"val_loss", "val_bpc"}
    copy = make_trainer(RUNS["copy-lstm-clip-off"])
    assert set(copy.run(6)[-1].validation or {}) == {"val_loss", "val_accuracy"}


def test_patience_stops_after_that_many_evaluations_without_a_better_loss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    losses = iter([3.0, 2.0, 2.5, 2.0, 2.1, 1.0])  # best at the 2nd; then 3 that are not better (2.0 ties)
    monkeypatch.setattr(CharTask, "evaluate", lambda self, parameters: {"val_loss": next(losses), "val_bpc": 0.0})
    trainer = make_trainer(RUNS["char-cosine-patience"])  # eval_every 4, patience 3
    records = trainer.run()
    assert trainer.step == 20
    assert trainer.stopped
    assert (trainer.best_step, trainer.best_val_loss) == (8, 2.0)
    assert len(records) == 20
    trainer.save(tmp_path / "stopped.npz")
    resumed = Trainer.resume(load_checkpoint(tmp_path / "stopped.npz"), steps=100)
    assert resumed.stopped
    assert resumed.run() == []  # a stopped run stays stopped


def test_a_checkpoint_from_before_tasks_resumes_without_held_out_text(tmp_path: Path) -> None:
    """Its config has none of the new options and its history rows are [step, loss, grad_norm]."""
    config = dataclasses.replace(SMALL, val_fraction=0.0)
    straight = CharTrainer(config, default_corpus())
    straight.run()
    half = CharTrainer(config, default_corpus())
    half.run(12)
    half.save(tmp_path / "new.npz")
    checkpoint = load_checkpoint(tmp_path / "new.npz")
    old = {key: checkpoint.metadata[key] for key in ("kind", "vocabulary", "step", "text", "text_sha256")}
    old["config"] = {key: value for key, value in checkpoint.metadata["config"].items() if key in OLD_OPTIONS}
    old["history"] = [row[:3] for row in checkpoint.metadata["history"]]
    save_checkpoint(tmp_path / "old.npz", checkpoint.parameters, optimizer=checkpoint.optimizer, metadata=old)
    resumed = CharTrainer.resume(load_checkpoint(tmp_path / "old.npz"), default_corpus())
    assert resumed.config == config
    resumed.run()
    assert resumed.history == straight.history


OLD_OPTIONS = ("cell", "hidden", "seq_len", "batch", "steps", "lr", "optimizer", "momentum", "clip", "backend")
OLD_OPTIONS += ("dtype", "seed")


def _saved(tmp_path: Path, **changes: Any) -> Checkpoint:
    """A char-task checkpoint of 2 steps, its metadata changed (None removes a key), or its parameters."""
    trainer = CharTrainer(dataclasses.replace(SMALL, hidden=6), default_corpus())
    trainer.run(2)
    trainer.save(tmp_path / "c.npz")
    checkpoint = load_checkpoint(tmp_path / "c.npz")
    for key, value in changes.items():
        if key in checkpoint.parameters:
            checkpoint.parameters[key] = value
        elif value is None:
            del checkpoint.metadata[key]
        else:
            checkpoint.metadata[key] = value
    return checkpoint


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"vocabulary": "abc"}, r"parameter 'Wax' has shape \(6, 57\); .*a vocabulary of 3 characters needs \(6, 3\)"),
        ({"Waa": np.zeros((5, 5))}, r"parameter 'Waa' has shape \(5, 5\); .* needs \(6, 6\)"),
        ({"text_sha256": None}, r"its metadata has no 'text_sha256' \(a char-task checkpoint needs it\)"),
        ({"config": None}, "its metadata has no 'config'"),
        ({"config": [1, 2]}, "config must be a JSON object, got a list"),
        ({"kind": "image"}, r"its metadata has no known 'kind' \(xrnn train writes one\)"),
        ({"kind": "copy"}, "its kind 'copy' does not match its task 'char'"),
        ({"history": [[1, 0.5, 0.1]]}, "its metadata 'history' must be a list of 2 rows"),
        ({"history": [[1, "x", 0.1], [2, 0.5, 0.1]]}, "its history row 1 holds something other than numbers"),
        ({"step": "2"}, "its metadata 'step' must be a non-negative int"),
        ({"best": [1]}, r"its metadata 'best' must be \[step, val_loss\] or null"),
        ({"stale": -1}, "its metadata 'stale' must be a non-negative int"),
    ],
)
def test_a_checkpoint_whose_run_does_not_fit_is_rejected(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Trainer.resume(_saved(tmp_path, **changes))


def test_a_checkpoint_of_another_task_is_not_a_char_model(tmp_path: Path) -> None:
    trainer = make_trainer(RUNS["adding-step-sgd"])
    trainer.run(1)
    trainer.save(tmp_path / "adding.npz")
    with pytest.raises(ValueError, match=r"'.*adding\.npz' is not a model of xrnn train: it is of the adding task"):
        load_model(tmp_path / "adding.npz")
    with pytest.raises(ValueError, match="the checkpoint is of the adding task, not the char task"):
        CharTrainer.resume(load_checkpoint(tmp_path / "adding.npz"), default_corpus())
    with pytest.raises(ValueError, match=r"only steps, backend, dtype may change"):
        Trainer.resume(load_checkpoint(tmp_path / "adding.npz"), lr=0.5)


def test_run_can_show_a_tqdm_bar(capsys: pytest.CaptureFixture[str]) -> None:
    trainer = make_trainer(dataclasses.replace(RUNS["adding-step-sgd"], steps=10))
    trainer.run(progress=True)
    err = capsys.readouterr().err
    assert "10/10" in err
    assert "val_loss=" in err
