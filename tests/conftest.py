"""The backend fixture: every test that takes ``backend`` runs once per selected array library.

Select with ``--backend NAME`` (repeatable) or ``XRNN_BACKEND=name[,name]``; by default every backend
that can run here. A selected backend that cannot run here skips with the reason.
array-api-strict arrays are put on its simulated ``Device("device1")``, so a result that silently
lands on the default device fails the device checks.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers import TestBackend
from xrnn.backends import available_backends, backend_names, get_backend, unavailable_reason


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=[*backend_names(), "all"],
        help="array library to run the backend-parametrized tests on (repeatable; default: every available one)",
    )


def _selected(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--backend") or [name for name in os.environ.get("XRNN_BACKEND", "").split(",") if name]
    if not chosen or "all" in chosen:
        return available_backends()
    return chosen


def pytest_report_header(config: pytest.Config) -> str:
    return f"xrnn backends: {', '.join(_selected(config)) or 'none'}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _selected(metafunc.config), indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> TestBackend:
    name: str = request.param
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(f"backend {name!r} cannot run here: {reason}")
    return TestBackend(get_backend(name))
