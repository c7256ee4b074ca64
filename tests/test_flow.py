"""The gradient at every time step: against PyTorch autograd, and the same for every cell, mask and layer."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import xrnn
from tests.helpers import TestBackend
from xrnn.cells import get_cell

CELLS = ["rnn", "lstm", "gru", "tests.user_cells:LEAKY"]
N_X, N_A, N_Y, M, T_X = 3, 4, 2, 3, 7


def _problem(name: str, seed: int = 0) -> dict[str, Any]:
    cell = get_cell(name)
    rng = np.random.default_rng(seed)
    return {
        "cell": cell,
        "p": {k: 0.5 * rng.standard_normal(v.shape) for k, v in cell.init(N_X, N_A, N_Y, seed=seed).items()},
        "x": rng.standard_normal((N_X, M, T_X)),
        "initial": tuple(rng.standard_normal((N_A, M)) for _ in cell.state),
        "da": rng.standard_normal((N_A, M, T_X)),
    }


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("checkpoints", [None, 3])
def test_contributions_add_up_to_the_gradients_and_norms_match_them(
    backend: TestBackend, name: str, checkpoints: int | None
) -> None:
    data = _problem(name)
    cell = data["cell"]
    p = backend.tree(data["p"])
    x, da = backend.asarray(data["x"]), backend.asarray(data["da"])
    initial = tuple(backend.asarray(s) for s in data["initial"])
    _, cache = cell.forward(x, initial, p, checkpoints=checkpoints)
    flow = xrnn.gradient_flow(da, cache, per_step=True)
    _, plain = cell.forward(x, initial, p)
    expected = cell.backward(da, plain)
    assert flow.per_step is not None
    for key in cell.keys:
        backend.assert_close(backend.xp.sum(flow.per_step[key], axis=0), backend.to_numpy(expected[f"d{key}"]))
        norms = np.sqrt((backend.to_numpy(flow.per_step[key]) ** 2).reshape(T_X, -1).sum(axis=1))
        backend.assert_close(flow.parameter_norms[key], norms)
    for key, value in expected.items():
        backend.assert_close(flow.gradients[key], backend.to_numpy(value))
    assert flow.state_norms.shape == (T_X, M)
    assert sorted(flow.all_state_norms) == sorted(cell.state)
    backend.assert_close(flow.state_norms, backend.to_numpy(flow.all_state_norms["a"]))
    # the gradient reaching the last hidden state is da's last step alone: nothing comes from later
    backend.assert_close(flow.state_norms[-1, :], np.linalg.norm(data["da"][:, :, -1], axis=0))


@pytest.mark.parametrize("name", CELLS)
def test_padded_steps_report_zero_and_real_steps_what_each_sequence_alone_reports(name: str) -> None:
    data = _problem(name, seed=1)
    cell = data["cell"]
    mask = np.ones((M, T_X), dtype=bool)
    mask[1, 5:] = False
    mask[2, :2] = False
    _, cache = cell.forward(data["x"], data["initial"], data["p"], mask)
    flow = xrnn.gradient_flow(data["da"], cache)
    assert not flow.state_norms[~mask.T].any()
    for i, steps in ((1, slice(0, 5)), (2, slice(2, T_X))):
        alone_initial = tuple(s[:, i : i + 1] for s in data["initial"])
        _, alone_cache = cell.forward(data["x"][:, i : i + 1, steps], alone_initial, data["p"])
        alone = xrnn.gradient_flow(data["da"][:, i : i + 1, steps], alone_cache)
        np.testing.assert_allclose(flow.state_norms[steps, i], alone.state_norms[:, 0], rtol=1e-12)


def test_layers_give_one_flow_per_layer_and_a_pair_per_direction() -> None:
    data = _problem("gru", seed=2)
    layers = [data["p"], get_cell("gru").init(N_A, N_A, N_Y, seed=3)]
    a, caches = xrnn.stacked_forward(data["x"], [data["initial"][0]] * 2, layers, cell="gru")
    probe = np.random.default_rng(4).standard_normal(a.shape)
    flows = xrnn.gradient_flow(probe, caches)
    grads = xrnn.stacked_backward(probe, caches)
    assert len(flows) == 2
    np.testing.assert_allclose(flows[0].gradients["dx"], grads["dx"], rtol=1e-12)
    np.testing.assert_allclose(flows[1].gradients["dWu"], grads["layers"][1]["dWu"], rtol=1e-12)
    b, bi_caches = xrnn.bidirectional_forward(data["x"], [data["initial"][0]] * 2, [data["p"]] * 2, cell="gru")
    forward_flow, backward_flow = xrnn.gradient_flow(np.ones_like(b), bi_caches)
    bi_grads = xrnn.bidirectional_backward(np.ones_like(b), bi_caches)
    np.testing.assert_allclose(backward_flow.gradients["dWc"], bi_grads["layers"][1]["dWc"], rtol=1e-12)
    assert forward_flow.state_norms.shape == (T_X, M)


def test_bad_input_is_rejected() -> None:
    data = _problem("rnn")
    _, cache = data["cell"].forward(data["x"], data["initial"], data["p"])
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(4, 3, 7\), got \(4, 3, 6\)"):
        xrnn.gradient_flow(data["da"][..., :6], cache)
    with pytest.raises(TypeError, match="cache must be the cache of a sequence forward"):
        xrnn.gradient_flow(data["da"], (1, 2))
    layers = [data["p"], data["p"]]
    _, both = xrnn.bidirectional_forward(data["x"], None, layers)  # checked as bidirectional_backward checks
    with pytest.raises(
        ValueError, match=r"da must have shape \(n_a_f \+ n_a_b, m, T_x\) = \(8, 3, 7\), got \(4, 3, 7\)"
    ):
        xrnn.gradient_flow(data["da"], both)
    with pytest.raises(TypeError, match="da must be an array, got NoneType"):
        xrnn.gradient_flow(None, both)


@pytest.mark.numpy_only
def test_without_per_step_the_flow_holds_what_the_backward_pass_holds() -> None:
    """The per-step norms only: each step's parameter gradients were kept (T_x copies of the parameters)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    p = xrnn.init_parameters(4, 48, 2, seed=0)
    x, a0 = rng.standard_normal((4, 2, 600)), np.zeros((48, 2))
    a, _, cache = xrnn.rnn_forward(x, a0, p)
    da = np.ones_like(a)
    xrnn.gradient_flow(da[..., :3], xrnn.rnn_forward(x[..., :3], a0, p)[2])  # compile the kernels untraced
    peaks = []
    for run in (lambda: xrnn.rnn_backward(da, cache), lambda: xrnn.gradient_flow(da, cache)):
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            run()
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
        finally:
            tracemalloc.stop()
    copies = 600 * sum(value.nbytes for value in p.values())
    assert peaks[1] < 2 * peaks[0] < copies / 4, (peaks, copies)


# -- against PyTorch autograd: retain_grad on every state, one copy of each weight per step ---------------
def _torch() -> Any:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch (the tests(numpy) session installs the CPU build)")
    import torch

    return torch


def _torch_flow(name: str, data: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-step state gradients and per-step weight-gradient contributions from autograd."""
    torch = _torch()
    cell = get_cell(name)
    t = {k: torch.tensor(v) for k, v in data["p"].items()}
    x = torch.tensor(data["x"])
    state = [torch.tensor(s) for s in data["initial"]]
    copies: dict[str, list[Any]] = {key: [] for key in cell.keys}
    outputs: dict[str, list[Any]] = {name: [] for name in cell.state}
    hidden = []
    for step in range(T_X):
        w = {key: t[key].clone().requires_grad_() for key in cell.keys}
        for key in cell.keys:
            copies[key].append(w[key])
        new = _torch_step(torch, name, x[:, :, step], state, w)
        for state_name, value in zip(cell.state, new, strict=True):
            value.retain_grad()
            outputs[state_name].append(value)
        hidden.append(new[0])
        state = list(new)
    loss = (torch.stack(hidden, dim=2) * torch.tensor(data["da"])).sum()
    loss.backward()
    grads = {n: [torch.zeros_like(v) if v.grad is None else v.grad for v in values] for n, values in outputs.items()}
    norms = {n: np.stack([g.norm(dim=0).numpy() for g in values]) for n, values in grads.items()}
    contributions = {key: np.stack([w.grad.numpy() for w in ws]) for key, ws in copies.items()}
    return norms, contributions


def _torch_step(torch: Any, name: str, xt: Any, state: list[Any], p: dict[str, Any]) -> list[Any]:
    if name == "rnn":
        return [torch.tanh(p["Wax"] @ xt + p["Waa"] @ state[0] + p["ba"])]
    a_prev = state[0]
    joint = torch.cat([a_prev, xt])
    if name == "lstm":
        f = torch.sigmoid(p["Wf"] @ joint + p["bf"])
        i = torch.sigmoid(p["Wi"] @ joint + p["bi"])
        cc = torch.tanh(p["Wc"] @ joint + p["bc"])
        o = torch.sigmoid(p["Wo"] @ joint + p["bo"])
        c = f * state[1] + i * cc
        a = o * torch.tanh(c)
        return [a, c * 1.0]  # c as the step's output: its gradient is the later steps' alone
    # xrnn's GRU (nn.GRU places the reset gate differently): the candidate reads r * a_prev
    u = torch.sigmoid(p["Wu"] @ joint + p["bu"])
    r = torch.sigmoid(p["Wr"] @ joint + p["br"])
    cc = torch.tanh(p["Wc"] @ torch.cat([r * a_prev, xt]) + p["bc"])
    return [u * cc + (1 - u) * a_prev]


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_flow_matches_pytorch_autograd(backend: TestBackend, name: str) -> None:
    data = _problem(name, seed=5)
    norms, contributions = _torch_flow(name, data)
    cell = get_cell(name)
    initial = tuple(backend.asarray(s) for s in data["initial"])
    _, cache = cell.forward(backend.asarray(data["x"]), initial, backend.tree(data["p"]))
    flow = xrnn.gradient_flow(backend.asarray(data["da"]), cache, per_step=True)
    assert flow.per_step is not None
    for state_name, expected in norms.items():
        backend.assert_close(flow.all_state_norms[state_name], expected, rtol=1e-10)
    for key, expected in contributions.items():
        backend.assert_close(flow.per_step[key], expected, rtol=1e-9, atol=1e-13)
        backend.assert_close(flow.parameter_norms[key], np.linalg.norm(expected.reshape(T_X, -1), axis=1), rtol=1e-10)
