"""The backend registry: discovery, conversion, detection and the fast-path switch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import TestBackend
from xrnn import backends
from xrnn.backends import _registry


def test_numpy_is_always_available() -> None:
    assert "numpy" in backends.available_backends()
    assert backends.get_backend("numpy").name == "numpy"
    assert set(backends.available_backends()) <= set(backends.backend_names())


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'jax'; known backends: numpy, array_api_strict, cupy"):
        backends.get_backend("jax")


def test_missing_library_gives_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "find_spec", lambda name: None)
    assert backends.unavailable_reason("cupy") == "cupy is not installed"
    with pytest.raises(backends.BackendUnavailableError, match="backend 'cupy' is unavailable: cupy is not installed"):
        backends.get_backend("cupy")


def test_a_broken_install_gives_a_reason_whatever_it_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver library's OSError on import crashed available_backends and xrnn info."""

    def broken(name: str) -> object:
        raise OSError("libcuda.so: cannot open shared object file")

    monkeypatch.setattr(_registry, "find_spec", lambda name: object())
    monkeypatch.setattr(_registry, "import_module", broken)
    reason = backends.unavailable_reason("cupy")
    assert reason == "cupy is installed but failed to import (OSError: libcuda.so: cannot open shared object file)"


def test_what_is_no_backend_name_or_no_array_data_is_refused() -> None:
    with pytest.raises(TypeError, match="a backend is named by a string such as 'numpy', got list"):
        backends.get_backend(["numpy"])  # type: ignore[arg-type]  # was "unhashable type"
    for data in (None, "abc", {"a": 1}):  # they became object or string arrays
        with pytest.raises(TypeError, match="asarray takes an array or numbers, got"):
            backends.asarray(data)


def test_to_numpy_computes_a_dask_array() -> None:
    da = pytest.importorskip("dask.array")
    np.testing.assert_array_equal(backends.to_numpy(da.ones(3)), np.ones(3))  # was an AttributeError


def test_round_trip_through_every_backend(backend: TestBackend) -> None:
    host = np.arange(6.0).reshape(2, 3)
    on_backend = backends.asarray(host, backend=backend.name, dtype="float32", device=backend.device)
    assert backends.backend_of(on_backend) is backend.adapter
    backend.assert_dtype(on_backend, "float32")
    np.testing.assert_array_equal(backends.to_numpy(on_backend), host)
    back_on_numpy = backends.asarray(on_backend, backend="numpy")
    assert isinstance(back_on_numpy, np.ndarray)
    np.testing.assert_array_equal(back_on_numpy, host)


def test_to_numpy_rejects_non_arrays() -> None:
    with pytest.raises(TypeError, match="to_numpy expects an array, got list"):
        backends.to_numpy([1.0])


def test_fast_path_switch(backend: TestBackend) -> None:
    kernel = backends.fast_path(backend.xp, "rnn_forward_scan")
    assert kernel is backend.adapter.rnn_forward_scan
    with backends.fast_paths(False):
        assert backends.fast_path(backend.xp, "rnn_forward_scan") is None
    assert backends.fast_path(backend.xp, "rnn_forward_scan") is kernel


def test_detection_imports_no_other_library() -> None:
    """Using xrnn with NumPy arrays must not import CuPy or array-api-strict behind the user's back."""
    code = (
        "import sys, numpy as np, xrnn\n"
        "p = xrnn.init_parameters(2, 3, 2, seed=0)\n"
        "xrnn.rnn_backward(np.ones((3, 1, 2)), xrnn.rnn_forward(np.ones((2, 1, 2)), np.zeros((3, 1)), p)[2])\n"
        "print(sorted(m for m in ('cupy', 'array_api_strict', 'torch') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_a_cells_declared_scan_runs_a_registered_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's cell (here the LSTM under new kernel names) declares its scans; registering functions under
    those names on NumPy makes the engine call them, with the mask and ``after``; unregistered, the twins run."""
    import dataclasses

    import xrnn
    from xrnn.backends import _numpy_gated

    lstm = xrnn.cells.get_cell("lstm")
    assert lstm.scan is not None

    class MyCache(xrnn.LSTMCache):
        @property
        def cell(self) -> xrnn.cells.Cell:
            return cell

    scan = dataclasses.replace(
        lstm.scan, forward_kernel="my_lstm_forward", backward_kernel="my_lstm_backward", cache_type=MyCache
    )
    cell = dataclasses.replace(lstm, name="my_lstm", scan=scan)
    calls: list[tuple[str, bool, bool]] = []

    def forward(*arrays: object) -> object:
        calls.append(("forward", arrays[-1] is not None, False))
        return _numpy_gated.lstm_forward_scan(*arrays)  # type: ignore[arg-type]

    def backward(*arrays: object) -> object:
        calls.append(("backward", arrays[5] is not None, len(arrays) == 7))
        return _numpy_gated.lstm_backward_scan(*arrays)  # type: ignore[arg-type]

    rng = np.random.default_rng(0)
    p = lstm.init(3, 4, 2, seed=0)
    x, da = rng.standard_normal((3, 5, 6)), rng.standard_normal((4, 5, 6))
    mask = np.arange(6) < rng.integers(1, 7, size=(5, 1))

    def run() -> dict[str, np.ndarray]:
        a, cache = cell.forward(x, None, p, mask=mask)
        return {"a": a, **cell.backward(da, cache)}

    generic = run()
    assert calls == []
    backends.register_fast_path("numpy", "my_lstm_forward", forward)
    backends.register_fast_path("numpy", "my_lstm_backward", backward)
    try:
        fast = run()
        assert calls == [("forward", True, False), ("backward", True, False)]
        with backends.fast_paths(False):
            run()
        assert len(calls) == 2
        _, cache = cell.forward(x, None, p, mask=mask, checkpoints=2)  # later segments get ``after``
        cell.backward(da, cache)
        assert ("backward", True, True) in calls
    finally:
        backends.register_fast_path("numpy", "my_lstm_forward", None)
        backends.register_fast_path("numpy", "my_lstm_backward", None)
    assert backends.fast_path(np, "my_lstm_forward") is None
    for name, value in generic.items():
        np.testing.assert_allclose(fast[name], value, rtol=0, atol=1e-13, err_msg=name)


def test_register_fast_path_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        backends.register_fast_path("jax", "k", print)
    with pytest.raises(ValueError, match="kernel must be a non-empty string, got ''"):
        backends.register_fast_path("numpy", "", print)
    with pytest.raises(TypeError, match="function must be callable or None, got int"):
        backends.register_fast_path("numpy", "k", 3)  # type: ignore[arg-type]
