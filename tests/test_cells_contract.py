"""The contract every cell keeps, built in or defined by a user: one test module over every registered cell.

Each test runs for the RNN, the LSTM, the GRU and ``tests.user_cells:LEAKY`` (two states, written only
against the public contract). Per-cell test files keep only each cell's own maths.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import xrnn
from tests.helpers import TestBackend
from tests.user_cells import LEAKY
from xrnn.cells import Cell, get_cell
from xrnn.gradcheck import check_cell, numerical_gradient, relative_error

CELLS = ["rnn", "lstm", "gru", "leaky"]
N_X, N_A, N_Y, M, T_X = 3, 4, 2, 3, 5


def _problem(backend: TestBackend, name: str, dtype: str = "float64", seed: int = 0) -> dict[str, Any]:
    """Parameters away from the small initialisation, inputs, initial states and a gradient ``da``."""
    cell = get_cell(name)
    rng = np.random.default_rng(seed)
    host = {key: 0.5 * rng.standard_normal(value.shape) for key, value in cell.init(N_X, N_A, N_Y, seed=seed).items()}
    return {
        "cell": cell,
        "parameters": backend.tree(host, dtype),
        "host": host,
        "x": rng.standard_normal((N_X, M, T_X)),
        "initial": tuple(rng.standard_normal((N_A, M)) for _ in cell.state),
        "da": rng.standard_normal((N_A, M, T_X)),
    }


def _on(backend: TestBackend, data: dict[str, Any], dtype: str = "float64") -> tuple[Any, tuple[Any, ...], Any]:
    return (
        backend.asarray(data["x"], dtype),
        tuple(backend.asarray(s, dtype) for s in data["initial"]),
        backend.asarray(data["da"], dtype),
    )


def _reference(cell: Cell, x: np.ndarray, initial: tuple[np.ndarray, ...], p: dict[str, Any], da: np.ndarray) -> Any:
    """The per-step loop written out here, on NumPy float64: the cell's own step functions, no engine."""
    state, caches, states = initial, [], []
    for t in range(x.shape[2]):
        state, cache = cell.step_forward(x[:, :, t], state, p)
        caches.append(cache)
        states.append(state[0])
    grads: dict[str, Any] = {"dx": np.zeros_like(x)}
    through = tuple(np.zeros_like(s) for s in initial)
    for t in reversed(range(x.shape[2])):
        dstate = (through[0] + da[:, :, t], *through[1:])
        dxt, through, dp = cell.step_backward(dstate, caches[t])
        grads["dx"][:, :, t] = dxt
        for key, value in dp.items():
            grads[key] = grads.get(key, 0) + value
    grads.update({f"d{name}": value for name, value in zip(cell.initial_names, through, strict=True)})
    return np.stack(states, axis=2), grads


@pytest.mark.parametrize("name", CELLS)
def test_forward_and_backward_equal_the_per_step_loop(backend: TestBackend, name: str) -> None:
    data = _problem(backend, name)
    cell = data["cell"]
    x, initial, da = _on(backend, data)
    a, cache = cell.forward(x, initial, data["parameters"])
    grads = cell.backward(da, cache)
    expected_a, expected = _reference(cell, data["x"], data["initial"], data["host"], data["da"])
    backend.assert_close(a, expected_a)
    assert sorted(grads) == sorted(expected)
    for key, value in expected.items():
        backend.assert_close(grads[key], value)


@pytest.mark.parametrize("name", CELLS)
def test_declared_optimisation_equals_the_step_loop_under_a_mask(backend: TestBackend, name: str) -> None:
    """The engine's two paths (the cell's ProjectedScan, if it declares one, and the step loop) agree."""
    data = _problem(backend, name, seed=1)
    cell = data["cell"]
    x, initial, da = _on(backend, data)
    mask = backend.asarray(np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]], dtype=bool))
    a, cache = cell.forward(x, initial, data["parameters"], mask)
    a_loop, cache_loop = cell.stepwise().forward(x, initial, data["parameters"], mask)
    backend.assert_close(a, backend.to_numpy(a_loop))
    grads, grads_loop = cell.backward(da, cache), cell.stepwise().backward(da, cache_loop)
    for key, value in grads_loop.items():
        backend.assert_close(grads[key], backend.to_numpy(value))


@pytest.mark.parametrize("name", CELLS)
def test_gradients_match_finite_differences(backend: TestBackend, name: str) -> None:
    errors = check_cell(name, backend=backend.name)
    assert set(errors) == {*get_cell(name).keys, "x", *get_cell(name).initial_names}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("checkpoints", [None, 2])
def test_a_padded_batch_gives_what_each_sequence_alone_gives(
    backend: TestBackend, name: str, checkpoints: int | None
) -> None:
    """Whatever the padding holds, NaN and inf included, in ``x`` and in ``da``; with checkpoints too."""
    data = _problem(backend, name, seed=2)
    cell, p = data["cell"], data["parameters"]
    x, initial, da = _on(backend, data)
    starts, lengths = (0, 2, 1), (5, 3, 2)  # example 1 padded at the start, example 2 at both ends
    host_mask = np.zeros((M, T_X), dtype=bool)
    for i, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        host_mask[i, start : start + length] = True
    padded_x, padded_da = data["x"].copy(), data["da"].copy()
    padded_x[:, ~host_mask], padded_x[0, ~host_mask], padded_da[:, ~host_mask] = np.nan, np.inf, np.nan
    a, cache = cell.forward(backend.asarray(padded_x), initial, p, backend.asarray(host_mask), checkpoints=checkpoints)
    grads = cell.backward(backend.asarray(padded_da), cache)
    summed: dict[str, Any] = {}
    for i, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        steps = slice(start, start + length)
        alone_a, alone_cache = cell.forward(x[:, i : i + 1, steps], tuple(s[:, i : i + 1] for s in initial), p)
        alone = cell.backward(da[:, i : i + 1, steps], alone_cache)
        backend.assert_close(a[:, i : i + 1, steps], backend.to_numpy(alone_a))
        backend.assert_close(a[:, i, -1], backend.to_numpy(alone_a[:, 0, -1]))  # the final state is carried
        backend.assert_close(grads["dx"][:, i : i + 1, steps], backend.to_numpy(alone["dx"]))
        assert float(backend.xp.max(backend.xp.abs(grads["dx"][:, i, :start]))) == 0.0 if start else True
        for name_0 in cell.initial_names:
            backend.assert_close(grads[f"d{name_0}"][:, i : i + 1], backend.to_numpy(alone[f"d{name_0}"]))
        for key in cell.keys:
            summed[key] = summed.get(key, 0) + backend.to_numpy(alone[f"d{key}"])
    for key, total in summed.items():
        backend.assert_close(grads[f"d{key}"], total, atol=1e-12)


@pytest.mark.numpy_only
@pytest.mark.parametrize("name", CELLS)
def test_read_only_inputs_are_never_written(name: str) -> None:
    cell = get_cell(name)
    rng = np.random.default_rng(3)
    p = {key: 0.5 * rng.standard_normal(v.shape) for key, v in cell.init(N_X, N_A, N_Y, seed=0).items()}
    x, da = rng.standard_normal((N_X, M, T_X)), rng.standard_normal((N_A, M, T_X))
    initial = tuple(rng.standard_normal((N_A, M)) for _ in cell.state)
    mask = np.ones((M, T_X), dtype=bool)
    mask[1, 3:] = False
    arrays = [x, da, mask, *initial, *p.values()]
    copies = [array.copy() for array in arrays]
    for array in arrays:
        array.flags.writeable = False
    _, cache = cell.forward(x, initial, p, mask)
    cell.backward(da, cache)
    xrnn.patterns.many_to_many_loss_and_gradients(x, np.zeros((M, T_X), dtype=np.int64), p, state=initial, cell=cell)
    for array, copy in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(array, copy)


@pytest.mark.numpy_only
@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("checkpoints", [None, 2])
def test_writing_the_initial_states_and_the_mask_between_the_passes_changes_no_gradient(
    name: str, checkpoints: int | None
) -> None:
    """Truncated BPTT carries the state with ``a0[...] = a[..., -1]``, and a loader refills its mask buffer:
    the caches kept the caller's a0 and a view of its mask, so the backward pass read the new values."""
    data = _problem(TestBackend(xrnn.backends.get_backend("numpy")), name, seed=5)
    cell, x, p, da = data["cell"], data["x"], data["parameters"], data["da"]
    mask = np.ones((M, T_X), dtype=bool)
    mask[1, 3:] = False
    _, cache = cell.forward(x, data["initial"], p, mask.copy(), checkpoints=checkpoints)
    expected = cell.backward(da, cache)
    initial, buffer = tuple(state.copy() for state in data["initial"]), mask.copy()
    a, cache = cell.forward(x, initial, p, buffer, checkpoints=checkpoints)
    initial[0][...] = a[..., -1]
    buffer[...] = True
    for key, value in cell.backward(da, cache).items():
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


@pytest.mark.parametrize("name", CELLS)
def test_float32_in_float32_out_on_the_device(backend: TestBackend, name: str) -> None:
    data = _problem(backend, name, dtype="float32", seed=4)
    cell = data["cell"]
    x, initial, da = _on(backend, data, "float32")
    a, cache = cell.forward(x, initial, data["parameters"])
    grads = cell.backward(da, cache)
    expected_a, expected = _reference(cell, data["x"], data["initial"], data["host"], data["da"])
    backend.assert_close(a, expected_a, atol=1e-5, dtype="float32")
    for key, value in expected.items():
        backend.assert_close(grads[key], value, atol=1e-4, dtype="float32")


@pytest.mark.parametrize("name", CELLS)
def test_the_cache_is_the_specs_per_step_caches_and_x(backend: TestBackend, name: str) -> None:
    """``per_step, x = caches``; each step's cache fed to the step backward gives that step's gradients."""
    data = _problem(backend, name, seed=5)
    cell = data["cell"]
    x, initial, da = _on(backend, data)
    _, caches = cell.forward(x, initial, data["parameters"])
    per_step, cached_x = caches
    assert len(caches) == 2
    assert len(per_step) == T_X
    backend.assert_close(cached_x, data["x"])
    assert len(list(per_step)) == T_X
    last = per_step[-1]
    dxt, _, dp = cell.step_backward((da[:, :, -1], *initial[1:]), last)
    _, reference = _reference_last_step(cell, data, T_X - 1)
    backend.assert_close(dxt, reference["dxt"])
    for key, value in dp.items():
        backend.assert_close(value, reference[key])
    with pytest.raises(IndexError, match="out of range"):
        per_step[T_X]


def _reference_last_step(cell: Cell, data: dict[str, Any], t: int) -> tuple[Any, dict[str, Any]]:
    """Step ``t``'s gradients on the host, given ``da[..., t]`` for the hidden state and, for the other
    states, the initial states' values as their gradients (any fixed values do)."""
    state = data["initial"]
    for step in range(t + 1):
        state, cache = cell.step_forward(data["x"][:, :, step], state, data["host"])
    dxt, _, dp = cell.step_backward((data["da"][:, :, t], *data["initial"][1:]), cache)
    return state, {"dxt": dxt, **dp}


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("kind", ["stacked", "bidirectional"])
def test_layers_of_any_cell_match_finite_differences(backend: TestBackend, name: str, kind: str) -> None:
    cell = get_cell(name)
    rng = np.random.default_rng(6)
    inputs = [N_X, N_A] if kind == "stacked" else [N_X, N_X]
    host = [
        {k: 0.5 * rng.standard_normal(v.shape) for k, v in cell.init(n, N_A, N_Y, seed=i).items()}
        for i, n in enumerate(inputs)
    ]
    layers = [backend.tree(h) for h in host]
    host_x = rng.standard_normal((N_X, M, T_X))
    x = backend.asarray(host_x)
    width = N_A if kind == "stacked" else 2 * N_A
    probe = backend.asarray(rng.standard_normal((width, M, T_X)))
    host_mask = np.array([[1] * 5, [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=bool)
    mask = backend.asarray(host_mask)
    a0s = [tuple(backend.asarray(rng.standard_normal((N_A, M))) for _ in cell.state) for _ in layers]
    forward = xrnn.stacked_forward if kind == "stacked" else xrnn.bidirectional_forward
    backward = xrnn.stacked_backward if kind == "stacked" else xrnn.bidirectional_backward
    keep = backend.xp.where(mask[None, ...], probe, backend.xp.zeros_like(probe))

    def objective(v: Any, key: str) -> float:
        changed = [{**layers[0], key: v}, layers[1]]
        a, _ = forward(x, a0s, changed, cell=cell, mask=mask)
        return float(backend.xp.sum(keep * a))

    _, caches = forward(x, a0s, layers, cell=cell, mask=mask)
    grads = backward(probe, caches)
    assert len(grads["layers"]) == 2
    for key in cell.keys[:2]:
        numeric = numerical_gradient(lambda v, k=key: objective(v, k), layers[0][key])
        assert relative_error(grads["layers"][0][f"d{key}"], numeric) < 1e-7
    numeric_x = numerical_gradient(
        lambda v: float(backend.xp.sum(keep * forward(v, a0s, layers, cell=cell, mask=mask)[0])), x
    )
    assert relative_error(grads["dx"], numeric_x) < 1e-7
    assert {f"d{n}" for n in cell.initial_names} <= set(grads["layers"][1])
    host_x[:, ~host_mask] = np.nan  # what the padding holds changes nothing, with or without checkpoints
    for checkpoints in (None, 2):
        _, nan_caches = forward(backend.asarray(host_x), a0s, layers, cell=cell, mask=mask, checkpoints=checkpoints)
        nan_grads = backward(probe, nan_caches)
        backend.assert_close(nan_grads["dx"], backend.to_numpy(grads["dx"]), atol=1e-12)
        for layer, nan_layer in zip(grads["layers"], nan_grads["layers"], strict=True):
            for key, value in layer.items():
                backend.assert_close(nan_layer[key], backend.to_numpy(value), atol=1e-12)


@pytest.mark.parametrize("name", CELLS)
def test_patterns_and_sampling_take_the_cell(backend: TestBackend, name: str) -> None:
    cell = get_cell(name)
    p = cell.init(4, N_A, 4, seed=0, backend=backend.name, device=backend.device)
    tokens = np.random.default_rng(7).integers(0, 4, (M, T_X + 1))
    x = xrnn.patterns.one_hot(backend.asarray(tokens[:, :-1]), 4, dtype=backend.xp.float64)
    labels = backend.asarray(tokens[:, 1:])
    loss, grads = xrnn.patterns.many_to_many_loss_and_gradients(x, labels, p, cell=cell)
    assert abs(float(loss) - np.log(4)) < 0.2
    assert sorted(grads) == sorted({"dx", *(f"d{k}" for k in p), *(f"d{n}" for n in cell.initial_names)})
    tokens_out = xrnn.sampling.sample(p, 5, prime=[1, 2], seed=0, cell=cell)
    assert len(tokens_out) == 5
    assert tokens_out == xrnn.sampling.sample(p, 5, prime=[1, 2], seed=0, cell=name)


@pytest.mark.numpy_only
@pytest.mark.parametrize("name", CELLS)
def test_dask_arrays_run_any_cell(name: str) -> None:
    if importlib.util.find_spec("dask") is None:
        pytest.skip("needs dask (the tests(dask) session installs it)")
    import dask.array as da_

    cell = get_cell(name)
    rng = np.random.default_rng(8)
    p = {k: 0.5 * rng.standard_normal(v.shape) for k, v in cell.init(N_X, N_A, N_Y, seed=0).items()}
    x, da = rng.standard_normal((N_X, M, T_X)), rng.standard_normal((N_A, M, T_X))
    initial = tuple(rng.standard_normal((N_A, M)) for _ in cell.state)
    a, cache = cell.forward(x, initial, p)
    grads = cell.backward(da, cache)
    lazy_a, lazy_cache = cell.forward(da_.from_array(x, chunks=(N_X, 2, T_X)), initial, p)
    np.testing.assert_allclose(lazy_a.compute(), a, rtol=1e-12)
    lazy = cell.backward(da_.from_array(da, chunks=(N_A, 2, T_X)), lazy_cache)
    for key, value in grads.items():
        np.testing.assert_allclose(lazy[key].compute(), value, rtol=1e-10, atol=1e-14)
    labels = rng.integers(0, N_Y, (M, T_X))
    loss, lg = xrnn.patterns.many_to_many_loss_and_gradients(x, labels, p, state=initial, cell=cell)
    lazy_loss, lazy_lg = xrnn.patterns.many_to_many_loss_and_gradients(
        da_.from_array(x, chunks=(N_X, 1, T_X)), labels, p, state=initial, cell=cell
    )
    np.testing.assert_allclose(float(lazy_loss.compute()), float(loss), rtol=1e-12)
    weight = "d" + cell.output[0]
    np.testing.assert_allclose(lazy_lg[weight].compute(), lg[weight], rtol=1e-10)
    per_step, lazy_x = lazy_cache
    assert len(per_step) == T_X
    np.testing.assert_array_equal(lazy_x.compute(), x)
    with pytest.raises(TypeError, match="would compute the whole forward pass"):
        per_step[0]


# -- define(): the contract's rules -------------------------------------------------------------------------
def _steps() -> tuple[Any, Any]:
    from tests import user_cells

    return user_cells.step_forward, user_cells.step_backward


LEAKY_SHAPES = {"W": ("n_a", "n_x"), "U": ("n_a", "n_a"), "b": ("n_a", 1), "V": ("n_a", "n_a + n_x"), "c": ("n_a", 1)}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"parameters": {"W": ("n_a", "n_z")}}, ValueError, r"parameters\['W'\] axis 1 is 'n_z': 'n_z' is not a size"),
        ({"parameters": {"W": ("n_y", "n_a")}}, ValueError, r"parameters\['W'\] uses n_y"),
        ({"parameters": {"x": ("n_a", "n_x")}}, ValueError, r"parameter key 'x' clashes with the input's gradient dx"),
        ({"parameters": {"a0": ("n_a", 1)}}, ValueError, r"'a0' clashes with the initial state's gradient da0"),
        ({"parameters": {"Wy": ("n_a", 1)}}, ValueError, r"'Wy' clashes with the output layer's Wy"),
        ({"parameters": {"W": "n_a"}}, TypeError, r"parameters\['W'\] must be a tuple of axes"),
        ({"parameters": {}}, TypeError, "parameters must be a non-empty mapping"),
        ({"parameters": LEAKY_SHAPES, "state": ("a", "a")}, ValueError, r"state names must differ; \['a'\]"),
        ({"parameters": LEAKY_SHAPES, "state": ("a", "1s")}, ValueError, "state names must be identifiers"),
        ({"parameters": LEAKY_SHAPES, "init": 3}, TypeError, "init must be callable, got int"),
        ({"parameters": LEAKY_SHAPES, "step_forward": None}, TypeError, "step_forward must be callable, got NoneType"),
        ({"parameters": LEAKY_SHAPES, "step_backward": "f"}, TypeError, "step_backward must be callable, got str"),
        ({"parameters": LEAKY_SHAPES, "name": 3}, TypeError, "name must be a string, got int"),
        ({"parameters": LEAKY_SHAPES, "name": "a:b"}, ValueError, "name must be a non-empty string without ':'"),
    ],
)
def test_bad_definitions_are_rejected_at_define(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    forward, backward = _steps()
    kwargs = {"name": "bad", "step_forward": forward, "step_backward": backward, "state": ("a", "s"), **kwargs}
    with pytest.raises(error, match=message):
        xrnn.cells.define(**kwargs)


def test_an_init_gets_every_option_and_its_result_is_checked() -> None:
    """``init(n_x, n_a, n_y, *, backend, dtype, seed, device)`` as documented, with no defaults of its own."""
    forward, backward = _steps()
    seen: dict[str, Any] = {}

    def init(n_x: int, n_a: int, n_y: int, *, backend: str, dtype: Any, seed: Any, device: Any) -> dict[str, Any]:
        seen.update(backend=backend, dtype=dtype, seed=seed, device=device)
        return LEAKY.init(n_x, n_a, n_y, backend=backend, dtype=dtype, seed=seed, device=device)

    cell = xrnn.cells.define("own_init", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"), init=init)
    p = cell.init(N_X, N_A, N_Y, seed=5, dtype="float32")
    assert seen == {"backend": "numpy", "dtype": "float32", "seed": 5, "device": None}
    assert {value.dtype for value in p.values()} == {np.dtype(np.float32)}

    def wrong(dtype: str = "float64", width: int = N_X, **options: Any) -> Any:
        def init(n_x: int, n_a: int, n_y: int, **given: Any) -> dict[str, Any]:
            return LEAKY.init(width, n_a, n_y, **{**given, "dtype": dtype, **options})

        return xrnn.cells.define("own_init", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"), init=init)

    with pytest.raises(
        TypeError, match=r"init returned parameters\['W'\] with dtype float64; asked for dtype 'float32'"
    ):
        wrong().init(N_X, N_A, N_Y, dtype="float32")
    with pytest.raises(
        ValueError, match=r"init returned parameters\['W'\] with shape \(4, 5\); expected \(n_a, n_x\) = \(4, 3\)"
    ):
        wrong(width=5).init(N_X, N_A, N_Y)
    with pytest.raises(TypeError, match=r"parameters\['W'\] as an array of array_api_strict; expected an array of"):
        wrong(backend="array_api_strict").init(N_X, N_A, N_Y)

    def listed(n_x: int, n_a: int, n_y: int, **options: Any) -> dict[str, Any]:
        return {key: value.tolist() for key, value in LEAKY.init(n_x, n_a, n_y, **options).items()}

    cell = xrnn.cells.define("own_init", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"), init=listed)
    with pytest.raises(TypeError, match=r"init returned parameters\['W'\] as list; expected an array of backend"):
        cell.init(N_X, N_A, N_Y)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ("drop by", ValueError, r"missing \['by'\], unexpected \[\]"),  # half an output layer is not redrawn
        ("add extra", ValueError, r"missing \[\], unexpected \['extra'\]"),
        ("transpose Wy", ValueError, r"parameters\['Wy'\] with shape \(4, 2\); expected \(n_y, n_a\) = \(2, 4\)"),
        ("list", TypeError, r"init returned a list of 7; expected a dict of parameters"),
    ],
)
def test_an_inits_keys_and_shapes_are_those_asked_for(change: str, error: type[Exception], message: str) -> None:
    forward, backward = _steps()

    def init(n_x: int, n_a: int, n_y: int, **options: Any) -> Any:
        p = LEAKY.init(n_x, n_a, n_y, **options)
        if change == "drop by":
            del p["by"]
        if change == "add extra":
            p["extra"] = p["b"]
        if change == "transpose Wy":
            p["Wy"] = p["Wy"].T
        return list(p.values()) if change == "list" else p

    cell = xrnn.cells.define("own_init", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"), init=init)
    with pytest.raises(error, match=f"cell 'own_init': {message}" if change == "list" else message):
        cell.init(N_X, N_A, N_Y)


def test_a_wrong_parameter_is_named_even_when_it_is_the_first_key() -> None:
    """The sizes come from what most keys (and the data) agree on, so the odd key is blamed, not the next one."""
    p = LEAKY.init(N_X, N_A, N_Y, seed=0)
    x, initial = np.ones((N_X, M, T_X)), (np.zeros((N_A, M)),) * 2
    with pytest.raises(ValueError, match=r"parameters\['W'\] must have shape \(n_a, n_x\) = \(4, 3\), got \(5, 3\)"):
        LEAKY.forward(x, initial, {**p, "W": np.zeros((N_A + 1, N_X))})
    with pytest.raises(ValueError, match=r"parameters\['W'\] must have shape \(n_a, n_x\) = \(4, 3\), got \(4, 4\)"):
        LEAKY.forward(x, initial, {**p, "W": np.zeros((N_A, N_X + 1))})
    rnn = xrnn.init_parameters(N_X, N_A, N_Y)
    with pytest.raises(ValueError, match=r"parameters\['Wax'\] must have shape \(n_a, n_x\) = \(4, 3\), got \(5, 5\)"):
        xrnn.rnn_forward(x, initial[0], {**rnn, "Wax": np.zeros((5, 5))})
    with pytest.raises(ValueError, match=r"parameters\['V'\] must have shape \(n_a, n_a \+ n_x\) = \(4, 7\)"):
        LEAKY.sizes({**p, "V": np.zeros((N_A, N_A + N_X + 2))})
    lstm = xrnn.init_lstm_parameters(N_X, N_A, N_Y)
    with pytest.raises(ValueError, match=r"parameters\['Wf'\] must have shape \(n_a, n_a \+ n_x\) with n_x >= 1, got"):
        get_cell("lstm").sizes({**lstm, "Wf": np.zeros((N_A, N_A))})


def test_built_in_names_cannot_be_replaced_but_defined_names_can() -> None:
    forward, backward = _steps()
    with pytest.raises(ValueError, match="'lstm' is a built-in cell and cannot be replaced"):
        xrnn.cells.define("lstm", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"))
    first = xrnn.cells.define("notebook", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"))
    second = xrnn.cells.define("notebook", forward, backward, parameters=LEAKY_SHAPES, state=("a", "s"))
    assert get_cell("notebook") is second is not first


def test_module_name_references_import_the_cell() -> None:
    assert get_cell("tests.user_cells:LEAKY") is LEAKY
    with pytest.raises(ValueError, match="no module 'no_such_module'"):
        get_cell("no_such_module:X")
    with pytest.raises(ValueError, match=r"tests.user_cells.step_forward is a function, not a cell"):
        get_cell("tests.user_cells:step_forward")
    with pytest.raises(ValueError, match="unknown cell 'tanh'"):
        get_cell("tanh")
    for path in ("../lab/mycells:X", "mycells.py:X"):
        with pytest.raises(ValueError, match=f"cell '{re.escape(path)}': MODULE must be a module's import name"):
            get_cell(path)


def test_a_cell_module_that_exits_on_import_is_an_import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exiting_cells.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(xrnn.cells.CellImportError, match="importing 'exiting_cells' failed: SystemExit: 3"):
        get_cell("exiting_cells:X")


@pytest.mark.parametrize(
    ("broken", "error", "message"),
    [
        (
            "forward-state",
            TypeError,
            r"cell 'broken': step_forward returned new_state as a list of 2; expected a tuple",
        ),
        (
            "forward-shape",
            ValueError,
            r"step_forward returned new_state\[1\] \(s\) with shape \(4, 2\); expected \(4, 3\)",
        ),
        ("backward-keys", ValueError, r"step_backward returned dparameters with keys .*missing \['dc'\]"),
        (
            "backward-dtype",
            TypeError,
            r"step_backward returned dparameters\['dW'\] with dtype float32; expected float64",
        ),
        ("backward-dxt", ValueError, r"step_backward returned dxt with shape \(4, 3\); expected \(3, 3\)"),
        (
            "forward-one-value",
            TypeError,
            r"cell 'broken': step_forward returned a tuple of 1; expected a tuple of 2 \(new_state, cache\)",
        ),
        (
            "backward-two-values",
            TypeError,
            r"step_backward returned a tuple of 2; expected a tuple of 3 \(dxt, dstate_prev, dparameters\)",
        ),
    ],
)
def test_what_step_functions_return_is_checked_on_the_first_step(
    broken: str, error: type[Exception], message: str
) -> None:
    forward, backward = _steps()

    def bad_forward(xt: Any, state: Any, p: Any) -> Any:
        new, cache = forward(xt, state, p)
        if broken == "forward-state":
            return list(new), cache
        if broken == "forward-shape":
            return (new[0], new[1][:, :2]), cache
        if broken == "forward-one-value":
            return (new,)
        return new, cache

    def bad_backward(dstate: Any, cache: Any) -> Any:
        dxt, dprev, dp = backward(dstate, cache)
        if broken == "backward-keys":
            dp.pop("dc")
        if broken == "backward-dtype":
            dp["dW"] = dp["dW"].astype(np.float32)
        if broken == "backward-dxt":
            dxt = dprev[0]
        if broken == "backward-two-values":
            return dxt, dprev
        return dxt, dprev, dp

    cell = xrnn.cells.define("broken", bad_forward, bad_backward, parameters=LEAKY_SHAPES, state=("a", "s"))
    p = cell.init(N_X, N_A, N_Y, seed=0)
    rng = np.random.default_rng(9)
    x, initial = rng.standard_normal((N_X, M, T_X)), (np.zeros((N_A, M)), np.zeros((N_A, M)))

    def forward_and_backward() -> None:
        _, cache = cell.forward(x, initial, p)
        cell.backward(np.ones((N_A, M, T_X)), cache)

    with pytest.raises(error, match=message):
        forward_and_backward()


@pytest.mark.parametrize(
    ("broken", "error", "message"),
    [
        (
            "forward-shape",
            ValueError,
            r"step_forward \(on a later step\) returned new_state\[1\] \(s\) with shape \(4, 1\)",
        ),
        (
            "backward-shape",
            ValueError,
            r"step_backward \(on a later step\) returned dparameters\['dW'\] with shape \(4, 1\)",
        ),
        ("backward-dtype", TypeError, r"dparameters\['dW'\] with dtype float32; expected float64"),
        ("backward-keys", ValueError, r"step_backward \(on a later step\) returned dparameters with keys"),
        ("backward-extra", ValueError, r"\(on a later step\) returned dparameters .*unexpected \['dextra'\]"),
        ("forward-list", TypeError, r"step_forward \(on a later step\) returned new_state as a list of 2"),
    ],
)
def test_a_later_steps_results_are_checked_too(broken: str, error: type[Exception], message: str) -> None:
    """A shape that broadcasts (into a masked state or the gradients' running sums) would be a wrong answer."""
    forward, backward = _steps()
    calls = {"forward": 0, "backward": 0}

    def bad_forward(xt: Any, state: Any, p: Any) -> Any:
        calls["forward"] += 1
        new, cache = forward(xt, state, p)
        if broken == "forward-shape" and calls["forward"] == 3:
            return (new[0], new[1][:, :1]), cache
        if broken == "forward-list" and calls["forward"] == 3:
            return list(new), cache
        return new, cache

    def bad_backward(dstate: Any, cache: Any) -> Any:
        calls["backward"] += 1
        dxt, dprev, dp = backward(dstate, cache)
        if calls["backward"] == 3:
            if broken == "backward-shape":
                dp["dW"] = dp["dW"][:, :1]
            if broken == "backward-dtype":
                dp["dW"] = dp["dW"].astype(np.float32)
            if broken == "backward-keys":
                dp.pop("dc")
            if broken == "backward-extra":
                dp["dextra"] = dp["dc"]
        return dxt, dprev, dp

    cell = xrnn.cells.define("broken_later", bad_forward, bad_backward, parameters=LEAKY_SHAPES, state=("a", "s"))
    p = cell.init(N_X, N_A, N_Y, seed=0)
    x = np.random.default_rng(9).standard_normal((N_X, M, T_X))
    mask = np.ones((M, T_X), dtype=bool)
    mask[0, 3:] = False  # a carried state would broadcast a (4, 1) new state

    def forward_and_backward() -> None:
        _, cache = cell.forward(x, None, p, mask)
        cell.backward(np.ones((N_A, M, T_X)), cache)

    with pytest.raises(error, match=message):
        forward_and_backward()


def test_default_init_is_seeded_glorot_uniform_with_zero_biases() -> None:
    p = LEAKY.init(N_X, N_A, N_Y, seed=3)
    assert sorted(p) == ["U", "V", "W", "Wy", "b", "by", "c"]
    assert not p["b"].any()
    assert not p["by"].any()
    limit = np.sqrt(6 / (N_A + N_A + N_X))
    assert 0 < np.abs(p["V"]).max() <= limit
    np.testing.assert_array_equal(LEAKY.init(N_X, N_A, N_Y, seed=3)["V"], p["V"])
    assert LEAKY.init(N_X, N_A, N_Y, seed=3, dtype="float32")["W"].dtype == np.float32
