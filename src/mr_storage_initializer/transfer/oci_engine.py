"""``oci://`` downloads: the reference pinned to a manifest digest, the blobs fetched by the fast engine
(ranges, parallel, resumable), each blob's digest checked (SHA-256 of its completed prefix while later ranges
still arrive, :mod:`~mr_storage_initializer.prehash`), then the layers applied (:mod:`.oci_layers`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from mr_storage_initializer import retry
from mr_storage_initializer.digests import FileDigest, file_digest
from mr_storage_initializer.errors import IntegrityError
from mr_storage_initializer.options import Limits, Patterns, Tunables
from mr_storage_initializer.prehash import PrefixHasher
from mr_storage_initializer.transfer import oci_layers
from mr_storage_initializer.transfer.fast_engine import FastEngine, Observer
from mr_storage_initializer.transfer.oci import OciSource, Pinned
from mr_storage_initializer.transfer.plan import RemoteFile
from mr_storage_initializer.transfer.source import SourceError, escalate

log = logging.getLogger("mr_storage_initializer.transfer")


def pin(source: OciSource, tunables: Tunables) -> Pinned:
    """The image manifest the source's reference names now, with retries on what may pass."""

    def attempt() -> Pinned:
        try:
            return source.resolve()
        except SourceError as exc:
            raise escalate(exc, f"resolving {source.what} failed: {exc.message}") from exc

    return retry.call(attempt, deadline=tunables.deadline, max_attempts=tunables.attempts)


def blob_rel(digest: str) -> str:
    return f"{oci_layers.BLOBS_DIR}/{digest.replace(':', '-')}"


class OciEngine:
    """The own engine on an OCI registry (``revision``: the image manifest's digest, for provenance)."""

    name = "fast"
    before_fetch: Callable[[list[str]], None] | None = None  # sees the model's paths once the layers are applied
    observer: Observer | None = None  # not told: blobs are not the model's files (a signature check hashes after)

    def __init__(self, source: OciSource, tunables: Tunables, patterns: Patterns, limits: Limits) -> None:
        self.source = source
        self.tunables = tunables
        self.patterns = patterns
        self.limits = limits
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
        engine = FastEngine(source, self.tunables, Patterns(), self.limits)
        engine.observer = hasher
        try:
            engine.download(uri, dest)
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
