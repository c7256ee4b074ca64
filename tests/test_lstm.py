"""The LSTM against a per-step NumPy reference, float64 central finite differences and torch autograd."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import reference_gated as reference
from tests.helpers import TestBackend
from xrnn import init_lstm_parameters
from xrnn.cells.lstm import (
    LSTMCache,
    LSTMCellCache,
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
)
from xrnn.gradcheck import numerical_gradient

# (n_x, n_a, n_y, m, T_x): the tutorial's example, then the edges m = 1, T_x = 1, n_x = 1.
SHAPES = [(3, 5, 2, 10, 4), (2, 3, 2, 1, 3), (2, 3, 2, 4, 1), (1, 3, 2, 1, 1), (1, 2, 3, 3, 2)]
FD = {"rtol": 1e-6, "atol": 1e-9}  # float64 central differences with eps = 1e-6
GATES = ("f", "i", "c", "o")
PARAMETER_GRADIENTS = [f"d{kind}{g}" for g in GATES for kind in ("W", "b")]
GRADIENT_OF = {"dx": "x", "da0": "a0", "dc0": "c0", **{name: name[1:] for name in PARAMETER_GRADIENTS}}


def _forward_with(data: dict[str, Any], name: str, value: Any) -> tuple[Any, Any, Any, LSTMCache]:
    """lstm_forward with the input, initial state or parameter ``name`` replaced by ``value``."""
    parameters = dict(data["parameters"])
    if name in parameters:
        parameters[name] = value
    inputs = {key: value if key == name else data[key] for key in ("x", "a0", "c0")}
    return lstm_forward(inputs["x"], inputs["a0"], parameters, c0=inputs["c0"])


def _point(data: dict[str, Any], name: str) -> Any:
    return data["parameters"].get(name, data.get(name))


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.lstm_problem(*shape)
    data = backend.tree(problem)
    a, y, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])
    expected = reference.lstm_forward(problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    backend.assert_close(a, expected["a"])
    backend.assert_close(y, expected["y"])
    backend.assert_close(c, expected["c"])
    for gate in ("f", "i", "cct", "o"):
        backend.assert_close(getattr(caches, gate), expected[gate])
    assert (len(caches), len(caches[0])) == (2, shape[4])  # the spec's (per-step caches, x)


def test_c0_defaults_to_zero(backend: TestBackend) -> None:
    problem = reference.lstm_problem(3, 5, 2, 4, 3, seed=1)
    data = backend.tree(problem)
    a, _, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"])
    expected = reference.lstm_forward(problem["x"], problem["a0"], 0 * problem["c0"], problem["parameters"])
    backend.assert_close(a, expected["a"])
    backend.assert_close(c, expected["c"])
    backend.assert_close(caches.c0, np.zeros((5, 4)), rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_reference_and_finite_differences(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.lstm_problem(*shape)
    data = backend.tree(problem)
    xp = backend.xp
    caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])[3]
    grads = lstm_backward(data["da"], caches)
    expected = reference.lstm_backward(problem["da"], problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    assert sorted(grads) == sorted(expected) == sorted(GRADIENT_OF)
    for name, wrt in GRADIENT_OF.items():
        backend.assert_close(grads[name], expected[name])

        def objective(value: Any, wrt: str = wrt) -> Any:
            return xp.sum(data["da"] * _forward_with(data, wrt, value)[0])

        numeric = numerical_gradient(objective, _point(data, wrt))
        backend.assert_close(grads[name], backend.to_numpy(numeric), **FD)


def test_cell_forward_matches_reference(backend: TestBackend) -> None:
    problem = reference.lstm_problem(3, 5, 2, 10, 1, seed=1)
    data = backend.tree(problem)
    xt, a_prev, c_prev = data["x"][:, :, 0], data["a0"], data["c0"]
    a_next, c_next, yt_pred, cache = lstm_cell_forward(xt, a_prev, c_prev, data["parameters"])
    expected = reference.lstm_step(problem["x"][:, :, 0], problem["a0"], problem["c0"], problem["parameters"])
    backend.assert_close(a_next, expected["a"])
    backend.assert_close(c_next, expected["c"])
    backend.assert_close(yt_pred, expected["y"])
    for field, key in (("ft", "f"), ("it", "i"), ("cct", "cct"), ("ot", "o")):
        backend.assert_close(getattr(cache, field), expected[key])
    assert cache.a_prev is a_prev
    assert cache.c_prev is c_prev
    assert cache.xt is xt
    assert cache.parameters is data["parameters"]


def test_cell_backward_matches_finite_differences(backend: TestBackend) -> None:
    problem = reference.lstm_problem(3, 5, 2, 4, 1, seed=2)
    data = backend.tree(problem)
    xt, a_prev, c_prev, params = data["x"][:, :, 0], data["a0"], data["c0"], data["parameters"]
    da_next = data["da"][:, :, 0]
    dc_next = backend.asarray(np.random.default_rng(3).standard_normal((5, 4)))
    xp = backend.xp

    def objective(xt: Any, a_prev: Any, c_prev: Any, params: Any) -> Any:
        a_next, c_next, _, _ = lstm_cell_forward(xt, a_prev, c_prev, params)
        return xp.sum(da_next * a_next) + xp.sum(dc_next * c_next)

    grads = lstm_cell_backward(da_next, dc_next, lstm_cell_forward(xt, a_prev, c_prev, params)[3])
    expected = {
        "dxt": numerical_gradient(lambda v: objective(v, a_prev, c_prev, params), xt),
        "da_prev": numerical_gradient(lambda v: objective(xt, v, c_prev, params), a_prev),
        "dc_prev": numerical_gradient(lambda v: objective(xt, a_prev, v, params), c_prev),
        **{
            name: numerical_gradient(
                lambda v, key=name[1:]: objective(xt, a_prev, c_prev, {**params, key: v}), params[name[1:]]
            )
            for name in PARAMETER_GRADIENTS
        },
    }
    assert sorted(grads) == sorted(expected)
    for name, value in expected.items():
        backend.assert_close(grads[name], backend.to_numpy(value), **FD)


def test_cache_steps_replay_the_cell_functions(backend: TestBackend) -> None:
    """``caches.step(t)`` holds what lstm_cell_forward made at step t, so the tutorial's per-step
    backward through lstm_cell_backward gives lstm_backward's gradients."""
    problem = reference.lstm_problem(3, 5, 2, 6, 4, seed=7)
    data = backend.tree(problem)
    _, _, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])
    backend.assert_close(caches.x, problem["x"], rtol=0)
    totals: dict[str, Any] = {}
    da_prev, dc_prev = 0 * data["a0"], 0 * data["a0"]
    for t in reversed(range(len(caches[0]))):
        step = caches.step(t)
        assert isinstance(step, LSTMCellCache)
        replay = lstm_cell_forward(step.xt, step.a_prev, step.c_prev, data["parameters"])[3]
        for field in ("a_next", "c_next", "ft", "it", "cct", "ot"):
            backend.assert_close(getattr(step, field), backend.to_numpy(getattr(replay, field)))
        backend.assert_close(step.c_next, backend.to_numpy(c[:, :, t]), rtol=0)
        cell = lstm_cell_backward(data["da"][:, :, t] + da_prev, dc_prev, step)
        da_prev, dc_prev = cell["da_prev"], cell["dc_prev"]
        for key in PARAMETER_GRADIENTS:
            totals[key] = totals[key] + cell[key] if key in totals else cell[key]
    grads = lstm_backward(data["da"], caches)
    backend.assert_close(grads["da0"], backend.to_numpy(da_prev))
    backend.assert_close(grads["dc0"], backend.to_numpy(dc_prev))
    for key, value in totals.items():
        backend.assert_close(grads[key], backend.to_numpy(value))
    with pytest.raises(IndexError, match=r"step t must be in \[0, T_x\) = \[0, 4\), got -1"):
        caches.step(-1)


def test_matches_torch_autograd() -> None:
    torch = pytest.importorskip("torch", reason="torch is the independent autograd check; install it to run this")
    problem = reference.lstm_problem(3, 4, 2, 5, 6, seed=11)
    tensors = {key: torch.tensor(value, dtype=torch.float64, requires_grad=True) for key, value in _flat(problem)}
    p = tensors
    a_prev, c_prev = p["a0"], p["c0"]
    states, cells, outputs = [], [], []
    for t in range(problem["x"].shape[2]):
        joint = torch.cat([a_prev, p["x"][:, :, t]], dim=0)
        f = torch.sigmoid(p["Wf"] @ joint + p["bf"])
        i = torch.sigmoid(p["Wi"] @ joint + p["bi"])
        cct = torch.tanh(p["Wc"] @ joint + p["bc"])
        o = torch.sigmoid(p["Wo"] @ joint + p["bo"])
        c_prev = f * c_prev + i * cct
        a_prev = o * torch.tanh(c_prev)
        states.append(a_prev)
        cells.append(c_prev)
        outputs.append(torch.softmax(p["Wy"] @ a_prev + p["by"], dim=0))
    a_torch = torch.stack(states, dim=2)
    (a_torch * torch.tensor(problem["da"])).sum().backward()

    a, y, c, caches = lstm_forward(problem["x"], problem["a0"], problem["parameters"], c0=problem["c0"])
    np.testing.assert_allclose(a, a_torch.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(c, torch.stack(cells, dim=2).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(y, torch.stack(outputs, dim=2).detach().numpy(), rtol=1e-12)
    grads = lstm_backward(problem["da"], caches)
    for name, wrt in GRADIENT_OF.items():
        np.testing.assert_allclose(grads[name], tensors[wrt].grad.numpy(), rtol=1e-10, atol=1e-14)


def _flat(problem: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
    return [(k, v) for k, v in problem.items() if k not in ("parameters", "da")] + list(problem["parameters"].items())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(*[st.integers(1, 4)] * 5), seed=st.integers(0, 2**16))
def test_random_shapes_match_reference(backend: TestBackend, shape: tuple[int, ...], seed: int) -> None:
    problem = reference.lstm_problem(*shape, seed=seed)
    data = backend.tree(problem)
    a, y, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])
    expected = reference.lstm_forward(problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    backend.assert_close(a, expected["a"])
    backend.assert_close(y, expected["y"])
    backend.assert_close(c, expected["c"])
    expected = reference.lstm_backward(problem["da"], problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    for name, value in lstm_backward(data["da"], caches).items():
        backend.assert_close(value, expected[name])


def test_float32_in_float32_out(backend: TestBackend) -> None:
    problem = reference.lstm_problem(3, 5, 2, 10, 4, seed=3)
    data = backend.tree(problem, "float32")
    a, y, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])
    grads = lstm_backward(data["da"], caches)
    a_t, c_t, y_t, cell = lstm_cell_forward(data["x"][:, :, 0], data["a0"], data["c0"], data["parameters"])
    cell_grads = lstm_cell_backward(data["da"][:, :, 0], data["a0"], cell)
    default_c0 = lstm_forward(data["x"], data["a0"], data["parameters"])[2]
    for value in (a, y, c, a_t, c_t, y_t, default_c0, *grads.values(), *cell_grads.values()):
        backend.assert_dtype(value, "float32")
    expected = reference.lstm_forward(problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    backend.assert_close(a, expected["a"], atol=1e-6, dtype="float32")
    backend.assert_close(c, expected["c"], atol=1e-6, dtype="float32")
    expected = reference.lstm_backward(problem["da"], problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    for name, value in grads.items():
        backend.assert_close(value, expected[name], atol=1e-5, dtype="float32")


def test_caller_arrays_are_never_written(backend: TestBackend) -> None:
    problem = reference.lstm_problem(3, 5, 2, 10, 4, seed=4)
    data = backend.tree(problem)
    a, _, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])
    before = lstm_backward(data["da"], caches)
    *_, cell = lstm_cell_forward(data["x"][:, :, 0], data["a0"], data["c0"], data["parameters"])
    lstm_cell_backward(data["da"][:, :, 0], data["c0"], cell)
    for key in ("x", "a0", "c0", "da"):
        np.testing.assert_array_equal(backend.to_numpy(data[key]), problem[key])
    for key, value in problem["parameters"].items():
        np.testing.assert_array_equal(backend.to_numpy(data["parameters"][key]), value)
    a[0, 0, 0] = 42.0  # the returned states are the caller's to write, apart from the cache
    c[0, 0, 0] = 42.0
    after = lstm_backward(data["da"], caches)
    for name, value in before.items():
        backend.assert_close(after[name], backend.to_numpy(value), rtol=0)


@pytest.mark.numpy_only
def test_read_only_numpy_inputs() -> None:
    problem = reference.lstm_problem(3, 5, 2, 10, 4, seed=5)
    for array in (problem["x"], problem["a0"], problem["c0"], problem["da"], *problem["parameters"].values()):
        array.flags.writeable = False
    _, _, _, caches = lstm_forward(problem["x"], problem["a0"], problem["parameters"], c0=problem["c0"])
    grads = lstm_backward(problem["da"], caches)
    *_, cell = lstm_cell_forward(problem["x"][:, :, 0], problem["a0"], problem["c0"], problem["parameters"])
    lstm_cell_backward(problem["da"][:, :, 0], problem["c0"], cell)
    expected = reference.lstm_backward(problem["da"], problem["x"], problem["a0"], problem["c0"], problem["parameters"])
    np.testing.assert_allclose(grads["dWf"], expected["dWf"], rtol=1e-10)


def test_tutorial_example_shapes(backend: TestBackend) -> None:
    """The tutorial's example: x (3, 10, 7), a0 (5, 10), n_y = 2."""
    data = backend.tree(reference.lstm_problem(3, 5, 2, 10, 7, seed=1))
    a, y, c, caches = lstm_forward(data["x"], data["a0"], data["parameters"])
    grads = lstm_backward(data["da"], caches)
    assert (tuple(a.shape), tuple(y.shape), tuple(c.shape)) == ((5, 10, 7), (2, 10, 7), (5, 10, 7))
    assert {k: tuple(v.shape) for k, v in grads.items()} == {
        "dx": (3, 10, 7),
        "da0": (5, 10),
        "dc0": (5, 10),
        **{f"dW{g}": (5, 8) for g in GATES},
        **{f"db{g}": (5, 1) for g in GATES},
    }


def test_init_lstm_parameters_on_backend(backend: TestBackend) -> None:
    p = init_lstm_parameters(3, 5, 2, backend=backend.name, dtype="float32", seed=0, device=backend.device)
    assert {k: tuple(v.shape) for k, v in p.items()} == {
        **{f"W{g}": (5, 8) for g in GATES},
        "Wy": (2, 5),
        **{f"b{g}": (5, 1) for g in GATES},
        "by": (2, 1),
    }
    a, *_ = lstm_forward(
        backend.asarray(np.ones((3, 2, 3)), "float32"), backend.asarray(np.zeros((5, 2)), "float32"), p
    )
    backend.assert_dtype(a, "float32")
    with pytest.raises(ValueError, match="n_a must be a positive int, got 0"):
        init_lstm_parameters(3, 0, 2)


# ---------------------------------------------------------------- bad input


def _valid() -> dict[str, Any]:
    return reference.lstm_problem(3, 5, 2, 4, 2, seed=8)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d["parameters"].pop("Wo"), ValueError, r"parameters is missing \['Wo'\]"),
        (
            lambda d: d["parameters"].update(bi=np.zeros(5)),
            ValueError,
            r"parameters\['bi'\] must have shape \(n_a, 1\) = \(5, 1\), got \(5,\); a 1-D bias",
        ),
        (
            lambda d: d["parameters"].update(Wc=np.zeros((5, 7))),
            ValueError,
            r"parameters\['Wc'\] must have shape \(n_a, n_a \+ n_x\) = \(5, 8\), got \(5, 7\)",
        ),
        (
            lambda d: d["parameters"].update(Wf=np.zeros((5, 5)), Wi=np.zeros((5, 5))),
            ValueError,
            r"parameters\['Wf'\] must have shape \(n_a, n_a \+ n_x\) = \(5, 8\), got \(5, 5\)",
        ),
        (
            lambda d: d["parameters"].update(Wy=np.zeros((2, 4))),
            ValueError,
            r"parameters\['Wy'\] must have shape \(n_y, n_a\) = \(2, 5\), got \(2, 4\)",
        ),
        (
            lambda d: d.update(x=np.zeros((4, 4, 2))),
            ValueError,
            r"x must have shape \(n_x, m, T_x\) = \(3, 4, 2\), got \(4, 4, 2\)",
        ),
        (lambda d: d.update(x=np.zeros((3, 4))), ValueError, r"x must be 3-D with shape \(n_x, m, T_x\), got shape"),
        (
            lambda d: d.update(a0=np.zeros((5, 3))),
            ValueError,
            r"a0 must have shape \(n_a, m\) = \(5, 4\), got \(5, 3\)",
        ),
        (
            lambda d: d.update(c0=np.zeros((4, 4))),
            ValueError,
            r"c0 must have shape \(n_a, m\) = \(5, 4\), got \(4, 4\)",
        ),
        (
            lambda d: d.update(c0=np.zeros((5, 4), np.float32)),
            TypeError,
            "c0 has dtype float32 but x has dtype float64",
        ),
        (lambda d: d.update(x=np.zeros((3, 4, 2), int)), TypeError, "x must have a real floating dtype"),
        (lambda d: d.update(parameters=[1, 2]), TypeError, "parameters must be a mapping"),
    ],
)
def test_forward_rejects_bad_input(change: Any, error: type[Exception], message: str) -> None:
    data = _valid()
    change(data)
    with pytest.raises(error, match=message):
        lstm_forward(data["x"], data["a0"], data["parameters"], c0=data["c0"])


def test_cell_functions_reject_bad_input() -> None:
    data = _valid()
    xt, a_prev, c_prev, params = data["x"][:, :, 0], data["a0"], data["c0"], data["parameters"]
    with pytest.raises(ValueError, match=r"c_prev must have shape \(n_a, m\) = \(5, 4\), got \(5, 3\)"):
        lstm_cell_forward(xt, a_prev, c_prev[:, :3], params)
    with pytest.raises(ValueError, match=r"xt must be 2-D with shape \(n_x, m\)"):
        lstm_cell_forward(data["x"], a_prev, c_prev, params)
    *_, cache = lstm_cell_forward(xt, a_prev, c_prev, params)
    with pytest.raises(ValueError, match=r"dc_next must have shape \(n_a, m\) = \(5, 4\), got \(5, 1\)"):
        lstm_cell_backward(a_prev, c_prev[:, :1], cache)
    with pytest.raises(TypeError, match="cache must be the LSTMCellCache returned by lstm_cell_forward, got tuple"):
        lstm_cell_backward(a_prev, c_prev, tuple(cache))


def test_backward_rejects_bad_input(backend: TestBackend) -> None:
    data = backend.tree(_valid())
    _, _, _, caches = lstm_forward(data["x"], data["a0"], data["parameters"])
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(5, 4, 2\), got \(5, 4, 3\)"):
        lstm_backward(backend.asarray(np.zeros((5, 4, 3))), caches)
    with pytest.raises(TypeError, match=r"da has dtype \S*float32 but caches\.states has dtype \S*float64"):
        lstm_backward(backend.asarray(np.zeros((5, 4, 2)), "float32"), caches)
    with pytest.raises(TypeError, match="caches must be the LSTMCache returned by lstm_forward, got list"):
        lstm_backward(data["da"], [caches])


def test_mixed_libraries_are_rejected(backend: TestBackend) -> None:
    if backend.name == "numpy":
        pytest.skip("needs a second library: this backend is the NumPy side of the mix")
    data = backend.tree(_valid())
    with pytest.raises(TypeError, match="a0 is a numpy array but x is a"):
        lstm_forward(data["x"], np.zeros((5, 4)), data["parameters"])
