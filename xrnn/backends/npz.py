"""Reading and writing ``.npz`` archives: the one place checkpoints touch NumPy's file format.

Arrays of any backend are copied to the host with :func:`xrnn.backends.to_numpy` before writing;
reading gives host (NumPy) arrays that the caller moves with :func:`xrnn.backends.asarray`.
Archives are read with ``allow_pickle=False``: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xrnn._typing import Array
from xrnn.backends._registry import to_numpy

#: The archive member that holds the JSON document.
JSON_KEY = "__json__"


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, Array], document: Mapping[str, Any]) -> Path:
    """Write ``arrays`` (any backend) and a JSON-serialisable ``document`` to ``path`` atomically.

    The archive is written next to ``path`` and renamed over it only once complete, so an
    interruption never leaves a truncated file under the final name. ``path`` is used as given
    (no ``.npz`` is appended).
    """
    target = Path(path)
    host = {key: np.ascontiguousarray(to_numpy(value)) for key, value in arrays.items()}
    host[JSON_KEY] = np.asarray(json.dumps(dict(document), sort_keys=True))
    # A fresh name next to the target, created with the usual permissions (mkstemp's are 0600).
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as stream:
            np.savez(stream, **host)  # type: ignore[arg-type]  # numpy's stubs type **kwds as allow_pickle
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def read_npz(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The host arrays and the JSON document of an archive written by :func:`write_npz`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not an ``.npz`` archive, or one without the JSON document.
    """
    name = os.fspath(path)
    with open(name, "rb") as stream:  # FileNotFoundError, IsADirectoryError, PermissionError as they are
        if stream.read(4) != b"PK\x03\x04":
            raise ValueError(f"{name!r} is not an .npz archive")
    try:
        with np.load(name, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise ValueError(f"{name!r} is not a readable .npz archive ({error})") from None
    if JSON_KEY not in contents:
        raise ValueError(f"{name!r} is an .npz archive without xrnn's {JSON_KEY!r} document")
    document = json.loads(str(contents.pop(JSON_KEY)))
    if not isinstance(document, dict):
        raise ValueError(f"{name!r} holds a {JSON_KEY!r} that is not a JSON object")
    return contents, document
