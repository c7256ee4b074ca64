"""Checkpoints: parameters and optimizer state round trip onto any backend and dtype."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import init_parameters
from xrnn.backends import asarray
from xrnn.train._npz import check_writable, write_npz
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


def _adam_checkpoint(path: Path, **changes: Any) -> Path:
    """A checkpoint of one Adam step, its JSON document and arrays changed as given."""
    params = init_parameters(2, 3, 2, seed=0)
    adam = Adam(lr=0.1)
    params = adam.update(params, {"d" + k: np.full_like(v, 0.1) for k, v in params.items()})
    arrays = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"optim/{slot}/{k}": v for slot, values in adam.slots.items() for k, v in values.items()})
    document = {
        "format": "xrnn-checkpoint",
        "version": 1,
        "metadata": {"note": "x"},
        "optimizer": {"name": "adam", "config": adam.config, "step": 1},
    }
    for key, value in changes.items():
        if key.startswith(("param/", "optim/")):
            arrays[key] = value
        else:
            document[key] = value
    return write_npz(path, arrays, document)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metadata": ["a", "list"]}, "has metadata that is a JSON list, not an object"),
        ({"optimizer": {"name": "lion", "config": {"lr": 0.1}, "step": 1}}, "unknown optimizer 'lion'"),
        ({"optimizer": {"name": "adam", "config": {"lr": 0.1, "rho": 1}, "step": 1}}, "cannot be rebuilt"),
        ({"optimizer": {"name": "adam", "config": {"lr": 0.1}, "step": -1}}, "must be a non-negative int"),
        ({"optimizer": "adam"}, "without a name, a config object and a step"),
        ({"optim/m/Waa": np.zeros((2, 2))}, r"optimizer slot m\['Waa'\] of shape \(2, 2\); .* shape \(3, 3\)"),
        ({"optim/v/extra": np.zeros(1)}, "has optimizer slot 'v' for parameters"),
        ({"optim/m": np.zeros(1)}, "has an optimizer member 'optim/m'; expected optim/SLOT/PARAMETER"),
    ],
    ids=["metadata-list", "optimizer-name", "option", "negative-step", "no-object", "slot-shape", "slot-keys", "key"],
)
def test_a_checkpoint_whose_contents_do_not_fit_is_rejected_naming_the_file(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    path = _adam_checkpoint(tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=message) as error:
        load_checkpoint(path)
    assert str(error.value).startswith(f"{str(path)!r} ")


def test_a_json_member_that_is_not_json_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, __json__=np.asarray("{not json"))
    with pytest.raises(ValueError, match=r"holds a '__json__' that is not JSON \(Expecting property name") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_metadata_json_cannot_write_is_rejected_naming_its_key(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"metadata\['when'\] cannot be written as JSON: .*not JSON serializable"):
        save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, metadata={"note": "x", "when": object()})
    with pytest.raises(TypeError, match=r"metadata keys must be strings \(JSON's\), got 1"):
        save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, metadata={1: 2, "a": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="metadata must be a mapping of str to JSON values, got list"):
        save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, metadata=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"metadata\['k'\]\[0\] keys must be strings \(JSON's\), got 1"):
        save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)}, metadata={"k": [{1: "x"}]})  # came back as "1"
    assert not (tmp_path / "c.npz").exists()


def test_what_cannot_be_saved_is_refused_before_the_file_is_written(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match="optimizer must be an Optimizer or its state_dict, got int"):
        save_checkpoint(path, {"w": np.zeros(2)}, optimizer=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown optimizer 'None'"):  # was a KeyError: 'name'
        save_checkpoint(path, {"w": np.zeros(2)}, optimizer={"config": {}})
    with pytest.raises(TypeError, match=r"\['param/a'\] hold strings or objects"):  # they were read back as text
        save_checkpoint(path, {"a": np.asarray("hi"), "b": np.ones(1)})
    assert not path.exists()


def test_arrays_of_any_shape_and_dask_arrays_come_back_exactly(tmp_path: Path) -> None:
    da = pytest.importorskip("dask.array")
    saved = {"scalar": np.array(2.5), "strided": np.arange(6.0).reshape(2, 3)[:, ::2], "lazy": da.ones(3)}
    back = load_checkpoint(save_checkpoint(tmp_path / "c.npz", saved)).parameters
    assert back["scalar"].shape == ()  # was (1,)
    np.testing.assert_array_equal(back["strided"], saved["strided"])
    np.testing.assert_array_equal(back["lazy"], np.ones(3))  # computed (was an AttributeError)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe (POSIX)")
def test_a_path_that_is_not_a_regular_file_is_not_replaced(tmp_path: Path) -> None:
    """The checkpoint is renamed over its path: as root, --save /dev/null replaced the device with a file."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file, which a checkpoint would replace"):
        save_checkpoint(pipe, {"w": np.zeros(2)})
    with pytest.raises(OSError, match="not a regular file"):
        check_writable(pipe, replaced=True)
    assert stat.S_ISFIFO(pipe.stat().st_mode)


def test_a_member_that_is_not_an_array_is_named(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__json__.npy", b"garbage")
    with pytest.raises(ValueError, match=r"is not a readable .npz archive \(members \['__json__'\] are not .npy"):
        load_checkpoint(path)


def test_saving_into_a_missing_folder_names_the_path_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "c.npz"
    with pytest.raises(FileNotFoundError) as error:
        save_checkpoint(path, {"w": np.zeros(2)})
    assert error.value.filename == str(path)
    assert ".tmp" not in str(error.value)


def test_an_interrupted_save_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(stream: Any, arrays: Any, *, texts: Any) -> None:
        stream.write(b"PK\x03\x04 part of an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr("xrnn.train._npz.save_npz", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(2)})
    assert list(tmp_path.iterdir()) == []


def test_check_writable_names_the_path_and_writes_nothing(tmp_path: Path) -> None:
    check_writable(tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError) as missing:
        check_writable(tmp_path / "missing" / "c.npz")
    assert missing.value.filename == str(tmp_path / "missing" / "c.npz")
    with pytest.raises(IsADirectoryError):
        check_writable(tmp_path)
