"""The gated cells in the CPU suite: xrnn's LSTM and GRU against their naive loops and PyTorch's.

xrnn (``xrnn.lstm_forward`` / ``gru_forward``, then the backward given the cache) and the naive loops
(``benchmarks/naive_gated.py``) share their signatures, so one pair of functions runs either. PyTorch's
``nn.LSTM`` computes what xrnn's LSTM computes and is compared with it; its ``nn.GRU`` puts the reset
gate after the recurrent product (see ``benchmarks/torch_rnn.py``), so it is timed, not compared.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import xrnn
from benchmarks import naive_gated
from benchmarks.harness import Candidate, traced_peak_bytes
from benchmarks.workload import AGREEMENT, GATED_GRADIENT_KEYS, GATES, Size, floor_gemm, relative_errors

CELLS = ("lstm", "gru")
TITLES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def forward(module: ModuleType, cell: str, problem: dict[str, Any]) -> tuple[Any, Any]:
    """``(a, cache)`` of ``module``'s (``xrnn`` or ``naive_gated``) forward of ``cell``."""
    x, a0, p = problem["x"], problem["a0"], problem["parameters"]
    if cell == "lstm":
        a, _, _, cache = module.lstm_forward(x, a0, p, c0=problem["c0"])
    else:
        a, _, cache = module.gru_forward(x, a0, p)
    return a, cache


def backward(module: ModuleType, cell: str, da: Any, cache: Any) -> dict[str, Any]:
    return dict(getattr(module, f"{cell}_backward")(da, cache))


def forward_backward(module: ModuleType, cell: str, problem: dict[str, Any]) -> dict[str, Any]:
    a, cache = forward(module, cell, problem)
    return {"a": a, **backward(module, cell, problem["da"], cache)}


def torch_model(torch: Any, cell: str, problem: dict[str, Any], dtype: str) -> Any:
    from benchmarks.torch_rnn import TorchGRU, TorchLSTM

    model = TorchLSTM if cell == "lstm" else TorchGRU
    x, a0, da, p = problem["x"], problem["a0"], problem["da"], problem["parameters"]
    return model(torch, x, a0, da, p, dtype=dtype, c0=problem.get("c0"))


def agreement(cell: str, problem: dict[str, Any], dtype: str, torch: Any, naive: bool) -> dict[str, Any]:
    """xrnn's hidden states and gradients against the naive loop's (where timed) and PyTorch's LSTM.

    The naive loop is compared only where it is timed (it takes seconds at the large sizes), PyTorch's
    GRU never (another cell): such entries say why instead of giving errors.
    """
    ours = forward_backward(xrnn, cell, problem)
    report: dict[str, Any] = {}
    references: dict[str, dict[str, Any]] = {}
    if naive:
        references["naive"] = forward_backward(naive_gated, cell, problem)
    else:
        report["naive"] = {"note": "not compared: the naive loop is not timed at this size"}
    if torch is not None:
        model = torch_model(torch, cell, problem, dtype)
        if model.comparable:
            references["torch"] = model.results()
        else:
            report["torch"] = {"note": "not compared: PyTorch's GRU applies the reset gate after the recurrent product"}
    keys = ("a", *GATED_GRADIENT_KEYS[cell])
    for name, reference in references.items():
        errors = relative_errors(ours, {k: reference[k] for k in keys})
        worst = max(errors.values())
        report[name] = {"worst": worst, "agrees": worst <= AGREEMENT[dtype], "errors": errors}
    return report


def candidates(
    cell: str, problem: dict[str, Any], size: Size, dtype: str, torch: Any, *, naive: bool, gemm: bool
) -> list[Candidate]:
    """xrnn's forward, backward and forward+backward; the naive loop's and PyTorch's forward+backward;
    the floor product ``(T_x m, n_a) @ (n_a, gates n_a)``."""
    da = problem["da"]
    _, cache = forward(xrnn, cell, problem)
    candidates = [
        Candidate("xrnn fwd", lambda: forward(xrnn, cell, problem)),
        Candidate("xrnn bwd", lambda: backward(xrnn, cell, da, cache)),
        Candidate("xrnn f+b", lambda: forward_backward(xrnn, cell, problem)),
    ]
    if naive:
        candidates.append(Candidate("naive f+b", lambda: forward_backward(naive_gated, cell, problem)))
    if torch is not None:
        model = torch_model(torch, cell, problem, dtype)
        candidates.append(Candidate("torch f+b", model.forward_backward, group="torch"))
    if gemm:
        candidates.append(Candidate("gemm", floor_gemm(size, dtype, GATES[cell])))
    return candidates


def peaks(cell: str, problem: dict[str, Any], naive: bool) -> dict[str, int]:
    """tracemalloc's peak during one forward+backward of xrnn (and of the naive loop, where timed)."""
    result = {"xrnn f+b": traced_peak_bytes(lambda: forward_backward(xrnn, cell, problem))}
    if naive:
        result["naive f+b"] = traced_peak_bytes(lambda: forward_backward(naive_gated, cell, problem))
    return result
