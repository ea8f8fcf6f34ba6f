"""``hf://`` downloads: the fast engine on :class:`~.hf.HfSource`, LFS digests checked while the ranges
arrive, the commit recorded; what only Xet can serve goes to :mod:`.hf_kserve` (``kserve_storage``, in a
child process)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.options import Limits, Tunables
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.transfer.engine import NO_HOOKS, Engine, Hooks
from mr_storage_initializer.transfer.fast_engine import FastEngine
from mr_storage_initializer.transfer.hf import HfSource, hub_patterns, parse_hf_uri
from mr_storage_initializer.transfer.plan import Patterns, RemoteFile
from mr_storage_initializer.transfer.source import SourceError, escalate

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings

log = logging.getLogger("mr_storage_initializer.transfer")
T = TypeVar("T")


def _retried(fn: Callable[[], T], tunables: Tunables) -> T:
    """``fn()`` with retries on what may pass (5xx, 429, cut, timeout); a SourceError's sentence is final."""

    def attempt() -> T:
        try:
            return fn()
        except SourceError as exc:
            raise escalate(exc, exc.message) from exc

    return retry.call(attempt, deadline=tunables.deadline, max_attempts=tunables.attempts)


def pin(source: HfSource, tunables: Tunables) -> str:
    """The commit sha of the source's revision."""
    return _retried(source.resolve, tunables)


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for an ``hf://`` URI (the scheme row's builder)."""
    patterns = hub_patterns(settings.patterns)
    source = HfSource(
        uri, settings.storage_env, connections=tunables.concurrency, timeout=settings.timeout, patterns=patterns
    )
    return HfEngine(source, tunables, patterns, settings.limits, hooks)


def current_revision(uri: str, settings: Settings, tunables: Tunables) -> str:
    """The commit the URI's revision names now: asked of the Hub, unless the URI pins a sha."""
    ref = parse_hf_uri(uri)
    if ref.pinned:
        return ref.revision
    source = HfSource(uri, settings.storage_env, connections=1, timeout=settings.timeout)
    try:
        return pin(source, tunables)
    finally:
        source.close()


class HfEngine:
    """The own engine on the Hub. An :class:`Unsupported` listing (a file only Xet serves) propagates before
    any byte is written: ``transfer.fall_back`` decides what follows (exit 2 with ``MODEL_REGISTRY_TRANSFER=fast``,
    else :mod:`.hf_kserve` pinned to the commit resolved here)."""

    name = "fast"

    def __init__(
        self, source: HfSource, tunables: Tunables, patterns: Patterns, limits: Limits, hooks: Hooks = NO_HOOKS
    ) -> None:
        self.source = source
        self.tunables = tunables
        self.patterns = patterns
        self.limits = limits
        self.hooks = hooks  # handed to the FastEngine
        self.revision: str | None = None

    def download(self, uri: str, dest: Path) -> str:
        source = self.source
        try:
            self.revision = pin(source, self.tunables)
            files = _retried(source.list, self.tunables)
        except BaseException:
            source.close()
            raise
        log.info("%s is commit %s", redact_url(uri), self.revision, extra={"step": "listed", "revision": self.revision})
        digests = LfsDigests(dest, source, self.patterns)
        source.on_delivered = digests.delivered
        FastEngine(source, self.tunables, self.patterns, self.limits, hooks=self.hooks).download(uri, dest)
        digests.verify({f.key: f for f in files})
        return self.name


class LfsDigests:
    """SHA-256 of every LFS file, computed as the download runs: a worker that finishes a range hashes the
    file's contiguous written prefix from the page cache (one thread per file at a time); ``verify`` hashes
    whatever is left and compares with the Hub's ``lfs.oid``."""

    def __init__(self, dest: Path, source: HfSource, patterns: Patterns) -> None:
        self.dest = dest
        self.source = source
        self.wanted = {path: oid for path, oid in source.lfs.items() if patterns.wants(path)}
        self._hashes = {path: hashlib.sha256() for path in self.wanted}
        self._next = dict.fromkeys(self.wanted, 0)  # bytes hashed so far
        self._done: dict[str, dict[int, int]] = {path: {} for path in self.wanted}  # written ranges start → end
        self._locks = {path: threading.Lock() for path in self.wanted}
        self._guard = threading.Lock()

    def delivered(self, remote: RemoteFile, start: int, end: int) -> None:
        if remote.key not in self.wanted:
            return
        with self._guard:
            self._done[remote.key][start] = end
        if self._locks[remote.key].acquire(blocking=False):  # another worker is hashing this file: it goes on
            try:
                self._advance(remote.key, remote.rel)
            finally:
                self._locks[remote.key].release()

    def _advance(self, key: str, rel: str, size: int | None = None) -> None:
        with open(self.dest / rel, "rb") as handle:
            while True:
                with self._guard:
                    end = self._done[key].pop(self._next[key], None)
                if end is None and size is not None and self._next[key] < size:
                    end = size  # the final pass: whatever is left
                if end is None:
                    return
                handle.seek(self._next[key])
                left = end - self._next[key]
                while left > 0:
                    block = handle.read(min(4 << 20, left))
                    if not block:
                        break
                    self._hashes[key].update(block)
                    left -= len(block)
                self._next[key] = end

    def verify(self, files: dict[str, RemoteFile]) -> None:
        if not self.wanted:
            return
        log.info("checking %d LFS files against the Hub's SHA-256", len(self.wanted), extra={"step": "verifying"})

        def finish(key: str) -> str:
            with self._locks[key]:
                self._advance(key, files[key].rel, files[key].size)
            return self._hashes[key].hexdigest()

        keys = sorted(self.wanted)
        with ThreadPoolExecutor(max_workers=min(4, len(keys))) as pool:
            got = dict(zip(keys, pool.map(finish, keys), strict=True))
        for key in keys:
            if got[key] != self.wanted[key]:
                raise StorageError(
                    f"{files[key].rel}: SHA-256 {got[key]} is not the {self.wanted[key]} the Hub lists for commit "
                    f"{self.source.commit} of {self.source.ref.repo_id}; refusing the model"
                )
