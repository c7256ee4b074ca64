"""The benchmark pages: generated from the committed JSON, led by the ratios, narrow enough for 1280 px, and
drawn with one colour per candidate (``benchmarks/docs.py``, ``benchmarks/report.py``, ``benchmarks/figures.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from benchmarks import docs, figures, report

ROOT = Path(__file__).resolve().parent.parent
# (results JSON, page) as committed; the page's first line keeps the title it was generated with
PAGES = [("docs/benchmarks-cpu.json", "docs/benchmarks-cpu.md"), ("docs/gpu/graphs.json", "docs/benchmarks-gpu.md")]
MAX_COLUMNS = 8  # eight short columns fit furo's text column in a 1280 px window (seen in the screenshots)


def _result(source: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / source).read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(("source", "page"), PAGES, ids=["cpu", "gpu"])
def test_the_committed_page_is_what_its_json_generates(source: str, page: str) -> None:
    committed = (ROOT / page).read_text(encoding="utf-8")
    title = committed.splitlines()[0].removeprefix("# ")
    image = Path(page).with_suffix(".png").name
    assert (ROOT / "docs" / image).is_file()
    assert docs.render_page(_result(source), image, source, page, title) == committed, (
        f"{page} is stale: python -m benchmarks.docs {source} {page}"
    )


@pytest.mark.parametrize(("source", "page"), PAGES, ids=["cpu", "gpu"])
def test_the_page_leads_with_the_figure_and_the_ratios(source: str, page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    order = [text.index(marker) for marker in ("![", "## Ratios", "## Machine", "<details>", "</details>")]
    assert order == sorted(order)
    assert text.count("| ---: |") >= 3  # the ratios, the targets and the folded tables
    widths = [line.count("|") - 1 for line in text.splitlines() if line.startswith("|")]
    assert max(widths) <= MAX_COLUMNS


def test_the_cpu_ratios_are_the_records_ratios() -> None:
    result = _result("docs/benchmarks-cpu.json")
    panels = report.ratio_panels(result)
    assert [p.title for p in panels] == [f"{c}, {d}" for c in ("RNN", "LSTM", "GRU") for d in ("float32", "float64")]
    rnn32 = [r for r in result["records"] if r["dtype"] == "float32"]
    assert panels[0].groups[1] == "64x128x\n32x100"
    assert panels[0].ratios["torch"] == [r["ratios"]["xrnn/torch"] for r in rnn32]
    assert panels[0].ratios["floor"] == [r["ratios"]["xrnn/floor"] for r in rnn32]
    lstm64 = panels[3].ratios["naive"]
    assert lstm64[2:] == [None, None]  # the gated naive loops are timed up to the small size only
    headers, rows = report.ratio_rows(result)
    assert headers == ["cell", "size", "dtype", "xrnn/PyTorch", "xrnn/naive", "xrnn/floor"]
    assert rows[4] == ["RNN", "256x512x64x100", "float32", "1.06x", "0.48x", "1.65x"]
    assert rows[12][:4] == ["LSTM", "256x512x64x100", "float32", "1.74x"]
    assert rows[12][4] == "-"


def test_the_gpu_ratios_put_xrnn_over_cudnn_and_over_numpy() -> None:
    result = _result("docs/gpu/graphs.json")
    record = result["records"][3]
    assert report.peer_ratios(record) == {
        "cudnn": record["ratios"]["xrnn/cudnn"],
        "numpy-cpu": 1 / record["ratios"]["cpu/xrnn"],
    }
    panels = report.ratio_panels(result)
    assert [p.title for p in panels] == ["float32, T_x = 50", "float64, T_x = 50"]
    assert panels[0].groups[3] == "512\nm=128"
    assert panels[0].xlabel == "n_a = n_x = n_y, batch m"
    headers, rows = report.ratio_rows(result)
    assert headers == ["dtype", "n_a", "m", "xrnn/cuDNN", "xrnn/NumPy-CPU"]
    assert rows[3] == ["float32", "512", "128", "0.66x", "0.019x"]


def test_timing_rows_give_every_median_and_its_quartiles() -> None:
    records = _result("docs/benchmarks-cpu.json")["records"][:1]
    headers, rows = report.timing_rows(records)
    assert headers == ["size", "dtype", "candidate", "median", "first quartile", "third quartile", "samples"]
    assert [row[2] for row in rows] == [*records[0]["timings"], "floor"]
    assert rows[2] == ["3x5x10x4", "float32", "xrnn f+b", "148 us", "108 us", "180 us", "8056"]


@pytest.mark.parametrize(
    ("value", "label"),
    [(27.4, "27"), (1.0612, "1.06"), (0.1, "0.10"), (0.0736, "0.074"), (0.00741, "0.0074"), (0.0104, "0.010")],
)
def test_ratio_labels_keep_three_digits(value: float, label: str) -> None:
    assert figures.ratio_label(value) == label


def test_every_candidate_keeps_its_colour_in_every_panel() -> None:
    """The defect of the old figure: a candidate's colour changed from panel to panel."""
    colors = pytest.importorskip("matplotlib.colors", reason="the figures need matplotlib (pip install 'xrnn[plot]')")
    import matplotlib.pyplot as plt

    panels = [
        figures.Panel("a", ["x", "y"], {"torch": [0.5, 2.0], "naive": [1.2, None]}),
        figures.Panel("b", ["x"], {"floor": [3.0], "naive": [0.8], "torch": [1.1]}),
    ]
    figure = figures.ratio_figure(panels)
    for axis, panel in zip(figure.axes, panels, strict=True):
        bars = [(p.get_gid(), p.get_facecolor()) for p in axis.patches]
        expected = [n for n, series in panel.ratios.items() for v in series if v is not None]
        assert [name for name, _ in bars] == expected
        for name, face in bars:
            assert face == pytest.approx(colors.to_rgba(figures.PALETTE[name]))
        assert [line.get_ydata()[0] for line in axis.get_lines()] == [1.0]
    legend = figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["PyTorch (CPU)", "naive loop", "matrix-product floor"]
    plt.close(figure)


def test_a_candidate_without_a_colour_is_refused() -> None:
    with pytest.raises(ValueError, match=r"candidate: expected one of xrnn, torch, .* got 'jax'"):
        figures.colour("jax")


def test_a_figure_needs_panels() -> None:
    pytest.importorskip("matplotlib", reason="the figures need matplotlib (pip install 'xrnn[plot]')")
    with pytest.raises(ValueError, match="panels: expected at least one panel, got none"):
        figures.ratio_figure([])


def test_write_page_draws_the_figure_beside_the_page(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the figures need matplotlib (pip install 'xrnn[plot]')")
    source = ROOT / "docs/gpu/graphs.json"
    page = tmp_path / "gpu.md"
    docs.write_page(_result("docs/gpu/graphs.json"), page, source=source)
    assert (tmp_path / "gpu.png").read_bytes().startswith(b"\x89PNG")
    text = page.read_text(encoding="utf-8")
    assert "![xrnn's time over each peer's](gpu.png)" in text
    assert f"[the results JSON]({Path(os.path.relpath(source, tmp_path)).as_posix()})" in text


def test_the_command_refuses_what_is_not_a_suites_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.main([str(tmp_path / "missing.json"), str(tmp_path / "page.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m benchmarks.docs: results: cannot read {tmp_path / 'missing.json'} as JSON (")
    assert err.count("\n") == 1
    other = tmp_path / "other.json"
    other.write_text('{"suite": "dask"}', encoding="utf-8")
    assert docs.main([str(other), str(tmp_path / "page.md")]) == 2
    assert capsys.readouterr().err == (
        "python -m benchmarks.docs: results: expected a suite's JSON with suite 'cpu' or 'gpu', got 'dask'\n"
    )
    assert not (tmp_path / "page.md").exists()


def test_the_checkpointing_page_is_what_its_json_generates() -> None:
    """``docs/checkpointing.md`` includes the table ``benchmarks/memory.py`` wrote from its JSON, shows its
    figure, and states each target's verdict as the JSON has it."""
    from benchmarks import memory

    result = _result("docs/checkpointing/memory.json")
    table = (ROOT / "docs" / "checkpointing" / "table.md").read_text(encoding="utf-8")
    stale = "table.md is stale: python -m benchmarks.memory --render docs/checkpointing/memory.json"
    assert table == memory.markdown(result), stale
    assert (ROOT / "docs" / "checkpointing" / "memory.png").is_file()
    page = (ROOT / "docs" / "checkpointing.md").read_text(encoding="utf-8")
    assert "```{include} checkpointing/table.md" in page
    assert "](checkpointing/memory.png)" in page
    assert [(t["cell"], t["t_x"]) for t in result["targets"]] == [("rnn", 1000), ("lstm", 1000), ("rnn", 100_000)]
    for target in result["targets"]:
        assert target["status"] in ("met", "missed")
    lengths = {case["t_x"] for case in result["cases"] if case["workload"] == "long"}
    assert lengths == {100, 1000, 10_000, 100_000}
    assert result["command"] in page
