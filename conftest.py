"""Doctest collection: adapter modules of libraries that are not installed here cannot be imported."""

from importlib.util import find_spec

# The modules of each library: the adapter, for CuPy the cuBLAS calls of its graph capture, its graphs and its
# gated scans, for Numba the compiled LSTM and GRU kernels (the ``fast`` extra).
_MODULES = {
    "cupy": ["cupy", "_cublas_capture", "_cupy_graphs", "_cupy_gated"],
    "array_api_strict": ["array_api_strict"],
    "numba": ["_numba_gated", "_numba_math"],
}
collect_ignore = [
    f"xrnn/backends/{module}.py"
    for library, modules in _MODULES.items()
    if find_spec(library) is None
    for module in modules
]
