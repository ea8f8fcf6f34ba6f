"""What to fetch: the files a listing found, where each lands, and the byte ranges the workers fetch.

Pure data and arithmetic; nothing here touches the network or the disk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from mr_storage_initializer.options import Patterns, Tunables
from mr_storage_initializer.paths import safe_relpath
from mr_storage_initializer.values import dataclass

__all__ = ["Part", "Patterns", "RemoteFile", "connections", "most_connections", "safe_relpath", "small", "split"]


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


# A small file costs a round trip or two more than its bytes: for a tree of many, the time is the number of
# round trips over the connections in flight. So, with the ramp on (the concurrency not set), a run may open
# more connections than configured, one per FILES_PER_SMALL_CONNECTION whole files of at most SMALL_FILE
# bytes, up to SMALL_FILE_CONNECTIONS; those extra connections take only such files (fast_engine._take).
SMALL_FILE = 1 << 20
SMALL_FILE_CONNECTIONS = 32
FILES_PER_SMALL_CONNECTION = 16


def small(part: Part) -> bool:
    """Whether ``part`` is a whole file of at most SMALL_FILE bytes."""
    return part.start == 0 and part.end == part.file.size <= SMALL_FILE


def connections(files: Iterable[RemoteFile], tunables: Tunables) -> int:
    """The most connections a run fetching ``files`` opens: the configured ones, more for many small files."""
    if not tunables.ramp:
        return tunables.concurrency
    chunk = tunables.chunk_size
    count = sum(1 for f in files if f.size <= SMALL_FILE and (f.size <= chunk or not f.ranges))
    return max(tunables.concurrency, min(SMALL_FILE_CONNECTIONS, count // FILES_PER_SMALL_CONNECTION))


def most_connections(tunables: Tunables) -> int:
    """The most connections any run with ``tunables`` opens (a source's connection pool keeps that many)."""
    return max(tunables.concurrency, SMALL_FILE_CONNECTIONS) if tunables.ramp else tunables.concurrency
