"""pytest plugin (``-p standin_report``): prints what the stand-in CuPy ran, at the end of the session."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    cupy = sys.modules.get("cupy")
    if cupy is None or "standin" not in getattr(cupy, "__version__", ""):
        return
    counts = cupy._state.counts
    kernels = sum(v for k, v in counts.items() if k.startswith("kernel:"))
    captured = sum(v for k, v in counts.items() if k.startswith("captured:"))
    terminalreporter.write_line(
        f"stand-in CuPy: {kernels} fused-kernel launches run eagerly, {captured} launches captured "
        f"({counts['captured:cublasGemm']} of them ctypes cuBLAS GEMMs), {counts['graph-launch']} graph launches; "
        "host reads: " + ", ".join(f"{k[5:]} {v}" for k, v in sorted(counts.items()) if k.startswith("host:"))
    )
    for name in sorted(k for k in counts if k.startswith(("kernel:", "kernel-cast"))):
        terminalreporter.write_line(f"  {name}: {counts[name]} eager, {counts.get('captured:' + name, 0)} captured")
