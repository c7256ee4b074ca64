"""CuPy specifics: NumPy/CuPy parity on the same inputs, device rules, host transfers, seeded GPU init.

The whole suite also runs on CuPy arrays (``pytest --backend=cupy``); these tests add what needs
both libraries at once. They skip, saying why, where CuPy or a CUDA device is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import xrnn
from tests import reference
from xrnn import backends

reason = backends.unavailable_reason("cupy")
pytestmark = pytest.mark.skipif(reason is not None, reason=f"CuPy cannot run here: {reason}")

# (n_x, n_a, n_y, m, T_x), from the spec's toy to a size where cuBLAS and the CPU BLAS sum differently.
SIZES = [(3, 5, 2, 10, 4), (16, 64, 8, 32, 20), (1, 3, 2, 1, 1)]
# Weights small enough for a contracting recurrence: with scale 0.5 and n_a = 64 the backward pass
# amplifies rounding so much that float32 on any two BLAS libraries differs by 0.5% of the largest entry.
SCALE = 0.15


def _on_cupy(host: dict[str, Any], dtype: str) -> dict[str, Any]:
    return {
        key: (
            {k: backends.asarray(v, backend="cupy", dtype=dtype) for k, v in value.items()}
            if key == "parameters"
            else backends.asarray(value, backend="cupy", dtype=None if key == "labels" else dtype)
        )
        for key, value in host.items()
    }


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_and_cupy_agree_on_the_same_inputs(size: tuple[int, ...], dtype: str) -> None:
    host = reference.problem(*size, seed=11, scale=SCALE)
    host_cast = {
        key: (
            {k: v.astype(dtype) for k, v in value.items()}
            if key == "parameters"
            else (value if key == "labels" else value.astype(dtype))
        )
        for key, value in host.items()
    }
    gpu = _on_cupy(host, dtype)
    args = ("x", "a0", "labels", "parameters")
    cpu_loss, cpu_grads = xrnn.rnn_loss_and_gradients(*(host_cast[k] for k in args))
    gpu_loss, gpu_grads = xrnn.rnn_loss_and_gradients(*(gpu[k] for k in args))
    with backends.fast_paths(False):
        twin_loss, twin_grads = xrnn.rnn_loss_and_gradients(*(gpu[k] for k in args))
    rtol = 1e-3 if dtype == "float32" else 1e-9  # BLAS libraries sum in different orders
    np.testing.assert_allclose(float(gpu_loss), float(cpu_loss), rtol=rtol)
    np.testing.assert_allclose(float(twin_loss), float(cpu_loss), rtol=rtol)
    for name, value in cpu_grads.items():
        assert str(gpu_grads[name].dtype) == dtype
        atol = rtol * float(np.max(np.abs(value)))
        for result in (gpu_grads[name], twin_grads[name]):
            np.testing.assert_allclose(backends.to_numpy(result), value, rtol=rtol, atol=atol, err_msg=name)


def test_fused_kernels_equal_their_generic_twins_directly() -> None:
    import cupy as cp

    from xrnn.backends import cupy as cupy_backend
    from xrnn.cells import _scan

    rng = np.random.default_rng(12)
    for dtype in ("float32", "float64"):
        pre = cp.asarray(rng.standard_normal((7, 5, 6)), dtype=dtype)
        waa = cp.asarray(0.5 * rng.standard_normal((6, 6)), dtype=dtype)
        a0 = cp.asarray(rng.standard_normal((6, 5)), dtype=dtype).T
        dstates = cp.asarray(rng.standard_normal((7, 5, 6)), dtype=dtype)
        generic = _scan.generic_forward_scan(cupy_backend.BACKEND.xp, pre, waa, a0)
        fast = cupy_backend.rnn_forward_scan(pre.copy(), waa, a0)
        rtol = 1e-5 if dtype == "float32" else 1e-12
        cp.testing.assert_allclose(fast, generic, rtol=rtol, atol=rtol)
        inputs = (dstates.copy(), generic.copy(), waa.copy())
        dz_fast, da0_fast = cupy_backend.rnn_backward_scan(dstates, generic, waa)
        dz_twin, da0_twin = _scan.generic_backward_scan(cupy_backend.BACKEND.xp, dstates, generic, waa)
        cp.testing.assert_allclose(dz_fast, dz_twin, rtol=rtol, atol=rtol)
        cp.testing.assert_allclose(da0_fast, da0_twin, rtol=rtol, atol=rtol)
        for before, after in zip(inputs, (dstates, generic, waa), strict=True):
            cp.testing.assert_array_equal(before, after)  # the backward fast path only reads


def test_mixing_host_and_device_arrays_is_a_type_error() -> None:
    host = reference.problem(3, 5, 2, 10, 4)
    a0 = backends.asarray(host["a0"], backend="cupy")
    with pytest.raises(TypeError, match="a0 is a cupy array but x is a numpy array; all arrays must come from one"):
        xrnn.rnn_forward(host["x"], a0, host["parameters"])


def test_arrays_on_two_gpus_are_a_value_error() -> None:
    import cupy as cp

    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices to put arrays on different GPUs")
    host = reference.problem(3, 5, 2, 10, 4)
    x = backends.asarray(host["x"], backend="cupy", device=0)
    a0 = backends.asarray(host["a0"], backend="cupy", device=1)
    params = {k: backends.asarray(v, backend="cupy", device=0) for k, v in host["parameters"].items()}
    with pytest.raises(ValueError, match=r"a0 is on device .* but x is on .*; all arrays must be on one device"):
        xrnn.rnn_forward(x, a0, params)


def test_outputs_stay_on_the_input_device() -> None:
    import cupy as cp

    device = cp.cuda.runtime.getDeviceCount() - 1  # the last GPU: not the default one where there are two
    host = reference.problem(3, 5, 2, 10, 4)
    x, a0 = (backends.asarray(host[k], backend="cupy", device=device) for k in ("x", "a0"))
    params = xrnn.init_parameters(3, 5, 2, backend="cupy", seed=0, device=device)
    a, y_pred, caches = xrnn.rnn_forward(x, a0, params)
    grads = xrnn.rnn_backward(a, caches)
    for value in (a, y_pred, *grads.values()):
        assert value.device.id == device


def test_seeded_initialisation_on_the_gpu_reproduces() -> None:
    first = xrnn.init_parameters(30, 40, 20, backend="cupy", seed=3, dtype="float32", scheme="glorot")
    again = xrnn.init_parameters(30, 40, 20, backend="cupy", seed=3, dtype="float32", scheme="glorot")
    for key, value in first.items():
        assert type(value).__module__.startswith("cupy")
        np.testing.assert_array_equal(backends.to_numpy(value), backends.to_numpy(again[key]))


def test_no_cuda_device_is_reported_apart_from_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import cupy as cp

    monkeypatch.setattr(cp.cuda.runtime, "getDeviceCount", lambda: 0)
    assert backends.unavailable_reason("cupy") == "cupy is installed but there is no CUDA device"


def test_synchronize_waits_for_queued_work() -> None:
    import cupy as cp

    adapter = backends.get_backend("cupy")
    x = cp.ones((512, 512), dtype=cp.float32)
    y = x @ x
    adapter.synchronize()
    assert cp.cuda.get_current_stream().done
    assert float(y[0, 0]) == 512.0


def test_cuda_graph_replay_equals_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call per shape runs step by step and captures a graph; later calls replay it. Both,
    and a plain step-by-step run, give the same numbers, and a replay never overwrites an earlier result."""
    import cupy as cp

    from xrnn.backends import cupy as cupy_backend

    graphs = cupy_backend._ScanGraphs()
    monkeypatch.setattr(cupy_backend, "_graphs", graphs)
    rng = np.random.default_rng(14)
    for dtype in ("float32", "float64"):
        waa = cp.asarray(0.3 * rng.standard_normal((6, 6)), dtype=dtype)
        a0 = cp.asarray(rng.standard_normal((6, 5)), dtype=dtype).T
        results = []
        for _ in range(3):
            pre = cp.asarray(rng.standard_normal((7, 5, 6)), dtype=dtype)
            dstates = cp.asarray(rng.standard_normal((7, 5, 6)), dtype=dtype)
            graphs.enabled = True
            states = cupy_backend.rnn_forward_scan(pre.copy(), waa, a0)
            dz, da0 = cupy_backend.rnn_backward_scan(dstates, states, waa)
            graphs.enabled = False
            eager_states = cupy_backend.rnn_forward_scan(pre.copy(), waa, a0)
            eager_dz, eager_da0 = cupy_backend.rnn_backward_scan(dstates, eager_states, waa)
            rtol = 1e-6 if dtype == "float32" else 1e-13  # cuBLAS may pick another algorithm under capture
            for graphed, eager in ((states, eager_states), (dz, eager_dz), (da0, eager_da0)):
                cp.testing.assert_allclose(graphed, eager, rtol=rtol, atol=rtol)
            results.append((states, states.copy()))
        for kept, snapshot in results:
            cp.testing.assert_array_equal(kept, snapshot)
    assert len(graphs._captured) == 4, "one forward and one backward graph per dtype"
