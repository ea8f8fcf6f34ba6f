"""SHA-256 of each file's completed prefix while later ranges of it still download.

Ranges arrive out of order (several connections write one file with ``pwrite``), so one streaming hash per
file cannot follow the network. The engine reports every write (``written(rel, offset, length)``); this
keeps, per file, the contiguous end of the bytes written from offset 0, and background threads hash from
where they stopped up to that end, reading the file back (from the page cache). What is left to hash when
the download ends is only what arrived last: a download with a signature to check does not become two
passes over the data.

A write below a file's contiguous end (a source that cannot resume restarting a file) marks the file
dirty: its prefix digest is dropped and the file is hashed again after the download. ``digests()`` gives
only files hashed to their full size, with the inode, size and mtime seen, so that a later change (an
archive unpacked over it) is noticed by the caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mr_storage_initializer import digests as _digests
from mr_storage_initializer.digests import PIECE, Digests, FileDigest
from mr_storage_initializer.transfer.staged_files import StagedFiles

log = logging.getLogger("mr_storage_initializer.digests")
READ = 16 << 20  # bytes hashed per step (between looks at the file's state)


class _File:
    def __init__(self) -> None:
        import hashlib  # OpenSSL's loading (~2 ms) only for a run that hashes

        self.contiguous = 0  # bytes [0, contiguous) are written
        self.pending: dict[int, int] = {}  # end -> start of written intervals beyond ``contiguous``
        self.hashed = 0
        self.hasher: Any = hashlib.sha256()
        self.queued = False
        self.dirty = False
        self.fd: int | None = None


class PrefixHasher:
    """Thread-safe observer of an engine's writes below ``root``; hashes in ``workers`` threads."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        self.root = root
        self.staged = StagedFiles(root)  # each directory opened once, not every component per file
        self.files: dict[str, _File] = {}
        self.lock = threading.Lock()
        self.ready: deque[str] = deque()
        self.wake = threading.Condition(self.lock)
        self.closing = False
        self.busy = 0
        self.hashed_during = 0
        self.threads = [threading.Thread(target=self._work, name=f"prehash-{i}", daemon=True) for i in range(workers)]
        for thread in self.threads:
            thread.start()

    def __call__(self, rel: str, offset: int, length: int) -> None:
        self.written(rel, offset, length)

    def written(self, rel: str, offset: int, length: int) -> None:
        """The engine wrote ``length`` bytes of ``rel`` at ``offset`` (called from its fetch threads)."""
        end = offset + length
        with self.lock:
            state = self.files.setdefault(rel, _File())
            if state.dirty:
                return
            overlaps = offset < state.contiguous or any(s < end and offset < e for e, s in state.pending.items())
            if overlaps and offset not in state.pending:
                state.dirty = True
                return
            start = state.pending.pop(offset, offset)
            state.pending[end] = start
            moved = True
            while moved:  # absorb every interval that now touches the contiguous prefix
                moved = False
                for e, s in list(state.pending.items()):
                    if s <= state.contiguous:
                        state.contiguous = max(state.contiguous, e)
                        del state.pending[e]
                        moved = True
            if state.contiguous > state.hashed and not state.queued:
                state.queued = True
                self.ready.append(rel)
                self.wake.notify()

    def _work(self) -> None:
        buffer = memoryview(bytearray(PIECE))
        while True:
            with self.lock:
                while not self.ready and not self.closing:
                    self.wake.wait()
                if not self.ready:
                    return
                rel = self.ready.popleft()
                state = self.files[rel]
                self.busy += 1
            try:
                self._hash(rel, state, buffer)
            except Exception:  # whatever went wrong, the file is hashed again after the download
                log.debug("prefix hashing of %s failed; it is hashed after the download", rel, exc_info=True)
                with self.lock:
                    state.dirty = True
            finally:
                with self.lock:
                    self.busy -= 1
                    state.queued = False
                    if state.contiguous > state.hashed and not state.dirty:
                        state.queued = True
                        self.ready.append(rel)
                        self.wake.notify()
                    self.wake.notify_all()

    def _hash(self, rel: str, state: _File, buffer: memoryview) -> None:
        if state.fd is None:
            state.fd = self.staged.open(rel, os.O_RDONLY)  # never through a link
        while True:
            with self.lock:
                if state.dirty:
                    return
                todo = min(state.contiguous - state.hashed, READ)
            if todo <= 0:
                return
            # Read back from the page cache into a buffer that stays in the CPU's cache, and hash it there.
            _digests.hash_range(state.fd, state.hasher, state.hashed, state.hashed + todo, buffer)
            with self.lock:
                state.hashed += todo
                if not self.closing:
                    self.hashed_during += todo

    def finish(self, rel: str, size: int) -> str | None:
        """The SHA-256 of ``rel`` once the hashing threads have hashed its ``size`` bytes, for a check made
        before :meth:`close` (the writes are over); None when the file was not hashed from its first byte to
        its last (rewritten, or not written in full): the caller hashes it itself."""
        with self.lock:
            state = self.files.get(rel)
            while state is not None and state.queued and not state.dirty:
                self.wake.wait()
            if state is None or state.dirty or state.pending or state.hashed != size:
                return None
            return str(state.hasher.copy().hexdigest())

    def abort(self) -> None:
        """The download failed: stop hashing at the next block; no digest will be given."""
        with self.lock:
            for state in self.files.values():
                state.dirty = True
            self.ready.clear()

    def close(self) -> dict[str, FileDigest]:
        """Hash what is left, stop the threads, and return the digest of every file hashed to its end."""
        started = time.monotonic()
        with self.lock:
            self.closing = True
            behind = sum(state.contiguous - state.hashed for state in self.files.values())
            self.wake.notify_all()
        for thread in self.threads:
            thread.join()
        self.staged.close()
        log.debug(
            "prefix hashing: %d bytes hashed during the download, %d after it, in %.2fs",
            self.hashed_during,
            behind,
            time.monotonic() - started,
            extra={"step": "signature"},
        )
        digests: dict[str, FileDigest] = {}
        for rel, state in self.files.items():
            if state.fd is not None:
                os.close(state.fd)
            try:
                st = (self.root / rel).stat()
            except OSError:
                continue
            if not state.dirty and not state.pending and state.hashed == st.st_size:
                digests[rel] = FileDigest(state.hasher.hexdigest(), st.st_ino, st.st_size, st.st_mtime_ns)
        return digests


@contextlib.contextmanager
def during_download(staging: Path, *, wanted: bool) -> Iterator[Digests]:
    """The digest service of a download into ``staging``. When ``wanted`` (a check will hash the files), its
    ``observer`` is a :class:`PrefixHasher` for the engine, and what it hashed joins the service when the
    block ends; a failed download gives no digest."""
    service = Digests(staging)
    if not wanted:
        yield service
        return
    hasher = PrefixHasher(staging)
    service.observer = hasher
    try:
        yield service
    except BaseException:
        hasher.abort()
        raise
    finally:
        service.observer = None
        service.known.update(hasher.close())
