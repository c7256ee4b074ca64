"""Sessions: ``nox`` runs lint, typecheck, the tests on every backend (cupy skips without a GPU), the CuPy
code paths on a stand-in CuPy (``standin_cupy``, skips without a C++ compiler) and docs.

``nox -s "tests(cupy)"`` on a CUDA machine; with no internet, ``nox --no-venv -s "tests(cupy)"`` runs
the same session on the current interpreter, which must already have cupy, pytest, hypothesis and
array-api-compat. ``nox -s standin_cupy`` runs xrnn's CuPy code paths on the CPU, through a stand-in
that is not CuPy (``tools/standin_cupy/README.md``).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "standin_cupy", "docs"]

BACKENDS = ["numpy", "array_api_strict", "cupy"]
# "dask": the whole suite on NumPy with dask installed, so tests/test_dask.py runs instead of skipping.
TEST_SESSIONS = [*BACKENDS, "dask"]
STANDIN_CUPY = Path(__file__).resolve().parent / "tools" / "standin_cupy"
# The tests that reach xrnn's CuPy code: its adapter, fused kernels, graphs and cuBLAS calls, through every
# cell, masks, layers and Dask's threaded scheduler on CuPy chunks.
STANDIN_CUPY_TESTS = [
    "tests/backends/test_cupy.py",
    "tests/test_rnn.py",
    "tests/test_lstm.py",
    "tests/test_gru.py",
    "tests/test_masking.py",
    "tests/test_layers.py",
    "tests/test_dask.py",
]


def _cuda_major_version() -> int | None:
    """The driver's CUDA major version from ``nvidia-smi``, or ``None`` when there is no CUDA device.

    Checked before anything is installed, so the cupy session costs nothing on a machine without a GPU.
    """
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    result = subprocess.run([smi], capture_output=True, text=True, check=False)
    found = re.search(r"CUDA Version:\s*(\d+)", result.stdout)
    return int(found.group(1)) if result.returncode == 0 and found else None


def _install(session: nox.Session, *args: str) -> None:
    if session.venv_backend == "none":
        session.log(f"--no-venv: not installing {' '.join(args)}; using what this interpreter has")
        return
    session.install(*args)


@nox.session
@nox.parametrize("backend", TEST_SESSIONS, ids=TEST_SESSIONS)
def tests(session: nox.Session, backend: str) -> None:
    """The whole test suite on one backend's arrays (``pytest --backend=NAME``); ``dask``: on NumPy, with Dask."""
    extras = "test"
    if backend == "numpy":  # the PyTorch cross-checks (torch's CPU build) and the compiled kernels run here
        extras += ",crosscheck,fast"
    if backend == "dask":
        extras += ",dask"
    elif backend == "cupy":
        cuda = _cuda_major_version()
        if cuda is None:
            session.skip("no CUDA device here (nvidia-smi is missing or reports none); the cupy tests need a GPU")
        extras += ",cuda13" if cuda >= 13 else ",cuda12"
    _install(session, "-e", f".[{extras}]")
    # With --no-venv, "python" on PATH may not be the interpreter that has cupy: use nox's own.
    python = sys.executable if session.venv_backend == "none" else "python"
    if backend == "dask":
        # Fail here when dask is missing, rather than skip tests/test_dask.py; then the whole suite on NumPy,
        # which with dask installed includes the Dask tests and the doctests of xrnn/dask_arrays.py.
        session.run(python, "-c", "import dask.array, distributed")
        backend = "numpy"
    session.run(python, "-m", "pytest", f"--backend={backend}", *session.posargs)


def _standin_compiler() -> str | None:
    """The C++ compiler the stand-in CuPy would build its kernels with, asked of the stand-in itself."""
    spec = importlib.util.spec_from_file_location("standin_build", STANDIN_CUPY / "cupy" / "_build.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(STANDIN_CUPY / "cupy" / "_build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.compiler()


@nox.session
def standin_cupy(session: nox.Session) -> None:
    """xrnn's CuPy code paths on the CPU, through the stand-in CuPy in ``tools/standin_cupy`` (NOT CuPy).

    Only this session puts the stand-in on ``PYTHONPATH``; its kernels and fake cuBLAS are compiled on first
    use into ``STANDIN_BUILD`` (default: a per-user cache). Arguments after ``--`` go to pytest.
    """
    if _standin_compiler() is None:
        session.skip("no C++ compiler here (set CXX, or put c++, g++ or clang++ on PATH); the stand-in needs one")
    _install(session, "-e", ".[test,dask]")
    python = sys.executable if session.venv_backend == "none" else "python"
    pytest = [python, "-m", "pytest", "--backend=cupy", *STANDIN_CUPY_TESTS, *session.posargs]
    session.run(*pytest, env={"PYTHONPATH": str(STANDIN_CUPY)})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _install(session, "ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    _install(session, "mypy>=1.11", "-e", ".[test]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx + MyST + numpydoc + furo), warnings as errors, into docs/_build.

    First the tests of what the pages are made from (the site's checks; the benchmark pages against their
    JSON, with their figures). The build fails if a page would load anything from the network
    (``docs/_ext/offline_mathjax.py``); where Chromium is installed, the pages with formulas are then
    opened with no network and must show no raw TeX.
    """
    _install(session, "-e", ".[docs,test,plot]")
    python = sys.executable if session.venv_backend == "none" else "python"
    # What the pages are built from: the site's checks, and the benchmark pages against their JSON.
    session.run(python, "-m", "pytest", "tests/test_site_check.py", "tests/test_benchmark_pages.py")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs)
    if shutil.which("chromium") is None:
        session.log("chromium is not on PATH (apt-get install chromium): the pages were not opened in a browser")
        return
    session.run(python, "docs/_ext/site_check.py", "docs/_build/html", "--browser")


@nox.session
def bench(session: nox.Session) -> None:
    """The CPU benchmark harness (``-- --quick`` for a smoke run; other arguments go to benchmarks.cpu).

    PyTorch is compared when it imports; PyPI's default torch wheel is a multi-GB CUDA build, so this
    session does not install it: ``nox --no-venv -s bench`` runs on an interpreter that has it.
    """
    _install(session, "-e", ".[bench]")
    python = sys.executable if session.venv_backend == "none" else "python"
    session.run(python, "-m", "benchmarks.cpu", *session.posargs)
