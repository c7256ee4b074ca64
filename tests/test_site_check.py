"""The built site's checks (``docs/_ext/site_check.py``) and the MathJax served with it (``offline_mathjax``)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXT = Path(__file__).resolve().parent.parent / "docs" / "_ext"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXT / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


site_check = _load("site_check")
MATHJAX = "_static/mathjax/tex-chtml.js"


def _page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def _site(tmp_path: Path, pages: dict[str, str], files: tuple[str, ...] = ()) -> Path:
    for name, text in pages.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    return tmp_path


def test_a_site_that_serves_everything_itself_passes(tmp_path: Path) -> None:
    head = f'<script defer src="{MATHJAX}?v=1"></script><link rel="stylesheet" href="_static/a.css">'
    body = '<span class="math">\\(x\\)</span><img src="data:image/png;base64,AAAA"><a href="https://x.org">x</a>'
    site = _site(
        tmp_path,
        {
            "index.html": _page(body, head),
            "sub/page.html": _page("", '<link rel="next" href="https://elsewhere.org/next.html">'),
            "_static/a.css": "a { background: url(data:image/svg+xml;utf8,<svg/>) } b { background: url('b.png') }",
        },
        files=(MATHJAX,),
    )
    assert site_check.network_loads(site, MATHJAX) == []


@pytest.mark.parametrize(
    ("page", "css", "expected"),
    [
        (
            _page("", '<script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script>'),
            "",
            "index.html loads https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js from the network",
        ),
        (
            _page("", '<link rel="stylesheet" href="//fonts.example.org/a.css">'),
            "",
            "index.html loads //fonts.example.org/a.css from the network",
        ),
        (
            _page('<img src="_images/missing.png">'),
            "",
            "index.html loads _images/missing.png, which is not in the site",
        ),
        (
            _page("", '<link rel="stylesheet" href="_static/a.css">'),
            "@import 'https://fonts.example.org/f.css';",
            "_static/a.css loads https://fonts.example.org/f.css from the network",
        ),
        (
            _page('<div class="math notranslate">\\[x\\]</div>'),
            "",
            f"index.html has formulas but does not load {MATHJAX}",
        ),
    ],
    ids=["cdn-script", "protocol-relative-css", "missing-image", "css-import", "math-without-mathjax"],
)
def test_network_loads_names_the_page_and_what_it_loads(tmp_path: Path, page: str, css: str, expected: str) -> None:
    site = _site(tmp_path, {"index.html": page, "_static/a.css": css})
    assert site_check.network_loads(site, MATHJAX) == [expected]


def test_raw_tex_passes_a_typeset_page_and_ignores_code() -> None:
    typeset = '<span class="math"><mjx-container><mjx-math>x</mjx-math></mjx-container></span>'
    code = "<pre>re.compile(r'\\(x\\)')</pre><code>$$</code>"
    assert site_check.raw_tex(_page(typeset + code)) == []


def test_raw_tex_finds_delimiters_errors_and_untypeset_formulas() -> None:
    untypeset = '<p>the state <span class="math">\\(a^{\\langle t \\rangle}\\)</span> and</p>'
    problems = site_check.raw_tex(_page(untypeset))
    assert problems[0].startswith("2 raw TeX delimiters, the first in ")
    assert "\\\\(a^{\\\\langle t" in problems[0]
    assert problems[1:] == ["0 typeset formulas of 1"]
    error = (
        '<span class="math"><mjx-container><mjx-merror>Undefined control sequence</mjx-merror></mjx-container></span>'
    )
    assert site_check.raw_tex(_page(error)) == ["1 MathJax errors"]
    assert site_check.raw_tex(_page("<p>$$x$$</p>"))[0].startswith("2 raw TeX delimiters")


def test_the_command_refuses_a_folder_that_is_no_built_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert site_check.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"site_check: {tmp_path} has no index.html; build the docs first\n"


def test_the_command_exits_1_and_lists_the_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = _site(tmp_path, {"index.html": _page("", '<script src="http://example.org/a.js"></script>')})
    assert site_check.main([str(site)]) == 1
    assert capsys.readouterr().err == "index.html loads http://example.org/a.js from the network\n"


def _build(source: Path, out: Path, index: str) -> Path:
    """A one-page Sphinx project with ``offline_mathjax``, built to HTML."""
    pytest.importorskip("sphinx", reason="the Sphinx build needs the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mathjax", reason="offline_mathjax needs django-static-mathjax (the docs extra)")
    from sphinx.application import Sphinx

    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\nextensions = ['offline_mathjax']\n", encoding="utf-8"
    )
    (source / "index.rst").write_text(index, encoding="utf-8")
    app = Sphinx(str(source), str(source), str(out), str(out / ".doctrees"), "html", status=None, warning=None)
    app.build()
    return out


def test_the_build_serves_mathjax_itself(tmp_path: Path) -> None:
    site = _build(tmp_path / "src", tmp_path / "html", "Title\n=====\n\nThe state :math:`a^{\\langle t \\rangle}`.\n")
    assert (site / MATHJAX).is_file()
    assert (site / "_static/mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()
    assert f'src="{MATHJAX}"' in (site / "index.html").read_text(encoding="utf-8")
    assert site_check.network_loads(site, MATHJAX) == []


def test_the_build_fails_on_a_page_that_loads_from_the_network(tmp_path: Path) -> None:
    errors = pytest.importorskip(
        "sphinx.errors", reason="the Sphinx build needs the docs extra: pip install -e '.[docs]'"
    )
    ExtensionError = errors.ExtensionError

    page = 'Title\n=====\n\n.. raw:: html\n\n   <script src="https://cdn.example.org/x.js"></script>\n'
    expected = "index.html loads https://cdn.example.org/x.js from the network"
    with pytest.raises(ExtensionError, match=re.escape(expected)):
        _build(tmp_path / "src", tmp_path / "html", page)


def test_chromium_typesets_every_formula_with_no_network(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium): the rendered check needs a browser")
    index = "Title\n=====\n\nThe state :math:`a^{\\langle t \\rangle}` and\n\n"
    index += ".. math::\n\n   \\sum_t da^{\\langle t \\rangle}\n"
    site = _build(tmp_path / "src", tmp_path / "html", index)
    dom = site_check.open_in_browser(site / "index.html", chromium, screenshot=tmp_path / "index.png")
    assert site_check.raw_tex(dom) == []
    assert dom.count("<mjx-container") == 2
    assert (tmp_path / "index.png").stat().st_size > 0
