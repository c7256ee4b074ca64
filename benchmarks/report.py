"""The tables and figures of the benchmark suites' results, shared by the suites and the pages they write.

``benchmarks.cpu`` and ``benchmarks.gpu`` print :func:`summary_rows`, :func:`gated_rows`,
:func:`memory_rows` and :func:`gpu_summary_rows` as they run; ``benchmarks.docs`` builds the pages
from :func:`ratio_panels` and :func:`ratio_rows` (xrnn's time over each peer's), then every time with its quartiles
(:func:`timing_rows`), the rates and the memory (:func:`rate_rows`) in a folded section.
Everything here reads a suite's JSON records and imports no suite, so no module imports one that
imports it back.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.figures import Panel, ratio_figure, ratio_label, save
from benchmarks.gated import TITLES
from benchmarks.harness import format_ratio, format_time

CELL_ORDER = ("rnn", "lstm", "gru")
# The peers of each suite's figure and ratio table: (candidate, header).
CPU_PEERS = (("torch", "xrnn/PyTorch"), ("naive", "xrnn/naive"), ("floor", "xrnn/floor"))
GPU_PEERS = (("cudnn", "xrnn/cuDNN"), ("numpy-cpu", "xrnn/NumPy-CPU"))


def summary_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The one table: medians [IQR], ratios, GFLOP/s and peak memory per size and dtype."""
    headers = [
        "size",
        "dtype",
        "xrnn fwd",
        "xrnn bwd",
        "xrnn f+b [IQR]",
        "generic f+b",
        "naive f+b",
        "torch f+b [IQR]",
        "floor",
        "x/torch",
        "x/floor",
        "x/naive",
        "GFLOP/s x/t/gemm",
        "peak/act",
    ]
    return headers, [_row(r) for r in records]


def gated_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The gated cells' table: the RNN's columns but ``generic`` (the gated cells have no fast paths to
    turn off), with the cell first."""
    headers, _ = summary_rows([])
    generic = headers.index("generic f+b")
    rows = []
    for r in records:
        row = _row(r)
        rows.append([TITLES[r["cell"]], *row[:generic], *row[generic + 1 :]])
    return ["cell", *headers[:generic], *headers[generic + 1 :]], rows


def _row(r: dict[str, Any]) -> list[str]:
    t = r["timings"]

    def med(name: str, spread: bool = False) -> str:
        if name not in t:
            return "-"
        text = format_time(t[name]["median"])
        if spread:
            text += f" [{format_time(t[name]['q1'])}-{format_time(t[name]['q3'])}]"
        return text

    peak = r["peak_bytes"].get("xrnn f+b")
    return [
        r["size"],
        r["dtype"],
        med("xrnn fwd"),
        med("xrnn bwd"),
        med("xrnn f+b", spread=True),
        med("generic f+b"),
        med("naive f+b"),
        med("torch f+b", spread=True),
        format_time(r["floor_s"]),
        format_ratio(r["ratios"]["xrnn/torch"]),
        format_ratio(r["ratios"]["xrnn/floor"]),
        format_ratio(r["ratios"]["xrnn/naive"]),
        " / ".join(_rate(v) for v in (r["gflops"]["xrnn"], r["gflops"]["torch"], r["gemm"]["gflops"])),
        "-" if peak is None else f"{peak / r['activation_bytes']:.1f}",
    ]


def memory_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Peak traced memory of one forward+backward against the hidden states' size."""
    headers = ["size", "dtype", "hidden states", "xrnn peak", "xrnn peak / states", "naive peak"]
    rows = []
    for r in records:
        states, peaks = r["activation_bytes"], r["peak_bytes"]
        xrnn_peak, naive_peak = peaks.get("xrnn f+b"), peaks.get("naive f+b")
        rows.append(
            [
                r["size"],
                r["dtype"],
                _mib(states),
                _mib(xrnn_peak),
                "-" if xrnn_peak is None else f"{xrnn_peak / states:.1f}",
                _mib(naive_peak),
            ]
        )
    return headers, rows


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.3g} MiB"


def gpu_summary_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The GPU suite's table: medians of xrnn-cupy, its generic twin, cuDNN and NumPy on the CPU, ratios, TFLOP/s."""
    headers = [
        "cell",
        "dtype",
        "n_a",
        "m",
        "xrnn-cupy",
        "generic",
        "cuDNN",
        "numpy-cpu",
        "xrnn/cuDNN",
        "cpu/xrnn",
        "generic/xrnn",
        "xrnn TFLOP/s",
    ]
    rows = []
    for r in records:
        ratios = r.get("ratios", {})
        t = r.get("timings", {})
        rows.append(
            [
                _cell(r),
                r["dtype"],
                str(r["n_a"]),
                str(r["m"]),
                *(format_time(t[k]["median"]) if k in t else "-" for k in ("xrnn", "generic", "cudnn", "numpy-cpu")),
                format_ratio(ratios.get("xrnn/cudnn")),
                format_ratio(ratios.get("cpu/xrnn")),
                format_ratio(ratios.get("generic/xrnn")),
                "-" if r.get("gflops") is None else f"{r['gflops'] / 1e3:.2f}",
            ]
        )
    return headers, rows


def _records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of a CPU result (the RNN's first, then the gated cells'), or the GPU result's."""
    return [*result.get("records", []), *result.get("gated_records", [])]


def _cell(record: dict[str, Any]) -> str:
    return str(record.get("cell", "rnn"))


def peer_ratios(record: dict[str, Any]) -> dict[str, float | None]:
    """xrnn's forward+backward median over each peer's, for one record of either suite."""
    ratios = record.get("ratios") or {}
    if "xrnn/cudnn" in ratios or "cpu/xrnn" in ratios:  # a GPU record keeps the CPU's speed-up
        cpu = ratios.get("cpu/xrnn")
        return {"cudnn": ratios.get("xrnn/cudnn"), "numpy-cpu": 1 / cpu if cpu else None}
    return {name: ratios.get(f"xrnn/{name}") for name, _ in CPU_PEERS}


def _peers(result: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return GPU_PEERS if result["suite"] == "gpu" else CPU_PEERS


def _two_lines(size: str) -> str:
    """``256x512x`` over ``64x100``: a size label that fits under its bars."""
    n_x, n_a, rest = size.split("x", 2)
    return f"{n_x}x{n_a}x\n{rest}"


def _gpu_group(record: dict[str, Any]) -> str:
    return f"{record['n_a']}\nm={record['m']}"


def ratio_panels(result: dict[str, Any]) -> list[Panel]:
    """One panel per cell and dtype (CPU) or per dtype (GPU): the sizes along x, a bar per peer."""
    records = _records(result)
    peers = [name for name, _ in _peers(result)]
    dtypes = sorted({r["dtype"] for r in records})
    cells = [c for c in CELL_ORDER if any(_cell(r) == c for r in records)]
    panels = []
    for cell in cells:
        for dtype in dtypes:
            chosen = [r for r in records if _cell(r) == cell and r["dtype"] == dtype]
            if not chosen:
                continue
            if result["suite"] == "gpu":
                title, groups = f"{dtype}, T_x = {chosen[0]['T_x']}", [_gpu_group(r) for r in chosen]
            else:
                title, groups = f"{TITLES[cell]}, {dtype}", [_two_lines(r["size"]) for r in chosen]
            ratios = {name: [peer_ratios(r)[name] for r in chosen] for name in peers}
            measured = {k: v for k, v in ratios.items() if any(x is not None for x in v)}
            xlabel = "n_a = n_x = n_y, batch m" if result["suite"] == "gpu" else ""
            panels.append(Panel(title, groups, measured, xlabel))
    return panels


def ratio_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The compact table of the figure: one row per case, one column per peer."""
    peers = _peers(result)
    cases = sorted(_records(result), key=lambda r: CELL_ORDER.index(_cell(r)))
    keys, where = _where(cases)
    rows = []
    for r, case in zip(cases, where, strict=True):
        ratios = peer_ratios(r)
        rows.append([*case, *(_ratio_text(ratios[name]) for name, _ in peers)])
    return [*keys, *(header for _, header in peers)], rows


def _ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{ratio_label(value)}x"


def _where(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The columns that name each record's case: cell (when the records hold one), size and dtype on
    the CPU; dtype, n_a and m on the GPU."""
    if records and "n_x" not in records[0]:  # the GPU suite's records name n_a and m only
        return ["dtype", "n_a", "m"], [[r["dtype"], str(r["n_a"]), str(r["m"])] for r in records]
    cell = any("cell" in r for r in records)
    return ["cell"] * cell + ["size", "dtype"], [[TITLES[_cell(r)]] * cell + [r["size"], r["dtype"]] for r in records]


def timing_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Every timed candidate's median and quartiles, one row each (either suite; the CPU's floor, a
    derived time, has a median only)."""
    keys, where = _where(records)
    rows = []
    for r, case in zip(records, where, strict=True):
        for name, t in r.get("timings", {}).items():
            rows.append([*case, name, *(format_time(t.get(q)) for q in ("median", "q1", "q3")), str(t.get("n", "-"))])
        if r.get("floor_s") is not None:
            rows.append([*case, "floor", format_time(r["floor_s"]), "-", "-", "-"])
    return [*keys, "candidate", "median", "first quartile", "third quartile", "samples"], rows


def rate_rows(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """GFLOP/s of xrnn, PyTorch and the floor's product and peak memory over the hidden states' size
    (CPU), or xrnn's TFLOP/s and its generic twin's time over its own (GPU)."""
    keys, where = _where(records)
    if keys[0] == "dtype":
        rows = []
        for r, case in zip(records, where, strict=True):
            tflops = "-" if r.get("gflops") is None else f"{r['gflops'] / 1e3:.2f}"
            rows.append([*case, tflops, format_ratio((r.get("ratios") or {}).get("generic/xrnn"))])
        return [*keys, "xrnn TFLOP/s", "generic/xrnn"], rows
    rows = []
    for r, case in zip(records, where, strict=True):
        peak = r["peak_bytes"].get("xrnn f+b")
        rates = (r["gflops"]["xrnn"], r["gflops"]["torch"], r["gemm"]["gflops"])
        rows.append([*case, *(_rate(v) for v in rates), "-" if peak is None else f"{peak / r['activation_bytes']:.1f}"])
    return [*keys, "GFLOP/s xrnn", "GFLOP/s torch", "GFLOP/s gemm", "peak/act"], rows


def ratio_plot(result: dict[str, Any], path: Path) -> str | None:
    """Draw the result's ratio figure into ``path``; returns why not, if it cannot."""
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed; no plot"
    panels = ratio_panels(result)
    if not panels:
        return "no ratios measured; no plot"
    save(ratio_figure(panels, columns=2), path)
    return None
