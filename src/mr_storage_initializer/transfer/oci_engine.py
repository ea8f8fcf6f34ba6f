"""``oci://`` downloads: the reference pinned to a manifest digest, the blobs fetched by the fast engine
(ranges, parallel, resumable), each blob's digest checked (SHA-256 of its completed prefix while later ranges
still arrive, :mod:`~mr_storage_initializer.prehash`), then the layers applied (:mod:`.oci_layers`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mr_storage_initializer import retry
from mr_storage_initializer.digests import FileDigest, file_digest
from mr_storage_initializer.errors import IntegrityError, StorageError
from mr_storage_initializer.options import Limits, Patterns, Tunables
from mr_storage_initializer.prehash import PrefixHasher
from mr_storage_initializer.transfer import oci_layers
from mr_storage_initializer.transfer.engine import NO_HOOKS, Engine, Hooks
from mr_storage_initializer.transfer.fast_engine import FastEngine
from mr_storage_initializer.transfer.oci import OciSource, Pinned
from mr_storage_initializer.transfer.plan import RemoteFile, most_connections
from mr_storage_initializer.transfer.source import SourceError, escalate

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings

log = logging.getLogger("mr_storage_initializer.transfer")


def pin(source: OciSource, tunables: Tunables) -> Pinned:
    """The image manifest the source's reference names now, with retries on what may pass."""

    def attempt() -> Pinned:
        try:
            return source.resolve()
        except SourceError as exc:
            raise escalate(exc, f"resolving {source.what} failed: {exc.message}") from exc

    return retry.call(attempt, deadline=tunables.deadline, max_attempts=tunables.attempts)


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for an ``oci://`` URI (the scheme row's builder)."""
    source = OciSource(
        uri, settings.storage_env, settings.oci, connections=most_connections(tunables), timeout=settings.timeout
    )
    return OciEngine(source, tunables, settings.patterns, settings.limits, hooks)


def current_revision(uri: str, settings: Settings, tunables: Tunables) -> str | None:
    """The digest of the image manifest the reference names now (a moved tag is a new version). None when it
    cannot be resolved here and the user picked ``kserve_storage``, which then resolves the tag alone."""
    source = OciSource(uri, settings.storage_env, settings.oci, connections=1, timeout=settings.timeout)
    try:
        return pin(source, tunables).digest
    except StorageError as exc:
        if settings.transfer != "kserve":
            raise
        # the user picked kserve_storage, perhaps because the own resolution fails there: it resolves alone
        log.warning("oci:// digest not pinned for the fingerprint (%s); kserve_storage resolves the tag", exc)
        return None
    finally:
        source.close()


def blob_rel(digest: str) -> str:
    return f"{oci_layers.BLOBS_DIR}/{digest.replace(':', '-')}"


class OciEngine:
    """The own engine on an OCI registry (``revision``: the image manifest's digest, for provenance)."""

    name = "fast"

    def __init__(
        self, source: OciSource, tunables: Tunables, patterns: Patterns, limits: Limits, hooks: Hooks = NO_HOOKS
    ) -> None:
        self.source = source
        self.tunables = tunables
        self.patterns = patterns
        self.limits = limits
        # before_fetch sees the model's paths once the layers are applied; the observer is not told: blobs are
        # not the model's files (a signature check hashes them after)
        self.before_fetch = hooks.before_fetch
        self.revision: str | None = None

    def download(self, uri: str, dest: Path) -> str:
        source = self.source
        try:
            pinned = pin(source, self.tunables)
            layers = oci_layers.plan(pinned.manifest, source.what)
        except BaseException:
            source.close()
            raise
        self.revision = pinned.digest
        sizes = {layer.digest: layer.size for layer in layers}
        source.blobs = [RemoteFile(d, blob_rel(d), size, ranges=True, version=d) for d, size in sizes.items()]
        log.info(
            "%s is manifest %s: %d layers, %d bytes",
            source.what,
            pinned.digest,
            len(layers),
            sum(sizes.values()),
            extra={"step": "listed", "revision": pinned.digest},
        )
        hasher = PrefixHasher(dest, workers=2)
        blobs = FastEngine(source, self.tunables, Patterns(), self.limits, hooks=Hooks(observer=hasher))
        try:
            blobs.download(uri, dest)
        except BaseException:
            hasher.abort()
            hasher.close()
            raise
        verify(dest, source.blobs, hasher.close(), source.what)
        log.info("applying %d layers", len(layers), extra={"step": "unpacking"})
        files = oci_layers.apply(
            dest,
            layers,
            lambda d: dest / blob_rel(d),
            limits=self.limits,
            patterns=self.patterns,
            workers=os.cpu_count() or 1,
        )
        log.info("%d files from %s", files, source.what, extra={"step": "unpacked"})
        if self.before_fetch is not None:
            self.before_fetch(sorted(p.name for p in dest.iterdir()))
        return self.name


def verify(dest: Path, blobs: list[RemoteFile], digests: Mapping[str, FileDigest], what: str) -> None:
    """Every blob's bytes against its digest; a mismatch is exit 5 and nothing is installed."""
    for blob in blobs:
        algorithm, _, expected = blob.key.partition(":")
        found = digests.get(blob.rel)
        got = found.sha256 if found is not None and algorithm == "sha256" else None
        if got is None:  # written again after a cut of a source without ranges, or sha512: hashed now
            got = file_digest(dest, blob.rel, algorithm)
        if got != expected:
            raise IntegrityError(
                f"blob {blob.key} of {what} has digest {algorithm}:{got}; the registry served bytes that do not "
                "match the manifest; refusing the model"
            )
