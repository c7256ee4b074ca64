"""``python -m xrnn``: the demonstration runs and reports its checks."""

from __future__ import annotations

import subprocess
import sys

from xrnn.backends import available_backends


def test_demo_runs_every_available_backend() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in available_backends():
        assert f"[{name}] gradient check vs central differences: worst" in result.stdout
    assert result.stdout.strip().endswith("all checks passed")
