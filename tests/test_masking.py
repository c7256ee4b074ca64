"""Variable-length batches: a padded batch under ``mask`` gives what each example alone gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tests import reference, reference_gated
from tests.helpers import TestBackend
from xrnn.backends import fast_paths
from xrnn.cells.gru import gru_backward, gru_forward
from xrnn.cells.lstm import lstm_backward, lstm_forward
from xrnn.cells.rnn import rnn_backward, rnn_forward
from xrnn.gradcheck import numerical_gradient


@dataclass(frozen=True)
class Cell:
    """One recurrent cell seen uniformly: ``run(x, states, parameters, mask)`` returns the per-step
    states ``{"a": ..., ("c": ...)}``, the outputs ``y`` and the cache; ``backward(da, cache)`` the grads."""

    problem: Callable[..., dict[str, Any]]
    run: Callable[[Any, dict[str, Any], Any, Any], tuple[dict[str, Any], Any, Any]]
    backward: Callable[[Any, Any], dict[str, Any]]
    initial: tuple[str, ...]  # names of the initial states: a0 (and c0)

    def states_of(self, data: dict[str, Any]) -> dict[str, Any]:
        return {name: data[name] for name in self.initial}


def _lstm(x: Any, states: dict[str, Any], parameters: Any, mask: Any) -> tuple[dict[str, Any], Any, Any]:
    a, y, c, cache = lstm_forward(x, states["a0"], parameters, c0=states["c0"], mask=mask)
    return {"a": a, "c": c}, y, cache


def _gru(x: Any, states: dict[str, Any], parameters: Any, mask: Any) -> tuple[dict[str, Any], Any, Any]:
    a, y, cache = gru_forward(x, states["a0"], parameters, mask=mask)
    return {"a": a}, y, cache


def _rnn(x: Any, states: dict[str, Any], parameters: Any, mask: Any) -> tuple[dict[str, Any], Any, Any]:
    a, y, cache = rnn_forward(x, states["a0"], parameters, mask=mask)
    return {"a": a}, y, cache


CELLS = {
    "rnn": Cell(reference.problem, _rnn, rnn_backward, ("a0",)),
    "lstm": Cell(reference_gated.lstm_problem, _lstm, lstm_backward, ("a0", "c0")),
    "gru": Cell(reference_gated.gru_problem, _gru, gru_backward, ("a0",)),
}

# (starts, lengths) per example, T_x = 5: trailing padding, leading padding, both, and m = 1.
LAYOUTS = [
    ((0, 0, 0, 0), (5, 1, 3, 2)),
    ((2, 0, 4), (3, 5, 1)),
    ((1, 0), (2, 4)),
    ((3,), (1,)),
]


MIDDLE_HOLE = np.array([[True, False, True]])  # m = 1, T_x = 3: step 1 is padding between two real steps


def _mask(starts: tuple[int, ...], lengths: tuple[int, ...], t_x: int) -> np.ndarray:
    steps = np.arange(t_x)[None, :]
    return (np.asarray(starts)[:, None] <= steps) & (steps < np.asarray(starts)[:, None] + np.asarray(lengths)[:, None])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(CELLS))
def test_padded_batch_equals_each_example_alone(backend: TestBackend, name: str, layout: Any) -> None:
    cell, (starts, lengths) = CELLS[name], layout
    m, t_x = len(starts), 5
    problem = cell.problem(2, 3, 2, m, t_x, seed=sum(lengths))
    data = backend.tree(problem)
    mask = _mask(starts, lengths, t_x)
    outputs, y, cache = cell.run(data["x"], cell.states_of(data), data["parameters"], backend.asarray(mask))
    grads = cell.backward(data["da"], cache)  # da holds noise at padded steps: it must be ignored

    summed: dict[str, np.ndarray] = {}
    for i, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        window = slice(start, start + length)
        alone_data = {k: v[:, i : i + 1] for k, v in problem.items() if k in cell.initial}
        alone_x = backend.asarray(problem["x"][:, i : i + 1, window])
        alone_states = {k: backend.asarray(v) for k, v in alone_data.items()}
        alone_outputs, alone_y, alone_cache = cell.run(alone_x, alone_states, data["parameters"], None)
        alone_grads = cell.backward(backend.asarray(problem["da"][:, i : i + 1, window]), alone_cache)
        backend.assert_close(y[:, i : i + 1, window], backend.to_numpy(alone_y))
        for key, value in outputs.items():
            alone = backend.to_numpy(alone_outputs[key])
            # Real steps as alone; before them the initial state, after them the final state, carried.
            before = np.repeat(alone_data[key + "0"][:, :, None], start, axis=2)
            after = np.repeat(alone[:, :, -1:], t_x - start - length, axis=2)
            carried = np.concatenate([before, alone, after], axis=2)
            backend.assert_close(value[:, i : i + 1, :], carried)
        expected_dx = np.zeros((2, 1, t_x))
        expected_dx[:, :, window] = backend.to_numpy(alone_grads["dx"])
        backend.assert_close(grads["dx"][:, i : i + 1, :], expected_dx, atol=1e-15)
        for key, value in alone_grads.items():
            if key in ("da0", "dc0"):
                backend.assert_close(grads[key][:, i : i + 1], backend.to_numpy(value))
            elif key != "dx":
                summed[key] = summed.get(key, 0) + backend.to_numpy(value)
    for key, value in summed.items():
        backend.assert_close(grads[key], value)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_masked_gradients_match_finite_differences(backend: TestBackend, name: str) -> None:
    """The backward pass is the gradient of ``sum(da * a)`` over the real steps only."""
    cell = CELLS[name]
    problem = cell.problem(2, 3, 2, 3, 4, seed=5)
    data = backend.tree(problem)
    mask_host = _mask((1, 0, 0), (3, 2, 4), 4)
    mask = backend.asarray(mask_host)
    weight = data["da"] * backend.asarray(mask_host[None, :, :].astype(float))
    xp = backend.xp
    grads = cell.backward(data["da"], cell.run(data["x"], cell.states_of(data), data["parameters"], mask)[2])

    def objective(x: Any, states: dict[str, Any], parameters: Any) -> Any:
        return xp.sum(weight * cell.run(x, states, parameters, mask)[0]["a"])

    states, params = cell.states_of(data), data["parameters"]
    expected = {"dx": numerical_gradient(lambda v: objective(v, states, params), data["x"])}
    for key in cell.initial:
        expected["d" + key] = numerical_gradient(
            lambda v, key=key: objective(data["x"], {**states, key: v}, params), data[key]
        )
    for key in params:
        if key not in ("Wy", "by", "Wya"):
            expected["d" + key] = numerical_gradient(
                lambda v, key=key: objective(data["x"], states, {**params, key: v}), params[key]
            )
    assert sorted(grads) == sorted(expected)
    for key, value in expected.items():
        backend.assert_close(grads[key], backend.to_numpy(value), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_windows_continue_from_the_final_state(backend: TestBackend, name: str) -> None:
    """Truncated BPTT: the last step's states, fed back as initial states, continue the sequence."""
    cell = CELLS[name]
    problem = cell.problem(2, 3, 2, 3, 6, seed=6)
    data = backend.tree(problem)
    mask = backend.asarray(_mask((0, 0, 2), (6, 2, 3), 6))
    whole, y, _ = cell.run(data["x"], cell.states_of(data), data["parameters"], mask)
    first, y_first, _ = cell.run(data["x"][:, :, :4], cell.states_of(data), data["parameters"], mask[:, :4])
    carried = {key + "0": first[key][:, :, -1] for key in first}
    second, y_second, _ = cell.run(data["x"][:, :, 4:], carried, data["parameters"], mask[:, 4:])
    for key, value in whole.items():
        backend.assert_close(value[:, :, :4], backend.to_numpy(first[key]))
        backend.assert_close(value[:, :, 4:], backend.to_numpy(second[key]))
    backend.assert_close(y[:, :, :4], backend.to_numpy(y_first))
    backend.assert_close(y[:, :, 4:], backend.to_numpy(y_second))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_all_true_mask_changes_nothing(backend: TestBackend, name: str) -> None:
    cell = CELLS[name]
    data = backend.tree(cell.problem(3, 4, 2, 3, 4, seed=7))
    mask = backend.asarray(np.ones((3, 4), dtype=bool))
    plain, y, cache = cell.run(data["x"], cell.states_of(data), data["parameters"], None)
    masked, y_masked, cache_masked = cell.run(data["x"], cell.states_of(data), data["parameters"], mask)
    # Within rounding, not bit for bit: a masked RNN runs the generic scan, and a fused fast path
    # (CuPy's) may round differently.
    backend.assert_close(y_masked, backend.to_numpy(y))
    for key, value in plain.items():
        backend.assert_close(masked[key], backend.to_numpy(value))
    expected = cell.backward(data["da"], cache)
    for key, value in cell.backward(data["da"], cache_masked).items():
        backend.assert_close(value, backend.to_numpy(expected[key]))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_fully_padded_example_keeps_its_state_and_gets_no_gradient(backend: TestBackend, name: str) -> None:
    cell = CELLS[name]
    problem = cell.problem(2, 3, 2, 2, 3, seed=8)
    data = backend.tree(problem)
    mask = backend.asarray(np.array([[True, True, False], [False, False, False]]))
    outputs, _, cache = cell.run(data["x"], cell.states_of(data), data["parameters"], mask)
    grads = cell.backward(data["da"], cache)
    for key in outputs:
        backend.assert_close(outputs[key][:, 1, :], np.repeat(problem[key + "0"][:, 1:2], 3, axis=1), rtol=0)
    backend.assert_close(grads["dx"][:, 1, :], np.zeros((2, 3)), rtol=0)
    for key in cell.initial:
        backend.assert_close(grads["d" + key][:, 1], np.zeros(3), rtol=0)


@pytest.mark.parametrize("fast", [True, False], ids=["fast paths", "generic twins"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_a_nan_gradient_carried_through_a_padded_step_leaves_its_dx_zero(
    backend: TestBackend, name: str, fast: bool
) -> None:
    """The padded step 1 passes on the NaN that step 2's gradient brings, and gets a zero dz: selected, not a
    zero factor times the NaN (which gave NaN in dx at step 1 in the NumPy RNN scan and in every twin)."""
    cell = CELLS[name]
    problem = cell.problem(2, 3, 2, 1, 3, seed=10)
    problem["da"][:, :, 2] = np.nan
    data = backend.tree(problem)
    with fast_paths(fast):
        _, _, cache = cell.run(data["x"], cell.states_of(data), data["parameters"], backend.asarray(MIDDLE_HOLE))
        grads = cell.backward(data["da"], cache)
    backend.assert_close(grads["dx"][:, :, 1], np.zeros((2, 1)), rtol=0)
    assert np.isnan(backend.to_numpy(grads["dx"][:, :, 2])).all()


@pytest.mark.parametrize("name", sorted(CELLS))
def test_bad_masks_are_rejected(backend: TestBackend, name: str) -> None:
    cell = CELLS[name]
    data = backend.tree(cell.problem(2, 3, 2, 4, 5, seed=9))

    def run(mask: Any) -> Any:
        return cell.run(data["x"], cell.states_of(data), data["parameters"], mask)

    with pytest.raises(TypeError, match=r"mask must have dtype bool, got \S*float64"):
        run(backend.asarray(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"mask must have shape \(m, T_x\) = \(4, 5\), got \(5, 4\)"):
        run(backend.asarray(np.ones((5, 4), dtype=bool)))
    with pytest.raises(TypeError, match="mask must be a boolean array of shape \\(m, T_x\\), got list"):
        run([[True] * 5] * 4)
    if backend.name != "numpy":
        with pytest.raises(TypeError, match="mask is a numpy array but the data are"):
            run(np.ones((4, 5), dtype=bool))
