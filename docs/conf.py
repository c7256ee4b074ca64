"""Sphinx configuration: MyST pages, numpydoc docstrings, the furo theme, MathJax served with the site.

Built by ``nox -s docs``; ``_ext/offline_mathjax`` fails the build if a page would load from the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import xrnn

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "xrnn"
author = "xrnn developers"
release = version = xrnn.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "offline_mathjax",  # sphinx.ext.mathjax with MathJax copied into the site
]
myst_enable_extensions = ["dollarmath", "amsmath"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}  # autosummary writes .rst stubs
exclude_patterns = [
    "_build",
    "_ext",
    "gpu",
    "flow",
    "checkpointing/*",
    "benchmarks-cpu.md",
    "benchmarks-gpu.md",
]  # included by other pages

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc gives the types in the docstrings
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

html_theme = "furo"
html_title = f"xrnn {release}"
