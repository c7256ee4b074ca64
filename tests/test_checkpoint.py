"""Checkpoints: parameters and optimizer state round trip onto any backend and dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import init_parameters
from xrnn.backends import asarray
from xrnn.train._npz import write_npz
from xrnn.train.checkpoint import load_checkpoint, save_checkpoint
from xrnn.train.optimizers import Adam, optimizer_from_state


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_checkpoint_loads_onto_every_backend_and_dtype(backend: TestBackend, dtype: str, tmp_path: Path) -> None:
    params = init_parameters(3, 4, 3, seed=0)  # NumPy float64
    adam = Adam(lr=0.02)
    params = adam.update(params, {"d" + k: v * 0 + 0.5 for k, v in params.items()})
    path = save_checkpoint(tmp_path / "model.npz", params, optimizer=adam, metadata={"vocab": "abc", "step": 1})
    loaded = load_checkpoint(path, backend=backend.name, dtype=dtype, device=backend.device)
    assert loaded.metadata == {"vocab": "abc", "step": 1}
    assert set(loaded.parameters) == set(params)
    for key, value in loaded.parameters.items():
        backend.assert_dtype(value, dtype)
        backend.assert_close(value, params[key], dtype=dtype)
    assert loaded.optimizer is not None
    assert (loaded.optimizer["name"], loaded.optimizer["step"]) == ("adam", 1)
    assert loaded.optimizer["config"] == adam.config
    for slot in ("m", "v"):
        for key, value in loaded.optimizer["slots"][slot].items():
            backend.assert_close(value, adam.slots[slot][key], dtype=dtype)


def test_checkpoint_from_another_backend_and_dtype_comes_back_exactly(backend: TestBackend, tmp_path: Path) -> None:
    params = init_parameters(2, 3, 2, backend=backend.name, dtype="float32", seed=1, device=backend.device)
    save_checkpoint(tmp_path / "c.npz", params)
    loaded = load_checkpoint(tmp_path / "c.npz")  # NumPy, keeping float32
    for key, value in loaded.parameters.items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, backend.to_numpy(params[key]))
    assert loaded.optimizer is None


def test_resumed_optimizer_continues_exactly(tmp_path: Path) -> None:
    params = init_parameters(2, 3, 2, seed=2)
    grads = {"d" + k: np.full_like(v, 0.1) for k, v in params.items()}
    adam = Adam(lr=0.1)
    params = adam.update(params, grads)
    save_checkpoint(tmp_path / "c.npz", params, optimizer=adam)
    loaded = load_checkpoint(tmp_path / "c.npz")
    assert loaded.optimizer is not None
    resumed = optimizer_from_state(loaded.optimizer)
    expected, actual = adam.update(params, grads), resumed.update(loaded.parameters, grads)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key])


def test_saving_over_an_existing_file_replaces_it_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"w": np.zeros(2)})
    save_checkpoint(path, {"w": np.ones(2)})
    np.testing.assert_array_equal(load_checkpoint(path).parameters["w"], np.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_files_that_are_not_checkpoints_are_rejected(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"is not an \.npz archive"):
        load_checkpoint(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(2))
    with pytest.raises(ValueError, match="without xrnn's '__json__' document"):
        load_checkpoint(plain)
    other = tmp_path / "other.npz"
    write_npz(other, {"w": asarray([1.0])}, {"format": "something-else"})
    with pytest.raises(ValueError, match="is not an xrnn checkpoint"):
        load_checkpoint(other)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.npz")
