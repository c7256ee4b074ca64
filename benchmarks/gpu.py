"""The GPU suite (issue 3): xrnn on CuPy against cuDNN (torch ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) and
against xrnn on NumPy.

Run on a CUDA machine with ``python -m benchmarks.gpu --markdown docs/benchmarks-gpu.md`` (about 4
minutes: ``--budget`` guards the total); ``--dry-run`` runs every code path here on the CPU, with
NumPy standing in for CuPy and torch-CPU for cuDNN, on tiny sizes.

``--cells`` picks the cells, in the order given (default ``lstm,gru,rnn``). For the RNN, ``n_a`` in
{128, 512, 1760, 2048} and ``m`` in {16, 64, 128}; for the LSTM and GRU, ``n_a`` in {128, 512, 2048}
and ``m`` in {16, 128}; ``T_x = 50`` and ``n_x = n_y = n_a``, in float32 and float64 (``--n-a`` and
``--batches`` set one grid for every cell). It times forward+backward (``rnn_forward`` then
``rnn_backward``, or the gated cells' through the same cell interface):

1. on the GPU, interleaved: xrnn-cupy (fast paths), xrnn-cupy with the fast paths off (the generic
   Array API twins) and cuDNN, with a device synchronisation around every call;
2. then, for the RNN only, while the time budget lasts, xrnn on NumPy on the same machine's CPU (a
   median of 3), the cases with a target first; the rest are skipped, and the output says so.

TF32 is off for both CuPy and PyTorch unless ``--tf32`` (then CuPy needs ``CUPY_TF32=1`` in the
environment, which this script sets before importing CuPy). Every measurement runs in its own
``try``; the JSON is rewritten after each one, so a run cut short still leaves its numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Candidate,
    Stats,
    format_ratio,
    log,
    machine_info,
    render_text,
    time_interleaved,
    write_json,
)
from benchmarks.report import gpu_summary_rows
from benchmarks.workload import (
    AGREEMENT,
    GATED_GRADIENT_KEYS,
    GATES,
    GRADIENT_KEYS,
    Size,
    make_gated_problem,
    make_problem,
    relative_errors,
    xrnn_flops,
)

N_A = (128, 512, 1760, 2048)
BATCHES = (16, 64, 128)
T_X = 50
DRY_N_A = (8, 1760)  # small, and large enough to reach both targets' code
DRY_BATCHES = (2,)
DRY_T_X = 5
GATED_N_A = (128, 512, 2048)
GATED_BATCHES = (16, 128)
CELLS = ("lstm", "gru", "rnn")
TARGET_CUDNN = 1.5  # xrnn-cupy / cuDNN at n_a >= 1760 in float32 (RNN), at n_a >= 512 in both dtypes (LSTM, GRU)
TARGET_CPU = 20.0  # numpy-cpu / xrnn-cupy at n_a >= 512 (RNN)
TARGET_GENERIC = 10.0  # generic / xrnn-cupy at n_a = 128, m = 16 (LSTM, GRU)
GATED_CUDNN_N_A = 512


class Stage:
    """Where the "GPU" side runs: CuPy + CUDA torch, or (dry run) NumPy + CPU torch."""

    def __init__(self, dry_run: bool, torch: Any) -> None:
        import xrnn

        self.dry_run = dry_run
        self.xrnn = xrnn
        self.name = "numpy" if dry_run else "cupy"
        self.adapter = xrnn.backends.get_backend(self.name)
        self.torch = torch
        self.torch_device = "cpu" if dry_run else "cuda"

    def sync(self) -> None:
        self.adapter.synchronize()
        if self.torch is not None and self.torch_device == "cuda":
            self.torch.cuda.synchronize()

    def put(self, host: Any, dtype: str) -> Any:
        if isinstance(host, dict):
            return {k: self.put(v, dtype) for k, v in host.items()}
        return self.xrnn.backends.asarray(host, backend=self.name, dtype=dtype)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="run every code path on the CPU, tiny sizes")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells, run in this order")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="folder for gpu.json")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the markdown page here")
    parser.add_argument("--budget", type=float, default=225.0, help="seconds for the whole run (time guard)")
    parser.add_argument("--cell-budget", type=float, default=1.0, help="GPU timing seconds per size and dtype")
    parser.add_argument("--cpu-repeats", type=int, default=3, help="timed NumPy-CPU runs per case (median)")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--n-a", default=None, help="comma-separated hidden sizes (default 128,512,1760,2048)")
    parser.add_argument("--batches", default=None, help="comma-separated batch sizes m (default 16,64,128)")
    parser.add_argument("--t-x", type=int, default=None, help=f"sequence length (default {T_X})")
    parser.add_argument("--no-cpu", action="store_true", help="skip the NumPy-CPU baseline")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in CuPy and PyTorch (default: off)")
    args = parser.parse_args(argv)
    args.cell_list = [c for c in args.cells.split(",") if c]
    unknown = sorted(set(args.cell_list) - set(CELLS))
    if unknown:
        parser.error(f"--cells: unknown {', '.join(unknown)}; known: {', '.join(CELLS)}")
    args.grids = {}
    for cell in args.cell_list:
        gated = cell != "rnn"
        n_a = DRY_N_A if args.dry_run else GATED_N_A if gated else N_A
        batches = DRY_BATCHES if args.dry_run else GATED_BATCHES if gated else BATCHES
        n_a_list = [int(v) for v in args.n_a.split(",")] if args.n_a else list(n_a)
        batch_list = [int(v) for v in args.batches.split(",")] if args.batches else list(batches)
        args.grids[cell] = (n_a_list, batch_list)
    args.t_x = args.t_x or (DRY_T_X if args.dry_run else T_X)
    args.dtype_list = [d for d in args.dtypes.split(",") if d]
    if args.dry_run:
        args.cell_budget = min(args.cell_budget, 0.05)
    return args


def _import_torch(dry_run: bool, tf32: bool) -> tuple[Any, str | None]:
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed"
    try:
        import torch
    except Exception as error:
        return None, f"torch failed to import ({error})"
    if not dry_run and not torch.cuda.is_available():
        return None, "torch has no CUDA device"
    if not dry_run:
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return torch, None


def _device_info(stage: Stage, torch: Any, tf32: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"tf32": tf32}
    if stage.dry_run:
        info["gpu"] = "none (dry run: NumPy stands in for CuPy, torch-CPU for cuDNN)"
        return info
    with contextlib.suppress(Exception):
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["gpu_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
        info["driver"] = cupy.cuda.runtime.driverGetVersion()
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["cupy"] = cupy.__version__
    with contextlib.suppress(Exception):
        import subprocess

        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if smi.returncode == 0:
            info["nvidia_smi"] = smi.stdout.strip()
    if torch is not None:
        with contextlib.suppress(Exception):
            info["torch_cuda"] = torch.version.cuda
            info["cudnn"] = torch.backends.cudnn.version()
            info["torch_gpu"] = torch.cuda.get_device_name()
    return info


def _forward_backward(stage: Stage, cell: str, problem: dict[str, Any]) -> Callable[[], Any]:
    """xrnn's forward+backward of ``cell`` on the stage's arrays, through the cell interface."""
    xrnn = stage.xrnn
    if cell == "rnn":
        x, a0, da, p = (problem[k] for k in ("x", "a0", "da", "parameters"))

        def fb() -> object:
            _, _, cache = xrnn.rnn_forward(x, a0, p)
            return xrnn.rnn_backward(da, cache)

        return fb
    from benchmarks import gated

    return lambda: gated.forward_backward(xrnn, cell, problem)


def _torch_model(stage: Stage, cell: str, host: dict[str, Any], dtype: str) -> Any:
    from benchmarks.torch_rnn import TorchGRU, TorchLSTM, TorchRNN

    model = {"rnn": TorchRNN, "lstm": TorchLSTM, "gru": TorchGRU}[cell]
    x, a0, da, p = (host[k] for k in ("x", "a0", "da", "parameters"))
    return model(stage.torch, x, a0, da, p, device=stage.torch_device, dtype=dtype, c0=host.get("c0"))


def _gpu_cell(
    stage: Stage, size: Size, dtype: str, args: argparse.Namespace, deadline: float, cell: str = "rnn"
) -> dict[str, Any]:
    """xrnn (fast paths), xrnn (generic twins) and cuDNN on the device, interleaved."""
    xrnn = stage.xrnn
    host = make_problem(size, dtype) if cell == "rnn" else make_gated_problem(size, cell, dtype)
    problem = {k: stage.put(v, dtype) for k, v in host.items()}
    record: dict[str, Any] = {"cell": cell, "size": size.label, "n_a": size.n_a, "m": size.m, "T_x": size.t_x}
    record |= {"dtype": dtype, "errors": {}}
    fb = _forward_backward(stage, cell, problem)

    def generic_fb() -> object:
        with xrnn.backends.fast_paths(False):
            return fb()

    candidates = [Candidate("xrnn", fb), Candidate("generic", generic_fb)]
    torch = stage.torch
    model = None
    if torch is not None:
        try:
            model = _torch_model(stage, cell, host, dtype)
            candidates.append(Candidate("cudnn", model.forward_backward))
            record["cudnn_acceptable"] = bool(torch.backends.cudnn.is_acceptable(model.x))
        except Exception as error:
            record["errors"]["cudnn"] = f"set-up failed: {type(error).__name__}: {error}"
    record["agreement"] = _agreement(stage, cell, fb, model, dtype)
    timing = time_interleaved(
        candidates,
        budget_s=args.cell_budget,
        min_rounds=3,
        max_rounds=200,
        warmup=2,
        sync=stage.sync,
        deadline=deadline,
    )
    record["errors"].update(timing.errors)
    record["rounds"] = timing.rounds
    record["timings"] = {name: s.as_dict() for name, s in timing.stats().items()}
    return record


def _agreement(stage: Stage, cell: str, fb: Callable[[], Any], model: Any, dtype: str) -> dict[str, Any]:
    """xrnn-on-the-device's gradients (and, gated, hidden states) against cuDNN's (skipped without torch;
    never for the GRU, whose PyTorch candidate differs: see ``benchmarks/torch_rnn.py``)."""
    if model is None:
        return {}
    if not model.comparable:
        return {"cudnn": {"note": "not compared: PyTorch's GRU applies the reset gate after the recurrent product"}}
    try:
        keys = GRADIENT_KEYS if cell == "rnn" else ("a", *GATED_GRADIENT_KEYS[cell])
        ours = {k: stage.xrnn.backends.to_numpy(v) for k, v in fb().items()}
        theirs = model.results()
        errors = relative_errors(ours, {k: theirs[k] for k in keys})
        worst = max(errors.values())
        return {"cudnn": {"worst": worst, "agrees": worst <= 10 * AGREEMENT[dtype], "errors": errors}}
    except Exception as error:
        return {"cudnn": {"error": f"{type(error).__name__}: {error}"}}


def _cpu_cell(size: Size, dtype: str, args: argparse.Namespace) -> Stats:
    """xrnn on NumPy arrays on the host CPU: a median of ``--cpu-repeats`` runs after one warm-up."""
    import xrnn

    host = make_problem(size, dtype)
    x, a0, da, p = host["x"], host["a0"], host["da"], host["parameters"]

    def fb() -> object:
        _, _, cache = xrnn.rnn_forward(x, a0, p)
        return xrnn.rnn_backward(da, cache)

    timing = time_interleaved(
        [Candidate("numpy-cpu", fb)], budget_s=0.0, min_rounds=args.cpu_repeats, max_rounds=args.cpu_repeats
    )
    if timing.errors:
        raise RuntimeError(timing.errors["numpy-cpu"])
    return timing.stats()["numpy-cpu"]


def _median(record: dict[str, Any], name: str) -> float | None:
    value = record.get("timings", {}).get(name)
    return None if value is None else float(value["median"])


def _derive(record: dict[str, Any]) -> None:
    ours, cudnn, generic, cpu = (_median(record, k) for k in ("xrnn", "cudnn", "generic", "numpy-cpu"))
    record["ratios"] = {
        "xrnn/cudnn": ours / cudnn if ours and cudnn else None,
        "cpu/xrnn": cpu / ours if ours and cpu else None,
        "generic/xrnn": generic / ours if ours and generic else None,
    }
    size = Size(record["n_a"], record["n_a"], record["m"], record["T_x"])
    record["gflops"] = xrnn_flops(size, GATES[record.get("cell", "rnn")]) / ours / 1e9 if ours else None


def _target(r: dict[str, Any], text: str, ratio: str, bound: float, *, at_most: bool) -> dict[str, Any]:
    """One target of record ``r``: its ratio ``ratio`` against ``bound`` (at most, or at least, it)."""
    value = r.get("ratios", {}).get(ratio)
    met = value is not None and (value <= bound if at_most else value >= bound)
    status = "not measured" if value is None else "met" if met else "missed"
    size = f"n_a={r['n_a']} m={r['m']}"
    return {"target": text, "size": size, "dtype": r["dtype"], "value": value, "bound": bound, "status": status}


def check_targets(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The RNN's (<= 1.5x cuDNN at n_a >= 1760 in float32, >= 20x NumPy-CPU at n_a >= 512) and the LSTM's and
    GRU's (<= 1.5x cuDNN at n_a >= 512, >= 10x the twins at n_a = 128, m = 16)."""
    results = []
    for r in records:
        cell = r.get("cell", "rnn")
        if cell != "rnn":
            if r["n_a"] >= GATED_CUDNN_N_A:
                results.append(_target(r, f"{cell} <= {TARGET_CUDNN}x cuDNN", "xrnn/cudnn", TARGET_CUDNN, at_most=True))
            if r["n_a"] == 128 and r["m"] == 16:
                text = f"{cell} twins >= {TARGET_GENERIC:.0f}x"
                results.append(_target(r, text, "generic/xrnn", TARGET_GENERIC, at_most=False))
            continue
        if r["dtype"] == "float32" and r["n_a"] >= 1760:
            results.append(_target(r, f"xrnn <= {TARGET_CUDNN}x cuDNN", "xrnn/cudnn", TARGET_CUDNN, at_most=True))
        if r["n_a"] >= 512:
            text = f"numpy-cpu >= {TARGET_CPU:.0f}x xrnn"
            results.append(_target(r, text, "cpu/xrnn", TARGET_CPU, at_most=False))
    return results


def _save(result: dict[str, Any], args: argparse.Namespace) -> None:
    for record in result["records"]:
        _derive(record)
    result["targets"] = check_targets(result["records"])
    with contextlib.suppress(Exception):
        result["machine"]["load_average_end"] = list(os.getloadavg())
    write_json(args.output / "gpu.json", result)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    started = time.perf_counter()
    deadline = started + args.budget
    if args.tf32:
        os.environ.setdefault("CUPY_TF32", "1")
    args.output.mkdir(parents=True, exist_ok=True)
    torch, torch_note = _import_torch(args.dry_run, args.tf32)
    stage = Stage(args.dry_run, torch)
    info = machine_info()
    info.update(
        {"torch": getattr(torch, "__version__", None), "torch_note": torch_note, "python": platform.python_version()}
    )
    info.update(_device_info(stage, torch, args.tf32))
    result: dict[str, Any] = {"suite": "gpu", "dry_run": args.dry_run, "machine": info, "records": [], "notes": []}
    result["legend"] = [
        f"Forward+backward medians, T_x = {args.t_x}, n_x = n_y = n_a. xrnn-cupy: fast paths on; generic: the "
        "Array API twins (fast paths off); cuDNN: torch nn.RNN(tanh), nn.LSTM, nn.GRU, backward of (out * da).sum() "
        "with x, h0 (c0) and the weights requiring gradients; numpy-cpu (RNN only): xrnn on NumPy on this "
        f"machine's CPU (median of {args.cpu_repeats}). TF32 {'allowed' if args.tf32 else 'off'} in CuPy and PyTorch.",
    ]
    log(f"xrnn GPU benchmark{' (DRY RUN on the CPU)' if args.dry_run else ''}: {info.get('gpu')}")
    log(
        f"torch {info.get('torch') or torch_note}, cuDNN {info.get('cudnn')}, CuPy {info.get('cupy')}, "
        f"driver {info.get('driver')}, CUDA runtime {info.get('cuda_runtime')}; budget {args.budget:.0f} s"
    )
    write_json(args.output / "gpu.json", result)
    cases = [
        (cell, dtype, n_a, m)
        for cell in args.cell_list
        for dtype in args.dtype_list
        for n_a in args.grids[cell][0]
        for m in args.grids[cell][1]
    ]
    records: dict[tuple[str, int, int], dict[str, Any]] = {}  # the RNN's, for the CPU baseline
    for cell, dtype, n_a, m in cases:  # 1. the device
        size = Size(n_a, n_a, m, args.t_x)
        if time.perf_counter() > deadline:
            result["notes"].append(f"over budget: GPU case {cell} {dtype} n_a={n_a} m={m} skipped")
            log(result["notes"][-1])
            continue
        try:
            record = _gpu_cell(stage, size, dtype, args, deadline, cell)
        except Exception as error:
            record = {"cell": cell, "size": size.label, "n_a": n_a, "m": m, "T_x": args.t_x, "dtype": dtype}
            record["timings"] = {}
            record["errors"] = {"cell": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()[-2000:]}
        if cell == "rnn":
            records[dtype, n_a, m] = record
        result["records"].append(record)
        _save(result, args)
        _, rows = gpu_summary_rows([record])
        log("  " + " ".join(rows[0]) + (f"  errors: {record['errors']}" if record["errors"] else ""))
    # 2. the CPU baseline, the cases with a target first, while the budget lasts
    order = sorted(records, key=lambda k: (k[1] < 512, k[0] != "float32", k[1], k[2]))
    for key in [] if args.no_cpu else order:
        record = records[key]
        if time.perf_counter() > deadline:
            result["notes"].append(f"over budget: numpy-cpu baseline for {key[0]} n_a={key[1]} m={key[2]} skipped")
            log(result["notes"][-1])
            continue
        try:
            record["timings"]["numpy-cpu"] = _cpu_cell(Size(key[1], key[1], key[2], args.t_x), key[0], args).as_dict()
        except Exception as error:
            record["errors"]["numpy-cpu"] = f"{type(error).__name__}: {error}"
        _save(result, args)
        _, rows = gpu_summary_rows([record])
        log("  cpu: " + " ".join(rows[0]))
    result["wall_s"] = time.perf_counter() - started
    _save(result, args)
    headers, rows = gpu_summary_rows(result["records"])
    log("")
    log(result["legend"][0])
    log(render_text(headers, rows))
    for target in result["targets"]:
        log(
            f"target {target['target']:<22} {target['size']:>16} {target['dtype']}: {format_ratio(target['value'])}"
            f" -> {target['status']}"
        )
    for note in result["notes"]:
        log(f"note: {note}")
    log(f"wrote {args.output / 'gpu.json'} in {result['wall_s']:.0f} s")
    if args.markdown is not None:
        from benchmarks.docs import write_page

        write_page(result, args.markdown, source=args.output / "gpu.json")
        log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
