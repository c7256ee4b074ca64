"""The character-level training loop: deterministic, resumable, and it learns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn.train.checkpoint import load_checkpoint
from xrnn.train.trainer import CharTrainer, TrainConfig, Vocabulary, default_corpus, load_model

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
    config = dataclasses.replace(SMALL, cell=cell, hidden=8, seq_len=6, batch=4, steps=6)
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


def test_resuming_on_another_text_is_rejected(tmp_path: Path) -> None:
    trainer = CharTrainer(SMALL, default_corpus())
    trainer.run(1)
    trainer.save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="text differs"):
        CharTrainer.resume(load_checkpoint(tmp_path / "c.npz"), default_corpus()[:-1])


def test_vocabulary_rejects_unknown_characters() -> None:
    with pytest.raises(ValueError, match="character 'z' is not in the model's vocabulary"):
        Vocabulary("abc").encode("abz")
