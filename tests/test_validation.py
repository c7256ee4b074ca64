"""Every bad input the docs promise to reject raises the promised type with a message that names the
argument and gives the expected and the actual value."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np
import pytest

import xrnn
from tests import reference
from tests.helpers import TestBackend
from xrnn._validation import namespace_of


def _data(backend: TestBackend, n_a: int = 5, m: int = 10) -> dict[str, Any]:
    problem = reference.problem(3, n_a, 2, m, 4)
    return {
        "x": backend.asarray(problem["x"]),
        "a0": backend.asarray(problem["a0"]),
        "labels": backend.asarray(problem["labels"]),
        "parameters": backend.tree(problem["parameters"]),
    }


def _forward_and_loss(data: dict[str, Any]) -> list[Any]:
    """Each public entry point that takes (x, a0, parameters), as zero-argument calls."""
    x, a0, p, labels = data["x"], data["a0"], data["parameters"], data["labels"]
    return [
        lambda: xrnn.rnn_forward(x, a0, p),
        lambda: xrnn.rnn_loss_and_gradients(x, a0, labels, p),
        lambda: xrnn.rnn_cell_forward(x[:, :, 0], a0, p),
    ]


def test_parameters_must_be_a_mapping(backend: TestBackend) -> None:
    data = _data(backend)
    with pytest.raises(TypeError, match=r"parameters must be a mapping with keys \['Wax', .*got list"):
        xrnn.rnn_forward(data["x"], data["a0"], list(data["parameters"].values()))


def test_missing_parameter_keys_are_listed(backend: TestBackend) -> None:
    data = _data(backend)
    del data["parameters"]["Waa"], data["parameters"]["by"]
    for call in _forward_and_loss(data):
        with pytest.raises(ValueError, match=r"parameters is missing \['Waa', 'by'\]"):
            call()


@pytest.mark.parametrize(
    ("key", "shape", "message"),
    [
        ("Waa", (5, 4), r"parameters\['Waa'\] must have shape \(n_a, n_a\) = \(5, 5\), got \(5, 4\)"),
        ("Wya", (2, 4), r"parameters\['Wya'\] must have shape \(n_y, n_a\) = \(2, 5\), got \(2, 4\)"),
        ("ba", (4, 1), r"parameters\['ba'\] must have shape \(n_a, 1\) = \(5, 1\), got \(4, 1\)"),
        ("by", (2, 2), r"parameters\['by'\] must have shape \(n_y, 1\) = \(2, 1\), got \(2, 2\)"),
        ("Wax", (5,), r"parameters\['Wax'\] must have shape \(n_a, n_x\) = \(5, 3\), got \(5,\)"),
        ("Wax", (5, 0), r"parameters\['Wax'\] must have shape \(n_a, n_x\) with every axis at least 1"),
    ],
)
def test_parameter_shapes(backend: TestBackend, key: str, shape: tuple[int, ...], message: str) -> None:
    data = _data(backend)
    data["parameters"][key] = backend.asarray(np.ones(shape))
    for call in _forward_and_loss(data):
        with pytest.raises(ValueError, match=message):
            call()


def test_one_dimensional_bias_is_rejected_even_when_n_a_equals_m(backend: TestBackend) -> None:
    """With n_a == m a 1-D ba would broadcast along the batch axis and give a silently wrong answer."""
    data = _data(backend, n_a=10, m=10)
    data["parameters"]["ba"] = backend.asarray(np.ones(10))
    for call in _forward_and_loss(data):
        with pytest.raises(
            ValueError, match=r"parameters\['ba'\] must have shape \(n_a, 1\) = \(10, 1\), got \(10,\); a 1-D bias"
        ):
            call()


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        ("x", (4, 10, 4), r"x must have shape \(n_x, m, T_x\) = \(3, 10, 4\), got \(4, 10, 4\)"),
        ("x", (3, 10), r"x must be 3-D with shape \(n_x, m, T_x\), got shape \(3, 10\)"),
        ("x", (3, 10, 0), r"x must have shape \(n_x, m, T_x\) with every axis at least 1, got \(3, 10, 0\)"),
        ("a0", (5, 9), r"a0 must have shape \(n_a, m\) = \(5, 10\), got \(5, 9\)"),
        ("a0", (4, 10), r"a0 must have shape \(n_a, m\) = \(5, 10\), got \(4, 10\)"),
    ],
)
def test_data_shapes(backend: TestBackend, name: str, shape: tuple[int, ...], message: str) -> None:
    data = _data(backend)
    data[name] = backend.asarray(np.ones(shape))
    with pytest.raises(ValueError, match=message):
        xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])


def test_cell_shapes(backend: TestBackend) -> None:
    data = _data(backend)
    with pytest.raises(ValueError, match=r"xt must be 2-D with shape \(n_x, m\), got shape \(3, 10, 4\)"):
        xrnn.rnn_cell_forward(data["x"], data["a0"], data["parameters"])
    with pytest.raises(ValueError, match=r"a_prev must have shape \(n_a, m\) = \(5, 10\), got \(5, 3\)"):
        xrnn.rnn_cell_forward(data["x"][:, :, 0], data["a0"][:, :3], data["parameters"])


@pytest.mark.parametrize("dtype", ["int64", "bool", "complex128"])
def test_non_floating_dtypes_raise_type_error(backend: TestBackend, dtype: str) -> None:
    data = _data(backend)
    data["x"] = backend.asarray(np.ones((3, 10, 4), dtype=dtype))
    for call in _forward_and_loss(data):
        with pytest.raises(
            TypeError, match=rf"xt? must have a real floating dtype \(float32 or float64\), got .*{dtype}"
        ):
            call()


@pytest.mark.parametrize("dtype", ["float16", "longdouble"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_floating_dtypes_other_than_float32_and_float64_are_refused_at_the_door(cell: str, dtype: str) -> None:
    """NumPy's float16 and long double are real floating dtypes: the RNN ran them, the LSTM and GRU died in
    Numba's type inference (TypingError, or NotImplementedError from the kernels' stubs)."""
    spec = xrnn.cells.get_cell(cell)
    parameters = {key: value.astype(dtype) for key, value in spec.init(3, 4, 2, seed=0).items()}
    x = np.ones((3, 2, 5), dtype=dtype)
    message = rf"^x must be float32 or float64, got {np.dtype(dtype)} \(the cells compute in these two"
    calls = [
        lambda: spec.forward(x, None, parameters),
        lambda: xrnn.layers.stacked_forward(x, None, [parameters], cell=cell),
    ]
    if importlib.util.find_spec("dask") is not None:  # the Dask handler checks its calls itself
        import dask.array

        calls.append(lambda: spec.forward(dask.array.from_array(x, chunks=(3, 1, 5)), None, parameters))
    for call in calls:
        with pytest.raises(TypeError, match=message):
            call()
    with pytest.raises(TypeError, match=message.replace("x", "xt", 1)):
        spec.step(x[..., 0], spec.zero_state(parameters, 2), parameters)


def test_mixed_floating_dtypes_raise_type_error(backend: TestBackend) -> None:
    data = _data(backend)
    data["parameters"]["Waa"] = backend.asarray(np.ones((5, 5)), "float32")
    with pytest.raises(TypeError, match=r"parameters\['Waa'\] has dtype .*float32 but x has dtype .*float64"):
        xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])


def test_non_arrays_raise_type_error(backend: TestBackend) -> None:
    data = _data(backend)
    with pytest.raises(TypeError, match="a0 must be an array, got list"):
        xrnn.rnn_forward(data["x"], [[0.0] * 10] * 5, data["parameters"])


def test_remembered_namespaces_are_array_api_compats(backend: TestBackend) -> None:
    """The checks remember each array type's namespace; it must be the one array-api-compat gives."""
    x = backend.asarray(np.ones((2, 3)))
    for _ in range(2):  # the first call learns, the second remembers
        assert namespace_of(x) is array_api_compat.array_namespace(x)


def test_mixed_libraries_raise_type_error() -> None:
    array_api_strict = pytest.importorskip("array_api_strict", reason="needs a second library to mix with numpy")
    problem = reference.problem(3, 5, 2, 10, 4)
    a0 = array_api_strict.asarray(problem["a0"])
    with pytest.raises(TypeError, match="a0 is an array_api_strict array but x is a numpy array; all arrays must come"):
        xrnn.rnn_forward(problem["x"], a0, problem["parameters"])


def test_mixed_devices_raise_value_error() -> None:
    array_api_strict = pytest.importorskip("array_api_strict", reason="its simulated devices stand in for GPUs")
    problem = reference.problem(3, 5, 2, 10, 4)
    on = {"CPU_DEVICE": array_api_strict.Device("CPU_DEVICE"), "device1": array_api_strict.Device("device1")}
    x = array_api_strict.asarray(problem["x"], device=on["device1"])
    a0 = array_api_strict.asarray(problem["a0"], device=on["CPU_DEVICE"])
    params = {k: array_api_strict.asarray(v, device=on["device1"]) for k, v in problem["parameters"].items()}
    with pytest.raises(ValueError, match=r"a0 is on device .*CPU_DEVICE.* but x is on .*device1.*one device"):
        xrnn.rnn_forward(x, a0, params)


def test_backward_checks_its_arguments(backend: TestBackend) -> None:
    data = _data(backend)
    a, _, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(5, 10, 4\), got \(5, 10, 3\)"):
        xrnn.rnn_backward(a[:, :, :3], caches)
    with pytest.raises(TypeError, match="caches must be the RNNCache returned by rnn_forward, got tuple"):
        xrnn.rnn_backward(a, ([], data["x"]))
    with pytest.raises(TypeError, match=r"da has dtype .*float32 but caches\.states has dtype .*float64"):
        xrnn.rnn_backward(backend.asarray(backend.to_numpy(a), "float32"), caches)
    step = caches.step(0)
    with pytest.raises(ValueError, match=r"da_next must have shape \(n_a, m\) = \(5, 10\), got \(5, 9\)"):
        xrnn.rnn_cell_backward(a[:, :9, 0], step)
    with pytest.raises(TypeError, match="cache must be the RNNCellCache returned by rnn_cell_forward, got tuple"):
        xrnn.rnn_cell_backward(a[:, :, 0], tuple(step))


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        (
            np.full((10, 4), 2),
            ValueError,
            r"labels must be class indices in \[0, n_y\) = \[0, 2\), got values from 2 to 2",
        ),
        (
            np.full((10, 4), -1),
            ValueError,
            r"labels must be class indices in \[0, n_y\) = \[0, 2\), got values from -1",
        ),
        (np.zeros((4, 10), dtype=int), ValueError, r"labels must have shape \(m, T_x\) = \(10, 4\), got \(4, 10\)"),
        (np.zeros((2, 10, 3)), ValueError, r"labels must have shape \(n_y, m, T_x\) = \(2, 10, 4\), got \(2, 10, 3\)"),
        (np.zeros((10, 4), dtype=bool), TypeError, r"labels must be integer class indices of shape \(m, T_x\) or"),
        (np.zeros((2, 10, 4), dtype=np.float32), TypeError, r"labels has dtype .*float32 but the data have .*float64"),
    ],
)
def test_bad_labels(backend: TestBackend, labels: np.ndarray, error: type[Exception], message: str) -> None:
    data = _data(backend)
    with pytest.raises(error, match=message):
        xrnn.rnn_loss_and_gradients(data["x"], data["a0"], backend.asarray(labels), data["parameters"])


def test_numpy_masked_arrays_are_refused_by_name(tmp_path: Path) -> None:
    """np.ma arrays are ndarrays, so they passed the checks and their masks were dropped: silently for a0
    or a parameter, with a broadcasting error from deep inside for x. Other subclasses (memmap) still work."""
    p = xrnn.init_parameters(3, 5, 2, seed=0)
    x, a0 = np.ones((3, 2, 4)), np.zeros((5, 2))
    refused = "is a NumPy masked array, whose mask xrnn would ignore"
    with pytest.raises(TypeError, match=f"^x {refused}"):
        xrnn.rnn_forward(np.ma.masked_greater(x, 2.0), a0, p)
    with pytest.raises(TypeError, match=f"^a0 {refused}"):
        xrnn.gru_forward(x, np.ma.zeros((5, 2)), xrnn.init_gru_parameters(3, 5, 2))
    with pytest.raises(TypeError, match=rf"^parameters\['Waa'\] {refused}"):
        xrnn.rnn_forward(x, a0, {**p, "Waa": np.ma.asarray(p["Waa"])})
    with pytest.raises(TypeError, match=f"^labels {refused}"):
        xrnn.rnn_loss_and_gradients(x, a0, np.ma.zeros((2, 4), dtype=np.int64), p)
    with pytest.raises(TypeError, match=f"^x {refused}"):
        xrnn.softmax(np.ma.zeros((3, 2)))
    mapped = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=x.shape)
    mapped[...] = x
    np.testing.assert_array_equal(xrnn.rnn_forward(mapped, a0, p)[0], xrnn.rnn_forward(x, a0, p)[0])
