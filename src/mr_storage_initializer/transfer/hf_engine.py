"""``hf://`` downloads: the fast engine on :class:`~.hf.HfSource`, LFS digests checked (hashed while the
ranges arrive, by the prefix hasher the install's checks share: :mod:`~mr_storage_initializer.prehash`),
the commit recorded; what only Xet can serve goes to :mod:`.hf_kserve` (``kserve_storage``, in a child
process)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mr_storage_initializer import retry
from mr_storage_initializer.digests import file_digest
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.options import Limits, Tunables
from mr_storage_initializer.prehash import PrefixHasher
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.transfer.engine import NO_HOOKS, Engine, Hooks, Observer
from mr_storage_initializer.transfer.fast_engine import FastEngine
from mr_storage_initializer.transfer.hf import HfSource, hub_patterns, parse_hf_uri
from mr_storage_initializer.transfer.plan import Patterns, RemoteFile, most_connections
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


# The source that looked up the commit (for the fingerprint), kept for the engine of the same URI and settings
# in this run: its pool, and the connection to the Hub it opened, serve the listing (no second pool, no second
# TLS handshake before the first file). Taken once; one not taken (nothing to download) ends with the process.
_LOOKED_UP: dict[tuple[object, ...], HfSource] = {}


def _key(uri: str, settings: Settings, tunables: Tunables) -> tuple[object, ...]:
    env = tuple(sorted(settings.storage_env.items()))
    return uri, env, settings.timeout, settings.patterns, most_connections(tunables)


def _new_source(uri: str, settings: Settings, tunables: Tunables) -> HfSource:
    return HfSource(
        uri,
        settings.storage_env,
        connections=most_connections(tunables),
        timeout=settings.timeout,
        patterns=hub_patterns(settings.patterns),
    )


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for an ``hf://`` URI (the scheme row's builder)."""
    source = _LOOKED_UP.pop(_key(uri, settings, tunables), None) or _new_source(uri, settings, tunables)
    return HfEngine(source, tunables, source.patterns, settings.limits, hooks)


def current_revision(uri: str, settings: Settings, tunables: Tunables) -> str:
    """The commit the URI's revision names now: asked of the Hub, unless the URI pins a sha."""
    ref = parse_hf_uri(uri)
    if ref.pinned:
        return ref.revision
    source = _new_source(uri, settings, tunables)
    try:
        revision = pin(source, tunables)
    except BaseException:
        source.close()
        raise
    replaced = _LOOKED_UP.pop(_key(uri, settings, tunables), None)
    if replaced is not None:
        replaced.close()
    _LOOKED_UP[_key(uri, settings, tunables)] = source
    return revision


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
        lfs = {f.rel: (f, source.lfs[f.key]) for f in files if f.key in source.lfs and self.patterns.wants(f.key)}
        # The LFS files' SHA-256 comes from the prefix hasher that also serves the install's checks (the
        # caller's observer), so a file is hashed once; without one, a hasher of the engine's own.
        shared = self.hooks.observer if isinstance(self.hooks.observer, PrefixHasher) else None
        own = PrefixHasher(dest) if lfs and shared is None else None
        hooks = self.hooks if own is None else Hooks(self.hooks.before_fetch, _both(own, self.hooks.observer))
        try:
            FastEngine(source, self.tunables, self.patterns, self.limits, hooks=hooks).download(uri, dest)
            _check_lfs(dest, lfs, shared or own, source)
        except BaseException:
            if own is not None:
                own.abort()
            raise
        finally:
            if own is not None:
                own.close()
        return self.name


def _both(first: Observer, second: Observer | None) -> Observer:
    if second is None:
        return first

    def observer(rel: str, offset: int, length: int) -> None:
        first(rel, offset, length)
        second(rel, offset, length)

    return observer


def _check_lfs(
    dest: Path, lfs: dict[str, tuple[RemoteFile, str]], hasher: PrefixHasher | None, source: HfSource
) -> None:
    """Every LFS file against the Hub's ``lfs.oid``: its SHA-256 from ``hasher`` (hashed while the ranges
    arrived), or hashed now where the hasher could not follow it (a file rewritten from its start)."""
    if not lfs:
        return
    log.info("checking %d LFS files against the Hub's SHA-256", len(lfs), extra={"step": "verifying"})
    for rel, (remote, oid) in sorted(lfs.items()):
        got = hasher.finish(rel, remote.size) if hasher is not None else None
        got = got or file_digest(dest, rel)
        if got != oid:
            raise StorageError(
                f"{rel}: SHA-256 {got} is not the {oid} the Hub lists for commit "
                f"{source.commit} of {source.ref.repo_id}; refusing the model"
            )
