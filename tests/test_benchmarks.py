"""Smoke test of the benchmark harness: its quickest mode on the toy size writes a report.

No timing is asserted (performance is measured by ``python -m benchmarks.cpu``, never in tests).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from benchmarks import cpu, gpu
from benchmarks.harness import Candidate, time_interleaved


def test_cpu_quick_toy_writes_json_csv_and_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.md"
    args = ["--quick", "--sizes", "toy", "--dtypes", "float64", "--output", str(tmp_path), "--markdown", str(page)]
    assert cpu.main([*args, "--budget", "0.05", "--baseline-phases"]) == 0
    result = json.loads((tmp_path / "cpu.json").read_text(encoding="utf-8"))
    (record,) = result["records"]
    assert record["size"] == "3x5x10x4"
    assert record["dtype"] == "float64"
    assert record["errors"] == {}
    for name, check in record["agreement"].items():
        assert check["agrees"], f"xrnn disagrees with {name}: {check['errors']}"
    for name in ("xrnn fwd", "xrnn bwd", "xrnn f+b", "generic f+b", "naive fwd", "naive bwd", "naive f+b", "gemm"):
        assert record["timings"][name]["n"] >= 3, name
    assert record["peak_bytes"]["xrnn f+b"] > 0
    assert [t["target"] for t in result["targets"]] == ["fwd+bwd <= 1.0x naive"]
    assert "xrnn f+b" in (tmp_path / "cpu.csv").read_text(encoding="utf-8")
    plotted = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "cpu.png").exists() == plotted
    assert result.get("plot") == ("cpu.png" if plotted else None)
    text = page.read_text(encoding="utf-8")
    assert "# CPU benchmarks" in text
    assert "3x5x10x4" in text
    assert "3x5x10x4" in capsys.readouterr().out


def test_gpu_dry_run_exercises_every_path(tmp_path: Path) -> None:
    page = tmp_path / "gpu.md"
    sizes = ["--n-a", "4,16", "--batches", "2", "--t-x", "3"]  # tiny: the code paths, not the numbers
    assert gpu.main(["--dry-run", *sizes, "--output", str(tmp_path), "--markdown", str(page)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text(encoding="utf-8"))
    assert result["dry_run"] is True
    assert result["records"], "no measurement recorded"
    assert all(not record["errors"] for record in result["records"]), [r["errors"] for r in result["records"]]
    assert "# GPU benchmarks" in page.read_text(encoding="utf-8")


def test_gpu_targets_are_checked_where_they_apply() -> None:
    def record(dtype: str, n_a: int, ours: float, cudnn: float, cpu: float) -> dict[str, object]:
        timings = {"xrnn": {"median": ours}, "cudnn": {"median": cudnn}, "numpy-cpu": {"median": cpu}}
        return {"dtype": dtype, "n_a": n_a, "m": 64, "T_x": 50, "timings": timings}

    records = [
        record("float32", 2048, 1.0, 1.0, 30.0),  # within 1.5x of cuDNN, 30x faster than the CPU
        record("float32", 1760, 2.0, 1.0, 30.0),  # 2x cuDNN: missed; 15x the CPU: missed
        record("float64", 512, 1.0, 0.1, 10.0),  # no cuDNN target in float64; 10x the CPU: missed
        record("float32", 128, 1.0, 0.1, 1.0),  # no target at n_a = 128
    ]
    for r in records:
        gpu._derive(r)
    got = [(t["target"].split()[0], t["size"], t["dtype"], t["status"]) for t in gpu.check_targets(records)]
    assert got == [
        ("xrnn", "n_a=2048 m=64", "float32", "met"),
        ("numpy-cpu", "n_a=2048 m=64", "float32", "met"),
        ("xrnn", "n_a=1760 m=64", "float32", "missed"),
        ("numpy-cpu", "n_a=1760 m=64", "float32", "missed"),
        ("numpy-cpu", "n_a=512 m=64", "float64", "missed"),
    ]


def test_time_interleaved_visits_groups_drops_failures_and_pairs_rounds() -> None:
    calls: list[str] = []
    candidates = [
        Candidate("a", lambda: calls.append("a")),
        Candidate("b", lambda: calls.append("b"), group="other library"),
        Candidate("broken", lambda: 1 / 0),
    ]
    timing = time_interleaved(candidates, budget_s=0.01, min_rounds=3, max_rounds=3, switch_gap_s=0.001, visit_s=0.0)
    assert timing.rounds == 3
    assert timing.errors["broken"].startswith("ZeroDivisionError")
    assert timing.samples["broken"] == []
    assert len(timing.samples["a"]) == len(timing.samples["b"]) == 3
    # a warm-up call, three timed ones, and an untimed one after each of the two switches into the group
    # (rounds rotate the group order, so consecutive visits to one group across rounds need no switch)
    assert calls.count("a") == calls.count("b") == 1 + 3 + 2
    assert timing.paired_ratio("a", "b") is not None
    assert timing.paired_ratio("a", "broken") is None
