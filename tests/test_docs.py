"""Every Python example in the README and the documentation runs as written, so the docs cannot rot.

(The docstrings' examples run as doctests through ``--doctest-modules``.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_readme_and_the_getting_started_page_show_examples() -> None:
    assert _python_blocks(ROOT / "README.md")
    assert _python_blocks(ROOT / "docs" / "getting-started.md")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_python_examples_run(page: Path) -> None:
    for number, block in enumerate(_python_blocks(page), start=1):
        if re.search(r"^import dask|^from dask", block, flags=re.MULTILINE):
            pytest.importorskip("dask", reason=f"{page.name} example {number} needs dask (pip install 'xrnn[dask]')")
        exec(compile(block, f"{page.name} example {number}", "exec"), {})
