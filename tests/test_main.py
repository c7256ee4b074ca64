"""``python -m xrnn``: the entry point runs the command line; ``demo`` runs and reports its checks."""

from __future__ import annotations

import subprocess
import sys

from xrnn.backends import available_backends


def test_demo_runs_every_available_backend() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn", "demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in available_backends():
        assert f"[{name}] gradient check vs central differences: worst" in result.stdout
    assert result.stdout.strip().endswith("all checks passed")


def test_no_command_prints_usage_and_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: xrnn ")
    assert "Traceback" not in result.stderr


def test_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn", "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    for command in ("train", "sample", "info", "demo", "bench"):
        assert command in result.stdout
