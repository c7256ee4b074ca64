"""Which backends exist, which are usable here, and how arrays move between them.

Detection works from an array's namespace, so it never imports a library the user did not import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import import_module
from importlib.util import find_spec
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from xrnn._typing import Array
from xrnn.backends._adapter import ArrayBackend

# name -> (array library to import, adapter module)
_KNOWN = {
    "numpy": ("numpy", "xrnn.backends.numpy"),
    "array_api_strict": ("array_api_strict", "xrnn.backends.array_api_strict"),
    "cupy": ("cupy", "xrnn.backends.cupy"),
}
_NAMESPACE_TESTS: dict[str, Callable[[ModuleType], bool]] = {
    "numpy": array_api_compat.is_numpy_namespace,
    "array_api_strict": array_api_compat.is_array_api_strict_namespace,
    "cupy": array_api_compat.is_cupy_namespace,
}
_backend_by_namespace: dict[ModuleType, ArrayBackend | None] = {}
_fast_paths_enabled: ContextVar[bool] = ContextVar("xrnn_fast_paths_enabled", default=True)
_registered: dict[tuple[str, str], Callable[..., Any]] = {}


class BackendUnavailableError(RuntimeError):
    """A known backend that cannot run here; the message says why."""


def backend_names() -> tuple[str, ...]:
    """Every backend xrnn knows, usable here or not."""
    return tuple(_KNOWN)


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None`` when it can."""
    library, adapter = _known(name)
    if find_spec(library) is None:
        return f"{library} is not installed"
    try:
        module = import_module(adapter)
    except Exception as error:  # a broken install raises more than ImportError (an OSError of a driver library)
        return f"{library} is installed but failed to import ({type(error).__name__}: {error})"
    backend: ArrayBackend = module.BACKEND
    return backend.unavailable_reason()


def available_backends() -> list[str]:
    """Names of the backends that can run here, in registry order."""
    return [name for name in _KNOWN if unavailable_reason(name) is None]


def get_backend(name: str) -> ArrayBackend:
    """The adapter for backend ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known backend.
    BackendUnavailableError
        If it is known but cannot run here (not installed, no CUDA device, ...).
    """
    reason = unavailable_reason(name)
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}")
    module = import_module(_KNOWN[name][1])
    backend: ArrayBackend = module.BACKEND
    return backend


def namespace_backend(xp: ModuleType) -> ArrayBackend | None:
    """The adapter for namespace ``xp``, or ``None`` for a library xrnn runs only generically."""
    try:
        return _backend_by_namespace[xp]
    except KeyError:
        pass
    backend: ArrayBackend | None = None
    for name, is_namespace in _NAMESPACE_TESTS.items():
        if is_namespace(xp):
            backend = import_module(_KNOWN[name][1]).BACKEND
            break
    _backend_by_namespace[xp] = backend  # every call asks (fast-path lookups): the tests and imports run once
    return backend


def backend_of(x: Array) -> ArrayBackend | None:
    """The adapter for the library that array ``x`` belongs to, or ``None`` if xrnn has none."""
    return namespace_backend(array_api_compat.array_namespace(x))


def to_numpy(x: Array) -> np.ndarray:
    """Copy (or view, for NumPy input) any supported array as a NumPy array on the host; a Dask array is
    computed first."""
    if not array_api_compat.is_array_api_obj(x):
        raise TypeError(f"to_numpy expects an array, got {type(x).__name__}")
    if array_api_compat.is_dask_array(x):
        return to_numpy(x.compute())  # type: ignore[no-untyped-call, unused-ignore]  # typed only with dask
    backend = backend_of(x)
    return backend.to_numpy(x) if backend is not None else np.from_dlpack(x)


def asarray(obj: Any, *, backend: str = "numpy", dtype: Any = None, device: Any = None) -> Array:
    """Put ``obj`` (an array of any backend, or host data) on ``backend`` and ``device``.

    Parameters
    ----------
    obj : array or array-like
        What to convert. Arrays of another backend go through the host.
    backend : str
        Target backend name, one of :func:`backend_names`.
    dtype : str or dtype, optional
        ``"float32"``, ``"float64"`` or a dtype of the target library; default keeps ``obj``'s.
    device : optional
        Target device in the target library's terms (``None``: its default).

    Examples
    --------
    >>> import numpy as np
    >>> from xrnn.backends import asarray
    >>> asarray(np.ones((2, 1)), backend="numpy", dtype="float32").dtype
    dtype('float32')
    """
    if obj is None or isinstance(obj, (str, bytes, Mapping)):  # they would become object or string arrays
        raise TypeError(f"asarray takes an array or numbers, got {type(obj).__name__}")
    target = get_backend(backend)
    if array_api_compat.is_array_api_obj(obj) and backend_of(obj) is not target:
        obj = to_numpy(obj)
    return target.asarray(obj, dtype=dtype, device=device)


@contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """Turn the backends' fast paths off (or on) inside a ``with`` block, e.g. to compare twins.

    Examples
    --------
    >>> from xrnn.backends import fast_paths
    >>> with fast_paths(False):
    ...     pass  # every xrnn call in here runs the generic Array API code
    """
    token = _fast_paths_enabled.set(enabled)
    try:
        yield
    finally:
        _fast_paths_enabled.reset(token)


def fast_path(xp: ModuleType, kernel: str, *, masked: bool = False, after: bool = False) -> Callable[..., Any] | None:
    """The backend's fast path ``kernel`` for namespace ``xp``, or ``None`` to use the generic twin.

    ``masked``: the call has a mask, which only backends whose scans take masks handle; ``after``: a
    backward scan given the gradients beyond its last step, which only backends declaring so handle.
    """
    if not _fast_paths_enabled.get():
        return None
    backend = namespace_backend(xp)
    if masked and not (backend is not None and backend.scans_take_masks):
        return None
    if after and not (backend is not None and backend.scans_take_after):
        return None
    if backend is None:
        return None
    if _registered:  # most processes register nothing: no key to build
        registered = _registered.get((backend.name, kernel))
        if registered is not None:
            return registered
    implementation: Callable[..., Any] | None = getattr(backend, kernel, None)
    return implementation


def register_fast_path(backend: str, kernel: str, function: Callable[..., Any] | None) -> None:
    """Make ``function`` backend ``backend``'s fast path ``kernel`` (``None``: remove the registration).

    A cell's declared scan names its kernels (``ProjectedScan.forward_kernel``/``backward_kernel``); the
    engine calls ``function(*arrays, keep)`` instead of the scan's twin ``twin(xp, *arrays, keep)``, and
    backward scans also get ``after`` when there is one. ``keep`` is the time-major mask ``(T_x, m, 1)``
    or ``None``; ``after`` the gradients reaching the last states from beyond the sequence, rows
    ``(m, n_a)``. A registration takes precedence over the backend's own fast path of that name; with
    fast paths off (:func:`fast_paths`) the twins run, as always.

    Raises
    ------
    ValueError
        If ``backend`` is not a known backend name or ``kernel`` is empty.
    TypeError
        If ``function`` is neither callable nor ``None``.

    Examples
    --------
    >>> import array_api_compat.numpy as xp
    >>> from xrnn.backends import fast_path, register_fast_path
    >>> def my_scan(projection, w_a, a0_rows, keep):
    ...     return projection
    >>> register_fast_path("numpy", "my_cell_forward_scan", my_scan)
    >>> fast_path(xp, "my_cell_forward_scan") is my_scan
    True
    >>> register_fast_path("numpy", "my_cell_forward_scan", None)
    >>> fast_path(xp, "my_cell_forward_scan") is None
    True
    """
    _known(backend)
    if not isinstance(kernel, str) or not kernel:
        raise ValueError(f"kernel must be a non-empty string, got {kernel!r}")
    if function is None:
        _registered.pop((backend, kernel), None)
        return
    if not callable(function):
        raise TypeError(f"function must be callable or None, got {type(function).__name__}")
    _registered[(backend, kernel)] = function


def _known(name: str) -> tuple[str, str]:
    if not isinstance(name, str):
        raise TypeError(f"a backend is named by a string such as 'numpy', got {type(name).__name__}")
    try:
        return _KNOWN[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(_KNOWN)}") from None
