"""What to fetch: the files a listing found, where each lands, and the byte ranges the workers fetch.

Pure data and arithmetic; nothing here touches the network or the disk.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mr_storage_initializer.errors import StorageError


@dataclass(frozen=True)
class RemoteFile:
    """One object to fetch: ``key`` locates it at the source, ``rel`` is its path below the destination."""

    key: str
    rel: str
    size: int
    ranges: bool = True  # False: the source cannot serve byte ranges; fetch it in one stream
    version: str = ""  # the validator seen when listed (ETag, else Last-Modified): every range must match it


@dataclass(frozen=True)
class Part:
    """Bytes ``[start, end)`` of ``file``."""

    file: RemoteFile
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def safe_relpath(rel: str, what: str) -> str:
    """``rel`` as a normalized relative path, or a StorageError if it would leave the destination."""
    cleaned = rel.replace("\\", "/")
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if cleaned.startswith("/") or ".." in parts or not parts:
        raise StorageError(f"{what} {rel!r} would be written outside the model directory; refusing it")
    return posixpath.join(*parts)


def split(files: Iterable[RemoteFile], chunk_size: int) -> list[Part]:
    """Ranges of at most ``chunk_size`` bytes, largest files first so the long transfers start early."""
    parts: list[Part] = []
    for remote in sorted(files, key=lambda f: f.size, reverse=True):
        if not remote.ranges or remote.size <= chunk_size:
            parts.append(Part(remote, 0, remote.size))
            continue
        for start in range(0, remote.size, chunk_size):
            parts.append(Part(remote, start, min(start + chunk_size, remote.size)))
    return parts


@dataclass(frozen=True)
class Patterns:
    """KServe's ``STORAGE_ALLOW_PATTERNS`` / ``STORAGE_IGNORE_PATTERNS`` (fnmatch on the relative path)."""

    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Patterns:
        return cls(_patterns(env, "STORAGE_ALLOW_PATTERNS"), _patterns(env, "STORAGE_IGNORE_PATTERNS"))

    def wants(self, rel: str) -> bool:
        if self.allow and not any(fnmatch.fnmatch(rel, p) for p in self.allow):
            return False
        return not any(fnmatch.fnmatch(rel, p) for p in self.ignore)


def _patterns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """KServe's reading: a JSON list (or one JSON value), else comma-separated; blanks dropped."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    items = value if isinstance(value, list) else [value]
    return tuple(str(p).strip() for p in items if str(p).strip())
