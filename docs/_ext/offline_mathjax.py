"""Sphinx: serve MathJax from the built site, and fail the build when a page would load anything from the network.

Sphinx's ``mathjax`` extension loads MathJax from a CDN by default, so a site opened without a network
(a cluster node, a train) shows raw TeX. This extension copies MathJax 3 from the
``django-static-mathjax`` wheel (MathJax's own npm files, no dependencies) into ``_static/mathjax``,
points ``mathjax_path`` there, and after the build runs :func:`site_check.network_loads` over every
page: a script, stylesheet or image from the network, or a page with formulas that does not load the
local MathJax, stops the build.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from site_check import network_loads
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

SCRIPT = "mathjax/tex-chtml.js"  # under _static: TeX in, HTML and CSS out, with MathJax's fonts
# What tex-chtml.js loads on demand: TeX extensions, fonts, the menu and its accessibility options.
PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors", "sre")


def _mathjax_files() -> Path:
    try:
        root = resources.files("mathjax") / "static" / "mathjax" / "es5"
    except ModuleNotFoundError:
        raise ExtensionError("offline_mathjax needs MathJax: pip install django-static-mathjax") from None
    return Path(str(root))


def _use_local_copy(app: Sphinx, config: Config) -> None:
    config.mathjax_path = SCRIPT


def _copy_and_check(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_files(), Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / part, target / part)
    problems = network_loads(Path(app.outdir), mathjax=f"_static/{SCRIPT}")
    if problems:
        raise ExtensionError("the built site would load from the network:\n" + "\n".join(problems))


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.mathjax")
    _mathjax_files()
    app.connect("config-inited", _use_local_copy, priority=900)
    app.connect("build-finished", _copy_and_check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
