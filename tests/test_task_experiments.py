"""benchmarks/tasks.py: the experiments behind the tasks page record their curves, draw them and write the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import tasks


def test_a_tiny_run_records_curves_draws_figures_and_writes_the_page(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the page's figures need matplotlib (pip install 'xrnn[bench]')")
    results = tmp_path / "tasks" / "results.json"
    common = ["--results", str(results), "--steps", "4", "--eval-every", "2"]
    assert tasks.main(["run", *common, "--only", "adding:50", "--only", "copy:100"]) == 0
    recorded = json.loads(results.read_text())
    assert [(r["task"], r["T"], r["cell"]) for r in recorded["runs"]] == [
        (task, length, cell) for task, length in (("adding", 50), ("copy", 100)) for cell in tasks.CELLS
    ]
    assert all(len(run["commit"]) == 40 for run in recorded["runs"])  # the code the numbers came from
    adding, copy = recorded["runs"][0], recorded["runs"][3]
    assert [p["step"] for p in adding["curve"]] == [2, 4]
    assert set(copy["curve"][0]) == {"step", "train_loss", "val_loss", "val_accuracy"}
    assert adding["baseline"] == pytest.approx(1 / 6)
    assert tasks.main(["run", *common, "--only", "adding:50"]) == 0  # done already: nothing is trained twice
    assert len(json.loads(results.read_text())["runs"]) == 6
    page = tmp_path / "tasks.md"
    assert tasks.main(["page", "--results", str(results), "--page", str(page)]) == 0
    text = page.read_text()
    assert "| adding T=50 (baseline 0.1667) | LSTM | 4 |" in text
    assert "![copy-100](tasks/copy-100.png)" in text
    for name in ("adding-50.png", "copy-100.png"):
        assert (tmp_path / "tasks" / name).read_bytes()[:4] == b"\x89PNG"


def test_the_committed_page_is_what_its_results_generate(tmp_path: Path) -> None:
    results = tasks._load(tasks.RESULTS)
    recorded = {(r["task"], r["T"], r["cell"], r["config"]["steps"]) for r in results["runs"]}
    defined = {(task, length, cell, steps) for task, length, steps, cells in tasks.EXPERIMENTS for cell in cells}
    assert recorded == defined, "docs/tasks/results.json is not what benchmarks/tasks.py defines"
    figures = [tasks.RESULTS.parent / f"{task}-{length}.png" for task, length in tasks._experiments(results)]
    assert all(figure.is_file() for figure in figures)
    page = tmp_path / "tasks.md"
    tasks.page(results, figures, page)
    assert page.read_text() == tasks.PAGE.read_text(), "docs/tasks.md is stale: python -m benchmarks.tasks page"


def test_the_page_without_matplotlib_is_one_line_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tasks.importlib.util.find_spec
    monkeypatch.setattr(tasks.importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name))
    assert tasks.main(["page", "--results", str(tmp_path / "r.json"), "--page", str(tmp_path / "tasks.md")]) == 2
    err = capsys.readouterr().err
    assert err == "python -m benchmarks.tasks page: matplotlib draws the figures; pip install '.[bench]'\n"
    assert not (tmp_path / "tasks.md").exists()
