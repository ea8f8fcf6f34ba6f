"""The part of the S3 and Azure sources that obstore does the same way: list a prefix as a folder (or the
one object it names), fetch byte ranges, and sort obstore's failures into transient or final."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.transfer.plan import RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import CHANGED, Sink, SourceError, changed
from mr_storage_initializer.transport import Kind, classify_text

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
                    files.append(RemoteFile(key, safe_relpath(rel, what), size, version=str(meta.get("e_tag") or "")))
            if not files and prefix and not self.prefix.endswith("/"):
                meta = obstore.head(self.store, self.prefix)  # the URI names one object
                if int(meta["size"]):
                    name = self.prefix.rsplit("/", 1)[-1]
                    version = str(meta.get("e_tag") or "")
                    files.append(RemoteFile(self.prefix, safe_relpath(name, what), int(meta["size"]), version=version))
        except Exception as exc:
            if isinstance(exc, FileNotFoundError):  # obstore raises the built-in for a missing object
                return files
            raise self.error(exc, "") from exc
        return files

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        import obstore

        options: dict[str, Any] = {"range": (start, end)}
        if remote.version:
            options["if_match"] = remote.version  # pinned: a newer version answers 412, never its bytes
        try:
            result = obstore.get(self.store, remote.key, options=options)  # type: ignore[arg-type]
            now = str(result.meta.get("e_tag") or "")
            if remote.version and now and now.strip('"') != remote.version.strip('"'):  # Azure lists it unquoted
                raise changed(remote, now)
            for chunk in result.stream(min_chunk_size=_READ_CHUNK):
                yield memoryview(chunk)
        except Exception as exc:
            raise self.error(exc, remote.key) from exc

    def close(self) -> None:
        pass

    def error(self, exc: BaseException, where: str) -> SourceError:
        """Sort an obstore failure: denied and missing are final, and so is TLS (:mod:`.transport`); network
        trouble and the statuses ``retry.transient_status`` names may pass."""
        from obstore.exceptions import (
            InvalidPathError,
            PermissionDeniedError,
            PreconditionError,
            UnauthenticatedError,
        )

        if isinstance(exc, SourceError | StorageError):
            raise exc
        text = " ".join(str(exc).split())
        first_line = readable(str(exc))
        at = f"{where}: " if where else ""
        if isinstance(exc, PreconditionError):
            return SourceError(f"{at}{CHANGED}", transient=False)
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
        if status is not None and status >= 400 and not retry.transient_status(status):
            return SourceError(f"{at}HTTP {status} ({first_line})", transient=False)
        failure = classify_text(text)  # the transport's table, read from the words of the error
        if failure.kind is Kind.TLS:
            return SourceError(f"{at}TLS failed ({first_line}); {self.tls_hint}", transient=False)
        return SourceError(f"{at}{first_line}", transient=failure.transient)


def readable(text: str, limit: int = 300) -> str:
    """One sentence from an obstore error: its summary line, plus the innermost causes its Rust debug dump
    quotes (``tcp connect error: Connection refused``), cut at a word boundary, never mid-token."""
    summary, _, debug = text.partition("Debug source:")
    sentence = " ".join(summary.split())
    causes: list[str] = []
    for quoted in re.findall(r'"([^"\n]{3,200})"', debug):
        if " " in quoted and quoted not in causes and quoted not in sentence:
            causes.append(quoted)
    if causes:
        sentence = f"{sentence} ({': '.join(causes[-2:])})"
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:(") + " …"
    return sentence


def _status(text: str) -> int | None:
    match = re.search(r"\b(?:status(?: code)?:?\s*|returned\s+)([1-5]\d\d)\b", text, re.IGNORECASE)
    return int(match.group(1)) if match else None
