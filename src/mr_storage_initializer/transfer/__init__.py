"""Transfer engines: put the artifact behind a URI into a (staging) directory.

``download`` picks the engine for the URI and maps every failure onto the error hierarchy: a full or
read-only local file system is a destination error (exit 6), anything else a storage error (exit 5).
Engines are imported lazily, so a URI only ever imports the SDKs its engine needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mr_storage_initializer.errors import DestinationError, InitializerError, StorageError, destination_errno
from mr_storage_initializer.redact import redact_text, redact_url

log = logging.getLogger("mr_storage_initializer.transfer")


class Engine(Protocol):
    name: str

    def download(self, uri: str, dest: Path) -> None:
        """Write the artifact at ``uri`` into the existing empty directory ``dest``."""


@dataclass(frozen=True)
class TransferResult:
    engine: str
    files: int
    bytes: int


def select_engine(uri: str, preference: str = "auto") -> Engine:
    """The engine for ``uri``: KServe's storage library serves every scheme it knows."""
    from mr_storage_initializer.transfer.kserve_engine import KServeEngine

    del uri, preference  # one engine so far; the project's own engines will be chosen here by scheme
    return KServeEngine()


def download(uri: str, dest: Path, preference: str = "auto") -> TransferResult:
    engine = select_engine(uri, preference)
    try:
        engine.download(uri, dest)
    except InitializerError:
        raise
    except Exception as exc:
        code = destination_errno(exc)
        if code is not None:
            raise DestinationError(
                f"cannot write the model into {dest.parent}: {_describe(exc)}; "
                "free space or fix permissions on the destination volume"
            ) from exc
        raise StorageError(f"downloading {redact_url(uri)} failed: {_describe(exc)}") from exc
    files, size = _tree_size(dest)
    if files == 0:
        raise StorageError(f"downloading {redact_url(uri)} produced no files; check that the artifact uri exists")
    return TransferResult(engine=engine.name, files=files, bytes=size)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 400:
        text = text[:400] + "…"
    return redact_text(text)


def _tree_size(root: Path) -> tuple[int, int]:
    files = size = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            files += 1
            size += path.stat().st_size
    return files, size
