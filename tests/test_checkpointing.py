"""Memory-budgeted BPTT: ``checkpoints=N`` gives full BPTT's gradients within N states, for every cell."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xrnn
from tests.helpers import TestBackend
from xrnn.cells import _checkpointed, get_cell
from xrnn.cells._checkpoint import Plan, minimal_advances, plan, run, spine

CELLS = ["rnn", "lstm", "gru", "tests.user_cells:LEAKY"]
N_X, N_A, N_Y, M, T_X = 3, 4, 3, 3, 23
BUDGETS = [1, 2, 5, 9, 22]


def _normwise(actual: Any, expected: Any, backend: TestBackend) -> float:
    a, e = backend.to_numpy(actual), backend.to_numpy(expected)
    return float(np.linalg.norm(a - e) / max(np.linalg.norm(e), 1e-300))


def _problem(backend: TestBackend, name: str, seed: int = 0) -> dict[str, Any]:
    cell = get_cell(name)
    rng = np.random.default_rng(seed)
    host = {k: 0.5 * rng.standard_normal(v.shape) for k, v in cell.init(N_X, N_A, N_Y, seed=seed).items()}
    mask = np.ones((M, T_X), dtype=bool)
    mask[1, 15:] = False
    mask[2, :4] = False
    return {
        "cell": cell,
        "p": backend.tree(host),
        "x": backend.asarray(rng.standard_normal((N_X, M, T_X))),
        "initial": tuple(backend.asarray(rng.standard_normal((N_A, M))) for _ in cell.state),
        "da": backend.asarray(rng.standard_normal((N_A, M, T_X))),
        "labels": backend.asarray(rng.integers(0, N_Y, (M, T_X))),
        "mask": backend.asarray(mask),
    }


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("masked", [False, True])
def test_checkpointed_gradients_equal_full_bptt(backend: TestBackend, name: str, budget: int, masked: bool) -> None:
    data = _problem(backend, name)
    cell, mask = data["cell"], data["mask"] if masked else None
    a, cache = cell.forward(data["x"], data["initial"], data["p"], mask)
    full = cell.backward(data["da"], cache)
    a_ck, cache_ck = cell.forward(data["x"], data["initial"], data["p"], mask, checkpoints=budget)
    assert isinstance(cache_ck, _checkpointed.CheckpointedCache)
    backend.assert_close(a_ck, backend.to_numpy(a), rtol=1e-13, atol=1e-15)
    grads = cell.backward(data["da"], cache_ck)
    assert sorted(grads) == sorted(full)
    for key, value in full.items():
        assert _normwise(grads[key], value, backend) <= 1e-12, key


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("budget", [1, 4, 22])
def test_checkpointed_loss_helper_equals_full(backend: TestBackend, name: str, budget: int) -> None:
    data = _problem(backend, name, seed=1)
    for mask in (None, data["mask"]):
        arguments = (data["x"], data["labels"], data["p"])
        options = {"state": data["initial"], "mask": mask, "cell": name}
        loss, full = xrnn.patterns.many_to_many_loss_and_gradients(*arguments, **options)
        loss_ck, grads = xrnn.patterns.many_to_many_loss_and_gradients(*arguments, **options, checkpoints=budget)
        assert abs(float(loss_ck) - float(loss)) <= 1e-12 * abs(float(loss))
        assert sorted(grads) == sorted(full)
        for key, value in full.items():
            assert _normwise(grads[key], value, backend) <= 1e-12, key


def test_the_public_functions_take_checkpoints(backend: TestBackend) -> None:
    data = _problem(backend, "lstm", seed=2)
    x, p, (a0, c0) = data["x"], data["p"], data["initial"]
    a, y, c, cache = xrnn.lstm_forward(x, a0, p, c0=c0, checkpoints=3)
    a_full, y_full, c_full, cache_full = xrnn.lstm_forward(x, a0, p, c0=c0)
    for got, want in ((a, a_full), (y, y_full), (c, c_full)):
        backend.assert_close(got, backend.to_numpy(want), rtol=1e-12)
    grads, full = xrnn.lstm_backward(data["da"], cache), xrnn.lstm_backward(data["da"], cache_full)
    assert max(_normwise(grads[k], v, backend) for k, v in full.items()) <= 1e-12
    rnn = _problem(backend, "rnn", seed=2)
    loss, grads = xrnn.rnn_loss_and_gradients(rnn["x"], rnn["initial"][0], rnn["labels"], rnn["p"], checkpoints=2)
    loss_full, full = xrnn.rnn_loss_and_gradients(rnn["x"], rnn["initial"][0], rnn["labels"], rnn["p"])
    assert abs(float(loss) - float(loss_full)) <= 1e-12
    assert max(_normwise(grads[k], v, backend) for k, v in full.items()) <= 1e-12
    _, _, rnn_cache = xrnn.rnn_forward(rnn["x"], rnn["initial"][0], rnn["p"], checkpoints=5)
    assert len(rnn_cache) == 2


@pytest.mark.parametrize("kind", ["stacked", "bidirectional"])
def test_layers_take_checkpoints(backend: TestBackend, kind: str) -> None:
    data = _problem(backend, "gru", seed=3)
    other = _problem(backend, "gru", seed=4)
    layers = (
        [data["p"], other["p"]]
        if kind == "bidirectional"
        else [data["p"], xrnn.cells.GRU.init(N_A, N_A, N_Y, seed=5, backend=backend.name, device=backend.device)]
    )
    forward = xrnn.stacked_forward if kind == "stacked" else xrnn.bidirectional_forward
    backward = xrnn.stacked_backward if kind == "stacked" else xrnn.bidirectional_backward
    a0s = [data["initial"][0], other["initial"][0]]
    a, caches = forward(data["x"], a0s, layers, cell="gru", mask=data["mask"])
    a_ck, caches_ck = forward(data["x"], a0s, layers, cell="gru", mask=data["mask"], checkpoints=4)
    backend.assert_close(a_ck, backend.to_numpy(a), rtol=1e-12)
    probe = backend.asarray(np.random.default_rng(6).standard_normal(tuple(a.shape)))
    grads, grads_ck = backward(probe, caches), backward(probe, caches_ck)
    assert _normwise(grads_ck["dx"], grads["dx"], backend) <= 1e-12
    for layer, layer_ck in zip(grads["layers"], grads_ck["layers"], strict=True):
        assert max(_normwise(layer_ck[k], v, backend) for k, v in layer.items()) <= 1e-12


def test_per_step_caches_of_a_checkpointed_cache_are_recomputed(backend: TestBackend) -> None:
    data = _problem(backend, "lstm", seed=7)
    cell = data["cell"]
    _, cache = cell.forward(data["x"], data["initial"], data["p"], data["mask"])
    _, cache_ck = cell.forward(data["x"], data["initial"], data["p"], data["mask"], checkpoints=4)
    per_step, x = cache_ck
    assert len(per_step) == T_X
    backend.assert_close(x, backend.to_numpy(cache[1]))  # the same x as full BPTT's: padded steps zeroed
    for t in (0, 5, 13, T_X - 1):
        for got, want in zip(per_step[t][:-1], cache[0][t][:-1], strict=True):  # all but the parameters
            backend.assert_close(got, backend.to_numpy(want), rtol=1e-12, atol=1e-15)
    with pytest.raises(AttributeError, match="keeps only its snapshots"):
        _ = cache_ck.states


@pytest.mark.numpy_only
def test_parameters_changed_between_the_passes_are_detected() -> None:
    cell = get_cell("rnn")
    p = cell.init(N_X, N_A, N_Y, seed=0)
    x = np.random.default_rng(0).standard_normal((N_X, M, T_X))
    _, cache = cell.forward(x, None, p, checkpoints=3)
    p["Waa"] += 0.1  # in place, as a careless optimiser step would
    with pytest.raises(ValueError, match=r"parameters \['Waa'\] changed between the forward and the backward pass"):
        cell.backward(np.ones((N_A, M, T_X)), cache)
    with pytest.raises(ValueError, match="changed between the forward and the backward pass"):
        cache[0][4]


@pytest.mark.parametrize("name", CELLS)
def test_parameters_holding_a_nan_are_not_taken_for_changed_ones(backend: TestBackend, name: str) -> None:
    """A diverged run's parameters: the backward pass gives the NaN gradients full BPTT gives. The check of
    the parameters compared their sums, and a NaN sum is unequal to itself: 'changed between the passes'."""
    data = _problem(backend, name)
    cell = data["cell"]
    key = cell.keys[0]
    host = {k: backend.to_numpy(v).copy() for k, v in data["p"].items()}
    host[key][0, 0] = np.nan
    p = backend.tree(host)
    _, cache = cell.forward(data["x"], data["initial"], p, data["mask"])
    full = cell.backward(data["da"], cache)
    _, cache_ck = cell.forward(data["x"], data["initial"], p, data["mask"], checkpoints=5)
    grads = cell.backward(data["da"], cache_ck)
    for k, value in full.items():
        np.testing.assert_array_equal(np.isnan(backend.to_numpy(grads[k])), np.isnan(backend.to_numpy(value)))
    assert np.isnan(backend.to_numpy(grads["d" + key])).any()


@pytest.mark.numpy_only
@pytest.mark.parametrize(
    ("checkpoints", "error", "message"),
    [
        (0, ValueError, "checkpoints must be at least 1"),
        (-3, ValueError, "checkpoints must be at least 1"),
        (2.5, TypeError, "checkpoints must be a positive int or None, got float"),
        (True, TypeError, "checkpoints must be a positive int or None, got bool"),
    ],
)
def test_bad_checkpoints_are_rejected(checkpoints: Any, error: type[Exception], message: str) -> None:
    p = xrnn.init_parameters(N_X, N_A, N_Y, seed=0)
    x, a0 = np.zeros((N_X, M, T_X)), np.zeros((N_A, M))
    with pytest.raises(error, match=message):
        xrnn.rnn_forward(x, a0, p, checkpoints=checkpoints)
    with pytest.raises(error, match=message):
        xrnn.rnn_loss_and_gradients(x, a0, np.zeros((M, T_X), dtype=np.int64), p, checkpoints=checkpoints)


@pytest.mark.numpy_only
def test_a_budget_of_any_integer_type_is_taken() -> None:
    p = xrnn.init_parameters(N_X, N_A, N_Y, seed=0)
    x, a0 = np.ones((N_X, M, T_X)), np.zeros((N_A, M))
    _, _, numpy_int = xrnn.rnn_forward(x, a0, p, checkpoints=np.int64(2))
    _, _, python_int = xrnn.rnn_forward(x, a0, p, checkpoints=2)
    _, _, full = xrnn.rnn_forward(x, a0, p)
    assert type(numpy_int) is type(python_int) is not type(full)  # the budget was taken, not ignored
    da = np.ones((N_A, M, T_X))
    np.testing.assert_array_equal(xrnn.rnn_backward(da, numpy_int)["dWaa"], xrnn.rnn_backward(da, python_int)["dWaa"])


@pytest.mark.numpy_only
@pytest.mark.parametrize("budget", [T_X, 10 * T_X])
def test_a_budget_of_t_x_or_more_keeps_everything(budget: int) -> None:
    p = xrnn.init_parameters(N_X, N_A, N_Y, seed=0)
    _, _, cache = xrnn.rnn_forward(np.zeros((N_X, M, T_X)), np.zeros((N_A, M)), p, checkpoints=budget)
    assert isinstance(cache, xrnn.RNNCache)


@pytest.mark.numpy_only
@pytest.mark.parametrize("call", ["loss", "forward-backward"])
def test_the_forward_work_is_the_plans(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    """Every step runs forward once, plus revolve's advances: the plan's forward work, no more (the first
    sweep's last chunk is not run again for the backward pass)."""
    steps: list[int] = []
    original = _checkpointed.run_forward

    def counted(cell: Any, checked: Any, x: Any, *rest: Any) -> Any:
        steps.append(int(x.shape[2]))
        return original(cell, checked, x, *rest)

    monkeypatch.setattr(_checkpointed, "run_forward", counted)
    t_x, budget = 200, 12
    p = xrnn.init_parameters(2, 3, 2, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 2, t_x))
    if call == "loss":
        xrnn.rnn_loss_and_gradients(x, np.zeros((3, 2)), np.zeros((2, t_x), dtype=np.int64), p, checkpoints=budget)
    else:
        a, _, cache = xrnn.rnn_forward(x, np.zeros((3, 2)), p, checkpoints=budget)
        xrnn.rnn_backward(np.ones_like(a), cache)
    schedule = plan(t_x, budget)
    assert (
        sum(steps)
        == schedule.forward_steps
        == t_x + schedule.chunk * minimal_advances(schedule.chunks, schedule.snapshots)
    )


@settings(max_examples=60, deadline=None)
@given(chunks=st.integers(1, 300), snapshots=st.integers(0, 40))
def test_revolve_reverses_every_chunk_within_its_snapshots_with_the_fewest_advances(
    chunks: int, snapshots: int
) -> None:
    snapshots = min(snapshots, chunks - 1)
    schedule = Plan(chunks, snapshots + 1, 1, snapshots, 0)
    held = {}
    counts = {"advances": 0, "most": 0}
    order: list[int] = []

    def advance(index: int, state: object) -> object:
        counts["advances"] += 1
        return index + 1

    def reverse(index: int, state: object, after: object) -> object:
        assert state == index
        order.append(index)
        counts["most"] = max(counts["most"], len(held))
        return after

    run(schedule, 0, held, advance, reverse)
    assert order == list(range(chunks - 1, -1, -1))
    assert counts["most"] <= snapshots
    assert counts["advances"] == minimal_advances(chunks, snapshots)


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(1, 3000), budget=st.integers(1, 400))
def test_a_plan_fits_its_budget(steps: int, budget: int) -> None:
    schedule = plan(steps, budget)
    assert schedule.chunk + schedule.snapshots <= budget
    assert schedule.chunks * schedule.chunk >= steps
    assert len(spine(schedule)) <= schedule.snapshots


@pytest.mark.numpy_only
def test_dask_shards_take_checkpoints() -> None:
    if importlib.util.find_spec("dask") is None:
        pytest.skip("needs dask (the tests(dask) session installs it)")
    import dask.array as da

    p = xrnn.init_parameters(N_X, N_A, N_Y, seed=0, scale=0.5)
    rng = np.random.default_rng(0)
    x, a0, labels = rng.standard_normal((N_X, M, T_X)), rng.standard_normal((N_A, M)), rng.integers(0, N_Y, (M, T_X))
    loss, grads = xrnn.rnn_loss_and_gradients(x, a0, labels, p)
    lazy_loss, lazy = xrnn.rnn_loss_and_gradients(da.from_array(x, chunks=(N_X, 2, T_X)), a0, labels, p, checkpoints=3)
    assert abs(float(lazy_loss.compute()) - float(loss)) <= 1e-12
    for key, value in grads.items():
        np.testing.assert_allclose(lazy[key].compute(), value, rtol=1e-10, atol=1e-14)
    a, _, cache = xrnn.rnn_forward(da.from_array(x, chunks=(N_X, 2, T_X)), a0, p, checkpoints=4)
    backward = xrnn.rnn_backward(da.ones_like(a), cache)
    _, _, full_cache = xrnn.rnn_forward(x, a0, p)
    full = xrnn.rnn_backward(np.ones((N_A, M, T_X)), full_cache)
    np.testing.assert_allclose(backward["dWaa"].compute(), full["dWaa"], rtol=1e-10)


@pytest.mark.numpy_only
@pytest.mark.parametrize("name", ["rnn", "lstm"])
def test_the_loss_helper_holds_little_more_than_dx_and_its_budget(name: str) -> None:
    """The peak of a checkpointed loss and gradients, traced from after the inputs exist: ``dx`` (held once,
    not as chunks and their concatenation), one chunk's work and ``N`` snapshots of ``(n_a, m)`` each. It
    was once a chunk per snapshot: each snapshot was a view that kept its chunk's whole buffer alive."""
    import tracemalloc

    t_x, n_a, m, budget = 2000, 32, 4, 45
    rng = np.random.default_rng(0)
    p = get_cell(name).init(2, n_a, 3, seed=0)
    x, labels = rng.standard_normal((2, m, t_x)), rng.integers(0, 3, (m, t_x))
    # a first call compiles the backend's kernels (numba's compiler allocates megabytes): not traced
    xrnn.patterns.many_to_many_loss_and_gradients(x[..., :8], labels[:, :8], p, cell=name, checkpoints=3)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        _, grads = xrnn.patterns.many_to_many_loss_and_gradients(x, labels, p, cell=name, checkpoints=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    states = t_x * m * n_a * 8  # full BPTT keeps at least these
    assert grads["dx"].shape == x.shape
    assert peak - before < x.nbytes + states / 2
