"""Dask arrays sharded along ``m`` give the numbers of the ordinary functions, lazily, in a small graph.

References are the ordinary xrnn functions on the same backend's arrays without Dask (NumPy float64 on the
NumPy backend). Chunks are the backend's arrays: NumPy, or CuPy on a GPU; array-api-strict arrays cannot
be Dask chunks (Dask computes through NumPy's array protocols), so that backend skips here.
"""

from __future__ import annotations

import itertools
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("dask", reason="the Dask tests need dask: pip install 'xrnn[dask]' (or 'dask[array]>=2024.1')")
import dask
import dask.array as da
from dask.callbacks import Callback

import xrnn
from tests.helpers import TestBackend
from xrnn.parallel import dask_arrays

N_X, N_A, N_Y, M, T_X = 3, 5, 4, 10, 6
# (m,): one shard; (1, ..., 1): one example per shard; uneven shards.
CHUNKINGS = {"one-shard": (M,), "ones": (1,) * M, "uneven": (3, 5, 2)}
# Entry points: the public functions (which send Dask inputs to xrnn.dask_arrays) and the module itself.
ENTRIES = ["xrnn", "xrnn.dask_arrays"]
F64 = {"rtol": 1e-12, "atol": 1e-14}


@pytest.fixture
def chunks(backend: TestBackend) -> TestBackend:
    """The backend whose arrays are the Dask chunks."""
    if backend.name not in dask_arrays.CHUNK_LIBRARIES:
        pytest.skip(f"Dask chunks must be NumPy or CuPy arrays; {backend.name} arrays cannot be Dask chunks")
    return backend


def _api(entry: str) -> Any:
    return xrnn if entry == "xrnn" else dask_arrays


def _problem(cell: str, seed: int = 0, m: int = M, t_x: int = T_X) -> dict[str, Any]:
    """NumPy float64 data and parameters of order-one size, so every gradient entry is well away from 0."""
    rng = np.random.default_rng(seed)
    init = {"rnn": xrnn.init_parameters, "lstm": xrnn.init_lstm_parameters, "gru": xrnn.init_gru_parameters}[cell]
    parameters = {
        key: value + 0.5 * rng.standard_normal(value.shape) for key, value in init(N_X, N_A, N_Y, seed=seed).items()
    }
    return {
        "x": rng.standard_normal((N_X, m, t_x)),
        "a0": rng.standard_normal((N_A, m)),
        "c0": rng.standard_normal((N_A, m)),
        "da": rng.standard_normal((N_A, m, t_x)),
        "labels": rng.integers(0, N_Y, (m, t_x)),
        "targets": rng.dirichlet(np.ones(N_Y), (m, t_x)).transpose(2, 0, 1),
        "mask": np.arange(t_x)[None, :] < rng.integers(1, t_x + 1, (m, 1)),
        "parameters": parameters,
    }


def _sharded(backend: TestBackend, host: np.ndarray, m_chunks: tuple[int, ...], dtype: str | None = None) -> Any:
    """A Dask array of the backend's arrays, chunked along ``m`` (axis 1 of data, axis 0 of ``(m, T_x)``)."""
    array = backend.asarray(host, dtype)
    m_axis = 0 if host.dtype.kind in "biu" and host.ndim == 2 else 1
    chunk_shape = tuple(m_chunks if axis == m_axis else (n,) for axis, n in enumerate(host.shape))
    return da.from_array(array, chunks=chunk_shape, asarray=False)


def _assert_computed(backend: TestBackend, lazy: Any, expected: Any, **tolerance: float) -> None:
    """``lazy`` is a Dask array that computes to ``expected`` (an array of ``backend``) within ``tolerance``."""
    assert dask_arrays.is_dask_array(lazy), f"expected a lazy Dask array, got {type(lazy).__name__}"
    computed = lazy.compute()
    assert lazy.dtype == computed.dtype, f"Dask says {lazy.dtype}, the chunks hold {computed.dtype}"
    host = backend.to_numpy(expected)
    # BLAS rounds a shard's products differently from the whole batch's: allow a few ulps of the largest entry.
    default = {"rtol": F64["rtol"], "atol": F64["atol"] * max(float(np.max(np.abs(host))), 1.0)}
    backend.assert_close(computed, host, **(default | tolerance))


def _assert_tree_close(backend: TestBackend, lazy: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    assert sorted(lazy) == sorted(expected)
    for key in expected:
        _assert_computed(backend, lazy[key], expected[key])


# ------------------------------------------------------------------------------------ equality with NumPy


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("m_chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_rnn_forward_and_backward_match(chunks: TestBackend, entry: str, m_chunks: tuple[int, ...]) -> None:
    api, problem = _api(entry), _problem("rnn")
    params = chunks.tree(problem["parameters"])
    a, y, caches = xrnn.rnn_forward(chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), params)
    grads = xrnn.rnn_backward(chunks.asarray(problem["da"]), caches)

    x = _sharded(chunks, problem["x"], m_chunks)
    lazy_a, lazy_y, lazy_caches = api.rnn_forward(x, chunks.asarray(problem["a0"]), params)
    _assert_computed(chunks, lazy_a, a)
    _assert_computed(chunks, lazy_y, y)
    assert lazy_a.chunks == ((N_A,), m_chunks, (T_X,))
    assert isinstance(lazy_caches, dask_arrays.DaskCache)
    assert (len(lazy_caches), len(lazy_caches[0]), lazy_caches.shards) == (2, T_X, m_chunks)

    lazy_grads = api.rnn_backward(_sharded(chunks, problem["da"], m_chunks), lazy_caches)
    _assert_tree_close(chunks, lazy_grads, grads)
    assert lazy_grads["dx"].chunks == ((N_X,), m_chunks, (T_X,))
    assert lazy_grads["da0"].chunks == ((N_A,), m_chunks)
    assert lazy_grads["dWaa"].numblocks == (1, 1)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("m_chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("kind", ["labels", "targets"])
def test_rnn_loss_and_gradients_match(chunks: TestBackend, entry: str, m_chunks: tuple[int, ...], kind: str) -> None:
    problem = _problem("rnn", seed=1)
    params = chunks.tree(problem["parameters"])
    loss, grads = xrnn.rnn_loss_and_gradients(
        chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), chunks.asarray(problem[kind]), params
    )
    x = _sharded(chunks, problem["x"], m_chunks)
    lazy_loss, lazy_grads = _api(entry).rnn_loss_and_gradients(
        x, _sharded(chunks, problem["a0"], m_chunks), _sharded(chunks, problem[kind], m_chunks), params
    )
    _assert_computed(chunks, lazy_loss, loss)
    _assert_tree_close(chunks, lazy_grads, grads)
    assert lazy_grads["dx"].chunks[1] == m_chunks


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("m_chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
def test_masked_loss_and_gradients_match(chunks: TestBackend, entry: str, m_chunks: tuple[int, ...]) -> None:
    """With padding, the mean runs over the real steps of the whole batch: shards hold different counts."""
    problem = _problem("rnn", seed=2)
    params = chunks.tree(problem["parameters"])
    mask = chunks.asarray(problem["mask"])
    loss, grads = xrnn.rnn_loss_and_gradients(
        chunks.asarray(problem["x"]),
        chunks.asarray(problem["a0"]),
        chunks.asarray(problem["labels"]),
        params,
        mask=mask,
    )
    lazy_loss, lazy_grads = _api(entry).rnn_loss_and_gradients(
        _sharded(chunks, problem["x"], m_chunks),
        chunks.asarray(problem["a0"]),
        _sharded(chunks, problem["labels"], m_chunks),
        params,
        mask=_sharded(chunks, problem["mask"], m_chunks),
    )
    _assert_computed(chunks, lazy_loss, loss)
    _assert_tree_close(chunks, lazy_grads, grads)


def test_loss_is_the_global_mean_not_a_mean_of_shard_means(chunks: TestBackend) -> None:
    """With uneven shards the two differ, and only the global mean matches the single-batch loss."""
    problem, m_chunks = _problem("rnn", seed=2), (2, 7, 1)
    params = chunks.tree(problem["parameters"])
    data = {key: chunks.asarray(problem[key]) for key in ("x", "a0", "labels")}
    loss, _ = xrnn.rnn_loss_and_gradients(data["x"], data["a0"], data["labels"], params)
    bounds = np.cumsum((0, *m_chunks))
    shard_means = [
        float(xrnn.rnn_loss_and_gradients(data["x"][:, i:j, :], data["a0"][:, i:j], data["labels"][i:j, :], params)[0])
        for i, j in itertools.pairwise(bounds)
    ]
    assert abs(np.mean(shard_means) - float(loss)) > 1e-3, "test data should tell the two means apart"
    lazy_loss, _ = dask_arrays.rnn_loss_and_gradients(
        _sharded(chunks, problem["x"], m_chunks), data["a0"], data["labels"], params
    )
    assert float(lazy_loss.compute()) == pytest.approx(float(loss), rel=F64["rtol"])


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("m_chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("options", ["plain", "c0", "mask"])
def test_lstm_forward_and_backward_match(
    chunks: TestBackend, entry: str, m_chunks: tuple[int, ...], options: str
) -> None:
    api, problem = _api(entry), _problem("lstm", seed=3)
    params = chunks.tree(problem["parameters"])
    kwargs = {key: chunks.asarray(problem[key]) for key in ("c0", "mask") if key == options}
    a, y, c, caches = xrnn.lstm_forward(chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), params, **kwargs)
    grads = xrnn.lstm_backward(chunks.asarray(problem["da"]), caches)

    lazy_kwargs = {key: _sharded(chunks, problem[key], m_chunks) for key in kwargs}
    x, a0 = _sharded(chunks, problem["x"], m_chunks), chunks.asarray(problem["a0"])
    lazy_a, lazy_y, lazy_c, lazy_caches = api.lstm_forward(x, a0, params, **lazy_kwargs)
    for lazy, expected in ((lazy_a, a), (lazy_y, y), (lazy_c, c)):
        _assert_computed(chunks, lazy, expected)
    _assert_tree_close(chunks, api.lstm_backward(_sharded(chunks, problem["da"], m_chunks), lazy_caches), grads)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("m_chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("options", ["plain", "mask"])
def test_gru_forward_and_backward_match(
    chunks: TestBackend, entry: str, m_chunks: tuple[int, ...], options: str
) -> None:
    api, problem = _api(entry), _problem("gru", seed=4)
    params = chunks.tree(problem["parameters"])
    kwargs = {"mask": chunks.asarray(problem["mask"])} if options == "mask" else {}
    a, y, caches = xrnn.gru_forward(chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), params, **kwargs)
    grads = xrnn.gru_backward(chunks.asarray(problem["da"]), caches)

    lazy_kwargs = {key: _sharded(chunks, problem[key], m_chunks) for key in kwargs}
    x, a0 = _sharded(chunks, problem["x"], m_chunks), _sharded(chunks, problem["a0"], m_chunks)
    lazy_a, lazy_y, lazy_caches = api.gru_forward(x, a0, params, **lazy_kwargs)
    _assert_computed(chunks, lazy_a, a)
    _assert_computed(chunks, lazy_y, y)
    _assert_tree_close(chunks, api.gru_backward(_sharded(chunks, problem["da"], m_chunks), lazy_caches), grads)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_chunking_of_m_gives_the_same_loss_and_gradients(chunks: TestBackend, data: st.DataObject) -> None:
    m = data.draw(st.integers(1, 9), label="m")
    t_x = data.draw(st.integers(1, 4), label="T_x")
    cuts = data.draw(st.sets(st.integers(1, m - 1), max_size=m - 1), label="cuts") if m > 1 else set()
    bounds = [0, *sorted(cuts), m]
    m_chunks = tuple(j - i for i, j in itertools.pairwise(bounds))
    problem = _problem("rnn", seed=5, m=m, t_x=t_x)
    params = chunks.tree(problem["parameters"])
    x, a0, labels = (chunks.asarray(problem[key]) for key in ("x", "a0", "labels"))
    loss, grads = xrnn.rnn_loss_and_gradients(x, a0, labels, params)
    lazy_loss, lazy_grads = dask_arrays.rnn_loss_and_gradients(
        _sharded(chunks, problem["x"], m_chunks), a0, labels, params
    )
    _assert_computed(chunks, lazy_loss, loss)
    _assert_tree_close(chunks, lazy_grads, grads)


# ------------------------------------------------------------------------------- mixing, rechunking, dtypes


def test_dask_parameters_and_chunked_axes_are_rechunked(chunks: TestBackend) -> None:
    """Chunks along n_x, T_x and the parameters' axes are merged into one; results are unchanged."""
    problem = _problem("rnn", seed=6)
    params = chunks.tree(problem["parameters"])
    loss, grads = xrnn.rnn_loss_and_gradients(
        chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), chunks.asarray(problem["labels"]), params
    )
    x = da.from_array(chunks.asarray(problem["x"]), chunks=(1, (4, 6), 2), asarray=False)  # n_x and T_x chunked too
    a0 = da.from_array(chunks.asarray(problem["a0"]), chunks=(2, 5), asarray=False)  # other shards than x
    labels = da.from_array(chunks.asarray(problem["labels"]), chunks=(3, 1), asarray=False)
    dask_params = {key: da.from_array(value, chunks=1, asarray=False) for key, value in params.items()}
    lazy_loss, lazy_grads = dask_arrays.rnn_loss_and_gradients(x, a0, labels, dask_params)
    _assert_computed(chunks, lazy_loss, loss)
    _assert_tree_close(chunks, lazy_grads, grads)
    assert lazy_grads["dx"].chunks == ((N_X,), (4, 6), (T_X,)), "x's shards along m decide the output chunks"

    _, _, caches = dask_arrays.rnn_forward(x, a0, dask_params)
    assert caches.x.chunks == ((N_X,), (4, 6), (T_X,))
    assert caches.a0.chunks == ((N_A,), (4, 6))
    assert all(p.numblocks == (1, 1) for p in caches.shard_parameters)


def test_numpy_data_with_dask_parameters_and_dask_a0_only(chunks: TestBackend) -> None:
    """Dask in one data argument is enough; the others (and the parameters) may be of the chunk library."""
    problem = _problem("gru", seed=7)
    params = chunks.tree(problem["parameters"])
    a, _, _ = xrnn.gru_forward(chunks.asarray(problem["x"]), chunks.asarray(problem["a0"]), params)
    lazy_a, _, caches = xrnn.gru_forward(
        chunks.asarray(problem["x"]), _sharded(chunks, problem["a0"], (4, 6)), _dask_tree(params)
    )
    _assert_computed(chunks, lazy_a, a)
    assert caches.shards == (4, 6)


def _dask_tree(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: da.from_array(value, asarray=False) for key, value in params.items()}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_stays_float32(chunks: TestBackend, cell: str) -> None:
    problem = _problem(cell, seed=8)
    params = chunks.tree(problem["parameters"], "float32")
    x = _sharded(chunks, problem["x"], (3, 5, 2), "float32")
    a0 = chunks.asarray(problem["a0"], "float32")
    forward = {"rnn": dask_arrays.rnn_forward, "lstm": dask_arrays.lstm_forward, "gru": dask_arrays.gru_forward}
    backward = {"rnn": dask_arrays.rnn_backward, "lstm": dask_arrays.lstm_backward, "gru": dask_arrays.gru_backward}
    *outputs, caches = forward[cell](x, a0, params)
    grads = backward[cell](_sharded(chunks, problem["da"], (3, 5, 2), "float32"), caches)
    lazy = [*outputs, *grads.values()]
    if cell == "rnn":
        loss, loss_grads = dask_arrays.rnn_loss_and_gradients(x, a0, chunks.asarray(problem["labels"]), params)
        lazy += [loss, *loss_grads.values()]
    for array in lazy:
        assert array.dtype == np.float32, f"lazy dtype {array.dtype}"
    for array in dask.compute(*lazy):
        chunks.assert_dtype(array, "float32")
    # and the float32 numbers are the float64 ones within float32 tolerance
    x64 = _sharded(chunks, problem["x"], (3, 5, 2))
    *reference, _ = forward[cell](x64, chunks.asarray(problem["a0"]), chunks.tree(problem["parameters"]))
    for got, want in zip(outputs, reference, strict=True):
        chunks.assert_close(got.compute(), chunks.to_numpy(want.compute()), atol=1e-5, dtype="float32")


# ---------------------------------------------------------------------------------------- laziness, graph


class _TaskCounter(Callback):  # type: ignore[misc]
    """Counts the tasks any local Dask scheduler runs while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        self.count += 1


def _counted_input(chunks: TestBackend, host: np.ndarray, m_chunks: tuple[int, ...], calls: list[int]) -> Any:
    """A Dask array whose blocks record each time they are computed."""

    def block(b: Any) -> Any:
        calls.append(1)
        return b

    sharded = _sharded(chunks, host, m_chunks)
    return sharded.map_blocks(block, meta=sharded._meta)  # with meta given, Dask does not probe ``block``


def test_nothing_is_computed_before_compute(chunks: TestBackend) -> None:
    problem, calls = _problem("lstm", seed=9), []
    x = _counted_input(chunks, problem["x"], (3, 5, 2), calls)
    params = chunks.tree(problem["parameters"])
    with _TaskCounter() as counter:
        a, _, _, caches = xrnn.lstm_forward(x, chunks.asarray(problem["a0"]), params)
        grads = xrnn.lstm_backward(_counted_input(chunks, problem["da"], (2, 8), calls), caches)
        rnn_problem = _problem("rnn", seed=9)
        loss, loss_grads = xrnn.rnn_loss_and_gradients(
            _counted_input(chunks, rnn_problem["x"], (3, 5, 2), calls),
            chunks.asarray(rnn_problem["a0"]),
            _counted_input(chunks, rnn_problem["labels"], (3, 5, 2), calls),
            chunks.tree(rnn_problem["parameters"]),
        )
        assert (counter.count, len(calls)) == (0, 0), "building the graphs computed something"
        dask.compute(a, grads, loss, loss_grads)
        assert counter.count > 0
    assert len(calls) > 0


def _graph(collections: list[Any]) -> dict[Any, Any]:
    """Every task of ``collections``, merged."""
    return {key: task for array in collections for key, task in dict(array.__dask_graph__()).items()}


def _graph_size(t_x: int, m_chunks: tuple[int, ...], split_every: int | None = None) -> int:
    problem = _problem("rnn", seed=10, m=sum(m_chunks), t_x=t_x)
    x = da.from_array(problem["x"], chunks=(N_X, m_chunks, t_x))
    loss, grads = dask_arrays.rnn_loss_and_gradients(
        x, problem["a0"], problem["labels"], problem["parameters"], split_every=split_every
    )
    return len(_graph([loss, *grads.values()]))


def test_graph_grows_with_shards_not_with_time_steps() -> None:
    assert _graph_size(t_x=2, m_chunks=(5, 5)) == _graph_size(t_x=64, m_chunks=(5, 5))
    two, eight = _graph_size(t_x=4, m_chunks=(5,) * 2), _graph_size(t_x=4, m_chunks=(5,) * 8)
    assert two < eight < 30 * 8, (two, eight)


def test_parameter_gradients_are_a_tree_reduction() -> None:
    """``split_every`` is honoured: a narrower tree has more partial sums, and the sums agree."""
    assert _graph_size(4, (1,) * 16, split_every=2) > _graph_size(4, (1,) * 16, split_every=16)
    problem = _problem("rnn", seed=11, m=16)
    x = da.from_array(problem["x"], chunks=(N_X, 1, T_X))
    args = (x, problem["a0"], problem["labels"], problem["parameters"])
    narrow, wide = (dask_arrays.rnn_loss_and_gradients(*args, split_every=k)[1]["dWaa"] for k in (2, 16))
    np.testing.assert_allclose(narrow.compute(), wide.compute(), rtol=F64["rtol"])


def test_backward_graph_pickles_for_distributed_workers() -> None:
    problem = _problem("lstm", seed=12)
    x = da.from_array(problem["x"], chunks=(N_X, (3, 7), T_X))
    _, _, _, caches = dask_arrays.lstm_forward(x, problem["a0"], problem["parameters"])
    grads = dask_arrays.lstm_backward(problem["da"], caches)
    graph = _graph(list(grads.values()))
    assert pickle.loads(pickle.dumps(graph)).keys() == graph.keys()


# -------------------------------------------------------------------------------------------- rejections


def test_unknown_chunk_sizes_are_rejected() -> None:
    problem = _problem("rnn")
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    x = x[:, da.from_array(np.ones(M, dtype=bool), chunks=5), :]  # boolean indexing: unknown sizes along m
    with pytest.raises(ValueError, match=r"x has chunks of unknown size .*compute_chunk_sizes"):
        dask_arrays.rnn_forward(x, problem["a0"], problem["parameters"])
    waa = da.from_array(problem["parameters"]["Waa"], chunks=5)
    unknown = {**problem["parameters"], "Waa": waa[waa[:, 0] > -100]}  # was: cannot convert float NaN to integer
    with pytest.raises(ValueError, match=r"parameters\['Waa'\] has chunks of unknown size"):
        dask_arrays.rnn_forward(da.from_array(problem["x"], chunks=(N_X, 5, T_X)), problem["a0"], unknown)


def test_a_float16_loss_and_a_split_of_one_are_refused_before_any_work() -> None:
    """As the NumPy engine's door refuses them: not when a shard runs (float16), not silently (split_every)."""
    problem = _problem("rnn")
    half = {key: value.astype(np.float16) for key, value in problem["parameters"].items()}
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    labels = np.zeros((M, T_X), dtype=np.int64)
    with pytest.raises(TypeError, match="x must be float32 or float64 for a loss, got float16"):
        xrnn.rnn_loss_and_gradients(x.astype(np.float16), problem["a0"].astype(np.float16), labels, half)
    with pytest.raises(ValueError, match=r"split_every must be at least 2 \(shards summed per task\), got 0"):
        dask_arrays.rnn_loss_and_gradients(x, problem["a0"], labels, problem["parameters"], split_every=0)


def test_mixed_dtypes_are_rejected() -> None:
    problem = _problem("rnn")
    x = da.from_array(problem["x"].astype(np.float32), chunks=(N_X, 5, T_X))
    with pytest.raises(TypeError, match=r"parameters\['Wax'\] has dtype float64 but x has dtype float32"):
        xrnn.rnn_forward(x, problem["a0"].astype(np.float32), problem["parameters"])


def test_shapes_are_checked_before_any_work() -> None:
    problem = _problem("lstm")
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    with pytest.raises(ValueError, match=r"a0 must have shape \(n_a, m\) = \(5, 10\), got \(5, 9\)"):
        xrnn.lstm_forward(x, problem["a0"][:, :9], problem["parameters"])
    a, _, _, caches = xrnn.lstm_forward(x, problem["a0"], problem["parameters"])
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(5, 10, 6\), got \(5, 10, 5\)"):
        xrnn.lstm_backward(a[..., :5], caches)


def test_chunk_library_other_than_numpy_or_cupy_is_rejected() -> None:
    xps = pytest.importorskip("array_api_strict", reason="needs array-api-strict for a non-NumPy parameter")
    problem = _problem("rnn")
    params = dict(problem["parameters"], Waa=xps.asarray(problem["parameters"]["Waa"]))
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    with pytest.raises(TypeError, match=r"parameters\['Waa'\] holds array_api_strict arrays; Dask chunks"):
        xrnn.rnn_forward(x, problem["a0"], params)


def test_cache_of_another_cell_is_rejected() -> None:
    problem = _problem("rnn")
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    a, _, caches = xrnn.rnn_forward(x, problem["a0"], problem["parameters"])
    with pytest.raises(TypeError, match=r"caches was made by rnn_forward, but this backward pass needs .*gru_forward"):
        xrnn.gru_backward(a, caches)
    with pytest.raises(TypeError, match=r"caches must be the DaskCache returned by rnn_forward with Dask inputs"):
        dask_arrays.rnn_backward(a, object())  # type: ignore[arg-type]


def test_bad_labels_and_masks_are_rejected() -> None:
    problem = _problem("rnn")
    x = da.from_array(problem["x"], chunks=(N_X, 5, T_X))
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        xrnn.rnn_loss_and_gradients(x, problem["a0"], problem["mask"], problem["parameters"])
    with pytest.raises(TypeError, match="mask must have dtype bool, got int64"):
        xrnn.rnn_forward(x, problem["a0"], problem["parameters"], mask=problem["labels"])
    # class indices out of range are found when the shards run (checking earlier would compute labels)
    loss, _ = xrnn.rnn_loss_and_gradients(x, problem["a0"], problem["labels"] + N_Y, problem["parameters"])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, n_y\)"):
        loss.compute()


# ----------------------------------------------------------------------------------------- import guards

_RUN: Callable[[str], subprocess.CompletedProcess[str]] = lambda code: subprocess.run(  # noqa: E731
    [sys.executable, "-c", code], capture_output=True, text=True, check=False
)


def test_xrnn_imports_and_runs_without_dask() -> None:
    code = (
        "import sys; sys.modules['dask'] = None\n"  # any import of dask now fails
        "import numpy as np, xrnn, xrnn.dask_arrays\n"
        "p = xrnn.init_parameters(3, 5, 2, seed=0)\n"
        "xrnn.rnn_backward(np.ones((5, 2, 3)), xrnn.rnn_forward(np.ones((3, 2, 3)), np.zeros((5, 2)), p)[2])\n"
        "try:\n"
        "    xrnn.dask_arrays.rnn_forward(np.ones((3, 2, 3)), np.zeros((5, 2)), p)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = _RUN(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'xrnn[dask]'" in result.stdout


def test_docs_python_blocks_run() -> None:
    """The runnable examples of docs/dask.md (```python blocks; cluster examples use code-block directives)."""
    page = Path(__file__).resolve().parent.parent / "docs" / "dask.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "docs/dask.md should show a runnable example"
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
