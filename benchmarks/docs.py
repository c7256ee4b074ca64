"""Turn a suite's results JSON into a markdown page: ``python -m benchmarks.docs RESULTS.json PAGE.md``.

The page names the machine, CPU or GPU, thread count, library versions and date, and holds the
suite's table and its targets; a plot next to the JSON is copied beside the page.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import format_ratio, render_markdown


def _machine_lines(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    blas = m.get("numpy_blas") or {}
    lines = [
        f"- date (UTC): {m.get('date')}",
        f"- CPU: {m.get('cpu_model')} ({m.get('usable_cpus')} usable of {m.get('logical_cpus')} logical CPUs)",
        f"- platform: {m.get('platform')}, Python {m.get('python')}",
        f"- NumPy {m.get('numpy')}, BLAS: {blas.get('name', '?')} {blas.get('version', '')}".rstrip(),
        f"- PyTorch: {m.get('torch') or m.get('torch_note')}",
    ]
    if result["suite"] == "cpu":
        lines.append(f"- threads: {m.get('threads')} (NumPy's BLAS; PyTorch set to {m.get('torch_threads')})")
    for key in ("gpu", "gpu_memory_gib", "nvidia_smi", "driver", "cuda_runtime", "cupy", "torch_cuda", "cudnn", "tf32"):
        if m.get(key) is not None:
            lines.append(f"- {key.replace('_', ' ')}: {m[key]}")
    pools = m.get("threadpoolctl")
    if pools is None:
        lines.append(f"- thread pools: {m.get('note', 'not inspected')}")
    else:
        described = "; ".join(
            f"{p.get('internal_api')} {p.get('version') or ''} {p.get('num_threads')} threads"
            + (f" ({p['architecture']})" if p.get("architecture") else "")
            for p in pools
        )
        lines.append(f"- thread pools (threadpoolctl): {described}")
    env = {k: v for k, v in (m.get("environment") or {}).items() if v is not None}
    lines.append(f"- environment: {env or 'no thread or OpenBLAS variables set'}")
    lines.append(f"- load average at start / end: {m.get('load_average')} / {m.get('load_average_end')}")
    return lines


def _ratios(target: dict[str, Any]) -> list[str]:
    return [format_ratio(target["value"]), format_ratio(target.get("paired"))]


def render_page(result: dict[str, Any], image: str | None = None) -> str:
    """The markdown text for ``result`` (a ``cpu.json`` or ``gpu.json``)."""
    suite = result["suite"]
    if suite == "cpu":
        from benchmarks.cpu import summary_rows

        title = "CPU benchmarks"
        command = "python -m benchmarks.cpu --markdown docs/benchmarks-cpu.md"
    else:
        from benchmarks.gpu import summary_rows

        title = "GPU benchmarks"
        command = "python -m benchmarks.gpu --markdown docs/benchmarks-gpu.md"
    out = [f"# {title}", "", f"Generated from the results JSON by `{command}`"]
    if result.get("quick"):
        out[-1] += " (`--quick`: a smoke test, not a measurement)"
    if result.get("dry_run"):
        out[-1] += " (`--dry-run` on the CPU: every code path, no GPU numbers)"
    out += ["", "## Machine", "", *_machine_lines(result), ""]
    if result["records"] or suite != "cpu":
        out += ["## Results", ""]
        out += result.get("legend", [])
        out += ["", render_markdown(*summary_rows(result["records"])), ""]
    if suite == "cpu" and result["records"]:
        from benchmarks.cpu import memory_rows

        out += ["## Peak memory", "", render_markdown(*memory_rows(result["records"])), ""]
    targets = result.get("targets") or []
    if targets:
        out += ["## Targets", ""]
        out.append(
            render_markdown(
                ["target", "size", "dtype", "ratio of medians", "median of per-round ratios", "status"],
                [[t["target"], t["size"], t["dtype"], *_ratios(t), t["status"]] for t in targets],
            )
        )
        out.append("")
    if result.get("gated_records"):
        from benchmarks.cpu import gated_rows

        out += ["## LSTM and GRU", "", *result.get("gated_legend", [])]
        out += ["", render_markdown(*gated_rows(result["gated_records"])), ""]
        gated_targets = result.get("gated_targets") or []
        if gated_targets:
            out += ["### Targets (LSTM and GRU)", ""]
            out.append(
                render_markdown(
                    ["cell", "target", "size", "dtype", "ratio of medians", "median of per-round ratios", "status"],
                    [
                        [t["cell"].upper(), t["target"], t["size"], t["dtype"], *_ratios(t), t["status"]]
                        for t in gated_targets
                    ],
                )
            )
            out.append("")
    for note in result.get("notes", []):
        out.append(f"- {note}")
    if image:
        out += ["", f"![forward+backward times]({image})", ""]
    return "\n".join(out).rstrip() + "\n"


def write_page(result: dict[str, Any], page: Path, image: Path | None = None) -> None:
    """Write the page; copy ``image`` beside it (``<page stem>.png``) and link it."""
    page.parent.mkdir(parents=True, exist_ok=True)
    link = None
    target = page.with_suffix(".png")
    if image is not None and image.exists():
        if image.resolve() != target.resolve():
            shutil.copyfile(image, target)
        link = target.name
    elif image is not None and target.exists():  # regenerated from a JSON kept beside the page
        link = target.name
    page.write_text(render_page(result, link), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="cpu.json or gpu.json")
    parser.add_argument("page", type=Path, help="markdown file to write, e.g. docs/benchmarks-cpu.md")
    args = parser.parse_args(argv)
    result = json.loads(args.results.read_text(encoding="utf-8"))
    plot = args.results.with_name(result.get("plot") or "") if result.get("plot") else None
    write_page(result, args.page, image=plot)
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
