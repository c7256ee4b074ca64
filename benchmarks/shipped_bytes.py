"""Bytes a data-parallel step ships to its shards: the task's compact batch against its full inputs.

Run ``python -m benchmarks.shipped_bytes`` (a few seconds; needs ``distributed``). For each task it draws
step 1's batch and serialises, with ``distributed``'s own serialiser (``serialize_bytelist``, what a task's
arguments become on the wire), what the shard tasks receive: the compact batch that
:meth:`xrnn.parallel.distributed.DataParallel.submit_batch` ships (token ids, or the adding problem's values
and positions), and the inputs and targets the workers build from it, which is what
:meth:`~xrnn.parallel.distributed.DataParallel.submit` ships and what the trainer shipped before. The
parameters (once to each worker) and the gradient vectors are the same either way and are listed beside.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from benchmarks.harness import log, render_text
from xrnn.parallel.distributed import shard_sizes
from xrnn.train import TrainConfig, make_trainer

TASKS = {"char": {}, "adding": {"seq_len": 100}, "copy": {"delay": 100}}


def _serialised(value: Any) -> int:
    from distributed.protocol import serialize_bytelist

    return sum(memoryview(frame).nbytes for frame in serialize_bytelist(value))


def _slices(array: Any, axis: int, sizes: Sequence[int]) -> list[Any]:
    pieces, start = [], 0
    for size in sizes:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, start + size)
        pieces.append(array[tuple(index)])
        start += size
    return pieces


def measure(config: TrainConfig, shards: int) -> dict[str, Any]:
    """Serialised bytes of one step's shard arguments, compact and full, for ``config``'s task."""
    trainer = make_trainer(config)
    batch = trainer.task.batch(1)
    inputs, targets = trainer.task.objective.inputs(trainer.parameters, *batch)
    sizes = shard_sizes(config.batch, shards)
    compact = sum(_serialised(piece) for piece in zip(*(_slices(a, 0, sizes) for a in batch), strict=True))
    target_axis = 1 if config.task == "adding" else 0  # (1, m) sums; (m, T_x) labels
    full = sum(
        _serialised(pair) for pair in zip(_slices(inputs, 1, sizes), _slices(targets, target_axis, sizes), strict=True)
    )
    return {
        "task": config.task,
        "m": config.batch,
        "T_x": config.seq_len,
        "n_x": trainer.task.n_x,
        "dtype": config.dtype,
        "shards": len(sizes),
        "compact_batch_bytes": compact,
        "full_inputs_bytes": full,
        "ratio": full / compact,
        "parameter_bytes": _serialised(dict(trainer.parameters)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shipped_bytes", description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="m (default 32, as xrnn train)")
    parser.add_argument("--hidden", type=int, default=128, help="n_a (default 128)")
    parser.add_argument("--shards", type=int, default=2, help="shards per step (default 2)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)
    rows = [
        measure(TrainConfig(task=task, batch=args.batch, hidden=args.hidden, dtype=args.dtype, **options), args.shards)  # type: ignore[arg-type]
        for task, options in TASKS.items()
    ]
    headers = ["task", "m", "T_x", "n_x", "shards", "compact batch", "full inputs", "ratio", "parameters"]
    table = [
        [r["task"], str(r["m"]), str(r["T_x"]), str(r["n_x"]), str(r["shards"]), f"{r['compact_batch_bytes']} B",
         f"{r['full_inputs_bytes']} B", f"{r['ratio']:.1f}x", f"{r['parameter_bytes']} B"]
        for r in rows
    ]  # fmt: skip
    log(render_text(headers, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
