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


def test_no_command_is_one_line_pointing_to_help_and_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    expected = "xrnn: error: the following arguments are required: COMMAND (xrnn --help lists the commands)\n"
    assert result.stderr == expected


def test_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "xrnn", "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    for command in ("train", "sample", "info", "demo", "bench"):
        assert command in result.stdout
