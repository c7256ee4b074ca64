"""SGD with momentum and Adam: hand-computed steps, state round trips, no writes into caller arrays."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn.train.optimizers import SGD, Adam, make_optimizer, optimizer_from_state


def test_adam_first_two_steps_match_hand_computed_values(backend: TestBackend) -> None:
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    adam = Adam(lr=lr, beta1=b1, beta2=b2, eps=eps)
    p = {"w": backend.asarray([[1.0, -2.0]])}
    g1, g2 = np.array([[0.5, -4.0]]), np.array([[-1.0, 2.0]])
    p = adam.update(p, {"dw": backend.asarray(g1)})
    # step 1: m_hat = g, v_hat = g**2, so each entry moves by lr * g / (|g| + eps)
    expected = np.array([[1.0, -2.0]]) - lr * g1 / (np.abs(g1) + eps)
    backend.assert_close(p["w"], expected)
    p = adam.update(p, {"dw": backend.asarray(g2)})
    m = b1 * (1 - b1) * g1 + (1 - b1) * g2
    v = b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2
    expected = expected - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    backend.assert_close(p["w"], expected)
    backend.assert_close(adam.slots["m"]["w"], m)
    backend.assert_close(adam.slots["v"]["w"], v)
    assert adam.step == 2


def test_sgd_momentum_accumulates_velocity(backend: TestBackend) -> None:
    sgd = SGD(lr=0.5, momentum=0.9)
    p = {"w": backend.asarray([2.0]), "b": backend.asarray([[0.0]])}
    for _ in range(3):
        p = sgd.update(p, {"dw": backend.asarray([1.0]), "db": backend.asarray([[-2.0]])})
    # velocities 1, 1.9, 2.71 (times the gradient); the parameter moves by lr times their sum 5.61
    backend.assert_close(p["w"], [2.0 - 0.5 * 5.61])
    backend.assert_close(p["b"], [[0.5 * 2 * 5.61]])
    backend.assert_close(sgd.slots["velocity"]["w"], [2.71])


def test_plain_sgd_is_gradient_descent_without_slots(backend: TestBackend) -> None:
    sgd = SGD(lr=0.25)
    new = sgd.update({"w": backend.asarray([1.0, 2.0])}, {"dw": backend.asarray([4.0, -4.0])})
    backend.assert_close(new["w"], [0.0, 3.0])
    assert sgd.slots == {}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_updates_keep_dtype_and_device_and_leave_inputs_alone(backend: TestBackend, dtype: str) -> None:
    for optimizer in (SGD(lr=0.1, momentum=0.5), Adam(lr=0.1)):
        host = {"W": np.ones((2, 3)), "b": np.zeros((2, 1))}
        params, grads = backend.tree(host, dtype), backend.tree({"dW": np.ones((2, 3)), "db": np.ones((2, 1))}, dtype)
        new = optimizer.update(params, grads)
        assert new is not params
        for key in host:
            backend.assert_dtype(new[key], dtype)
            backend.assert_close(params[key], host[key], rtol=0, dtype=dtype)  # untouched
            assert not np.allclose(backend.to_numpy(new[key]), host[key])


def test_torch_agrees_with_adam_and_sgd_over_several_steps() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed: the cross-check against torch.optim needs it")
    import torch

    rng = np.random.default_rng(3)
    start = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(5)]
    pairs = [
        (Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6), lambda w: torch.optim.Adam(w, 0.01, (0.8, 0.99), 1e-6)),
        (SGD(lr=0.1, momentum=0.7), lambda w: torch.optim.SGD(w, lr=0.1, momentum=0.7)),
    ]
    for ours, make_theirs in pairs:
        weight = torch.tensor(start, requires_grad=True)
        theirs = make_theirs([weight])
        params = {"w": start}
        for g in grads:
            params = ours.update(params, {"dw": g})
            weight.grad = torch.tensor(g)
            theirs.step()
        np.testing.assert_allclose(params["w"], weight.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_state_dict_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(0)
    grads = [{"dw": rng.standard_normal(4)} for _ in range(4)]
    one = Adam(lr=0.05)
    p = {"w": np.zeros(4)}
    for g in grads[:2]:
        p = one.update(p, g)
    two = optimizer_from_state(one.state_dict())
    p_one, p_two = p, p
    for g in grads[2:]:
        p_one, p_two = one.update(p_one, g), two.update(p_two, g)
    np.testing.assert_array_equal(p_one["w"], p_two["w"])
    assert two.step == 4


def test_missing_or_misshapen_gradients_are_rejected() -> None:
    with pytest.raises(ValueError, match="missing 'dw'"):
        Adam().update({"w": np.ones(2)}, {"dv": np.ones(2)})
    with pytest.raises(ValueError, match=r"shape of parameters\['w'\] = \(2,\), got \(3,\)"):
        SGD().update({"w": np.ones(2)}, {"dw": np.ones(3)})


def test_parameters_that_do_not_fit_the_optimizers_state_are_rejected() -> None:
    """State from earlier updates is of those parameters' shapes and dtype: other parameters would be
    broadcast against it, or come back in its dtype (float32 in, float64 out)."""
    adam = Adam()
    adam.update({"w": np.ones((3, 2))}, {"dw": np.ones((3, 2))})
    with pytest.raises(
        ValueError, match=r"the optimizer's 'm' state of 'w' must have the shape of .* \(2,\), got \(3, 2\)"
    ):
        adam.update({"w": np.ones(2)}, {"dw": np.ones(2)})
    single = {"w": np.ones((3, 2), dtype=np.float32)}
    with pytest.raises(TypeError, match=r"the optimizer's 'm' state of 'w' has dtype float64"):
        adam.update(single, {"dw": single["w"]})
    with pytest.raises(ValueError, match=r"parameter 'v' has no optimizer state"):
        adam.update({"v": np.ones((3, 2))}, {"dv": np.ones((3, 2))})
    with pytest.raises(TypeError, match="parameters and gradients must be mappings of names to arrays, got NoneType"):
        adam.update(None, {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="parameters is empty"):
        SGD().update({}, {})
    assert adam.step == 1  # nothing was committed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(lr=0), "lr must be a positive finite number"),
        (lambda: SGD(lr=math.nan), "lr must be a positive finite number"),
        (lambda: SGD(momentum=1.0), r"momentum must be in \[0, 1\)"),
        (lambda: Adam(beta2=1.0), r"beta2 must be in \[0, 1\)"),
        (lambda: Adam(eps=0.0), "eps must be a positive finite number"),
        (lambda: make_optimizer("rmsprop"), "unknown optimizer 'rmsprop'"),
    ],
)
def test_bad_hyper_parameters_are_rejected(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_hyper_parameters_of_any_real_type_are_accepted() -> None:
    """NumPy's scalars are numbers too: ``np.float32(0.1)`` was refused as not a positive number."""
    sgd, adam = SGD(lr=np.float32(0.5), momentum=np.float64(0.5)), Adam(lr=np.float32(0.5), beta1=np.float32(0.5))
    assert (sgd.lr, sgd.momentum, adam.lr, adam.beta1) == (0.5, 0.5, 0.5, 0.5)
    assert type(adam.beta1) is float
    with pytest.raises(TypeError, match=r"lr must be a positive finite number, got str '0\.1'"):
        SGD(lr="0.1")  # type: ignore[arg-type]


def test_a_state_for_another_optimizer_is_rejected() -> None:
    with pytest.raises(ValueError, match="state is for optimizer 'sgd', not 'adam'"):
        Adam().load_state_dict(SGD().state_dict())
