"""Transfer engines: put the artifact behind a URI into a (staging) directory.

Which engine serves a URI is read from :mod:`mr_storage_initializer.schemes`, one row per scheme, which reads
the URI the way ``kserve_storage`` does (same tests, same order): ``s3://``, ``gs://``, Azure Blob, ``hf://``,
``oci://`` and plain ``http(s)://`` files go to the project's own engine (each row names the function that
makes it: :mod:`.fast_engine` on the scheme's source, :mod:`.hf_engine`, :mod:`.oci_engine`); everything
else (Azure file shares, pvc/local, git, hdfs, …) and every configuration only the cloud SDKs understand goes
to ``kserve_storage`` (the row's ``kserve`` engine; :mod:`.kserve_engine`, or :mod:`.hf_kserve` for
``hf://``), with the reason logged. ``MODEL_REGISTRY_TRANSFER`` = ``auto`` (that choice), ``kserve`` (always
KServe's library) or ``fast`` (the own engine or an error).
Everything configurable arrives in one :class:`~mr_storage_initializer.settings.Settings`, read at start; an
engine is made with all it needs (:mod:`.engine`).

``download`` maps every failure onto the error hierarchy: a full or read-only local file system is a
destination error (exit 6), anything else a storage error (exit 5). Engines and SDKs are imported lazily,
so a URI only ever imports what its engine needs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mr_storage_initializer import schemes
from mr_storage_initializer.errors import (
    DestinationError,
    InitializerError,
    StorageError,
    UsageError,
    destination_errno,
)
from mr_storage_initializer.redact import redact_text, redact_url
from mr_storage_initializer.staged import StagedTree, walk
from mr_storage_initializer.transfer import engine as engines
from mr_storage_initializer.transfer.engine import NO_HOOKS, BeforeFetch, Engine, Hooks, Observer
from mr_storage_initializer.values import dataclass, field, replace

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings

log = logging.getLogger("mr_storage_initializer.transfer")
OBSERVED_CHUNK_SIZE = 16 << 20  # the range size cap while a prefix hasher observes the writes (prehash.py)


@dataclass(frozen=True)
class TransferResult:
    engine: str
    files: int
    bytes: int
    tree: StagedTree = field(default_factory=StagedTree)  # the one walk of staging: integrity and commit use it
    revision: str | None = None  # the source's version installed (hf://: the commit sha), when it has one


def fast_scheme(uri: str) -> str | None:
    """The name of ``uri``'s scheme (``"s3"``, ``"gcs"``, ``"azure"``, ``"hf"``, ``"oci"``, ``"http"``) when
    the own engine serves it, else ``None``."""
    row = schemes.own_row(uri)
    return None if row is None else row.name


def select_engine(uri: str, settings: Settings, hooks: Hooks = NO_HOOKS) -> Engine:
    """The engine for ``uri`` under ``MODEL_REGISTRY_TRANSFER`` = ``settings.transfer``, made with ``hooks``."""
    from mr_storage_initializer.transfer.source import Unsupported

    if settings.transfer == "kserve":
        return _kserve_engine(uri, settings)
    row = schemes.own_row(uri)
    if row is None or row.builder is None:
        if settings.transfer == "fast":
            served = [r.shown for r in schemes.own_rows()]
            raise UsageError(
                f"MODEL_REGISTRY_TRANSFER=fast serves {', '.join(served[:-1])} and {served[-1]}, not {redact_url(uri)}"
            )
        return _kserve_engine(uri, settings)
    tunables = settings.tunables_for(row.name)
    if hooks.observer is not None:  # left to hash at the end: ranges x in flight
        tunables = replace(tunables, chunk_size=min(tunables.chunk_size, OBSERVED_CHUNK_SIZE))
    try:
        return engines.builder(row.builder)(uri, settings, tunables, hooks)
    except Unsupported as reason:
        return fall_back(uri, reason, settings)


def _kserve_engine(uri: str, settings: Settings) -> Engine:
    row = schemes.row_for(uri)
    return engines.kserve_builder(row.kserve if row is not None else schemes.KSERVE_ENGINE)(settings)


def fall_back(uri: str, reason: BaseException, settings: Settings) -> Engine:
    """The one place that decides what happens when the own engine cannot serve ``uri``: with
    ``MODEL_REGISTRY_TRANSFER=fast`` a usage error (exit 2), else the row's ``kserve_storage`` engine, with
    the reason logged (``hf://``: :mod:`.hf_kserve`, in a child process, pinned to the commit the listing
    resolved)."""
    if settings.transfer == "fast":
        raise UsageError(f"MODEL_REGISTRY_TRANSFER=fast cannot serve {redact_url(uri)}: {reason}") from None
    log.warning("handing %s to kserve_storage: %s", redact_url(uri), reason, extra={"step": "fallback"})
    return _kserve_engine(uri, settings)


def download(
    uri: str,
    dest: Path,
    settings: Settings,
    *,
    before_fetch: BeforeFetch | None = None,
    observer: Observer | None = None,
) -> TransferResult:
    """``before_fetch`` and ``observer``: see :class:`~.engine.Hooks` (the own engine calls them)."""
    from mr_storage_initializer.transfer.source import Unsupported

    try:
        engine = select_engine(uri, settings, Hooks(before_fetch=before_fetch, observer=observer))
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
    return TransferResult(engine=used, files=tree.count, bytes=tree.bytes, tree=tree, revision=engine.revision)


def is_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is a Rust panic raised through pyo3 (``pyo3_runtime.PanicException``)."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"


def fingerprint_inputs(uri: str, settings: Settings) -> dict[str, str]:
    """What, besides the artifact, decides the installed bytes: the allow/ignore patterns (only when set)
    and the version the URI names now, for a scheme whose row pins one (``hf://``: the commit, asked of the
    Hub, none asked when the URI pins a sha; ``oci://``: the image manifest, so a moved tag is a new version)."""
    patterns = settings.patterns
    inputs: dict[str, str] = {}
    if patterns.allow:
        inputs["allow_patterns"] = "\n".join(patterns.allow)
    if patterns.ignore:
        inputs["ignore_patterns"] = "\n".join(patterns.ignore)
    row = schemes.row_for(uri)
    if row is not None and row.revision is not None:
        revision = engines.revision(row.revision)(uri, settings, settings.tunables_for(row.name))
        if revision is not None:
            inputs["revision"] = revision
    return inputs


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 400:
        text = text[:400] + "…"
    return redact_text(text)
