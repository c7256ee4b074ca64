"""The GRU against a per-step NumPy reference, float64 central finite differences and torch autograd."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import reference_gated as reference
from tests.helpers import TestBackend
from xrnn import init_gru_parameters
from xrnn.cells.gru import GRUCache, GRUCellCache, gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from xrnn.gradcheck import numerical_gradient

# (n_x, n_a, n_y, m, T_x): the lectures' sizes, then the edges m = 1, T_x = 1, n_x = 1.
SHAPES = [(3, 5, 2, 10, 4), (2, 3, 2, 1, 3), (2, 3, 2, 4, 1), (1, 3, 2, 1, 1), (1, 2, 3, 3, 2)]
FD = {"rtol": 1e-6, "atol": 1e-9}  # float64 central differences with eps = 1e-6
GATES = ("u", "r", "c")
PARAMETER_GRADIENTS = [f"d{kind}{g}" for g in GATES for kind in ("W", "b")]
GRADIENT_OF = {"dx": "x", "da0": "a0", **{name: name[1:] for name in PARAMETER_GRADIENTS}}


def _forward_with(data: dict[str, Any], name: str, value: Any) -> tuple[Any, Any, GRUCache]:
    parameters = dict(data["parameters"])
    if name in parameters:
        parameters[name] = value
    x = value if name == "x" else data["x"]
    a0 = value if name == "a0" else data["a0"]
    return gru_forward(x, a0, parameters)


def _point(data: dict[str, Any], name: str) -> Any:
    return data["parameters"].get(name, data.get(name))


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.gru_problem(*shape)
    data = backend.tree(problem)
    a, y, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    expected = reference.gru_forward(problem["x"], problem["a0"], problem["parameters"])
    backend.assert_close(a, expected["a"])
    backend.assert_close(y, expected["y"])
    for gate in ("u", "r", "cct"):
        backend.assert_close(getattr(caches, gate), expected[gate])
    assert (len(caches), len(caches[0])) == (2, shape[4])  # the spec's (per-step caches, x)


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_reference_and_finite_differences(backend: TestBackend, shape: tuple[int, ...]) -> None:
    problem = reference.gru_problem(*shape)
    data = backend.tree(problem)
    xp = backend.xp
    grads = gru_backward(data["da"], gru_forward(data["x"], data["a0"], data["parameters"])[2])
    expected = reference.gru_backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    assert sorted(grads) == sorted(expected) == sorted(GRADIENT_OF)
    for name, wrt in GRADIENT_OF.items():
        backend.assert_close(grads[name], expected[name])

        def objective(value: Any, wrt: str = wrt) -> Any:
            return xp.sum(data["da"] * _forward_with(data, wrt, value)[0])

        numeric = numerical_gradient(objective, _point(data, wrt))
        backend.assert_close(grads[name], backend.to_numpy(numeric), **FD)


def test_cell_forward_matches_reference(backend: TestBackend) -> None:
    problem = reference.gru_problem(3, 5, 2, 10, 1, seed=1)
    data = backend.tree(problem)
    xt, a_prev = data["x"][:, :, 0], data["a0"]
    a_next, yt_pred, cache = gru_cell_forward(xt, a_prev, data["parameters"])
    expected = reference.gru_step(problem["x"][:, :, 0], problem["a0"], problem["parameters"])
    backend.assert_close(a_next, expected["a"])
    backend.assert_close(yt_pred, expected["y"])
    for field, key in (("ut", "u"), ("rt", "r"), ("cct", "cct")):
        backend.assert_close(getattr(cache, field), expected[key])
    assert cache.a_prev is a_prev
    assert cache.xt is xt
    assert cache.parameters is data["parameters"]


def test_cell_backward_matches_finite_differences(backend: TestBackend) -> None:
    problem = reference.gru_problem(3, 5, 2, 4, 1, seed=2)
    data = backend.tree(problem)
    xt, a_prev, params = data["x"][:, :, 0], data["a0"], data["parameters"]
    da_next = data["da"][:, :, 0]
    xp = backend.xp

    def objective(xt: Any, a_prev: Any, params: Any) -> Any:
        return xp.sum(da_next * gru_cell_forward(xt, a_prev, params)[0])

    grads = gru_cell_backward(da_next, gru_cell_forward(xt, a_prev, params)[2])
    expected = {
        "dxt": numerical_gradient(lambda v: objective(v, a_prev, params), xt),
        "da_prev": numerical_gradient(lambda v: objective(xt, v, params), a_prev),
        **{
            name: numerical_gradient(
                lambda v, key=name[1:]: objective(xt, a_prev, {**params, key: v}), params[name[1:]]
            )
            for name in PARAMETER_GRADIENTS
        },
    }
    assert sorted(grads) == sorted(expected)
    for name, value in expected.items():
        backend.assert_close(grads[name], backend.to_numpy(value), **FD)


def test_cache_steps_replay_the_cell_functions(backend: TestBackend) -> None:
    problem = reference.gru_problem(3, 5, 2, 6, 4, seed=7)
    data = backend.tree(problem)
    a, _, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    backend.assert_close(caches.x, problem["x"], rtol=0)
    totals: dict[str, Any] = {}
    da_prev = 0 * data["a0"]
    for t in reversed(range(len(caches[0]))):
        step = caches.step(t)
        assert isinstance(step, GRUCellCache)
        replay = gru_cell_forward(step.xt, step.a_prev, data["parameters"])[2]
        for field in ("a_next", "ut", "rt", "cct"):
            backend.assert_close(getattr(step, field), backend.to_numpy(getattr(replay, field)))
        backend.assert_close(step.a_next, backend.to_numpy(a[:, :, t]), rtol=0)
        cell = gru_cell_backward(data["da"][:, :, t] + da_prev, step)
        da_prev = cell["da_prev"]
        for key in PARAMETER_GRADIENTS:
            totals[key] = totals[key] + cell[key] if key in totals else cell[key]
    grads = gru_backward(data["da"], caches)
    backend.assert_close(grads["da0"], backend.to_numpy(da_prev))
    for key, value in totals.items():
        backend.assert_close(grads[key], backend.to_numpy(value))
    with pytest.raises(IndexError, match=r"step t must be in \[0, T_x\) = \[0, 4\), got 4"):
        caches.step(4)


def test_matches_torch_autograd() -> None:
    torch = pytest.importorskip("torch", reason="torch is the independent autograd check; install it to run this")
    problem = reference.gru_problem(3, 4, 2, 5, 6, seed=11)
    flat = {k: v for k, v in problem.items() if k not in ("parameters", "da")} | problem["parameters"]
    p = {key: torch.tensor(value, dtype=torch.float64, requires_grad=True) for key, value in flat.items()}
    a_prev, states, outputs = p["a0"], [], []
    for t in range(problem["x"].shape[2]):
        xt = p["x"][:, :, t]
        joint = torch.cat([a_prev, xt], dim=0)
        u = torch.sigmoid(p["Wu"] @ joint + p["bu"])
        r = torch.sigmoid(p["Wr"] @ joint + p["br"])
        cct = torch.tanh(p["Wc"] @ torch.cat([r * a_prev, xt], dim=0) + p["bc"])
        a_prev = u * cct + (1 - u) * a_prev
        states.append(a_prev)
        outputs.append(torch.softmax(p["Wy"] @ a_prev + p["by"], dim=0))
    a_torch = torch.stack(states, dim=2)
    (a_torch * torch.tensor(problem["da"])).sum().backward()

    a, y, caches = gru_forward(problem["x"], problem["a0"], problem["parameters"])
    np.testing.assert_allclose(a, a_torch.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(y, torch.stack(outputs, dim=2).detach().numpy(), rtol=1e-12)
    grads = gru_backward(problem["da"], caches)
    for name, wrt in GRADIENT_OF.items():
        np.testing.assert_allclose(grads[name], p[wrt].grad.numpy(), rtol=1e-10, atol=1e-14)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.tuples(*[st.integers(1, 4)] * 5), seed=st.integers(0, 2**16))
def test_random_shapes_match_reference(backend: TestBackend, shape: tuple[int, ...], seed: int) -> None:
    problem = reference.gru_problem(*shape, seed=seed)
    data = backend.tree(problem)
    a, y, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    expected = reference.gru_forward(problem["x"], problem["a0"], problem["parameters"])
    backend.assert_close(a, expected["a"])
    backend.assert_close(y, expected["y"])
    expected = reference.gru_backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    for name, value in gru_backward(data["da"], caches).items():
        backend.assert_close(value, expected[name])


def test_float32_in_float32_out(backend: TestBackend) -> None:
    problem = reference.gru_problem(3, 5, 2, 10, 4, seed=3)
    data = backend.tree(problem, "float32")
    a, y, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    grads = gru_backward(data["da"], caches)
    a_t, y_t, cell = gru_cell_forward(data["x"][:, :, 0], data["a0"], data["parameters"])
    cell_grads = gru_cell_backward(data["da"][:, :, 0], cell)
    for value in (a, y, a_t, y_t, *grads.values(), *cell_grads.values()):
        backend.assert_dtype(value, "float32")
    backend.assert_close(
        a, reference.gru_forward(problem["x"], problem["a0"], problem["parameters"])["a"], atol=1e-6, dtype="float32"
    )
    expected = reference.gru_backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    for name, value in grads.items():
        backend.assert_close(value, expected[name], atol=1e-5, dtype="float32")


def test_caller_arrays_are_never_written(backend: TestBackend) -> None:
    problem = reference.gru_problem(3, 5, 2, 10, 4, seed=4)
    data = backend.tree(problem)
    a, _, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    before = gru_backward(data["da"], caches)
    gru_cell_backward(data["da"][:, :, 0], gru_cell_forward(data["x"][:, :, 0], data["a0"], data["parameters"])[2])
    for key in ("x", "a0", "da"):
        np.testing.assert_array_equal(backend.to_numpy(data[key]), problem[key])
    for key, value in problem["parameters"].items():
        np.testing.assert_array_equal(backend.to_numpy(data["parameters"][key]), value)
    a[0, 0, 0] = 42.0  # the returned states are the caller's to write, apart from the cache
    after = gru_backward(data["da"], caches)
    for name, value in before.items():
        backend.assert_close(after[name], backend.to_numpy(value), rtol=0)


@pytest.mark.numpy_only
def test_read_only_numpy_inputs() -> None:
    problem = reference.gru_problem(3, 5, 2, 10, 4, seed=5)
    for array in (problem["x"], problem["a0"], problem["da"], *problem["parameters"].values()):
        array.flags.writeable = False
    grads = gru_backward(problem["da"], gru_forward(problem["x"], problem["a0"], problem["parameters"])[2])
    gru_cell_backward(
        problem["da"][:, :, 0], gru_cell_forward(problem["x"][:, :, 0], problem["a0"], problem["parameters"])[2]
    )
    expected = reference.gru_backward(problem["da"], problem["x"], problem["a0"], problem["parameters"])
    np.testing.assert_allclose(grads["dWr"], expected["dWr"], rtol=1e-10)


def test_init_gru_parameters_on_backend(backend: TestBackend) -> None:
    p = init_gru_parameters(3, 5, 2, backend=backend.name, dtype="float32", seed=0, device=backend.device)
    assert {k: tuple(v.shape) for k, v in p.items()} == {
        **{f"W{g}": (5, 8) for g in GATES},
        "Wy": (2, 5),
        **{f"b{g}": (5, 1) for g in GATES},
        "by": (2, 1),
    }
    x = backend.asarray(np.ones((3, 2, 3)), "float32")
    a, *_ = gru_forward(x, backend.asarray(np.zeros((5, 2)), "float32"), p)
    backend.assert_dtype(a, "float32")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d["parameters"].pop("Wr"), ValueError, r"parameters is missing \['Wr'\]"),
        (
            lambda d: d["parameters"].update(bc=np.zeros(5)),
            ValueError,
            r"parameters\['bc'\] must have shape \(n_a, 1\) = \(5, 1\), got \(5,\); a 1-D bias",
        ),
        (
            lambda d: d["parameters"].update(Wr=np.zeros((5, 9))),
            ValueError,
            r"parameters\['Wr'\] must have shape \(n_a, n_a \+ n_x\) = \(5, 8\), got \(5, 9\)",
        ),
        (
            lambda d: d.update(x=np.zeros((2, 4, 2))),
            ValueError,
            r"x must have shape \(n_x, m, T_x\) = \(3, 4, 2\), got \(2, 4, 2\)",
        ),
        (
            lambda d: d.update(a0=np.zeros((5, 4), np.float32)),
            TypeError,
            "a0 has dtype float32 but x has dtype float64",
        ),
    ],
)
def test_forward_rejects_bad_input(change: Any, error: type[Exception], message: str) -> None:
    data = reference.gru_problem(3, 5, 2, 4, 2, seed=8)
    change(data)
    with pytest.raises(error, match=message):
        gru_forward(data["x"], data["a0"], data["parameters"])


def test_backward_functions_reject_bad_input(backend: TestBackend) -> None:
    data = backend.tree(reference.gru_problem(3, 5, 2, 4, 2, seed=8))
    _, _, caches = gru_forward(data["x"], data["a0"], data["parameters"])
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(5, 4, 2\), got \(5, 2, 2\)"):
        gru_backward(data["da"][:, :2, :], caches)
    with pytest.raises(TypeError, match="caches must be the GRUCache returned by gru_forward, got tuple"):
        gru_backward(data["da"], tuple(caches.step(0)))
    with pytest.raises(TypeError, match="cache must be the GRUCellCache returned by gru_cell_forward, got tuple"):
        gru_cell_backward(data["a0"], tuple(caches.step(0)))
    with pytest.raises(ValueError, match=r"da_next must have shape \(n_a, m\) = \(5, 4\), got \(4, 5\)"):
        gru_cell_backward(data["a0"].T, caches.step(0))
