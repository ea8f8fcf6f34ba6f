"""The one digest service: SHA-256 of the downloaded files, each file read once, for every check that needs it.

The registry's digests (:mod:`.integrity`), a signature's manifest (:mod:`.signature_verify`) and an OCI
blob's digest (:mod:`.transfer.oci_engine`) ask :class:`Digests` for the files they compare; it answers
from what :mod:`.prehash` hashed while the download ran when the file is unchanged since (same inode, size
and modification time), else reads the file now (in parallel threads: hashlib drops the GIL on large
updates) and remembers the answer, so a second check of the same file does not read it again. Every byte
hashed, during the download or after it, is read by :func:`hash_range`.

:func:`compare` is the one comparison of a listing (path → expected hex digest) with what was downloaded:
a listed file missing, a downloaded file not listed, then the first file whose digest differs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mr_storage_initializer.paths import open_beneath
from mr_storage_initializer.values import dataclass

log = logging.getLogger("mr_storage_initializer.digests")
PIECE = 1 << 20  # bytes read per call, into one buffer per hashing thread (small enough to stay in CPU cache)


@dataclass(frozen=True)
class FileDigest:
    """A file's SHA-256 with the inode, size and mtime it had when hashed (a later change is noticed)."""

    sha256: str
    inode: int
    size: int
    mtime_ns: int

    def matches(self, path: Path) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        return (st.st_ino, st.st_size, st.st_mtime_ns) == (self.inode, self.size, self.mtime_ns)


def hash_range(fd: int, hasher: Any, offset: int, end: int | None, buffer: memoryview) -> int:
    """Feed bytes ``[offset, end)`` of the open file ``fd`` (to its end when ``end`` is None) to ``hasher``,
    read through ``buffer``; return the offset reached. ``OSError`` when the file ends before ``end``."""
    while end is None or offset < end:
        want = len(buffer) if end is None else min(len(buffer), end - offset)
        n = os.preadv(fd, [buffer[:want]], offset)
        if n <= 0:
            if end is None:
                break
            raise OSError(f"the file ends at byte {offset}, before {end}")
        hasher.update(buffer[:n])
        offset += n
    return offset


def file_digest(root: Path, rel: str, algorithm: str = "sha256") -> str:
    """The hex digest of the regular file ``rel`` below ``root``, reached without following a link."""
    import hashlib  # OpenSSL's loading (~2 ms) only for a run that hashes

    hasher = hashlib.new(algorithm)
    fd = open_beneath(root, rel, os.O_RDONLY)
    try:
        hash_range(fd, hasher, 0, None, memoryview(bytearray(PIECE)))
    finally:
        os.close(fd)
    return hasher.hexdigest()


class Digests:
    """The SHA-256 of files below ``root``, each read at most once (``known``: hashed during the download)."""

    def __init__(self, root: Path, known: Mapping[str, FileDigest] | None = None) -> None:
        self.root = root
        self.known: dict[str, FileDigest] = dict(known or {})
        # While the download runs: told of each range the engine writes (prehash.during_download), else None.
        self.observer: Callable[[str, int, int], None] | None = None

    def sha256(self, rels: Iterable[str]) -> dict[str, str]:
        """``{rel: hex SHA-256}`` of each file: remembered where the file is unchanged since, else read now."""
        rels = list(dict.fromkeys(rels))
        done = {
            rel: self.known[rel].sha256
            for rel in rels
            if rel in self.known and self.known[rel].matches(self.root / rel)
        }
        todo = [rel for rel in rels if rel not in done]
        if todo:
            workers = max(2, min(8, (os.cpu_count() or 2) * 2, len(todo)))
            from concurrent.futures import ThreadPoolExecutor  # here: an install with nothing to hash skips ~2 ms

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for rel, digest in zip(todo, pool.map(self._hash, todo), strict=True):
                    self.known[rel] = digest
                    done[rel] = digest.sha256
        late = sum(self.known[rel].size for rel in todo)
        log.debug("%d files hashed during the download, %d bytes after it", len(rels) - len(todo), late)
        return done

    def computed(self) -> dict[str, str]:
        """``{rel: hex SHA-256}`` of every file hashed so far (during the download or for a check) that is
        unchanged since: what the provenance records."""
        return {rel: d.sha256 for rel, d in sorted(self.known.items()) if d.matches(self.root / rel)}

    def _hash(self, rel: str) -> FileDigest:
        before = (self.root / rel).stat()
        sha = file_digest(self.root, rel)
        return FileDigest(sha, before.st_ino, before.st_size, before.st_mtime_ns)


@dataclass(frozen=True)
class Difference:
    """How a listing and the downloaded files differ: the first such path and what is wrong with it."""

    path: str
    problem: str  # "missing" (listed, not downloaded), "unlisted" (downloaded, not listed) or "digest"
    actual: str | None = None  # the file's digest, for "digest"


def compare(expected: Mapping[str, str], rels: Sequence[str], digests: Digests) -> Difference | None:
    """Compare the listing ``expected`` (``{rel: hex SHA-256}``, checked in its order) with the downloaded
    files ``rels``; the files are hashed only when the two name the same files."""
    missing = sorted(set(expected) - set(rels))
    if missing:
        return Difference(missing[0], "missing")
    unlisted = sorted(set(rels) - set(expected))
    if unlisted:
        return Difference(unlisted[0], "unlisted")
    actual = digests.sha256(expected)
    for rel, digest in expected.items():
        if actual[rel] != digest.lower():
            return Difference(rel, "digest", actual[rel])
    return None
