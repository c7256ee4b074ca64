"""Checkpoints: parameters, optimizer state and metadata in one ``.npz`` file.

A checkpoint written from any backend and dtype loads onto any backend, dtype and device. The file
holds the arrays under ``param/<key>`` and ``optim/<slot>/<key>`` and one JSON document with the
optimizer's name, hyper-parameters and step count and the caller's metadata (for the command line:
vocabulary, step, configuration). Files are written atomically and read without pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xrnn._typing import Array
from xrnn.backends import asarray
from xrnn.train._npz import read_npz, write_npz
from xrnn.train.optimizers import Optimizer, OptimizerState, optimizer_from_state

FORMAT = "xrnn-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    parameters : dict of str to array
        On the requested backend, dtype and device.
    optimizer : dict or None
        An optimizer state (see :meth:`xrnn.optimizers.Optimizer.state_dict`) with its slots on the
        same backend, dtype and device; rebuild it with :func:`xrnn.optimizers.optimizer_from_state`.
    metadata : dict
        The JSON metadata given to :func:`save_checkpoint`.
    """

    parameters: dict[str, Array]
    optimizer: OptimizerState | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike[str],
    parameters: Mapping[str, Array],
    *,
    optimizer: Optimizer | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write parameters, optionally an optimizer's state, and JSON ``metadata`` to ``path``.

    Parameters
    ----------
    path : str or path
        The file to write (used as given; ``.npz`` is the usual suffix). Replaced atomically.
    parameters : mapping of str to array
        Arrays of any backend (copied to the host to be written).
    optimizer : Optimizer or its state_dict, optional
        Saved with its hyper-parameters, step count and slots.
    metadata : mapping, optional
        Anything JSON can hold.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile, xrnn
    >>> from xrnn.train.checkpoint import load_checkpoint, save_checkpoint
    >>> p = xrnn.init_parameters(3, 5, 2, seed=0)  # NumPy, float64
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_checkpoint(pathlib.Path(folder) / "model.npz", p, metadata={"note": "demo"})
    ...     back = load_checkpoint(path, backend="array_api_strict", dtype="float32")
    >>> waa = back.parameters["Waa"]
    >>> back.metadata, type(waa).__module__, waa.shape, repr(waa.dtype)
    ({'note': 'demo'}, 'array_api_strict._array_object', (5, 5), 'array_api_strict.float32')
    """
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping of names to arrays, got {type(parameters).__name__}")
    arrays = {f"param/{key}": value for key, value in parameters.items()}
    document: dict[str, Any] = {"format": FORMAT, "version": VERSION, "metadata": _json_object(metadata)}
    if optimizer is not None:
        if not isinstance(optimizer, (Optimizer, Mapping)):
            raise TypeError(f"optimizer must be an Optimizer or its state_dict, got {type(optimizer).__name__}")
        # a state_dict is rebuilt first: what could not be loaded is refused before the file is written
        state = (optimizer if isinstance(optimizer, Optimizer) else optimizer_from_state(optimizer)).state_dict()
        for slot, values in state.get("slots", {}).items():
            arrays.update({f"optim/{slot}/{key}": value for key, value in values.items()})
        document["optimizer"] = {"name": state["name"], "config": state["config"], "step": state["step"]}
    return write_npz(path, arrays, document)


def load_checkpoint(
    path: str | os.PathLike[str], *, backend: str = "numpy", dtype: object = None, device: object = None
) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint` onto ``backend``, ``dtype`` and ``device``.

    Parameters
    ----------
    path : str or path
        The checkpoint file.
    backend : str
        Target backend (``"numpy"``, ``"cupy"``, ``"array_api_strict"``).
    dtype : str or dtype, optional
        ``"float32"`` or ``"float64"``; by default each array keeps the dtype it was saved with.
    device : optional
        Target device in the backend's terms.

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not an xrnn checkpoint (or a newer version of one), or its contents do not fit
        together: metadata that is not a JSON object, an optimizer of unknown name or configuration,
        an optimizer slot of another shape than its parameter. The message names the file.

    Examples
    --------
    See :func:`save_checkpoint`.
    """
    host, document = read_npz(path)
    if document.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not an xrnn checkpoint")
    if document.get("version") != VERSION:
        raise ValueError(f"{os.fspath(path)!r} is checkpoint version {document.get('version')}, expected {VERSION}")
    problem = _problem(host, document)
    if problem is not None:
        raise ValueError(f"{os.fspath(path)!r} {problem}")

    def move(value: Any) -> Array:
        return asarray(value, backend=backend, dtype=dtype, device=device)

    parameters = {key.removeprefix("param/"): move(v) for key, v in host.items() if key.startswith("param/")}
    optimizer: OptimizerState | None = None
    if "optimizer" in document:
        slots = {slot: {name: move(v) for name, v in values.items()} for slot, values in _slots(host).items()}
        optimizer = {**document["optimizer"], "slots": slots}
    return Checkpoint(parameters, optimizer, dict(document.get("metadata", {})))


def _problem(host: Mapping[str, Any], document: Mapping[str, Any]) -> str | None:
    """What is wrong with a checkpoint's contents (to follow its file name in a message), or None."""
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        return f"has metadata that is a JSON {type(metadata).__name__}, not an object"
    if "optimizer" not in document:
        return None
    saved = document["optimizer"]
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        return "has an optimizer entry without a name, a config object and a step"
    malformed = [key for key in host if key.startswith("optim/") and key.count("/") < 2]
    if malformed:
        return f"has an optimizer member {malformed[0]!r}; expected optim/SLOT/PARAMETER"
    slots = _slots(host)
    try:
        optimizer_from_state({**saved, "slots": slots})
    except (TypeError, ValueError) as error:
        return f"has an optimizer that cannot be rebuilt: {error}"
    parameters = sorted(key.removeprefix("param/") for key in host if key.startswith("param/"))
    for slot, values in slots.items():
        if sorted(values) != parameters:
            return f"has optimizer slot {slot!r} for parameters {sorted(values)}, not for {parameters}"
        for name, value in values.items():
            parameter = host[f"param/{name}"]
            if tuple(value.shape) != tuple(parameter.shape):
                return (
                    f"has an optimizer slot {slot}[{name!r}] of shape {tuple(value.shape)}; "
                    f"its parameter has shape {tuple(parameter.shape)}"
                )
    return None


def _slots(host: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The optimizer's members ``optim/SLOT/PARAMETER`` as ``{slot: {parameter: array}}``."""
    slots: dict[str, dict[str, Any]] = {}
    for key, value in host.items():
        if key.startswith("optim/"):
            _, slot, name = key.split("/", 2)
            slots.setdefault(slot, {})[name] = value
    return slots


def _json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` as a dict that JSON writes as it is (string keys); the error names the first entry it cannot."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to JSON values, got {type(metadata).__name__}")
    _string_keys(metadata, "metadata")
    for key, value in metadata.items():
        try:
            json.dumps(value, sort_keys=True)  # as the file is written
        except (TypeError, ValueError) as error:
            raise TypeError(f"metadata[{key!r}] cannot be written as JSON: {error}") from None
    return dict(metadata)


def _string_keys(value: object, where: str) -> None:
    """Every mapping's keys, at any depth, must be strings: JSON would write ``1`` as ``"1"`` (not a round trip)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} keys must be strings (JSON's), got {key!r}")
            _string_keys(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _string_keys(item, f"{where}[{index}]")
