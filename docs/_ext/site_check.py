"""Checks of a built HTML site: nothing loads from the network, and (in a browser) no formula is left as raw TeX.

``python docs/_ext/site_check.py docs/_build/html`` runs the static check; ``--browser`` also opens
the pages in headless Chromium with no network (``--pages``, default every page with a formula, and
``--screenshots DIR`` to keep a 1280 px wide picture of each). The static check also runs at the end of
every Sphinx build, from ``offline_mathjax``. Standard library only, so the tests need no Sphinx.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# A <link> with one of these rels makes the browser fetch its href; "next", "search" and the like do not.
FETCHED_RELS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut", "apple-touch-icon", "manifest"}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$")
# Text in these elements is code or machinery, not rendered prose.
NOT_PROSE = {"script", "style", "pre", "code", "textarea", "kbd", "samp"}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--virtual-time-budget=15000",  # MathJax typesets asynchronously
]


class _Loads(HTMLParser):
    """Collects what a page makes the browser fetch, and whether it holds a formula."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.has_math = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in {"script", "img", "iframe", "source", "audio", "video"} and values.get("src"):
            self.fetched.append(values["src"])
        elif tag == "link" and FETCHED_RELS & set(values.get("rel", "").lower().split()) and values.get("href"):
            self.fetched.append(values["href"])
        if "math" in values.get("class", "").split():
            self.has_math = True


def _is_remote(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme != "data" and bool(parts.scheme or parts.netloc)


def _local_file(base: Path, url: str) -> Path:
    return (base / unquote(urlsplit(url).path)).resolve()


def network_loads(site: Path, mathjax: str | None = None) -> list[str]:
    """What in the built ``site`` would load from the network, or is missing from it.

    Every page's scripts, stylesheets, images and icons must be files of the site, and so must every
    ``url(...)`` and ``@import`` of its stylesheets. With ``mathjax`` (a path relative to the site, e.g.
    ``"_static/mathjax/tex-chtml.js"``), every page with a formula must load that file. Returns one line
    per problem, naming the page; an empty list when there is none.
    """
    problems = []
    for page in sorted(site.rglob("*.html")):
        name = page.relative_to(site).as_posix()
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        for url in parser.fetched:
            if url.startswith("data:"):
                continue
            if _is_remote(url):
                problems.append(f"{name} loads {url} from the network")
            elif not _local_file(page.parent, url).is_file():
                problems.append(f"{name} loads {url}, which is not in the site")
        if mathjax and parser.has_math:
            wanted = (site / mathjax).resolve()
            loaded = {_local_file(page.parent, url) for url in parser.fetched if not _is_remote(url)}
            if wanted not in loaded:
                problems.append(f"{name} has formulas but does not load {mathjax}")
    for sheet in sorted(site.rglob("*.css")):
        for url in CSS_URL.findall(sheet.read_text(encoding="utf-8", errors="replace")):
            if _is_remote(url):
                problems.append(f"{sheet.relative_to(site).as_posix()} loads {url} from the network")
    return problems


class _Prose(HTMLParser):
    """The rendered page's visible text outside code, and MathJax's containers and errors."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.skipping: list[str] = []
        self.rendered = 0
        self.formulas = 0
        self.errors = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in NOT_PROSE:
            self.skipping.append(tag)
        self.rendered += tag == "mjx-container"
        self.errors += tag == "mjx-merror"
        self.formulas += "math" in (dict(attrs).get("class") or "").split()

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.text.append(data)


def raw_tex(rendered_html: str) -> list[str]:
    """What is wrong with a page as the browser shows it: TeX delimiters left in its text, MathJax
    errors, or fewer typeset formulas than the page has."""
    prose = _Prose()
    prose.feed(rendered_html)
    text = "".join(prose.text)
    found = list(RAW_TEX.finditer(text))
    problems = []
    if found:
        first = found[0]
        problems.append(
            f"{len(found)} raw TeX delimiters, the first in {text[max(0, first.start() - 30) : first.end() + 30]!r}"
        )
    if prose.errors:
        problems.append(f"{prose.errors} MathJax errors")
    if prose.rendered < prose.formulas:
        problems.append(f"{prose.rendered} typeset formulas of {prose.formulas}")
    return problems


def _offline() -> list[str]:
    """A prefix that runs a command with no network: a fresh network namespace, where we may make one."""
    unshare = shutil.which("unshare")
    if unshare and hasattr(os, "geteuid") and os.geteuid() == 0:
        return [unshare, "--net"]
    return []


def open_in_browser(page: Path, chromium: str, screenshot: Path | None = None) -> str:
    """The page's DOM after headless Chromium (no network) has run its scripts; a screenshot if asked."""
    with tempfile.TemporaryDirectory() as profile:
        base = [*_offline(), chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        url = page.resolve().as_uri()
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*base, f"--screenshot={screenshot.resolve()}", url], capture_output=True, check=True)
        done = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, check=True)
    return done.stdout


def _pages_with_math(site: Path) -> Iterable[Path]:
    for page in sorted(site.rglob("*.html")):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        if parser.has_math:
            yield page


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site, e.g. docs/_build/html")
    parser.add_argument("--mathjax", default="_static/mathjax/tex-chtml.js", help="MathJax's path in the site")
    parser.add_argument("--browser", nargs="?", const="chromium", default=None, help="open the pages in Chromium")
    parser.add_argument("--pages", default=None, help="comma-separated pages (default: those with formulas)")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for a PNG of each page opened")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"site_check: {args.site} has no index.html; build the docs first", file=sys.stderr)
        return 2
    problems = network_loads(args.site, args.mathjax)
    if args.browser:
        chromium = shutil.which(args.browser)
        if chromium is None:
            print(f"site_check: --browser: {args.browser!r} is not on PATH", file=sys.stderr)
            return 2
        pages = [args.site / p for p in args.pages.split(",")] if args.pages else list(_pages_with_math(args.site))
        for page in pages:
            shot = args.screenshots / page.with_suffix(".png").name if args.screenshots else None
            found = raw_tex(open_in_browser(page, chromium, shot))
            problems += [f"{page.relative_to(args.site).as_posix()} in Chromium: {p}" for p in found]
            print(f"opened {page.relative_to(args.site).as_posix()}: {'; '.join(found) or 'no raw TeX'}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
