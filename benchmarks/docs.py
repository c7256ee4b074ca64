"""Turn a suite's results JSON into a markdown page: ``python -m benchmarks.docs RESULTS.json PAGE.md``.

The page leads with a figure of xrnn's time over each peer's (drawn beside the page as
``<page stem>.png``, if matplotlib imports) and the same ratios as a compact table, then the targets
and the machine (CPU or GPU, threads, library versions, date); the full times with quartiles, the
GFLOP/s and the peak memory follow in a folded section, with a link to the JSON. Every table has few
enough columns to read at 1280 px without scrolling sideways.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import format_ratio, render_markdown
from benchmarks.report import memory_rows, rate_rows, ratio_plot, ratio_rows, timing_rows

TITLES = {"cpu": "CPU benchmarks", "gpu": "GPU benchmarks"}
COMMANDS = {"cpu": "python -m benchmarks.cpu", "gpu": "python -m benchmarks.gpu"}
CAPTIONS = {
    "cpu": "xrnn's forward+backward median over each peer's, per size (n_x x n_a x m x T_x; n_y = n_x), "
    "cell and dtype, on a log scale: below the line at 1.0 xrnn is faster. PyTorch: the same cell of "
    "`torch.nn` on the CPU with the same threads; naive loop: the tutorial's per-step loops; floor: xrnn's "
    "FLOPs at the rate of one large matrix product timed in the same rounds.",
    "gpu": "xrnn on CuPy: its forward+backward median over cuDNN's (`torch.nn.RNN` on the GPU) and over xrnn "
    "on NumPy on the same machine's CPU, per hidden size n_a = n_x = n_y and batch m, on a log scale: below "
    "the line at 1.0 xrnn on the GPU is faster.",
}


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


def _targets(targets: Sequence[dict[str, Any]]) -> str:
    cell = any("cell" in t for t in targets)
    headers = ["cell"] * cell + ["target", "size", "dtype", "ratio of medians", "median of per-round ratios", "status"]
    rows = [
        ([t["cell"].upper()] if cell else [])
        + [t["target"], t["size"], t["dtype"], format_ratio(t["value"]), format_ratio(t.get("paired")), t["status"]]
        for t in targets
    ]
    return render_markdown(headers, rows)


def _lead(result: dict[str, Any], source: str | None, page: str | None) -> str:
    text = f"Measured by `{COMMANDS[result['suite']]}`"
    if result.get("quick"):
        text += " (`--quick`: a smoke test, not a measurement)"
    if result.get("dry_run"):
        text += " (`--dry-run` on the CPU: every code path, no GPU numbers)"
    if source and page:
        text += f"; this page is generated from `{source}` by `python -m benchmarks.docs {source} {page}`"
    return text + "."


def _details(result: dict[str, Any], json_link: str | None) -> list[str]:
    """The folded section: legends, the full times with quartiles, phases, rates and memory."""
    what = "TFLOP/s" if result["suite"] == "gpu" else "GFLOP/s, peak memory"
    out = ["<details>", f"<summary>Medians with quartiles, {what}</summary>", ""]
    out += [*result.get("legend", []), ""]
    records = result.get("records", [])
    if records:
        out += ["**Rates and memory**" if result["suite"] == "cpu" else "**Rates**", ""]
        out += [render_markdown(*rate_rows(records)), ""]
    if records and result["suite"] == "cpu":
        out += ["**Peak memory**", "", render_markdown(*memory_rows(records)), ""]
    if records:
        out += ["**Every time: median and quartiles**", "", render_markdown(*timing_rows(records)), ""]
    gated = result.get("gated_records") or []
    if gated:
        out += ["**LSTM and GRU**", "", *result.get("gated_legend", []), ""]
        out += [render_markdown(*rate_rows(gated)), "", render_markdown(*timing_rows(gated)), ""]
    if json_link:
        out += [f"Every number, and each check of the results against the peers': [the results JSON]({json_link}).", ""]
    return [*out, "</details>", ""]


def render_page(
    result: dict[str, Any],
    image: str | None = None,
    source: str | None = None,
    page: str | None = None,
    title: str | None = None,
) -> str:
    """The markdown text for ``result`` (a ``cpu.json`` or ``gpu.json``). ``image``: the ratio figure's
    path relative to the page; ``source`` and ``page``: the JSON and the page, as the regenerating
    command names them (the JSON is linked relative to the page)."""
    suite = result["suite"]
    out = [f"# {title or TITLES[suite]}", "", _lead(result, source, page), ""]
    if image:
        out += [f"![xrnn's time over each peer's]({image})", "", CAPTIONS[suite], ""]
    if result.get("records") or result.get("gated_records"):
        out += ["## Ratios", "", "xrnn's forward+backward median over each peer's.", ""]
        out += [render_markdown(*ratio_rows(result)), ""]
    if result.get("targets"):
        out += ["## Targets", "", _targets(result["targets"]), ""]
    if result.get("gated_targets"):
        out += ["### Targets (LSTM and GRU)", "", _targets(result["gated_targets"]), ""]
    out += ["## Machine", "", *_machine_lines(result), ""]
    if result.get("records") or result.get("gated_records"):
        link = os.path.relpath(source, Path(page).parent) if source and page else None
        out += ["## All measurements", "", *_details(result, link and Path(link).as_posix())]
    out += [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(out).rstrip() + "\n"


def write_page(result: dict[str, Any], page: Path, source: Path | None = None, title: str | None = None) -> None:
    """Write the page, and its ratio figure beside it as ``<page stem>.png`` (when matplotlib imports).
    ``source``: the JSON the page is generated from, linked from the page."""
    page.parent.mkdir(parents=True, exist_ok=True)
    figure = page.with_suffix(".png")
    why = ratio_plot(result, figure)
    image = None if why else figure.name
    text = render_page(result, image, None if source is None else source.as_posix(), page.as_posix(), title)
    page.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="cpu.json or gpu.json")
    parser.add_argument("page", type=Path, help="markdown file to write, e.g. docs/benchmarks-cpu.md")
    parser.add_argument("--title", default=None, help="the page's title (default: CPU benchmarks / GPU benchmarks)")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"python -m benchmarks.docs: results: cannot read {args.results} as JSON ({error})", file=sys.stderr)
        return 2
    if not isinstance(result, dict) or result.get("suite") not in TITLES:
        found = result.get("suite") if isinstance(result, dict) else type(result).__name__
        print(
            f"python -m benchmarks.docs: results: expected a suite's JSON with suite 'cpu' or 'gpu', got {found!r}",
            file=sys.stderr,
        )
        return 2
    write_page(result, args.page, source=args.results, title=args.title)
    print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
