"""CuPy specifics: NumPy/CuPy parity on the same inputs, device rules, host transfers, seeded GPU init.

The whole suite also runs on CuPy arrays (``pytest --backend=cupy``); these tests add what needs
both libraries at once. They skip, saying why, where CuPy or a CUDA device is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xrnn
from tests import reference
from xrnn import backends
from xrnn.backends import _numpy_gated
from xrnn.backends import numpy as numpy_backend
from xrnn.cells import _gated_scans, _scan

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

    from xrnn.backends import _cupy_graphs
    from xrnn.backends import cupy as cupy_backend

    graphs = _cupy_graphs.ScanGraphs()
    monkeypatch.setattr(_cupy_graphs, "graphs", graphs)
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


# The scans, called directly: (T_x, m, n_a) with the edges T_x = 1, m = 1, n_a = 1, one size past a warp
# and one where the products are real GEMMs. Inputs as the engine passes them: a0 and c0 (and after) as
# transposed views, the projection a C-contiguous buffer.
SCAN_SHAPES = [(1, 1, 1), (1, 3, 4), (5, 1, 3), (4, 2, 1), (7, 5, 6), (3, 33, 40), (20, 32, 64)]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# Against the generic twins on CuPy (same cuBLAS, fused arithmetic) and against the NumPy scans on the host
# (another BLAS), relative to the largest entry.
TWIN_RTOL = {"float32": 1e-4, "float64": 1e-11}
HOST_RTOL = {"float32": 1e-3, "float64": 1e-9}


def _scan_problem(
    cell: str, shape: tuple[int, int, int], dtype: str, *, masked: bool, after: bool, saturated: bool, seed: int = 0
) -> dict[str, Any]:
    """Host inputs of one cell's scans (float64 NumPy, cast to ``dtype``)."""
    t_x, m, n_a = shape
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((t_x, m, GATES[cell] * n_a))
    if saturated:  # some gates at +-1000: sigmoid exactly 0 or 1, tanh exactly -1 or 1, never nan
        projection[..., ::3] = np.where(projection[..., ::3] > 0, 1000.0, -1000.0)
    keep = None
    if masked:
        keep = rng.random((t_x, m, 1)) > 0.4
        keep[0, 0, 0] = False  # a first step padded
        if m > 1:
            keep[:, -1, 0] = False  # a row padded everywhere
    host = {
        "projection": projection,
        "w_a": 0.3 * rng.standard_normal((GATES[cell] * n_a, n_a)),
        "a0_rows": rng.standard_normal((n_a, m)).T,
        "c0_rows": rng.standard_normal((n_a, m)).T,
        "dstates": rng.standard_normal((t_x, m, n_a)),
        "after": tuple(rng.standard_normal((n_a, m)).T for _ in range(2 if cell == "lstm" else 1)) if after else None,
    }
    host = {k: v if v is None or k == "after" else v.astype(dtype) for k, v in host.items()}
    if after:
        host["after"] = tuple(a.astype(dtype) for a in host["after"])
    host["keep"] = keep
    return host


def _device(value: Any) -> Any:
    import cupy as cp

    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    if value.ndim == 2 and not value.flags.c_contiguous:  # a transposed view stays one on the device
        return cp.asarray(np.ascontiguousarray(value.T)).T
    return cp.asarray(value)


def _cupy_scans(cell: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from xrnn.backends import cupy as cupy_backend

    backend = cupy_backend.BACKEND
    return getattr(backend, f"{cell}_forward_scan"), getattr(backend, f"{cell}_backward_scan")


def _host_scans(cell: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if cell == "rnn":
        return numpy_backend.rnn_forward_scan, numpy_backend.rnn_backward_scan
    return getattr(_numpy_gated, f"{cell}_forward_scan"), getattr(_numpy_gated, f"{cell}_backward_scan")


def _twins(cell: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if cell == "rnn":
        return _scan.generic_forward_scan, _scan.generic_backward_scan
    return getattr(_gated_scans, f"generic_{cell}_forward_scan"), getattr(_gated_scans, f"generic_{cell}_backward_scan")


def _forward_args(cell: str, p: dict[str, Any]) -> tuple[Any, ...]:
    initial = (p["a0_rows"], p["c0_rows"]) if cell == "lstm" else (p["a0_rows"],)
    return (p["projection"], p["w_a"], *initial)


def _backward_args(cell: str, p: dict[str, Any], outputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The backward scan's inputs from the forward's outputs (the twins' orders)."""
    if cell == "rnn":
        return (p["dstates"], outputs[0], p["w_a"])
    if cell == "lstm":
        gates, _, cells = outputs
        return (p["dstates"], gates, cells, p["c0_rows"], p["w_a"])
    gates, states = outputs
    return (p["dstates"], gates, states, p["a0_rows"], p["w_a"])


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _assert_close(got: tuple[Any, ...], want: tuple[Any, ...], rtol: float, what: str) -> None:
    assert len(got) == len(want), what
    for k, (ours, theirs) in enumerate(zip(got, want, strict=True)):
        ours, theirs = backends.to_numpy(ours), backends.to_numpy(theirs)
        assert ours.shape == theirs.shape, (what, k, ours.shape, theirs.shape)
        assert ours.dtype == theirs.dtype, (what, k, ours.dtype, theirs.dtype)
        assert np.all(np.isfinite(ours)), f"{what}: output {k} has non-finite entries"
        atol = rtol * max(1.0, float(np.max(np.abs(theirs))))
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"{what}: output {k}")


def _check_scans(
    cell: str, shape: tuple[int, int, int], dtype: str, *, masked: bool, after: bool, saturated: bool, seed: int = 0
) -> None:
    """The CuPy scans against the generic twins on CuPy and the NumPy scans on host copies; the backward
    scan leaves its inputs as they were."""
    import cupy as cp

    from xrnn.backends import cupy as cupy_backend

    xp = cupy_backend.BACKEND.xp
    host = _scan_problem(cell, shape, dtype, masked=masked, after=after, saturated=saturated, seed=seed)
    gpu = {k: _device(v) for k, v in host.items()}
    fast_forward, fast_backward = _cupy_scans(cell)
    twin_forward, twin_backward = _twins(cell)
    host_forward, host_backward = _host_scans(cell)
    label = f"{cell} {shape} {dtype} masked={masked} after={after} saturated={saturated}"

    forward_args = _forward_args(cell, gpu)
    twin_out = _as_tuple(twin_forward(xp, *forward_args, gpu["keep"]))
    fast_out = _as_tuple(fast_forward(forward_args[0].copy(), *forward_args[1:], gpu["keep"]))
    _assert_close(fast_out, twin_out, TWIN_RTOL[dtype], f"{label} forward vs twin")
    host_args = _forward_args(cell, host)
    host_out = _as_tuple(host_forward(np.array(host_args[0]), *host_args[1:], host["keep"]))
    _assert_close(fast_out, host_out, HOST_RTOL[dtype], f"{label} forward vs NumPy")

    backward_args = _backward_args(cell, gpu, twin_out)
    before = [a.copy() for a in backward_args]
    twin_grads = _as_tuple(twin_backward(xp, *backward_args, gpu["keep"], gpu["after"]))
    fast_grads = _as_tuple(fast_backward(*backward_args, gpu["keep"], gpu["after"]))
    _assert_close(fast_grads, twin_grads, TWIN_RTOL[dtype], f"{label} backward vs twin")
    for earlier, now in zip(before, backward_args, strict=True):
        cp.testing.assert_array_equal(earlier, now)  # the backward scan only reads
    host_inputs = _backward_args(cell, host, tuple(backends.to_numpy(v) for v in twin_out))
    host_grads = _as_tuple(host_backward(*host_inputs, host["keep"], host["after"]))
    _assert_close(fast_grads, host_grads, HOST_RTOL[dtype], f"{label} backward vs NumPy")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", SCAN_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_cupy_scans_equal_their_twins_and_the_numpy_scans(
    cell: str, shape: tuple[int, int, int], dtype: str, masked: bool
) -> None:
    _check_scans(cell, shape, dtype, masked=masked, after=False, saturated=False)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_cupy_backward_scans_take_after(cell: str, dtype: str, masked: bool) -> None:
    """The gradients reaching the last states from beyond the sequence (checkpointed BPTT's segments)."""
    for shape in ((1, 1, 1), (6, 5, 7)):
        _check_scans(cell, shape, dtype, masked=masked, after=True, saturated=False)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_gated_scans_with_saturated_gates(cell: str, dtype: str) -> None:
    for masked in (False, True):
        _check_scans(cell, (6, 5, 7), dtype, masked=masked, after=masked, saturated=True)


@settings(max_examples=15, deadline=None)
@given(
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    shape=st.tuples(st.integers(1, 9), st.integers(1, 40), st.integers(1, 40)),
    dtype=st.sampled_from(["float32", "float64"]),
    masked=st.booleans(),
    after=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cupy_scans_equal_their_twins_on_any_shape(
    cell: str, shape: tuple[int, int, int], dtype: str, masked: bool, after: bool, seed: int
) -> None:
    _check_scans(cell, shape, dtype, masked=masked, after=after, saturated=False, seed=seed)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cuda_graph_replay_of_every_scan_equals_step_by_step(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graphs on (the first call captures, the next ones replay) and off give the same numbers, with and
    without a mask and ``after``; each (direction, mask, after) gets its own graph; a replay never
    overwrites an earlier result."""
    from xrnn.backends import _cupy_graphs

    graphs = _cupy_graphs.ScanGraphs()
    graphs.capacity = 16
    monkeypatch.setattr(_cupy_graphs, "graphs", graphs)
    fast_forward, fast_backward = _cupy_scans(cell)
    for masked, after in ((False, False), (True, False), (False, True), (True, True)):
        kept = []
        for seed in range(3):
            gpu = {
                k: _device(v)
                for k, v in _scan_problem(
                    cell, (7, 5, 6), "float64", masked=masked, after=after, saturated=False, seed=seed
                ).items()
            }
            args = _forward_args(cell, gpu)
            results = []
            for enabled in (True, False):
                graphs.enabled = enabled
                outputs = _as_tuple(fast_forward(args[0].copy(), *args[1:], gpu["keep"]))
                grads = _as_tuple(fast_backward(*_backward_args(cell, gpu, outputs), gpu["keep"], gpu["after"]))
                results.append(outputs + grads)
            _assert_close(results[0], results[1], 1e-13, f"{cell} masked={masked} after={after} graphs on vs off")
            kept.append((results[0], tuple(r.copy() for r in results[0])))
        for result, snapshot in kept:
            for value, copy in zip(result, snapshot, strict=True):
                np.testing.assert_array_equal(backends.to_numpy(value), backends.to_numpy(copy))
    # forward: with and without a mask; backward: each of the four (capture failing would have warned)
    assert len(graphs._captured) == 6, "one graph per direction, mask and after"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_call_that_captures_gives_the_bits_of_its_replays(cell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graphs on, the same inputs give the same bits on the first call of a shape (which captures) as on
    the later ones (which replay): the layer and caller-array tests compare such calls with rtol=0, and
    cuBLAS may pick another algorithm under capture than CuPy's own products."""
    from xrnn.backends import _cupy_graphs

    graphs = _cupy_graphs.ScanGraphs()
    graphs.enabled = True  # whatever XRNN_CUDA_GRAPHS says
    monkeypatch.setattr(_cupy_graphs, "graphs", graphs)
    fast_forward, fast_backward = _cupy_scans(cell)
    for dtype in ("float32", "float64"):
        host = _scan_problem(cell, (20, 32, 64), dtype, masked=True, after=True, saturated=False)
        gpu = {k: _device(v) for k, v in host.items()}
        args = _forward_args(cell, gpu)
        calls = []
        for _ in range(2):
            outputs = _as_tuple(fast_forward(args[0].copy(), *args[1:], gpu["keep"]))
            grads = _as_tuple(fast_backward(*_backward_args(cell, gpu, outputs), gpu["keep"], gpu["after"]))
            calls.append([backends.to_numpy(value) for value in outputs + grads])
        for first, replayed in zip(*calls, strict=True):
            np.testing.assert_array_equal(first, replayed)
    assert len(graphs._captured) == 4, "one forward and one backward graph per dtype"


def test_threads_replaying_one_graph_get_their_own_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask's threaded scheduler runs shards of one shape at once on CuPy chunks: each call gets the
    results of its own inputs, not those of another thread's call through the same graph's buffers."""
    from xrnn.backends import _cupy_graphs

    graphs = _cupy_graphs.ScanGraphs()
    graphs.enabled = True  # whatever XRNN_CUDA_GRAPHS says
    monkeypatch.setattr(_cupy_graphs, "graphs", graphs)
    fast_forward, fast_backward = _cupy_scans("lstm")
    problems = [
        {
            k: _device(v)
            for k, v in _scan_problem(
                "lstm", (6, 5, 7), "float64", masked=True, after=False, saturated=False, seed=seed
            ).items()
        }
        for seed in range(2)
    ]

    def scan(p: dict[str, Any]) -> list[np.ndarray]:
        args = _forward_args("lstm", p)
        outputs = _as_tuple(fast_forward(args[0].copy(), *args[1:], p["keep"]))
        grads = _as_tuple(fast_backward(*_backward_args("lstm", p, outputs), p["keep"], p["after"]))
        return [backends.to_numpy(value) for value in outputs + grads]

    expected = [scan(p) for p in problems]  # one at a time (the first captures)

    def calls(k: int) -> int:
        wrong = 0
        for _ in range(200):
            got = scan(problems[k])
            wrong += not all(np.array_equal(a, b) for a, b in zip(got, expected[k], strict=True))
        return wrong

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy scheduler may
    try:
        with ThreadPoolExecutor(2) as pool:
            wrong = list(pool.map(calls, range(2)))
    finally:
        sys.setswitchinterval(interval)
    assert wrong == [0, 0], f"calls that got another thread's results: {wrong}"
    assert len(graphs._captured) == 2, "the threads replayed one forward and one backward graph"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_masked_and_after_calls_take_the_cupy_fast_paths(cell: str) -> None:
    """No masked call falls back to the twins: the registry hands CuPy's own scans to masked calls and to
    backward calls with ``after``."""
    from xrnn.backends import cupy as cupy_backend

    backend = cupy_backend.BACKEND
    for direction in ("forward", "backward"):
        kernel = f"{cell}_{direction}_scan"
        found = backends.fast_path(backend.xp, kernel, masked=True, after=direction == "backward")
        assert found is getattr(backend, kernel)
