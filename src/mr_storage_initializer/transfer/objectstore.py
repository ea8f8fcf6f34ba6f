"""The part of the S3 and Azure sources that obstore does the same way: list a prefix as a folder (or the
one object it names), fetch byte ranges, and sort obstore's failures into transient or final."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.transfer.plan import RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import SourceError

_READ_CHUNK = 256 << 10  # what a cut connection can lose; resumes start at a chunk boundary


class ObstoreSource:
    """``store`` is an obstore store for one bucket or container; ``prefix`` the path in it the URI names.

    KServe's rules kept: empty objects and folder markers are skipped; an object named exactly by the URI
    is saved under its base name. One difference, on purpose: the prefix is a folder (``bert`` takes
    ``bert/…``, never ``bert-large/…``).
    """

    label = "object store"
    credentials_hint = "check the credentials"
    tls_hint = "check the CA bundle"

    def __init__(self, store: Any, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def list(self) -> list[RemoteFile]:
        import obstore

        files: list[RemoteFile] = []
        what = f"{self.label} key"
        try:
            prefix = self.prefix.strip("/") or None
            for batch in obstore.list(self.store, prefix, chunk_size=1000):
                for meta in batch:
                    key, size = str(meta["path"]), int(meta["size"])
                    if size == 0:  # KServe skips empty objects and folder markers
                        continue
                    rel = key[len(prefix) :].lstrip("/") if prefix else key
                    files.append(RemoteFile(key, safe_relpath(rel, what), size))
            if not files and prefix and not self.prefix.endswith("/"):
                meta = obstore.head(self.store, self.prefix)  # the URI names one object
                if int(meta["size"]):
                    name = self.prefix.rsplit("/", 1)[-1]
                    files.append(RemoteFile(self.prefix, safe_relpath(name, what), int(meta["size"])))
        except Exception as exc:
            if isinstance(exc, FileNotFoundError):  # obstore raises the built-in for a missing object
                return files
            raise self.error(exc, "") from exc
        return files

    def read(self, remote: RemoteFile, start: int, end: int) -> Iterator[bytes | memoryview]:
        import obstore

        try:
            result = obstore.get(self.store, remote.key, options={"range": (start, end)})
            for chunk in result.stream(min_chunk_size=_READ_CHUNK):
                yield memoryview(chunk)
        except Exception as exc:
            raise self.error(exc, remote.key) from exc

    def close(self) -> None:
        pass

    def error(self, exc: BaseException, where: str) -> SourceError:
        """Sort an obstore failure: denied and missing are final; network trouble, 429 and 5xx may pass."""
        from obstore.exceptions import InvalidPathError, PermissionDeniedError, UnauthenticatedError

        if isinstance(exc, SourceError | StorageError):
            raise exc
        text = " ".join(str(exc).split())
        first_line = text[:300]
        at = f"{where}: " if where else ""
        if isinstance(exc, FileNotFoundError):
            return SourceError(f"{at}it does not exist (HTTP 404)", transient=False)
        if isinstance(exc, PermissionDeniedError | UnauthenticatedError):
            return SourceError(f"{at}access was denied; {self.credentials_hint} ({first_line})", transient=False)
        if isinstance(exc, InvalidPathError) or "invalid path" in text.lower():
            key = re.search(r'Path "([^"]*)"', text)
            shown = key.group(1) if key else first_line
            return SourceError(
                f"{at}the object key {shown!r} is not a safe path below the model directory", transient=False
            )
        if "could not parse path" in text.lower():  # obstore refuses the key (empty segment, …): retrying cannot help
            return SourceError(f"{at}the object key cannot be read by the own engine ({first_line})", transient=False)
        status = _status(text)
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return SourceError(f"{at}HTTP {status} ({first_line})", transient=False)
        if "certificate" in text.lower() or "invalid peer" in text.lower():
            return SourceError(f"{at}TLS failed ({first_line}); {self.tls_hint}", transient=False)
        return SourceError(f"{at}{first_line}", transient=True)


def _status(text: str) -> int | None:
    match = re.search(r"\b(?:status(?: code)?:?\s*|returned\s+)([1-5]\d\d)\b", text, re.IGNORECASE)
    return int(match.group(1)) if match else None
