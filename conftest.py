"""Doctest collection: adapter modules of libraries that are not installed here cannot be imported."""

from importlib.util import find_spec

collect_ignore = [
    f"xrnn/backends/{library}.py" for library in ("cupy", "array_api_strict") if find_spec(library) is None
]
