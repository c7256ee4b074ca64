"""Smoke test of the benchmark harness: its quickest mode on the toy size writes a report.

No timing is asserted (performance is measured by ``python -m benchmarks.cpu``, never in tests).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import xrnn
from benchmarks import cpu, fused, gpu, masked, profile_gated, workload
from benchmarks.gated import torch_model
from benchmarks.harness import Candidate, time_interleaved
from benchmarks.workload import Size

HAS_TORCH = importlib.util.find_spec("torch") is not None  # the PyTorch baseline is optional


def test_cpu_quick_toy_writes_json_csv_and_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.md"
    args = ["--quick", "--sizes", "toy", "--dtypes", "float64", "--output", str(tmp_path), "--markdown", str(page)]
    assert cpu.main([*args, "--cells", "rnn", "--budget", "0.05", "--baseline-phases"]) == 0
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
    assert "| 3x5x10x4 | float64 | " in text  # the ratios
    assert f"[the results JSON]({page.with_suffix('.json').name})" in text
    assert "LSTM" not in text
    assert "gated_records" not in result
    assert json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))["records"] == result["records"]
    assert "3x5x10x4" in capsys.readouterr().out


def test_cpu_quick_toy_lstm_and_gru(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    args = ["--quick", "--sizes", "toy", "--output", str(tmp_path), "--markdown", str(page), "--budget", "0.05"]
    assert cpu.main([*args, "--cells", "lstm,gru"]) == 0
    result = json.loads((tmp_path / "cpu.json").read_text(encoding="utf-8"))
    assert result["records"] == []
    records = result["gated_records"]
    assert [(r["cell"], r["dtype"]) for r in records] == [
        ("lstm", "float32"),
        ("lstm", "float64"),
        ("gru", "float32"),
        ("gru", "float64"),
    ]
    for record in records:
        where = f"{record['cell']} {record['dtype']}"
        assert record["size"] == "3x5x10x4"
        assert record["errors"] == {}, where
        for name in ("xrnn fwd", "xrnn bwd", "xrnn f+b", "naive f+b", "gemm", *(["torch f+b"] if HAS_TORCH else [])):
            assert record["timings"][name]["n"] >= 3, (where, name)
        assert record["agreement"]["naive"]["agrees"], (where, record["agreement"]["naive"])
        gates = {"lstm": 4, "gru": 3}[record["cell"]]
        assert record["flops"]["xrnn"] == workload.xrnn_flops(Size(3, 5, 10, 4), gates)
        assert record["gemm"]["shape"] == [40, 5, gates * 5]
    if HAS_TORCH:
        lstm_f64 = records[1]["agreement"]["torch"]
        assert lstm_f64["agrees"]
        assert set(lstm_f64["errors"]) >= {"a", "dx", "da0", "dc0", "dWf", "dWo", "dbi"}
        assert "not compared" in records[2]["agreement"]["torch"]["note"]  # PyTorch's GRU is another cell
    targets = [(t["cell"], t["target"], t["dtype"]) for t in result["gated_targets"]]
    assert targets == [(c, "fwd+bwd <= 1.0x naive", d) for c in ("lstm", "gru") for d in ("float32", "float64")]
    gated_csv = (tmp_path / "cpu-gated.csv").read_text(encoding="utf-8")
    assert gated_csv.startswith("cell,size,")
    assert "lstm,3x5x10x4" in gated_csv
    assert "gru,3x5x10x4" in gated_csv
    text = page.read_text(encoding="utf-8")
    assert "**LSTM and GRU**" in text  # in the folded section
    assert "| LSTM | 3x5x10x4 | float32 |" in text
    assert "| GRU | 3x5x10x4 | float64 |" in text
    assert "| LSTM | fwd+bwd <= 1.0x naive | 3x5x10x4 |" in text
    assert "Peak memory" not in text  # no RNN records, no RNN tables
    assert (tmp_path / "page.png").exists() == (importlib.util.find_spec("matplotlib") is not None)


def test_profile_gated_times_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    """The gated profile on the toy size: every phase gets a time (a failing phase would print an error)."""
    assert profile_gated.main(["--sizes", "toy", "--dtypes", "float64", "--budget", "0.05"]) == 0
    out = capsys.readouterr().out
    for cell in ("LSTM", "GRU"):
        assert f"=== {cell} 3x5x10x4" in out
    for phase in ("backward: the scan's step products alone", "backward: dx"):
        assert out.count(phase) == 2, phase
    scans = 4 if importlib.util.find_spec("numba") is not None else 2  # compiled kernels and NumPy passes
    for phase in ("forward: scan (", "backward: scan (", "forward: elementwise in the scan ("):
        assert out.count(phase) == scans, phase
    assert ("oneDNN off" in out) == HAS_TORCH
    assert "error" not in out.lower()


def test_fused_benchmark_times_every_implementation(capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks.fused`` on the toy size: a row per cell with fused, NumPy passes and twin timed."""
    arguments = ["--sizes", "toy", "--dtypes", "float64", "--budget", "0.05", "--switch-gap", "0", "--no-torch"]
    assert fused.main(arguments) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith(("LSTM", "GRU"))]
    assert [row[0] for row in rows] == ["LSTM", "GRU"]
    assert all(row[-3] == "-" and float(row[-2]) > 0 and float(row[-1]) > 0 for row in rows)  # no torch ratio


def test_masked_benchmark_times_every_cell(capsys: pytest.CaptureFixture[str]) -> None:
    assert masked.main(["--sizes", "toy", "--dtypes", "float32", "--budget", "0.05"]) == 0
    rows = [
        line.split()
        for line in capsys.readouterr().out.splitlines()
        if line.lstrip().startswith(("RNN", "LSTM", "GRU"))
    ]
    assert [row[0] for row in rows] == ["RNN", "LSTM", "GRU"]
    assert all(row[-1].endswith("x") and row[-2].endswith("x") for row in rows)


def test_padding_mask_keeps_a_prefix_of_at_least_half() -> None:
    mask = masked.padding_mask(50, 9, seed=3)
    lengths = mask.sum(axis=1)
    assert mask.shape == (50, 9)
    assert lengths.min() >= 4
    assert lengths.max() <= 9
    np.testing.assert_array_equal(mask, np.arange(9) < lengths[:, None])


def test_gated_flops_reduce_to_the_rnn_and_scale_with_the_gates() -> None:
    size = Size(64, 128, 32, 100)
    assert workload.xrnn_flops(size) == workload.xrnn_flops(size, workload.GATES["rnn"])
    rows = size.t_x * size.m
    per_gate = 2 * rows * (3 * size.n_a**2 + 3 * size.n_x * size.n_a)
    assert workload.torch_flops(size, 4) == 4 * per_gate
    assert workload.xrnn_flops(size, 3) - workload.torch_flops(size, 3) == 2 * rows * size.n_y * size.n_a


def test_torch_gru_is_loaded_with_xrnns_gates() -> None:
    """PyTorch's GRU has another candidate, but with h0 = 0 and one step both give the same state: a check
    that the update gate is loaded negated and the gates in PyTorch's order."""
    torch = pytest.importorskip("torch")
    problem = workload.make_gated_problem(Size(3, 5, 4, 1), "gru", "float64", seed=2)
    problem["a0"] = np.zeros_like(problem["a0"])
    with torch.no_grad():
        theirs = torch_model(torch, "gru", problem, "float64").forward().numpy()
    ours, _, _ = xrnn.gru_forward(problem["x"], problem["a0"], problem["parameters"])
    np.testing.assert_allclose(theirs.transpose(2, 1, 0), ours, rtol=1e-12, atol=1e-12)
    problem["a0"] = np.ones_like(problem["a0"])  # and the candidates differ once the state is not zero
    with torch.no_grad():
        theirs = torch_model(torch, "gru", problem, "float64").forward().numpy()
    ours, _, _ = xrnn.gru_forward(problem["x"], problem["a0"], problem["parameters"])
    assert not np.allclose(theirs.transpose(2, 1, 0), ours)


def test_gpu_dry_run_exercises_every_path(tmp_path: Path) -> None:
    page = tmp_path / "gpu.md"
    sizes = ["--n-a", "4,16", "--batches", "2", "--t-x", "3"]  # tiny: the code paths, not the numbers
    assert gpu.main(["--dry-run", *sizes, "--output", str(tmp_path), "--markdown", str(page)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text(encoding="utf-8"))
    assert result["dry_run"] is True
    assert result["records"], "no measurement recorded"
    assert all(not record["errors"] for record in result["records"]), [r["errors"] for r in result["records"]]
    assert "# GPU benchmarks" in page.read_text(encoding="utf-8")


def test_gpu_dry_run_of_the_gated_grid(tmp_path: Path) -> None:
    """``--cells lstm,gru`` times the gated cells through the cell interface against torch (standing in for
    cuDNN) and the twins, compares the LSTM's results with torch's, and checks the gated targets."""
    sizes = ["--n-a", "8,512", "--batches", "2", "--t-x", "2", "--dtypes", "float64"]
    assert gpu.main(["--dry-run", "--cells", "lstm,gru", *sizes, "--output", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text(encoding="utf-8"))
    records = result["records"]
    assert [(r["cell"], r["n_a"]) for r in records] == [("lstm", 8), ("lstm", 512), ("gru", 8), ("gru", 512)]
    assert all(not r["errors"] for r in records), [r["errors"] for r in records]
    for r in records:
        assert set(r["timings"]) >= {"xrnn", "generic"}, r["timings"]
    if importlib.util.find_spec("torch") is not None:
        lstm = records[0]["agreement"]["cudnn"]
        assert lstm["agrees"], lstm
        assert "not compared" in records[2]["agreement"]["cudnn"]["note"]
        targets = [(t["target"], t["size"]) for t in result["targets"]]
        assert targets == [("lstm <= 1.5x cuDNN", "n_a=512 m=2"), ("gru <= 1.5x cuDNN", "n_a=512 m=2")]
        assert all(t["status"] in ("met", "missed") for t in result["targets"])


def test_gpu_gated_targets() -> None:
    def record(cell: str, dtype: str, n_a: int, m: int, ours: float, cudnn: float, generic: float) -> dict[str, object]:
        timings = {"xrnn": {"median": ours}, "cudnn": {"median": cudnn}, "generic": {"median": generic}}
        return {"cell": cell, "dtype": dtype, "n_a": n_a, "m": m, "T_x": 50, "timings": timings}

    records = [
        record("lstm", "float64", 512, 128, 1.4, 1.0, 2.0),  # within 1.5x of cuDNN, in float64 too
        record("gru", "float32", 2048, 16, 1.6, 1.0, 2.0),  # 1.6x: missed
        record("lstm", "float32", 128, 16, 1.0, 0.1, 12.0),  # 12x the twins: met; no cuDNN target at 128
        record("gru", "float64", 128, 16, 1.0, 0.1, 9.0),  # 9x: missed
        record("gru", "float64", 128, 128, 1.0, 0.1, 1.0),  # no target
    ]
    for r in records:
        gpu._derive(r)
    got = [(t["target"], t["size"], t["status"]) for t in gpu.check_targets(records)]
    assert got == [
        ("lstm <= 1.5x cuDNN", "n_a=512 m=128", "met"),
        ("gru <= 1.5x cuDNN", "n_a=2048 m=16", "missed"),
        ("lstm twins >= 10x", "n_a=128 m=16", "met"),
        ("gru twins >= 10x", "n_a=128 m=16", "missed"),
    ]


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


def test_the_flow_page_script_runs_on_tiny_sizes(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the flow page draws with matplotlib (the bench extra)")
    from benchmarks import flow

    assert flow.main(["--seq-len", "6", "--steps", "4", "--every", "2", "--output", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "flow.json").read_text())
    assert [run["cell"] for run in result["runs"]] == ["rnn", "lstm", "gru"]
    assert [step for step, _ in result["runs"][0]["rows"]] == [1, 2, 4]
    assert (tmp_path / "flow.png").stat().st_size > 0
    assert "| GRU |" in (tmp_path / "summary.md").read_text()


def test_the_memory_benchmark_runs_quick_and_counts_the_recomputed_steps(tmp_path: Path) -> None:
    """``python -m benchmarks.memory --quick``: every cell, length and budget measured, full BPTT beside;
    the steps counted as the engine ran them are revolve's optimum."""
    from benchmarks import memory

    assert memory.main(["--quick", "--output", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "memory.json").read_text(encoding="utf-8"))
    assert [(c["cell"], c["t_x"]) for c in result["cases"]] == [
        ("rnn", 9),
        ("lstm", 9),
        ("gru", 9),
        ("rnn", 40),
        ("lstm", 40),
    ]
    for case in result["cases"]:
        assert case["errors"] == {}
        assert [m["budget"] for m in case["measurements"]] == [None, *memory.budgets(case["t_x"])]
        full, *checkpointed = case["measurements"]
        assert full["recomputed"] == 0
        assert full["peak_bytes"] > 0
        assert full["time"]["n"] >= 3
        for got in checkpointed:
            assert got["recomputed"] == got["optimum"]  # revolve's, counted as the engine ran
            assert got["memory_ratio"] == got["peak_bytes"] / full["peak_bytes"]
            assert got["time_ratio"] is not None
    table = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert table == memory.markdown(result)
    assert "| LSTM | 40 | full |" in table
    assert (tmp_path / "memory.png").exists() == (importlib.util.find_spec("matplotlib") is not None)


def test_the_memory_benchmark_says_why_it_drew_no_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import memory

    monkeypatch.setattr(memory.importlib.util, "find_spec", lambda name: None)
    result = {"cases": [], "targets": [], "workloads": [], "plot": "memory.png"}
    memory.render(result, tmp_path)
    assert "matplotlib is not installed (pip install '.[bench]'); no plot" in capsys.readouterr().out
    assert result["plot"] is None


def test_the_memory_benchmark_skips_full_bptt_where_it_would_not_fit(tmp_path: Path) -> None:
    from benchmarks import memory

    args = ["--quick", "--output", str(tmp_path), "--cells", "rnn", "--lengths", "9", "--memory-fraction", "0"]
    assert memory.main(args) == 0
    (case,) = json.loads((tmp_path / "memory.json").read_text(encoding="utf-8"))["cases"]
    assert case["full_skipped"].startswith("estimated peak")
    assert [m["budget"] for m in case["measurements"]] == memory.budgets(9)
    table = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert "| full skipped | full skipped |" in table
    assert "full BPTT skipped for RNN at T_x = 9" in table


def test_the_memory_targets_are_met_or_missed_by_their_numbers() -> None:
    from benchmarks import memory

    def case(cell: str, peak: int, memory_ratio: float, time_ratio: float) -> dict[str, object]:
        got = {"budget": 64, "peak_bytes": peak, "memory_ratio": memory_ratio, "time_ratio": time_ratio}
        return {"workload": "target-1000", "cell": cell, "t_x": 1000, "measurements": [got]}

    target = memory.Target("target-1000", 1000, 64, ("rnn", "lstm", "gru"), memory_ratio=0.1, time_ratio=1.6)
    checked = memory.check_targets([case("rnn", 1, 0.08, 1.2), case("lstm", 1, 0.08, 1.7)], [target])
    assert [(t["cell"], t["status"]) for t in checked] == [("rnn", "met"), ("lstm", "missed"), ("gru", "not measured")]
    assert memory.budgets(1000) == [10, 32, 64]
    assert memory.budgets(100_000) == [17, 317, 633]
