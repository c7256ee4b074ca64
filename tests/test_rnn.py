"""The RNN against an independent float64 reference and float64 central finite differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xrnn
from tests import reference
from tests.helpers import TestBackend
from xrnn.backends import fast_paths
from xrnn.gradcheck import numerical_gradient

# (n_x, n_a, n_y, m, T_x): the spec's example, then the edges m = 1, T_x = 1, n_x = 1.
SHAPES = [(3, 5, 2, 10, 4), (2, 3, 2, 1, 3), (2, 3, 2, 4, 1), (1, 3, 2, 1, 1), (1, 2, 3, 3, 2)]
FD = {"rtol": 1e-6, "atol": 1e-9}  # float64 central differences with eps = 1e-6
GRADIENT_OF = {"dx": "x", "da0": "a0", "dWax": "Wax", "dWaa": "Waa", "dba": "ba", "dWya": "Wya", "dby": "by"}


def _replace(data: dict[str, Any], name: str, value: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(x, a0, parameters) with the input or parameter ``name`` replaced by ``value``."""
    parameters = dict(data["parameters"])
    if name in parameters:
        parameters[name] = value
    x = value if name == "x" else data["x"]
    a0 = value if name == "a0" else data["a0"]
    return x, a0, parameters


def _point(data: dict[str, Any], name: str) -> Any:
    return data["parameters"].get(name, data.get(name))


def test_cell_forward_matches_reference(backend: TestBackend) -> None:
    problem = reference.problem(3, 5, 2, 10, 1, seed=1)
    data = backend.tree(problem)
    xt, a_prev = data["x"][:, :, 0], data["a0"]
    a_next, yt_pred, cache = xrnn.rnn_cell_forward(xt, a_prev, data["parameters"])
    expected_a, expected_y, _ = reference.forward(problem["x"], problem["a0"], problem["parameters"])
    backend.assert_close(a_next, expected_a[:, :, 0])
    backend.assert_close(yt_pred, expected_y[:, :, 0])
    assert cache.a_next is a_next
    assert cache.a_prev is a_prev
    assert cache.parameters is data["parameters"]


def test_cell_backward_matches_finite_differences(backend: TestBackend) -> None:
    data = backend.tree(reference.problem(3, 5, 2, 10, 1, seed=2))
    xt, a_prev, params = data["x"][:, :, 0], data["a0"], data["parameters"]
    da_next = data["da"][:, :, 0]
    xp = backend.xp

    def objective(xt: Any, a_prev: Any, params: Any) -> Any:
        return xp.sum(da_next * xrnn.rnn_cell_forward(xt, a_prev, params)[0])

    grads = xrnn.rnn_cell_backward(da_next, xrnn.rnn_cell_forward(xt, a_prev, params)[2])
    expected = {
        "dxt": numerical_gradient(lambda v: objective(v, a_prev, params), xt),
        "da_prev": numerical_gradient(lambda v: objective(xt, v, params), a_prev),
        **{
            "d" + key: numerical_gradient(lambda v, key=key: objective(xt, a_prev, {**params, key: v}), params[key])
            for key in ("Wax", "Waa", "ba")
        },
    }
    assert sorted(grads) == sorted(expected)
    for name, value in expected.items():
        backend.assert_close(grads[name], backend.to_numpy(value), **FD)


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.problem(*shape)
    data = backend.tree(problem)
    a, y_pred, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    expected_a, expected_y, _ = reference.forward(problem["x"], problem["a0"], problem["parameters"])
    backend.assert_close(a, expected_a)
    backend.assert_close(y_pred, expected_y)
    assert (len(caches), len(caches[0])) == (2, shape[4])  # the spec's (per-step caches, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_reference_and_finite_differences(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.problem(*shape)
    data = backend.tree(problem)
    xp = backend.xp
    grads = xrnn.rnn_backward(data["da"], xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])[2])
    expected = reference.backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    assert sorted(grads) == sorted(expected)
    for name in expected:
        backend.assert_close(grads[name], expected[name])

        def objective(value: Any, name: str = name) -> Any:
            return xp.sum(data["da"] * xrnn.rnn_forward(*_replace(data, GRADIENT_OF[name], value))[0])

        numeric = numerical_gradient(objective, _point(data, GRADIENT_OF[name]))
        backend.assert_close(grads[name], backend.to_numpy(numeric), **FD)


@pytest.mark.parametrize("shape", SHAPES)
def test_loss_and_gradients_match_finite_differences(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.problem(*shape)
    data = backend.tree(problem)
    labels = backend.asarray(problem["labels"])
    loss, grads = xrnn.rnn_loss_and_gradients(data["x"], data["a0"], labels, data["parameters"])
    targets = reference.one_hot(problem["labels"], shape[2])
    backend.assert_close(loss, reference.loss(problem["x"], problem["a0"], targets, problem["parameters"]))
    assert sorted(grads) == sorted(GRADIENT_OF)
    for name, wrt in GRADIENT_OF.items():

        def objective(value: Any, wrt: str = wrt) -> Any:
            x, a0, parameters = _replace(data, wrt, value)
            return xrnn.rnn_loss_and_gradients(x, a0, labels, parameters)[0]

        numeric = numerical_gradient(objective, _point(data, wrt))
        backend.assert_close(grads[name], backend.to_numpy(numeric), **FD)


def test_loss_gradients_agree_with_rnn_backward(backend: TestBackend) -> None:
    """The fused call equals the spec's route: forward, output-layer gradient by hand, rnn_backward."""
    problem = reference.problem(3, 5, 2, 10, 4)
    data = backend.tree(problem)
    xp = backend.xp
    labels = backend.asarray(problem["labels"])
    _, grads = xrnn.rnn_loss_and_gradients(data["x"], data["a0"], labels, data["parameters"])
    a, y_pred, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    dlogits = (y_pred - backend.asarray(reference.one_hot(problem["labels"], 2))) / (10 * 4)
    da = xp.stack([data["parameters"]["Wya"].T @ dlogits[:, :, t] for t in range(4)], axis=2)
    for name, value in xrnn.rnn_backward(da, caches).items():
        backend.assert_close(grads[name], backend.to_numpy(value))
    dwya = sum(backend.to_numpy(dlogits[:, :, t] @ a[:, :, t].T) for t in range(4))
    backend.assert_close(grads["dWya"], dwya)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(*[st.integers(1, 4)] * 5), seed=st.integers(0, 2**16))
def test_random_shapes_match_reference(backend: TestBackend, shape: tuple[int, ...], seed: int) -> None:
    problem = reference.problem(*shape, seed=seed)
    data = backend.tree(problem)
    a, y_pred, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    expected_a, expected_y, _ = reference.forward(problem["x"], problem["a0"], problem["parameters"])
    backend.assert_close(a, expected_a)
    backend.assert_close(y_pred, expected_y)
    expected = reference.backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    for name, value in xrnn.rnn_backward(data["da"], caches).items():
        backend.assert_close(value, expected[name])


def test_float32_in_float32_out(backend: TestBackend) -> None:
    problem = reference.problem(3, 5, 2, 10, 4, seed=3)
    data = backend.tree(problem, "float32")
    a, y_pred, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    grads = xrnn.rnn_backward(data["da"], caches)
    loss, loss_grads = xrnn.rnn_loss_and_gradients(
        data["x"], data["a0"], backend.asarray(problem["labels"]), data["parameters"]
    )
    expected_a, expected_y, _ = reference.forward(problem["x"], problem["a0"], problem["parameters"])
    expected = reference.backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    for value in (a, y_pred, loss, *grads.values(), *loss_grads.values()):
        backend.assert_dtype(value, "float32")
    backend.assert_close(a, expected_a, dtype="float32")
    backend.assert_close(y_pred, expected_y, dtype="float32")
    for name, value in grads.items():
        backend.assert_close(value, expected[name], atol=1e-5, dtype="float32")


def test_caller_arrays_are_never_written(backend: TestBackend) -> None:
    problem = reference.problem(3, 5, 2, 10, 4, seed=4)
    data = backend.tree(problem)
    labels = backend.asarray(problem["labels"])
    _, _, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    xrnn.rnn_backward(data["da"], caches)
    xrnn.rnn_loss_and_gradients(data["x"], data["a0"], labels, data["parameters"])
    for key in ("x", "a0", "da"):
        np.testing.assert_array_equal(backend.to_numpy(data[key]), problem[key])
    for key, value in problem["parameters"].items():
        np.testing.assert_array_equal(backend.to_numpy(data["parameters"][key]), value)
    np.testing.assert_array_equal(backend.to_numpy(labels), problem["labels"])


def test_read_only_numpy_inputs() -> None:
    problem = reference.problem(3, 5, 2, 10, 4, seed=5)
    for array in (problem["x"], problem["a0"], problem["da"], problem["labels"], *problem["parameters"].values()):
        array.flags.writeable = False
    a, _, caches = xrnn.rnn_forward(problem["x"], problem["a0"], problem["parameters"])
    grads = xrnn.rnn_backward(problem["da"], caches)
    xrnn.rnn_loss_and_gradients(problem["x"], problem["a0"], problem["labels"], problem["parameters"])
    expected = reference.backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    np.testing.assert_allclose(grads["dWaa"], expected["dWaa"], rtol=1e-10)
    a[...] = 0  # the returned states are the caller's to write


def test_returned_states_are_independent_of_the_cache(backend: TestBackend) -> None:
    problem = reference.problem(3, 5, 2, 10, 4, seed=6)
    data = backend.tree(problem)
    a, _, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    before = xrnn.rnn_backward(data["da"], caches)
    a[0, 0, 0] = 42.0
    after = xrnn.rnn_backward(data["da"], caches)
    for name, value in before.items():
        backend.assert_close(after[name], backend.to_numpy(value), rtol=0)


def test_cache_is_inspectable_and_steps_replay_the_spec(backend: TestBackend) -> None:
    """``caches.step(t)`` holds what rnn_cell_forward made at step t, so the spec's per-step
    backward through rnn_cell_backward gives rnn_backward's gradients."""
    problem = reference.problem(3, 5, 2, 10, 4, seed=7)
    data = backend.tree(problem)
    a, _, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    backend.assert_close(caches.a, backend.to_numpy(a), rtol=0)
    backend.assert_close(caches.x, problem["x"], rtol=0)
    totals: dict[str, Any] = {}
    da_prev = 0 * data["a0"]
    for t in reversed(range(len(caches[0]))):
        step = caches.step(t)
        backend.assert_close(step.a_next, backend.to_numpy(a[:, :, t]), rtol=0)
        cell = xrnn.rnn_cell_backward(data["da"][:, :, t] + da_prev, step)
        da_prev = cell["da_prev"]
        for key in ("dWax", "dWaa", "dba"):
            totals[key] = totals[key] + cell[key] if key in totals else cell[key]
    grads = xrnn.rnn_backward(data["da"], caches)
    backend.assert_close(grads["da0"], backend.to_numpy(da_prev))
    for key, value in totals.items():
        backend.assert_close(grads[key], backend.to_numpy(value))
    with pytest.raises(IndexError, match=r"step t must be in \[0, T_x\) = \[0, 4\), got 4"):
        caches.step(4)


def test_fast_path_equals_generic_twin(backend: TestBackend) -> None:
    if backend.adapter.rnn_forward_scan is None:
        pytest.skip(f"backend {backend.name!r} has no fast path: the generic code is all it runs")
    problem = reference.problem(4, 6, 3, 5, 7, seed=8)
    for dtype in ("float32", "float64"):
        data = backend.tree(problem, dtype)
        labels = backend.asarray(problem["labels"])
        fast_loss, fast = xrnn.rnn_loss_and_gradients(data["x"], data["a0"], labels, data["parameters"])
        with fast_paths(False):
            generic_loss, generic = xrnn.rnn_loss_and_gradients(data["x"], data["a0"], labels, data["parameters"])
        backend.assert_close(fast_loss, backend.to_numpy(generic_loss), dtype=dtype)
        for name, value in generic.items():
            backend.assert_close(
                fast[name], backend.to_numpy(value), atol=1e-6 if dtype == "float32" else 0, dtype=dtype
            )


def test_spec_example_runs(backend: TestBackend) -> None:
    """The spec's closing example: x (3, 10, 4), a0 (5, 10), n_y = 2 gives y of shape (2, 10, 4)."""
    data = backend.tree(reference.problem(3, 5, 2, 10, 4, seed=1))
    _, y, caches = xrnn.rnn_forward(data["x"], data["a0"], data["parameters"])
    gradients = xrnn.rnn_backward(data["da"], caches)
    assert tuple(y.shape) == (2, 10, 4)
    assert {k: tuple(v.shape) for k, v in gradients.items()} == {
        "dx": (3, 10, 4),
        "da0": (5, 10),
        "dWax": (5, 3),
        "dWaa": (5, 5),
        "dba": (5, 1),
    }


def test_dwaa_is_a_gradient_not_the_weight(backend: TestBackend) -> None:
    """The spec's rnn_cell_backward returns Waa under the key dWaa; ours is the gradient."""
    problem = reference.problem(3, 5, 2, 10, 1, seed=9)
    data = backend.tree(problem)
    _, _, cache = xrnn.rnn_cell_forward(data["x"][:, :, 0], data["a0"], data["parameters"])
    dwaa = backend.to_numpy(xrnn.rnn_cell_backward(data["da"][:, :, 0], cache)["dWaa"])
    assert not np.allclose(dwaa, problem["parameters"]["Waa"])


def test_matches_torch_autograd() -> None:
    """An implementation we did not write: PyTorch's autograd through the same equations, float64."""
    torch = pytest.importorskip("torch", reason="PyTorch is the optional independent autograd reference")
    problem = reference.problem(3, 5, 4, 6, 7, seed=13)
    loss, grads = xrnn.rnn_loss_and_gradients(problem["x"], problem["a0"], problem["labels"], problem["parameters"])
    leaves = {
        name: torch.tensor(problem["parameters"].get(name, problem.get(name)), requires_grad=True)
        for name in ("x", "a0", "Wax", "Waa", "Wya", "ba", "by")
    }
    a, logits = leaves["a0"], []
    for t in range(7):
        a = torch.tanh(leaves["Wax"] @ leaves["x"][:, :, t] + leaves["Waa"] @ a + leaves["ba"])
        logits.append(leaves["Wya"] @ a + leaves["by"])
    stacked = torch.stack(logits, dim=2)  # (n_y, m, T_x)
    labels = torch.tensor(problem["labels"])
    torch_loss = torch.nn.functional.cross_entropy(stacked.unsqueeze(0), labels.unsqueeze(0))
    torch_loss.backward()
    np.testing.assert_allclose(float(loss), torch_loss.item(), rtol=1e-12)
    for name, wrt in GRADIENT_OF.items():
        np.testing.assert_allclose(grads[name], leaves[wrt].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)


def test_masked_loss_weights_each_example_by_its_real_steps(backend: TestBackend) -> None:
    """A padded batch's loss and gradients are the examples' own, weighted by their lengths."""
    problem = reference.problem(3, 4, 3, 3, 5, seed=15)
    lengths = [5, 2, 3]
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    data = backend.tree(problem)
    labels = backend.asarray(problem["labels"])
    loss, grads = xrnn.rnn_loss_and_gradients(
        data["x"], data["a0"], labels, data["parameters"], mask=backend.asarray(mask)
    )
    expected_loss = 0.0
    expected = {key: 0.0 for key in ("dWax", "dWaa", "dba", "dWya", "dby")}
    for i, length in enumerate(lengths):
        weight = length / sum(lengths)
        one_loss, one_grads = xrnn.rnn_loss_and_gradients(
            problem["x"][:, i : i + 1, :length],
            problem["a0"][:, i : i + 1],
            problem["labels"][i : i + 1, :length],
            problem["parameters"],
        )
        expected_loss += weight * float(one_loss)
        for key in expected:
            expected[key] = expected[key] + weight * one_grads[key]
        backend.assert_close(grads["dx"][:, i : i + 1, :length], weight * one_grads["dx"])
        backend.assert_close(grads["da0"][:, i : i + 1], weight * one_grads["da0"])
    backend.assert_close(loss, expected_loss)
    for key, value in expected.items():
        backend.assert_close(grads[key], value)
    backend.assert_close(grads["dx"][:, 1, 2:], np.zeros((3, 3)))
