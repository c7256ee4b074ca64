"""Data-parallel training on a ``dask.distributed`` cluster: one batch, sharded along ``m`` over the workers.

:class:`DataParallel` computes the loss and gradients of a training step (of
:class:`xrnn.train.trainer.Trainer`, for any task and cell), but with the batch cut into shards along ``m``:

* one task per step holds the parameters; every shard task reads that one key, so a worker receives the
  parameters once per step, whatever the number of shards it runs;
* one task per shard gets its slice of the step's *compact* batch, the task's token ids (a character
  window is ``T_x + 1`` integers, where its one-hot inputs and labels were ``T_x * (n_x + 1)`` numbers),
  builds the inputs there and runs the task's objective (:mod:`xrnn.train.objectives`), returning its
  loss and parameter gradients as one flat vector of *sums* (mean times its number of terms);
  :meth:`DataParallel.submit` does the same for given inputs ``x (n_x, m, T_x)`` and labels;
* the vectors are summed in a fixed tree of ``split_every`` vectors per task, by shard index, so the
  order of additions never depends on which worker ran what;
* the client gathers the one summed vector, divides it once by the number of terms and hands the gradients to the
  optimizer, which updates the parameters once, on the client.

Faults: every task is a pure function of its arguments, which the scheduler keeps. When a worker dies,
the scheduler runs again whatever was running or stored there (its *lineage*), on another worker or on
the one the nanny restarts, and the step's single result is the sum of every shard once, added in the
same order as without the fault (equal up to rounding: BLAS may round differently for a differently
aligned copy of the same shard). The client gathers one result per step and commits the step once, so
nothing is lost or counted twice.

``distributed`` is imported on first use: xrnn imports without it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import array_api_compat

from xrnn._typing import Array
from xrnn._validation import expect_integer
from xrnn.patterns import many_to_many_loss_and_gradients

__all__ = ["ClusterError", "DataParallel", "Objective", "PendingStep", "connect", "shard_sizes"]

#: ``--scheduler local:N`` starts a LocalCluster of N worker processes on loopback.
LOCAL_PREFIX = "local:"
#: Seconds :func:`connect` waits for a scheduler (and a local cluster's workers) when given no ``timeout``.
CONNECT_TIMEOUT = 30.0


class Objective(Protocol):
    """What a shard task runs on its slice of a batch (as :mod:`xrnn.train.objectives`'s classes do).

    It must pickle (the workers get it by value) and be a pure function of its arguments.
    """

    def loss_and_gradients(self, parameters: Mapping[str, Array], *batch: Array) -> tuple[Array, dict[str, Array]]:
        """The mean loss over :meth:`terms` terms and ``"d" + key`` for every parameter."""
        ...

    def terms(self, *batch: Array) -> int:
        """How many terms the mean loss of ``batch`` runs over."""
        ...


class ClusterError(RuntimeError):
    """The cluster gave up on a step: every worker that ran one of its tasks died (``distributed.KilledWorker``)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "data-parallel training needs dask.distributed: pip install 'xrnn[dask]' (or distributed)"
        ) from None
    return distributed


def shard_sizes(m: int, shards: int) -> list[int]:
    """The batch size of each shard: ``m`` cut into ``min(shards, m)`` near-equal parts, larger first.

    Examples
    --------
    >>> from xrnn.parallel.distributed import shard_sizes
    >>> shard_sizes(10, 3), shard_sizes(2, 4)
    ([4, 3, 3], [1, 1])
    """
    m = expect_integer("m", m, low=1, kind="an int")
    shards = expect_integer("shards", shards, low=1, kind="an int")
    count = min(shards, m)
    return [m // count + (1 if i < m % count else 0) for i in range(count)]


@dataclass(frozen=True)
class PendingStep:
    """One submitted step: the future of its summed vector and what is needed to cut it back into gradients.

    Attributes
    ----------
    future : distributed.Future
        The root of the reduction tree: ``[loss, dW..., db...]`` summed over the shards (not yet divided).
    shapes : tuple of (str, tuple of int)
        Each parameter's key and shape, in the order of the flat vector (after the loss).
    count : int
        The number of loss terms (``m * T_x`` for many-to-many), which divides the sums.
    shards : tuple of int
        The batch size of each shard.
    """

    future: Any
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    count: int
    shards: tuple[int, ...]


class DataParallel:
    """Many-to-many loss and gradients of one batch, sharded along ``m`` over a ``dask.distributed`` cluster.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster; the workers must be able to import this version of xrnn.
    shards : int, optional
        Shards per step (at most ``m``). By default the number of worker threads when the object is made;
        it stays fixed afterwards, so that the order of the additions, and hence the numbers, do not change
        when workers come and go.
    split_every : int
        Vectors summed per task in the reduction tree (at least 2).
    timeout : float, optional
        Seconds to wait for a step's result before raising ``TimeoutError`` (``None``: no limit).

    Examples
    --------
    >>> import pytest; distributed = pytest.importorskip("distributed")  # the example needs dask.distributed
    >>> import numpy as np, xrnn
    >>> from xrnn.parallel.distributed import DataParallel
    >>> from xrnn.patterns import many_to_many_loss_and_gradients, one_hot
    >>> p = xrnn.init_parameters(4, 8, 4, seed=0)
    >>> tokens = np.random.default_rng(0).integers(0, 4, (6, 9))
    >>> x, labels = one_hot(tokens[:, :-1], 4, dtype=np.float64), tokens[:, 1:]
    >>> with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as c:
    ...     loss, grads = DataParallel(c, shards=3).loss_and_gradients(x, labels, p)
    >>> reference, expected = many_to_many_loss_and_gradients(x, labels, p)
    >>> bool(np.isclose(loss, reference, rtol=1e-12)), bool(np.allclose(grads["dWaa"], expected["dWaa"]))
    (True, True)
    """

    def __init__(
        self, client: Any, *, shards: int | None = None, split_every: int = 8, timeout: float | None = 300.0
    ) -> None:
        if shards is None:
            shards = sum(client.nthreads().values())
            if shards < 1:
                raise ValueError("the cluster has no workers; start some, or pass shards=")
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        if split_every < 2:
            raise ValueError(f"split_every must be at least 2, got {split_every}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive or None, got {timeout}")
        self.client = client
        self.shards = int(shards)
        self.split_every = int(split_every)
        self.timeout = timeout

    def submit(self, x: Array, labels: Array, parameters: Mapping[str, Array]) -> PendingStep:
        """Send one step's tasks to the cluster and return at once.

        Parameters
        ----------
        x : array, shape (n_x, m, T_x)
            Inputs (NumPy or CuPy: the workers compute on them).
        labels : integer array, shape (m, T_x)
            The class of every step, or targets ``(n_y, m, T_x)``.
        parameters : mapping
            An RNN's, LSTM's or GRU's parameters.

        Returns
        -------
        PendingStep
            For :meth:`gather`.
        """
        if x.ndim != 3:
            raise ValueError(f"x must have shape (n_x, m, T_x), got shape {tuple(x.shape)}")
        m, t_x = int(x.shape[1]), int(x.shape[2])
        batch_axis = 0 if labels.ndim == 2 else 1
        if labels.ndim not in (2, 3) or int(labels.shape[batch_axis]) != m:
            raise ValueError(f"labels must have shape (m, T_x) or (n_y, m, T_x) with m = {m}, got {labels.shape}")
        sizes = shard_sizes(m, self.shards)
        xs, label_shards = _cut(x, 1, sizes), _cut(labels, batch_axis, sizes)
        return self._submit(_shard, list(zip(xs, label_shards, strict=True)), sizes, parameters, m * t_x)

    def submit_batch(
        self, objective: Objective, batch: Sequence[Array], parameters: Mapping[str, Array]
    ) -> PendingStep:
        """Send one step of ``objective`` on ``batch`` (arrays with ``m`` first, as the tasks draw them).

        Each shard task gets its slice of every array of ``batch`` and the objective, and returns
        ``objective.loss_and_gradients`` of its slice as sums over ``objective.terms`` of it.

        Parameters
        ----------
        objective : Objective
            The loss of a batch, e.g. :class:`xrnn.train.objectives.NextToken`.
        batch : sequence of arrays
            Each with the batch along axis 0 (at least 1 long, the same for all).
        parameters : mapping
            The parameters of the objective's cell.

        Returns
        -------
        PendingStep
            For :meth:`gather`.
        """
        if not batch or any(array.ndim < 1 for array in batch):
            raise ValueError("batch must be one or more arrays with the batch along axis 0")
        m = int(batch[0].shape[0])
        if m < 1 or any(int(array.shape[0]) != m for array in batch):
            raise ValueError(
                f"every array of batch must have the same m >= 1 along axis 0, got {[a.shape for a in batch]}"
            )
        sizes = shard_sizes(m, self.shards)
        slices = list(zip(*(_cut(array, 0, sizes) for array in batch), strict=True))
        shard = functools.partial(_objective_shard, objective)
        return self._submit(shard, slices, sizes, parameters, objective.terms(*batch))

    def _submit(
        self,
        shard: Any,
        slices: Sequence[tuple[Array, ...]],
        sizes: Sequence[int],
        parameters: Mapping[str, Array],
        count: int,
    ) -> PendingStep:
        """One task for the parameters, one ``shard(parameters, *slice)`` task per slice, then the sum tree."""
        client = self.client
        token = uuid.uuid4().hex[:12]
        params = client.submit(_parameters, dict(parameters), key=f"xrnn-parameters-{token}", pure=False)
        vectors = [
            client.submit(shard, params, *arrays, key=f"xrnn-shard-{token}-{i}", pure=False)
            for i, arrays in enumerate(slices)
        ]
        level = 0
        while len(vectors) > 1:
            groups = [vectors[i : i + self.split_every] for i in range(0, len(vectors), self.split_every)]
            vectors = [
                client.submit(_sum, *group, key=f"xrnn-sum-{token}-{level}-{j}", pure=False)
                for j, group in enumerate(groups)
            ]
            level += 1
        shapes = tuple((key, tuple(int(n) for n in value.shape)) for key, value in parameters.items())
        return PendingStep(vectors[0], shapes, count, tuple(sizes))

    def gather(self, pending: PendingStep) -> tuple[Array, dict[str, Array]]:
        """Wait for a submitted step: its mean loss and ``"d" + key`` for every parameter, on the client.

        Raises
        ------
        TimeoutError
            The step took longer than ``timeout`` seconds.
        ClusterError
            A task of the step killed as many workers as the scheduler allows (its ``allowed-failures``).
        """
        distributed = _distributed()
        try:
            flat = pending.future.result(timeout=self.timeout)
        except distributed.TimeoutError:
            raise TimeoutError(
                f"the cluster did not finish the step within {self.timeout} s; are its workers running?"
            ) from None
        except distributed.KilledWorker as error:
            reason = " ".join(str(error).split())
            raise ClusterError(f"the cluster gave up on the step ({reason}); are the workers out of memory?") from None
        flat = flat / pending.count
        xp = array_api_compat.array_namespace(flat)
        gradients = {}
        offset = 1
        for key, shape in pending.shapes:
            size = math.prod(shape)
            gradients["d" + key] = xp.reshape(flat[offset : offset + size], shape)
            offset += size
        return flat[0], gradients

    def batch_loss_and_gradients(
        self, objective: Objective, batch: Sequence[Array], parameters: Mapping[str, Array]
    ) -> tuple[Array, dict[str, Array]]:
        """:meth:`submit_batch`, then :meth:`gather`: what ``objective.loss_and_gradients(parameters, *batch)``
        gives for the parameters, up to the order of the additions over the shards.

        Examples
        --------
        >>> import pytest; distributed = pytest.importorskip("distributed")  # the example needs dask.distributed
        >>> import numpy as np
        >>> from xrnn.cells import get_cell
        >>> from xrnn.parallel.distributed import DataParallel
        >>> from xrnn.train import TrainConfig, make_task
        >>> task = make_task(TrainConfig(task="copy", delay=5, cell="lstm", hidden=8, batch=6, dtype="float64"))
        >>> params = get_cell("lstm").init(10, 8, 10, seed=0)
        >>> batch = task.batch(1)  # the 10 symbols of each of 6 sequences: all that the shards receive
        >>> with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as c:
        ...     loss, grads = DataParallel(c, shards=3).batch_loss_and_gradients(task.objective, batch, params)
        >>> expected, _ = task.objective.loss_and_gradients(params, *batch)
        >>> [b.shape for b in batch], bool(np.isclose(loss, expected, rtol=1e-12))
        ([(6, 10)], True)
        """
        return self.gather(self.submit_batch(objective, batch, parameters))

    def loss_and_gradients(
        self, x: Array, labels: Array, parameters: Mapping[str, Array]
    ) -> tuple[Array, dict[str, Array]]:
        """:meth:`submit`, then :meth:`gather`: the mean loss and the parameter gradients of one batch.

        The numbers equal those of :func:`xrnn.patterns.many_to_many_loss_and_gradients` up to the order
        of the additions over the shards (``rtol = 1e-12`` in float64); ``dx`` and ``da0`` stay on the
        workers and are not returned.
        """
        return self.gather(self.submit(x, labels, parameters))


@contextlib.contextmanager
def connect(scheduler: str, *, timeout: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed (with any cluster it started) on exit.

    Parameters
    ----------
    scheduler : str
        A scheduler address (``tcp://10.0.0.5:8786``), or ``local:N`` to start a ``LocalCluster`` of
        ``N`` single-threaded worker processes on the loopback interface (the dashboard on a free port).
    timeout : float, optional
        Seconds to wait for the connection (and, for ``local:N``, for the workers); by default
        ``CONNECT_TIMEOUT``.

    Raises
    ------
    ValueError
        A ``local:N`` whose ``N`` is not a positive integer.
    OSError
        No scheduler answered at the address in time.

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("distributed")  # the example needs dask.distributed
    >>> from xrnn.parallel.distributed import connect
    >>> with connect("local:1") as client:
    ...     client.submit(sum, [1, 2]).result(timeout=30)
    3
    """
    distributed = _distributed()
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if scheduler.startswith(LOCAL_PREFIX):
        text = scheduler[len(LOCAL_PREFIX) :]
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"local:N needs a positive number of workers N, got {scheduler!r}")
        with (
            distributed.LocalCluster(
                n_workers=int(text),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
            ) as cluster,
            distributed.Client(cluster, timeout=timeout) as client,
        ):
            client.wait_for_workers(int(text), timeout=timeout)
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, distributed.TimeoutError) as error:
        raise OSError(f"no dask scheduler answered at {scheduler!r} within {timeout:g} s ({error})") from None
    with client:
        yield client


# ------------------------------------------------------------------------------------------ worker tasks


def _parameters(parameters: dict[str, Array]) -> dict[str, Array]:
    """The step's parameters, as one key every shard reads."""
    return parameters


def _shard(parameters: Mapping[str, Array], x: Array, labels: Array) -> Array:
    """One shard's loss and parameter gradients as sums over its ``m_i * T_x`` terms, in one flat vector."""
    loss, grads = many_to_many_loss_and_gradients(x, labels, parameters)
    return _flat_sums(loss, grads, parameters, int(x.shape[1]) * int(x.shape[2]))


def _objective_shard(objective: Objective, parameters: Mapping[str, Array], *batch: Array) -> Array:
    """One shard's ``objective`` loss and parameter gradients as sums over its terms, in one flat vector."""
    loss, grads = objective.loss_and_gradients(parameters, *batch)
    return _flat_sums(loss, grads, parameters, objective.terms(*batch))


def _flat_sums(loss: Array, grads: Mapping[str, Array], parameters: Mapping[str, Array], count: int) -> Array:
    xp = array_api_compat.array_namespace(loss)
    pieces: Sequence[Array] = [loss, *(grads["d" + key] for key in parameters)]
    return xp.concat([xp.reshape(piece, (-1,)) for piece in pieces]) * count


def _cut(array: Array, axis: int, sizes: Sequence[int]) -> list[Array]:
    """``array`` cut along ``axis`` into consecutive pieces of ``sizes``."""
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    index = [slice(None)] * array.ndim
    pieces = []
    for start, size in zip(starts, sizes, strict=True):
        index[axis] = slice(start, start + size)
        pieces.append(array[tuple(index)])
    return pieces


def _sum(*vectors: Array) -> Array:
    """The vectors added left to right: a fixed order, whatever worker runs it."""
    return functools.reduce(operator.add, vectors)
