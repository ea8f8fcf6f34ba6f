"""Transfer engines: put the artifact behind a URI into a (staging) directory.

``select_engine`` reads the URI the way ``kserve_storage`` does (same scheme tests, same order): ``s3://``,
``gs://``, Azure Blob, ``hf://`` and plain ``http(s)://`` files go to the project's own engine
(:mod:`.fast_engine`; ``hf://`` through :mod:`.hf_engine`, ``oci://`` through :mod:`.oci_engine`); everything
else (Azure file shares,
pvc/local, git, hdfs, …) and every configuration only the cloud SDKs understand goes to ``kserve_storage``,
with the reason logged. ``MODEL_REGISTRY_TRANSFER`` = ``auto`` (that choice), ``kserve`` (always KServe's
library) or ``fast`` (the own engine or an error).
Everything configurable arrives in one :class:`~mr_storage_initializer.settings.Settings`, read at start.

``download`` maps every failure onto the error hierarchy: a full or read-only local file system is a
destination error (exit 6), anything else a storage error (exit 5). Engines and SDKs are imported lazily,
so a URI only ever imports what its engine needs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mr_storage_initializer.errors import (
    DestinationError,
    InitializerError,
    StorageError,
    UsageError,
    destination_errno,
)
from mr_storage_initializer.redact import redact_text, redact_url
from mr_storage_initializer.staged import StagedTree, walk

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings

# kserve_storage's tests, in its order, before the HTTP catch-all.
_KSERVE_AZURE_BLOB = (
    r"https://(.+?)\.blob\.core\.windows\.net/(.+)",
    r"https://(.+?)\.z[0-9]{1,2}\.blob\.storage\.azure\.net/(.+)",
)
_KSERVE_NOT_HTTP = (
    r"https://(.+?)\.file\.core\.windows\.net/(.+)",
    r"https://(.+?)\.z[0-9]{1,2}\.file\.storage\.azure\.net/(.+)",
    r"https://.+\.git",
)
_KSERVE_HTTP = r"https?://(.+)/(.+)"
log = logging.getLogger("mr_storage_initializer.transfer")
OBSERVED_CHUNK_SIZE = 16 << 20  # the range size cap while a prefix hasher observes the writes (prehash.py)


class Engine(Protocol):
    name: str

    def download(self, uri: str, dest: Path) -> str:
        """Write the artifact at ``uri`` into the existing empty directory ``dest``; return the engine used."""


@dataclass(frozen=True)
class TransferResult:
    engine: str
    files: int
    bytes: int
    tree: StagedTree = field(default_factory=StagedTree)  # the one walk of staging: integrity and commit use it
    revision: str | None = None  # the source's version installed (hf://: the commit sha), when it has one


def fast_scheme(uri: str) -> str | None:
    """``"s3"``, ``"gcs"``, ``"azure"``, ``"hf"``, ``"oci"`` or ``"http"`` when the own engine serves ``uri``, else
    ``None``."""
    if uri.startswith("/mnt/models") or uri.startswith("file://") or os.path.exists(uri):
        return None
    if uri.startswith("s3://"):
        return "s3"
    if uri.startswith("gs://"):
        return "gcs"
    if uri.startswith("hf://"):
        return "hf"
    if uri.startswith("oci://"):
        return "oci"
    if uri.startswith(("hdfs://", "webhdfs://", "modelscope://")):
        return None
    if any(re.search(pattern, uri) for pattern in _KSERVE_AZURE_BLOB):
        return "azure"
    if any(re.search(pattern, uri) for pattern in _KSERVE_NOT_HTTP):
        return None
    if re.search(_KSERVE_HTTP, uri):
        return "http"
    return None


def select_engine(uri: str, settings: Settings) -> Engine:
    """The engine for ``uri`` under ``MODEL_REGISTRY_TRANSFER`` = ``settings.transfer``."""
    from mr_storage_initializer.transfer.kserve_engine import KServeEngine

    preference = settings.transfer
    if preference == "kserve":
        if uri.startswith("hf://"):
            from mr_storage_initializer.transfer.hf_kserve import TamedKServe

            return TamedKServe(settings.storage_env, settings.timeout)
        return KServeEngine(settings.storage_env)
    environ = settings.storage_env
    scheme = fast_scheme(uri)
    if scheme is None:
        if preference == "fast":
            raise UsageError(
                "MODEL_REGISTRY_TRANSFER=fast serves s3://, gs://, Azure Blob, hf://, oci:// and http(s):// files, "
                f"not {redact_url(uri)}"
            )
        return KServeEngine(settings.storage_env)

    from mr_storage_initializer.transfer.fast_engine import FastEngine
    from mr_storage_initializer.transfer.source import Source, Unsupported

    if scheme == "s3":
        from mr_storage_initializer.transfer.s3 import storage_spec_env

        environ = storage_spec_env(environ)
    tunables = settings.tunables_for(scheme)
    source: Source
    try:
        if scheme == "s3":
            from mr_storage_initializer.transfer.s3 import S3Source

            source = S3Source(uri, environ)
        elif scheme == "azure":
            from mr_storage_initializer.transfer.azure import AzureSource

            source = AzureSource(uri, environ)
        elif scheme == "hf":
            from mr_storage_initializer.transfer.hf import HfSource, hub_patterns
            from mr_storage_initializer.transfer.hf_engine import HfEngine

            patterns = hub_patterns(settings.patterns)
            hf = HfSource(uri, environ, connections=tunables.concurrency, timeout=settings.timeout, patterns=patterns)
            return HfEngine(hf, tunables, patterns, settings.limits)
        elif scheme == "oci":
            from mr_storage_initializer.transfer.oci import OciSource
            from mr_storage_initializer.transfer.oci_engine import OciEngine

            oci = OciSource(uri, environ, settings.oci, connections=tunables.concurrency, timeout=settings.timeout)
            return OciEngine(oci, tunables, settings.patterns, settings.limits)
        elif scheme == "gcs":
            from mr_storage_initializer.transfer.gcs import GcsSource

            source = GcsSource(uri, environ, connections=tunables.concurrency)
        else:
            from mr_storage_initializer.transfer.http import HttpSource

            source = HttpSource(uri, environ, connections=tunables.concurrency)
    except Unsupported as reason:
        return fall_back(uri, reason, settings)
    return FastEngine(source, tunables, settings.patterns, settings.limits)


def fall_back(uri: str, reason: BaseException, settings: Settings) -> Engine:
    """The one place that decides what happens when the own engine cannot serve ``uri``: with
    ``MODEL_REGISTRY_TRANSFER=fast`` a usage error (exit 2), else ``kserve_storage``, with the reason logged
    (``hf://``: :mod:`.hf_kserve`, in a child process, pinned to the commit the listing resolved)."""
    if settings.transfer == "fast":
        raise UsageError(f"MODEL_REGISTRY_TRANSFER=fast cannot serve {redact_url(uri)}: {reason}") from None
    if uri.startswith("hf://"):  # pinned to the commit the listing resolved, in a child process
        from mr_storage_initializer.transfer.hf_kserve import instead_of as tamed_instead_of

        return tamed_instead_of(uri, reason, settings.storage_env, settings.timeout)
    from mr_storage_initializer.transfer.kserve_engine import instead_of

    return instead_of(uri, reason, settings.storage_env)


def download(
    uri: str,
    dest: Path,
    settings: Settings,
    *,
    before_fetch: Callable[[list[str]], None] | None = None,
    observer: Callable[[str, int, int], None] | None = None,
) -> TransferResult:
    """``before_fetch`` sees the paths the own engine listed before it fetches a byte (name clashes in DEST);
    ``observer(rel, offset, length)`` is told of each range the own engine wrote (or kept from a killed run)."""
    from mr_storage_initializer.transfer.source import Unsupported

    try:
        engine = select_engine(uri, settings)
        if before_fetch is not None and hasattr(engine, "before_fetch"):  # the own engine's (fast, hf)
            engine.before_fetch = before_fetch
        if observer is not None and hasattr(engine, "observer") and hasattr(engine, "tunables"):  # fast, hf
            engine.observer = observer
            chunk = min(engine.tunables.chunk_size, OBSERVED_CHUNK_SIZE)  # left to hash at the end: ranges x in flight
            engine.tunables = dataclasses.replace(engine.tunables, chunk_size=chunk)
        try:
            used = engine.download(uri, dest)
        except Unsupported as reason:  # found by the listing, before any byte was written
            engine = fall_back(uri, reason, settings)
            used = engine.download(uri, dest)
    except InitializerError:
        raise
    except BaseException as exc:
        if not isinstance(exc, Exception) and not is_panic(exc):
            raise  # a signal (InterruptedByUser), KeyboardInterrupt, SystemExit
        if is_panic(exc):  # a Rust library (obstore) panicked: a BaseException that no `except Exception` sees
            raise StorageError(
                f"downloading {redact_url(uri)} failed: the storage library refused its input ({_describe(exc)}); "
                "check the URI and the endpoint settings"
            ) from exc
        code = destination_errno(exc)
        if code is not None:
            raise DestinationError(
                f"cannot write the model into {dest.parent}: {_describe(exc)}; "
                "free space or fix permissions on the destination volume"
            ) from exc
        raise StorageError(f"downloading {redact_url(uri)} failed: {_describe(exc)}") from exc
    tree = walk(dest)
    if not tree.regular:
        raise StorageError(f"downloading {redact_url(uri)} produced no files; check that the artifact uri exists")
    return TransferResult(
        engine=used, files=tree.count, bytes=tree.bytes, tree=tree, revision=getattr(engine, "revision", None)
    )


def is_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is a Rust panic raised through pyo3 (``pyo3_runtime.PanicException``)."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def fingerprint_inputs(uri: str, settings: Settings) -> dict[str, str]:
    """What, besides the artifact, decides the installed bytes: the allow/ignore patterns (only when set)
    and, for ``hf://``, the commit the revision names now (asked of the Hub; none when the URI pins a sha)."""
    patterns = settings.patterns
    inputs: dict[str, str] = {}
    if patterns.allow:
        inputs["allow_patterns"] = "\n".join(patterns.allow)
    if patterns.ignore:
        inputs["ignore_patterns"] = "\n".join(patterns.ignore)
    if uri.startswith("hf://"):
        from mr_storage_initializer.transfer.hf import parse_hf_uri

        ref = parse_hf_uri(uri)
        if ref.pinned:
            inputs["revision"] = ref.revision
        else:
            from mr_storage_initializer.transfer.hf import HfSource
            from mr_storage_initializer.transfer.hf_engine import pin

            source = HfSource(uri, settings.storage_env, connections=1, timeout=settings.timeout)
            try:
                inputs["revision"] = pin(source, settings.tunables_for("hf"))
            finally:
                source.close()
    if uri.startswith("oci://"):  # the image manifest the reference names now: a moved tag is a new version
        from mr_storage_initializer.transfer.oci import OciSource
        from mr_storage_initializer.transfer.oci_engine import pin as pin_oci

        oci = OciSource(uri, settings.storage_env, settings.oci, connections=1, timeout=settings.timeout)
        try:
            inputs["revision"] = pin_oci(oci, settings.tunables_for("oci")).digest
        except StorageError as exc:
            if settings.transfer != "kserve":
                raise
            # the user picked kserve_storage, perhaps because the own resolution fails there: it resolves alone
            log.warning("oci:// digest not pinned for the fingerprint (%s); kserve_storage resolves the tag", exc)
        finally:
            oci.close()
    return inputs


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 400:
        text = text[:400] + "…"
    return redact_text(text)
