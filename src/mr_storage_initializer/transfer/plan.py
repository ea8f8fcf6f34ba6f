"""What to fetch: the files a listing found, where each lands, and the byte ranges the workers fetch.

Pure data and arithmetic; nothing here touches the network or the disk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from mr_storage_initializer.options import Patterns
from mr_storage_initializer.paths import safe_relpath

__all__ = ["Part", "Patterns", "RemoteFile", "safe_relpath", "split"]


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


def split(files: Iterable[RemoteFile], chunk_size: int) -> list[Part]:
    """Ranges of at most ``chunk_size`` bytes, taken from the files in turn (a's first range, b's first
    range, a's second, ...), largest file first, so that workers write to different files where there are
    several (writers to one file queue on its lock in the kernel) and the long transfers start early."""
    per_file: list[list[Part]] = []
    for remote in sorted(files, key=lambda f: f.size, reverse=True):
        if not remote.ranges or remote.size <= chunk_size:
            per_file.append([Part(remote, 0, remote.size)])
            continue
        per_file.append([Part(remote, s, min(s + chunk_size, remote.size)) for s in range(0, remote.size, chunk_size)])
    return [part for turn in itertools.zip_longest(*per_file) for part in turn if part is not None]
