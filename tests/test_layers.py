"""Stacked and bidirectional layers: finite differences, hand-built compositions, masks and bad inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tests import reference, reference_gated
from tests.helpers import TestBackend
from xrnn.cells.gru import gru_backward, gru_forward
from xrnn.cells.lstm import lstm_backward, lstm_forward
from xrnn.cells.rnn import rnn_backward, rnn_forward
from xrnn.gradcheck import numerical_gradient
from xrnn.layers import (
    BidirectionalCache,
    StackedCache,
    bidirectional_backward,
    bidirectional_forward,
    stacked_backward,
    stacked_forward,
)

PROBLEMS: dict[str, Callable[..., dict[str, Any]]] = {
    "rnn": reference.problem,
    "lstm": reference_gated.lstm_problem,
    "gru": reference_gated.gru_problem,
}
BACKWARDS: dict[str, Callable[..., dict[str, Any]]] = {"rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}
OUTPUT_KEYS = ("Wya", "Wy", "by")
KINDS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "stacked": (stacked_forward, stacked_backward),
    "bidirectional": (bidirectional_forward, bidirectional_backward),
}
# (n_x, sizes n_a of the two layers/directions, m, T_x): a general case, then the edges.
SHAPES: list[tuple[int, tuple[int, int], int, int]] = [
    (2, (3, 2), 3, 4),
    (1, (2, 2), 1, 1),
    (1, (2, 3), 2, 1),
    (2, (2, 2), 1, 3),
]


def _host(cell: str, kind: str, n_x: int, sizes: tuple[int, ...], m: int, t_x: int, seed: int = 0) -> dict[str, Any]:
    """NumPy float64 data for two layers (stacked) or two directions (bidirectional)."""
    rng = np.random.default_rng(seed)
    inputs = [n_x, sizes[0]] if kind == "stacked" else [n_x, n_x]
    layers = [
        PROBLEMS[cell](n_in, n_a, 2, 1, 1, seed=seed + 1 + i)["parameters"]
        for i, (n_in, n_a) in enumerate(zip(inputs, sizes, strict=True))
    ]
    n_out = sizes[-1] if kind == "stacked" else sum(sizes)
    return {
        "x": rng.standard_normal((n_x, m, t_x)),
        "a0s": [rng.standard_normal((n_a, m)) for n_a in sizes],
        "c0s": [rng.standard_normal((n_a, m)) for n_a in sizes] if cell == "lstm" else None,
        "layers": layers,
        "da": rng.standard_normal((n_out, m, t_x)),
    }


def _run(kind: str, cell: str, data: dict[str, Any], mask: Any = None, **replace: Any) -> tuple[Any, Any]:
    """The layer's forward pass, with any of ``x, a0s, c0s, layers`` replaced."""
    args = {**data, **replace}
    a, cache = KINDS[kind][0](args["x"], args["a0s"], args["layers"], cell=cell, c0s=args["c0s"], mask=mask)
    return a, cache


def _replaced(items: list[Any], index: int, value: Any) -> list[Any]:
    return [value if i == index else item for i, item in enumerate(items)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_gradients_match_finite_differences(backend: TestBackend, cell: str, kind: str, shape: tuple[Any, ...]) -> None:
    """The backward pass is the gradient of ``sum(da * a)`` for every input, initial state and parameter."""
    n_x, sizes, m, t_x = shape
    data = backend.tree(_host(cell, kind, n_x, sizes, m, t_x, seed=m + t_x))
    xp = backend.xp
    _, cache = _run(kind, cell, data)
    grads = KINDS[kind][1](data["da"], cache)

    def objective(**replace: Any) -> Callable[[Any], Any]:
        return lambda value: xp.sum(data["da"] * _run(kind, cell, data, **_with(replace, value))[0])

    def _with(replace: dict[str, Any], value: Any) -> dict[str, Any]:
        name = replace["name"]
        if name == "x":
            return {"x": value}
        index = replace["index"]
        if name == "layers":
            key = replace["key"]
            return {"layers": _replaced(data["layers"], index, {**data["layers"][index], key: value})}
        return {name: _replaced(data[name], index, value)}

    backend.assert_close(grads["dx"], backend.to_numpy(numerical_gradient(objective(name="x"), data["x"])), 1e-6, 1e-9)
    assert len(grads["layers"]) == 2
    for index, layer in enumerate(grads["layers"]):
        expected = {}
        for name in ("a0s", "c0s"):
            if data[name] is not None:
                at = data[name][index]
                expected["d" + name[:2]] = numerical_gradient(objective(name=name, index=index), at)
        for key, at in data["layers"][index].items():
            if key not in OUTPUT_KEYS:
                expected["d" + key] = numerical_gradient(objective(name="layers", index=index, key=key), at)
        assert sorted(layer) == sorted(expected)
        for key, value in expected.items():
            backend.assert_close(layer[key], backend.to_numpy(value), rtol=1e-6, atol=1e-9)


def _by_hand(cell: str, x: Any, a0: Any, c0: Any, params: Any, mask: Any = None) -> tuple[Any, Any]:
    if cell == "lstm":
        a, _, _, lstm_cache = lstm_forward(x, a0, params, c0=c0, mask=mask)
        return a, lstm_cache
    run: Callable[..., tuple[Any, Any, Any]] = rnn_forward if cell == "rnn" else gru_forward
    a, _, cache = run(x, a0, params, mask=mask)
    return a, cache


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_stack_equals_chained_layers(backend: TestBackend, cell: str, masked: bool) -> None:
    data = backend.tree(_host(cell, "stacked", 3, (4, 2), 3, 5, seed=3))
    mask = backend.asarray(np.arange(5) < np.array([[5], [2], [4]])) if masked else None
    c0s = data["c0s"] or [None, None]
    a, cache = _run("stacked", cell, data, mask)
    grads = stacked_backward(data["da"], cache)

    a1, cache1 = _by_hand(cell, data["x"], data["a0s"][0], c0s[0], data["layers"][0], mask)
    a2, cache2 = _by_hand(cell, a1, data["a0s"][1], c0s[1], data["layers"][1], mask)
    top = BACKWARDS[cell](data["da"], cache2)
    bottom = BACKWARDS[cell](top.pop("dx"), cache1)
    assert isinstance(cache, StackedCache)
    assert len(cache) == 2
    backend.assert_close(a, backend.to_numpy(a2), rtol=0)
    backend.assert_close(cache.layers[0].a, backend.to_numpy(a1), rtol=0)
    backend.assert_close(grads["dx"], backend.to_numpy(bottom.pop("dx")), rtol=0)
    for layer, expected in zip(grads["layers"], (bottom, top), strict=True):
        assert sorted(layer) == sorted(expected)
        for key, value in expected.items():
            backend.assert_close(layer[key], backend.to_numpy(value), rtol=0)


@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_bidirectional_reads_the_reversed_sequence(backend: TestBackend, cell: str) -> None:
    """Without a mask: ``[a_f; flip(run(flip(x)))]``, and the gradients of those two runs."""
    data = backend.tree(_host(cell, "bidirectional", 2, (3, 2), 2, 4, seed=4))
    xp = backend.xp
    c0s = data["c0s"] or [None, None]
    a, cache = _run("bidirectional", cell, data)
    grads = bidirectional_backward(data["da"], cache)

    a_f, cache_f = _by_hand(cell, data["x"], data["a0s"][0], c0s[0], data["layers"][0])
    a_b, cache_b = _by_hand(cell, xp.flip(data["x"], axis=2), data["a0s"][1], c0s[1], data["layers"][1])
    assert isinstance(cache, BidirectionalCache)
    backend.assert_close(a, np.concatenate([backend.to_numpy(a_f), backend.to_numpy(a_b)[:, :, ::-1]]), rtol=0)
    forward = BACKWARDS[cell](data["da"][:3, ...], cache_f)
    backward = BACKWARDS[cell](xp.flip(data["da"][3:, ...], axis=2), cache_b)
    dx = backend.to_numpy(forward.pop("dx")) + backend.to_numpy(backward.pop("dx"))[:, :, ::-1]
    backend.assert_close(grads["dx"], dx, rtol=0)
    for layer, expected in zip(grads["layers"], (forward, backward), strict=True):
        assert sorted(layer) == sorted(expected)
        for key, value in expected.items():
            backend.assert_close(layer[key], backend.to_numpy(value), rtol=0)


# (starts, lengths) per example, T_x = 5: trailing padding, leading padding, both, m = 1, no padding.
LAYOUTS = [
    ((0, 0, 0, 0), (5, 1, 3, 2)),
    ((2, 0, 4), (3, 5, 1)),
    ((1, 0), (2, 4)),
    ((0,), (3,)),
    ((0, 0), (5, 5)),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_bidirectional_padded_batch_equals_each_example_alone(backend: TestBackend, cell: str, layout: Any) -> None:
    (starts, lengths), t_x, sizes = layout, 5, (3, 2)
    m = len(starts)
    host = _host(cell, "bidirectional", 2, sizes, m, t_x, seed=sum(lengths))
    data = backend.tree(host)
    steps = np.arange(t_x)[None, :]
    begin, end = np.asarray(starts)[:, None], np.asarray(starts)[:, None] + np.asarray(lengths)[:, None]
    mask = (begin <= steps) & (steps < end)
    a, cache = _run("bidirectional", cell, data, backend.asarray(mask))
    grads = bidirectional_backward(data["da"], cache)  # da holds noise at padded steps: it must be ignored

    summed: list[dict[str, np.ndarray]] = [{}, {}]
    for i, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        window = slice(start, start + length)
        alone = {
            "x": backend.asarray(host["x"][:, i : i + 1, window]),
            "a0s": [backend.asarray(a0[:, i : i + 1]) for a0 in host["a0s"]],
            "c0s": None if host["c0s"] is None else [backend.asarray(c0[:, i : i + 1]) for c0 in host["c0s"]],
            "layers": data["layers"],
        }
        alone_a, alone_cache = _run("bidirectional", cell, alone)
        alone_grads = bidirectional_backward(backend.asarray(host["da"][:, i : i + 1, window]), alone_cache)
        # Real steps as alone; padded steps carry: the initial states before, the final states after.
        states = backend.to_numpy(alone_a)
        before = np.concatenate([host["a0s"][0][:, i : i + 1], host["a0s"][1][:, i : i + 1]])
        after = np.concatenate([states[: sizes[0], :, -1], states[sizes[0] :, :, 0]])
        expected = np.concatenate(
            [
                np.repeat(before[:, :, None], start, axis=2),
                states,
                np.repeat(after[:, :, None], t_x - end[i, 0], axis=2),
            ],
            axis=2,
        )
        backend.assert_close(a[:, i : i + 1, :], expected)
        expected_dx = np.zeros((2, 1, t_x))
        expected_dx[:, :, window] = backend.to_numpy(alone_grads["dx"])
        backend.assert_close(grads["dx"][:, i : i + 1, :], expected_dx, atol=1e-15)
        for direction, layer in enumerate(alone_grads["layers"]):
            for key, value in layer.items():
                if key in ("da0", "dc0"):
                    backend.assert_close(grads["layers"][direction][key][:, i : i + 1], backend.to_numpy(value))
                else:
                    summed[direction][key] = summed[direction].get(key, 0) + backend.to_numpy(value)
    for direction, expected_sums in enumerate(summed):
        for key, value in expected_sums.items():
            backend.assert_close(grads["layers"][direction][key], value)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_float32_in_float32_out(backend: TestBackend, cell: str, kind: str) -> None:
    host = _host(cell, kind, 2, (3, 3), 2, 3, seed=5)
    data = backend.tree(host, "float32")
    mask = backend.asarray(np.array([[True, True, False], [True, True, True]]))
    a, cache = _run(kind, cell, data, mask)
    grads = KINDS[kind][1](data["da"], cache)
    backend.assert_dtype(a, "float32")
    backend.assert_dtype(grads["dx"], "float32")
    for layer in grads["layers"]:
        for value in layer.values():
            backend.assert_dtype(value, "float32")
    expected, _ = _run(kind, cell, backend.tree(host), mask)
    backend.assert_close(a, backend.to_numpy(expected), dtype="float32")


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("cell", sorted(PROBLEMS))
def test_caller_arrays_unchanged(backend: TestBackend, cell: str, kind: str) -> None:
    host = _host(cell, kind, 2, (3, 3), 2, 3, seed=6)
    data = backend.tree(host)
    mask_host = np.array([[True, False, False], [True, True, True]])
    mask = backend.asarray(mask_host)
    a, cache = _run(kind, cell, data, mask)
    before = KINDS[kind][1](data["da"], cache)
    for key in ("x", "da"):
        np.testing.assert_array_equal(backend.to_numpy(data[key]), host[key])
    for key in ("a0s", "c0s"):
        for value, expected in zip(data[key] or [], host[key] or [], strict=True):
            np.testing.assert_array_equal(backend.to_numpy(value), expected)
    for layer, expected_layer in zip(data["layers"], host["layers"], strict=True):
        for key, value in expected_layer.items():
            np.testing.assert_array_equal(backend.to_numpy(layer[key]), value)
    np.testing.assert_array_equal(backend.to_numpy(mask), mask_host)
    a[0, 0, 0] = 42.0  # the returned states are the caller's to write
    after = KINDS[kind][1](data["da"], cache)
    backend.assert_close(after["dx"], backend.to_numpy(before["dx"]), rtol=0)


def _bad(backend: TestBackend, cell: str = "rnn", kind: str = "stacked", **change: Any) -> None:
    data = backend.tree(_host(cell, kind, 2, (3, 4), 2, 3, seed=7))
    mask = change.pop("mask", None)
    _run(kind, change.pop("as_cell", cell), {**data, **change}, mask)


@pytest.mark.parametrize("kind", ["stacked", "bidirectional"])
def test_no_initial_states_are_zeros(backend: TestBackend, kind: str) -> None:
    """``a0s=None``, like ``a0=None`` for one layer (it was a TypeError from inside), and ``None`` entries."""
    forward = KINDS[kind][0]
    data = backend.tree(_host("lstm", kind, 2, (3, 4) if kind == "stacked" else (3, 3), 2, 3, seed=5))
    zeros = [(backend.xp.zeros_like(a), backend.xp.zeros_like(a)) for a in data["a0s"]]
    expected, _ = forward(data["x"], zeros, data["layers"], cell="lstm")
    for a0s in (None, [None, None]):
        a, _ = forward(data["x"], a0s, data["layers"], cell="lstm")
        backend.assert_close(a, backend.to_numpy(expected), rtol=0)


def test_bad_inputs_are_rejected(backend: TestBackend) -> None:
    data = backend.tree(_host("rnn", "stacked", 2, (3, 4), 2, 3, seed=7))
    wide = backend.tree(reference.problem(5, 4, 2, 1, 1)["parameters"])
    with pytest.raises(ValueError, match=r"cell must be one of \['gru', 'lstm', 'rnn'\], got 'tanh'"):
        _bad(backend, as_cell="tanh")
    with pytest.raises(
        ValueError,
        match=r"layers\[1\] reads the hidden states of layers\[0\], so its n_x must be 3; got n_x = 5 "
        r"from parameters\['Wax'\] of shape \(4, 5\) = \(n_a, n_x\)",
    ):
        _bad(backend, layers=[data["layers"][0], wide])
    with pytest.raises(ValueError, match=r"layers\[0\] reads x, so its n_x must be 2; got n_x = 5"):
        _bad(backend, layers=[wide, data["layers"][1]])
    with pytest.raises(ValueError, match=r"a0s must hold 2 initial states, one per layer, got 1"):
        _bad(backend, a0s=data["a0s"][:1])
    with pytest.raises(ValueError, match=r"a0s\[1\] must have shape \(n_a, m\) = \(4, 2\), got \(3, 2\)"):
        _bad(backend, a0s=[data["a0s"][0], data["a0s"][0]])
    with pytest.raises(ValueError, match=r"layers must hold at least one mapping, got 0"):
        _bad(backend, layers=[], a0s=[])
    with pytest.raises(TypeError, match=r"layers must be a sequence of parameter mappings, one per layer, got dict"):
        _bad(backend, layers=data["layers"][0])
    with pytest.raises(ValueError, match=r"layers\[1\]: parameters is missing \['Waa'\]"):
        _bad(backend, layers=[data["layers"][0], {k: v for k, v in data["layers"][1].items() if k != "Waa"}])
    with pytest.raises(ValueError, match=r"layers\[1\]: parameters\['Waa'\] must have shape \(n_a, n_a\) = \(4, 4\)"):
        _bad(backend, layers=[data["layers"][0], {**data["layers"][1], "Waa": data["layers"][0]["Waa"]}])
    float32_bias = backend.asarray(backend.to_numpy(data["layers"][1]["ba"]), "float32")
    with pytest.raises(TypeError, match=r"layers\[1\]\['ba'\] has dtype \S*float32 but x has dtype \S*float64"):
        _bad(backend, layers=[data["layers"][0], {**data["layers"][1], "ba": float32_bias}])
    with pytest.raises(ValueError, match=r"c0s \(initial cell states\) is only for a cell with a state 'c', such as"):
        _bad(backend, "gru", c0s=data["a0s"])
    with pytest.raises(ValueError, match=r"mask must have shape \(m, T_x\) = \(2, 3\), got \(3, 2\)"):
        _bad(backend, mask=backend.asarray(np.ones((3, 2), dtype=bool)))
    with pytest.raises(TypeError, match=r"caches must be the StackedCache returned by stacked_forward, got tuple"):
        stacked_backward(data["da"], ())  # type: ignore[arg-type]
    if backend.name != "numpy":
        with pytest.raises(TypeError, match=rf"a0s\[0\] is a numpy array but x is an? {backend.name} array"):
            _bad(backend, a0s=[backend.to_numpy(data["a0s"][0]), data["a0s"][1]])


def test_bad_bidirectional_inputs_are_rejected(backend: TestBackend) -> None:
    data = backend.tree(_host("lstm", "bidirectional", 2, (3, 4), 2, 3, seed=8))
    narrow = backend.tree(reference_gated.lstm_problem(1, 4, 2, 1, 1)["parameters"])
    with pytest.raises(ValueError, match=r"layers must hold 2 mappings \(forward, backward\), got 3"):
        _bad(backend, "lstm", "bidirectional", layers=[*data["layers"], data["layers"][0]])
    with pytest.raises(ValueError, match=r"c0s must hold 2 initial states, \(forward, backward\), got 1"):
        _bad(backend, "lstm", "bidirectional", c0s=data["c0s"][:1])
    both = [(a0, c0) for a0, c0 in zip(data["a0s"], data["c0s"], strict=True)]
    with pytest.raises(ValueError, match=r"a0s\[0\]\[1\] and c0s\[0\] both give layer 0's initial c; give it once"):
        _bad(backend, "lstm", "bidirectional", a0s=both)
    with pytest.raises(
        ValueError,
        match=r"layers\[1\] reads x, so its n_x must be 2; got n_x = 1 "
        r"from parameters\['Wf'\] of shape \(4, 5\) = \(n_a, n_a \+ n_x\)",
    ):
        _bad(backend, "lstm", "bidirectional", layers=[data["layers"][0], narrow])
    a, cache = _run("bidirectional", "lstm", data)
    with pytest.raises(
        ValueError, match=r"da must have shape \(n_a_f \+ n_a_b, m, T_x\) = \(7, 2, 3\), got \(3, 2, 3\)"
    ):
        bidirectional_backward(a[:3, ...], cache)
    with pytest.raises(TypeError, match=r"caches must be the BidirectionalCache returned by bidirectional_forward"):
        bidirectional_backward(a, StackedCache("lstm", ()))  # type: ignore[arg-type]
