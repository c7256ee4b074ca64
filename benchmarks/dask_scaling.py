"""Data-parallel training throughput against the number of dask.distributed workers, and bytes per step.

Run ``python -m benchmarks.dask_scaling`` (about a minute on 2 cores). For each worker count of
``--workers`` (default ``1,2``) it starts a ``LocalCluster`` of that many single-threaded worker processes
on loopback, trains ``xrnn.training.CharTrainer`` on the default corpus with
``xrnn.distributed.DataParallel`` (one shard per worker), and times ``--steps`` steps after ``--warmup``
untimed ones. The ``in-process`` row is the same training without Dask, with one BLAS thread like each
worker (``--in-process-threads``; dask's nanny starts workers with ``OMP_NUM_THREADS=1``). Each row reports steps/s,
sequences/s and the speed-up over one worker.

It also computes, from the shapes alone, what one step moves: the parameters (once to each worker that
runs a shard), each shard's windows of token ids (client to worker; the workers build the one-hot inputs
and the labels from them), and each shard's flat vector of loss and
parameter gradients (up the reduction tree, at most about ``S k / (k - 1)`` vectors for ``S`` shards and
fan-in ``k``). Results go to stdout as a table and to ``--json``.

A 2-core machine shows at most 2 workers' worth of scaling, and the client and the scheduler share those
cores with the workers: numbers on more workers need a machine (or a cluster) with more cores.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import xrnn
from benchmarks.harness import log, machine_info, render_text, write_json
from xrnn.parallel.distributed import DataParallel, shard_sizes
from xrnn.train.trainer import CharTrainer, TrainConfig, default_corpus

ITEMSIZE = {"float32": 4, "float64": 8}
TOKEN_ITEMSIZE = 8  # int64 token ids


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dask_scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--cell", default="rnn", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--hidden", type=int, default=256, help="n_a (default 256)")
    parser.add_argument("--batch", type=int, default=256, help="m: sequences per step (default 256)")
    parser.add_argument("--seq-len", type=int, default=50, help="T_x (default 50)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per worker count (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--split-every", type=int, default=8, help="fan-in of the reduction tree (default 8)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the run without Dask")
    parser.add_argument(
        "--in-process-threads",
        type=int,
        default=1,
        help="BLAS threads of the run without Dask, like a worker's (default 1; 0: the library's default)",
    )
    parser.add_argument("--json", default="dask-scaling.json", metavar="PATH", help="(default dask-scaling.json)")
    args = parser.parse_args(argv)
    args.worker_counts = [int(n) for n in args.workers.split(",") if n]
    if not args.worker_counts or min(args.worker_counts) < 1:
        parser.error(f"--workers needs positive counts, got {args.workers!r}")
    return args


def communication(config: TrainConfig, n_x: int, shards: int, split_every: int) -> dict[str, Any]:
    """Bytes one step moves, from the shapes: parameters, shard inputs and labels, gradient vectors.

    Examples
    --------
    >>> from xrnn.train.trainer import TrainConfig
    >>> c = communication(TrainConfig(hidden=4, seq_len=2, batch=3, dtype="float64"), n_x=5, shards=2, split_every=8)
    >>> c["parameters"], c["gradient_vector_bytes"], c["shard_bytes"]
    (65, 528, [48, 24])
    """
    itemsize = ITEMSIZE[config.dtype]
    n_a, n_y = config.hidden, n_x
    parameters = {
        "rnn": n_a * (n_x + n_a + 1) + n_y * (n_a + 1),
        "lstm": 4 * n_a * (n_a + n_x + 1) + n_y * (n_a + 1),
        "gru": 3 * n_a * (n_a + n_x + 1) + n_y * (n_a + 1),
    }[config.cell]
    sizes = shard_sizes(config.batch, shards)
    shard_bytes = [m_i * (config.seq_len + 1) * TOKEN_ITEMSIZE for m_i in sizes]  # (m_i, T_x + 1) windows
    vector = (parameters + 1) * itemsize  # the loss, then every parameter gradient
    # Vectors moved up the tree: S shards, then ceil(S / k), ... down to 1 (each at most once).
    moved, level = 0, len(sizes)
    while level > 1:
        moved += level
        level = math.ceil(level / split_every)
    return {
        "parameters": parameters,
        "parameter_bytes": parameters * itemsize,
        "gradient_vector_bytes": vector,
        "shard_bytes": shard_bytes,
        "reduction_bytes_at_most": (moved + 1) * vector,  # + 1: the sum to the client
        "per_step_bytes_at_most": parameters * itemsize * len(sizes) + sum(shard_bytes) + (moved + 1) * vector,
    }


@contextlib.contextmanager
def _blas_threads(threads: int) -> Iterator[None]:
    if threads < 1:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--in-process-threads needs threadpoolctl (pip install threadpoolctl), or pass 0") from None
    with threadpool_limits(threads, user_api="blas"):
        yield


def _time(trainer: CharTrainer, warmup: int, steps: int) -> float:
    trainer.run(trainer.step + warmup)
    start = time.perf_counter()
    trainer.run(trainer.step + steps)
    return time.perf_counter() - start


def _row(name: str, workers: int, seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "run": name,
        "workers": workers,
        "seconds": seconds,
        "steps_per_s": args.steps / seconds,
        "sequences_per_s": args.steps * args.batch / seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    import distributed

    args = _arguments(argv)
    text = default_corpus()
    config = TrainConfig(
        cell=args.cell,
        hidden=args.hidden,
        seq_len=args.seq_len,
        batch=args.batch,
        dtype=args.dtype,
        steps=args.warmup + args.steps,
        val_fraction=0.0,  # the whole text, as before held-out evaluation
    )
    info = machine_info()
    info["xrnn"], info["distributed"] = xrnn.__version__, distributed.__version__
    n_x = len(CharTrainer(config, text).vocabulary)
    log(
        f"xrnn data-parallel scaling: {config.cell}, n_x={n_x}, n_a={config.hidden}, m={config.batch}, "
        f"T_x={config.seq_len}, {config.dtype}; {info['cpu_model']}, {info['usable_cpus']} usable CPUs"
    )
    rows = []
    if not args.no_in_process:
        with _blas_threads(args.in_process_threads):
            seconds = _time(CharTrainer(config, text), args.warmup, args.steps)
        rows.append(_row("in-process", 0, seconds, args))
        rows[-1]["blas_threads"] = args.in_process_threads or None
        log(f"in-process: {rows[-1]['steps_per_s']:.2f} steps/s")
    for workers in args.worker_counts:
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.wait_for_workers(workers, timeout=60)
            engine = DataParallel(client, shards=workers, split_every=args.split_every)
            seconds = _time(CharTrainer(config, text, parallel=engine), args.warmup, args.steps)
        rows.append(_row(f"dask {workers}", workers, seconds, args))
        rows[-1]["communication"] = communication(config, n_x, workers, args.split_every)
        log(f"{workers} worker(s): {rows[-1]['steps_per_s']:.2f} steps/s")
    one = next((r["steps_per_s"] for r in rows if r["workers"] == 1), None)
    table = []
    for row in rows:
        comm = row.get("communication")
        row["speedup_vs_1_worker"] = None if one is None else row["steps_per_s"] / one
        table.append(
            [
                row["run"],
                f"{row['steps_per_s']:.2f}",
                f"{row['sequences_per_s']:.0f}",
                "-" if row["speedup_vs_1_worker"] is None else f"{row['speedup_vs_1_worker']:.2f}x",
                "-" if comm is None else f"{comm['parameter_bytes'] / 1e3:.0f} kB",
                "-" if comm is None else f"{max(comm['shard_bytes']) / 1e3:.0f} kB",
                "-" if comm is None else f"{comm['gradient_vector_bytes'] / 1e3:.0f} kB",
                "-" if comm is None else f"{comm['per_step_bytes_at_most'] / 1e6:.2f} MB",
            ]
        )
    headers = ["run", "steps/s", "seq/s", "vs 1 worker", "params", "shard in", "grad vector", "moved/step <="]
    log(render_text(headers, table))
    command = "python -m benchmarks.dask_scaling " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {
        "suite": "dask_scaling",
        "command": command,
        "machine": info,
        "config": {"cell": config.cell, "n_x": n_x, "n_a": config.hidden, "m": config.batch, "T_x": config.seq_len},
        "dtype": config.dtype,
        "steps": args.steps,
        "warmup": args.warmup,
        "split_every": args.split_every,
        "rows": rows,
    }
    write_json(Path(args.json), result)
    log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
