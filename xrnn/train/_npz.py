"""The checkpoint file: an ``.npz`` archive of arrays plus one JSON document, written atomically.

The archive itself is NumPy's format, read and written by the NumPy adapter
(:func:`xrnn.backends.numpy.save_npz`, :func:`~xrnn.backends.numpy.load_npz`): arrays of any backend
go to the host first, and reading gives host (NumPy) arrays that the caller moves with
:func:`xrnn.backends.asarray`. Archives are read without pickle: a checkpoint cannot run code.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from xrnn._typing import Array
from xrnn.backends.numpy import load_npz, save_npz

#: The archive member that holds the JSON document.
JSON_KEY = "__json__"


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, Array], document: Mapping[str, Any]) -> Path:
    """Write ``arrays`` (any backend) and a JSON-serialisable ``document`` to ``path`` atomically.

    The archive is written next to ``path`` and renamed over it only once complete, so an
    interruption never leaves a truncated file under the final name. ``path`` is used as given
    (no ``.npz`` is appended).
    """
    target = Path(path)
    _expect_replaceable(target)
    temporary = _temporary_next_to(target)
    try:
        with _create(temporary, target) as stream:
            save_npz(stream, arrays, texts={JSON_KEY: json.dumps(dict(document), sort_keys=True)})
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def check_writable(path: str | os.PathLike[str], *, replaced: bool = False) -> None:
    """Raise the ``OSError`` that writing ``path`` would raise (a missing folder, no permission), naming
    ``path``; write nothing. What a long run checks before it starts, rather than fail at its end.
    ``replaced``: the file will be replaced, as :func:`write_npz` does, so it must be a regular file."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
    if replaced:
        _expect_replaceable(target)
    temporary = _temporary_next_to(target)
    with _create(temporary, target):
        pass
    temporary.unlink()


def _expect_replaceable(target: Path) -> None:
    """A file written by renaming a new one over it must be a regular file or nothing: the rename would
    replace a device (``/dev/null``), a pipe or a socket with a file."""
    if target.exists() and not target.is_file():
        raise OSError(errno.EINVAL, "not a regular file, which a checkpoint would replace", os.fspath(target))


def _temporary_next_to(target: Path) -> Path:
    # A fresh name next to the target, created with the usual permissions (mkstemp's are 0600).
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _create(temporary: Path, target: Path) -> IO[bytes]:
    """Open ``temporary`` for writing; an error names ``target``, the file asked for, not the temporary."""
    try:
        return open(temporary, "xb")
    except OSError as error:
        raise type(error)(error.errno, error.strerror, os.fspath(target)) from None


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
    contents, texts = load_npz(name)
    if JSON_KEY not in texts:
        raise ValueError(f"{name!r} is an .npz archive without xrnn's {JSON_KEY!r} document")
    try:
        document = json.loads(texts[JSON_KEY])
    except json.JSONDecodeError as error:
        raise ValueError(f"{name!r} holds a {JSON_KEY!r} that is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{name!r} holds a {JSON_KEY!r} that is not a JSON object")
    return contents, document
