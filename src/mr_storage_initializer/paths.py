"""Paths below the model directory: one sanitiser for every name that comes from outside (object keys,
URL file names, archive members and hard-link targets) and one way to remove an entry."""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from mr_storage_initializer.errors import InitializerError, StorageError


def safe_relpath(rel: str, what: str, *, error: type[InitializerError] = StorageError, empty_ok: bool = False) -> str:
    """``rel`` as a normalized relative path (``\\`` read as ``/``, empty and ``.`` parts dropped), or
    ``error`` when it is absolute or has a ``..`` part; ``""`` for a name that is only the directory itself
    (``.``, ``./``) when ``empty_ok``."""
    cleaned = rel.replace("\\", "/")
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if cleaned.startswith("/") or ".." in parts or not (parts or empty_ok):
        raise error(f"{what} {rel!r} would be written outside the model directory; refusing it")
    return posixpath.join(*parts) if parts else ""


def remove(path: Path, *, ignore_errors: bool = False) -> None:
    """Remove ``path``: a directory with its contents (a link to one is only unlinked), else the file."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=ignore_errors)
    else:
        path.unlink(missing_ok=True)
