"""Backend adapters: the only package in xrnn that imports NumPy, CuPy or array-api-strict.

It knows which backends exist and which can run here, converts arrays between them, and holds the
fast paths that the Array API standard cannot express (each has a generic twin in ``xrnn._scan``).
"""

from xrnn.backends._adapter import ArrayBackend
from xrnn.backends._registry import (
    BackendUnavailableError,
    asarray,
    available_backends,
    backend_names,
    backend_of,
    fast_path,
    fast_paths,
    get_backend,
    namespace_backend,
    register_fast_path,
    to_numpy,
    unavailable_reason,
)

__all__ = [
    "ArrayBackend",
    "BackendUnavailableError",
    "asarray",
    "available_backends",
    "backend_names",
    "backend_of",
    "fast_path",
    "fast_paths",
    "get_backend",
    "namespace_backend",
    "register_fast_path",
    "to_numpy",
    "unavailable_reason",
]
