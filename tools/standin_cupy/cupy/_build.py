"""Where the stand-in's compiled pieces come from: the C++ compiler on PATH, and a build directory.

Kept free of the rest of the package so that ``noxfile.py`` can load this file on its own to decide whether
the ``standin_cupy`` session can run. ``CXX`` names the compiler (default: the first of ``c++``, ``g++``,
``clang++`` on PATH); ``STANDIN_BUILD`` the build directory (default: a per-user cache directory);
``STANDIN_CXXFLAGS`` the optimisation flags (default ``-O1``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
_CANDIDATES = ("c++", "g++", "clang++")


def compiler() -> str | None:
    """The path of the C++ compiler to use, or ``None`` when there is none."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else list(_CANDIDATES)
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def build_dir() -> Path:
    """``STANDIN_BUILD``, else ``$XDG_CACHE_HOME/xrnn-standin-cupy`` (``~/.cache`` by default), else a
    per-user folder in the temporary directory when there is no home."""
    if os.environ.get("STANDIN_BUILD"):
        return Path(os.environ["STANDIN_BUILD"])
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache:
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory
            return Path(tempfile.gettempdir()) / f"xrnn-standin-cupy-{os.getuid()}"
    return Path(cache) / "xrnn-standin-cupy"


def shared_library(source: str, name: str, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile C++ ``source`` into ``<build>/<digest>/<name>`` unless it is there already.

    The digest covers the source, the compiler and the flags, so a change to any of them builds anew. Every
    file is written under a temporary name and renamed into place, so processes that build the same library
    at once do not read each other's half-written files.
    """
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("stand-in cupy: no C++ compiler found (set CXX, or put c++, g++ or clang++ on PATH)")
    flags = [*os.environ.get("STANDIN_CXXFLAGS", "-O1").split(), *extra_flags]
    digest = hashlib.sha1("\0".join([source, cxx, *flags]).encode()).hexdigest()[:16]
    folder = build_dir() / digest
    target = folder / name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    unique = f".{os.getpid()}.tmp"
    src = folder / f"{name}.cpp"
    src_tmp = folder / f"{name}.cpp{unique}"
    src_tmp.write_text(source)
    os.replace(src_tmp, src)
    lib_tmp = folder / f"{name}{unique}"
    command = [cxx, *flags, "-shared", "-fPIC", "-Wall", "-Werror=return-type", "-Wno-unused-variable"]
    command += ["-Wno-unused-but-set-variable", "-x", "c++", str(src), "-o", str(lib_tmp)]
    subprocess.run(command, check=True)
    os.replace(lib_tmp, target)
    return target
