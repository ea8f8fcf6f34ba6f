"""One ``SOURCE_URI DEST_PATH`` pair, start to end: resolve → policy → download → verify → commit.

:func:`resolve_pair` says what the pair names (a ``model-registry://`` URI through the registry, any other
URI as itself, as KServe's own initializer would take it) and checks the artifact policy;
:func:`install_pair` installs it into its DEST atomically, with its own lock, staging directory and
provenance. :mod:`mr_storage_initializer.cli` runs several pairs side by side; what they share in the
process (``TMPDIR``, ``kserve_storage``'s environment) is serialised by :data:`PROCESS_STATE`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer.api_version import Learned
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.resolve import Artifact, Entity, Resolution
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.storage_config import DownloadPlan, endpoints_of, explain_refusal
from mr_storage_initializer.values import dataclass, field, replace

if TYPE_CHECKING:
    from mr_storage_initializer.digests import Digests
    from mr_storage_initializer.install import Destination
    from mr_storage_initializer.provenance import Record
    from mr_storage_initializer.transfer import TransferResult

log = logging.getLogger("mr_storage_initializer")
SCHEME = "model-registry://"

# Held while a download may run kserve_storage, which reads and changes process-wide state (TMPDIR, the
# storage environment, HF_HOME): such downloads run one at a time; the own engine's run side by side.
PROCESS_STATE = threading.Lock()


@dataclass(frozen=True)
class Pair:
    index: int
    source_uri: str
    dest: Path | None


@dataclass(frozen=True)
class Installed:
    """What one pair installed (or found installed), for the logs and the termination message."""

    pair: Pair
    resolution: Resolution
    fingerprint: str
    files: int
    bytes: int
    seconds: float
    downloaded: bool
    replaced: str | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def plain_uri_resolution(uri: str) -> Resolution:
    """A pair whose SOURCE_URI is not ``model-registry://``: the artifact is the URI itself."""
    name = redact_url(uri)
    return Resolution(
        source_uri=uri,
        registry_url="",
        model=Entity(id="", name=name, state=None),
        version=Entity(id="", name="", state=None),
        artifact=Artifact(id="", name=name, state=None, uri=uri),
    )


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(SCHEME)


def resolve_pair(pair: Pair, settings: Settings, learned: Learned | None = None) -> Resolution:
    """What the pair names, with the artifact policy checked (exit 3 when refused; nothing downloaded).
    ``learned``: what the run knows of its registries' APIs already (the pairs of a run share it)."""
    from mr_storage_initializer import policy

    started = time.monotonic()
    if is_registry_uri(pair.source_uri):
        resolution = _resolve_registry(pair.source_uri, settings, learned)
    else:
        log.info(
            "%s is not a model-registry:// URI: downloading it directly",
            redact_url(pair.source_uri),
            extra={"step": "parsed"},
        )
        resolution = plain_uri_resolution(pair.source_uri)
    artifact = resolution.artifact
    plan = download_plan(resolution)
    policy.check_artifact(  # a URI the user typed (no registry) that is malformed is exit 2, not 3
        artifact.uri or plan.uri,
        settings.allowed_artifact_uri_prefixes,
        settings.storage_endpoints,
        from_registry=bool(resolution.registry_url),
    )
    for endpoint, what in endpoints_of(plan):
        policy.check_endpoint(endpoint, what)
    if not resolution.registry_url:
        return resolution
    log.info(
        "model %s version %s artifact %s",
        resolution.model.name,
        resolution.version.name,
        artifact.name,
        extra={
            "step": "resolved",
            "registry": redact_url(resolution.registry_url),
            "artifact_id": artifact.id,
            "uri": redact_url(artifact.uri),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return resolution


def _resolve_registry(source_uri: str, settings: Settings, learned: Learned | None) -> Resolution:
    from mr_storage_initializer.resolve import registry_url_for, resolve
    from mr_storage_initializer.uri import parse_uri

    parsed = parse_uri(source_uri)
    if parsed.ambiguous:
        log.info("%s is HOST/MODEL or MODEL/VERSION; probing", redact_url(source_uri), extra={"step": "parsed"})
    else:
        log.info("%s is %s", redact_url(source_uri), parsed.readings[0].describe(), extra={"step": "parsed"})
    unversioned = [r for r in parsed.readings if r.version is None]
    if settings.require_version and len(unversioned) == len(parsed.readings):
        raise _version_required(source_uri)
    resolution = resolve(parsed, settings, learned)
    if settings.require_version and unversioned and parsed.ambiguous:
        host_model, model_version = parsed.readings  # which one the probe chose: the names tell
        if host_model.model != model_version.model:
            taken_as_host = resolution.model.name == host_model.model
        else:
            url = resolution.registry_url
            taken_as_host = registry_url_for(host_model, settings) == url != registry_url_for(model_version, settings)
        if taken_as_host:
            raise _version_required(source_uri)
    return resolution


def _version_required(source_uri: str) -> UsageError:
    return UsageError(
        f"{redact_url(source_uri)} names no model version, and MODEL_REGISTRY_REQUIRE_VERSION=true: a cache or "
        "pod keyed by a URI without a version would serve whichever version was newest when it ran; "
        "use model-registry://MODEL/VERSION"
    )


def fingerprint_of(resolution: Resolution, inputs: Mapping[str, str] | None = None) -> str:
    """``inputs``: :func:`~mr_storage_initializer.transfer.fingerprint_inputs` (patterns, an hf:// commit)."""
    from mr_storage_initializer.provenance import fingerprint

    return fingerprint(resolution, inputs)


def download_plan(resolution: Resolution) -> DownloadPlan:
    """What the pair downloads: the plan resolution made (storageKey, ``?endpoint=``), else the artifact uri."""
    plan = resolution.download
    return plan if plan.uri else DownloadPlan(resolution.artifact.uri)


def with_plan(settings: Settings, plan: DownloadPlan) -> Settings:
    """``settings`` whose storage variables carry the plan's (set ``env``, drop ``unset``): both engines read
    them from ``settings.storage_env``; only the kserve engine puts them into the process environment."""
    if not plan.env and not plan.unset:
        return settings
    from types import MappingProxyType

    merged = {name: value for name, value in settings.storage_env.items() if name not in plan.unset}
    merged.update(plan.env)
    return replace(settings, storage_env=MappingProxyType(merged))


def may_use_kserve(uri: str, settings: Settings) -> bool:
    """Whether this download may run ``kserve_storage`` (and so needs the process to itself)."""
    from mr_storage_initializer import schemes

    return settings.transfer == "kserve" or schemes.own_row(uri) is None


def install_pair(
    pair: Pair,
    resolution: Resolution,
    settings: Settings,
    *,
    exclusive: bool,
    committed: Callable[[], None] | None = None,
) -> Installed:
    """Download, verify and commit one pair into its DEST. ``exclusive``: this pair owns the process's TMPDIR.
    ``committed``: called the moment the pair is installed (its provenance in place), for a signal's report."""
    from mr_storage_initializer import install, transfer
    from mr_storage_initializer.transfer import resume

    assert pair.dest is not None
    started = time.monotonic()
    plan = download_plan(resolution)
    planned = with_plan(settings, plan)  # the plan's storage variables: for the fingerprint, download, signature.uri
    inputs = transfer.fingerprint_inputs(plan.uri, planned)  # hf://: the commit named now
    wanted = fingerprint_of(resolution, inputs)
    with install.open_destination(pair.dest, lock_timeout=settings.lock_timeout) as dest:
        found = dest.installed(wanted)
        if found is not None:
            return _already_installed(pair, resolution, wanted, found, root=dest.root, committed=committed)
        dest.check_replaceable()  # a user's file in the previous install's directories: exit 6 before downloading
        needs_process_state = _may_use_kserve_for(plan, settings, resolution) or exclusive
        with (
            _process_state(needs_process_state),
            _scratch(dest, needs_process_state),
            resume.staging(dest.root, wanted) as staging,
        ):
            result, digests = _download(plan, staging, dest, settings=settings, planned=planned, resolution=resolution)
            result, built = _checked_record(
                resolution, staging, result, digests, planned=planned, inputs=inputs, started=started
            )
            replaced = _replaced(dest.provenance(), resolution, pair.source_uri)
            record = dest.commit(staging, built.to_json(), result.tree, installed=committed)
    _log_installed(resolution, dest, record, result)
    seconds = time.monotonic() - started
    return Installed(
        pair, resolution, wanted, len(record["files"]), result.bytes, seconds, True, replaced=replaced, record=record
    )


def _already_installed(
    pair: Pair,
    resolution: Resolution,
    wanted: str,
    found: dict[str, Any],
    *,
    root: Path,
    committed: Callable[[], None] | None,
) -> Installed:
    """DEST holds a complete install of ``wanted`` already (``found``: its provenance): nothing to download."""
    if committed is not None:
        committed()
    log.info("already installed in %s; nothing to download", root, extra={"step": "installed"})
    files = found.get("files") or []
    size = sum(int(f.get("size", 0)) for f in files if isinstance(f, dict))
    return Installed(pair, resolution, wanted, len(files), size, 0.0, downloaded=False, record=found)


def _may_use_kserve_for(plan: DownloadPlan, settings: Settings, resolution: Resolution) -> bool:
    """Whether the artifact's download, or the signature the check fetches, may run ``kserve_storage``."""
    from mr_storage_initializer import signature_step

    signature_uri = signature_step.signature_uri(settings, resolution)  # fetched by the check, maybe by kserve
    return may_use_kserve(plan.uri, settings) or (signature_uri is not None and may_use_kserve(signature_uri, settings))


def _download(
    plan: DownloadPlan,
    staging: Path,
    dest: Destination,
    *,
    settings: Settings,
    planned: Settings,
    resolution: Resolution,
) -> tuple[TransferResult, Digests]:
    """Download the plan into ``staging``, hashing as it writes when a check will read the files; log both ends.
    A refusal the plan explains (a storageKey without entry fell back to the environment) says so."""
    from mr_storage_initializer import integrity, prehash, signature_step, transfer

    route = settings.proxy.route(plan.uri) if plan.uri.startswith(("http://", "https://")) else {}
    log.info("%s", redact_url(plan.uri), extra={"step": "downloading", "into": str(dest.root), **route})
    t0 = time.monotonic()
    signature_step.preload(settings)
    checked = settings.signature.mode != "off" or integrity.expected_digests(resolution) is not None
    with prehash.during_download(staging, wanted=checked) as digests:  # per pair: its own threads
        try:
            result = transfer.download(
                plan.uri, staging, planned, before_fetch=dest.check_names, observer=digests.observer
            )
        except StorageError as exc:  # refused: a storageKey without entry fell back to the environment
            explained = explain_refusal(plan, exc.message)
            if explained is None:
                raise
            raise StorageError(explained) from exc
    took = time.monotonic() - t0
    log.info(
        "%d files, %d bytes in %.2fs",
        result.files,
        result.bytes,
        took,
        extra={
            "step": "downloaded",
            "engine": result.engine,
            "mib_per_s": round(result.bytes / 1048576 / max(took, 1e-6), 1),
        },
    )
    return result, digests


def _checked_record(
    resolution: Resolution,
    staging: Path,
    result: TransferResult,
    digests: Digests,
    *,
    planned: Settings,
    inputs: Mapping[str, str],
    started: float,
) -> tuple[TransferResult, Record]:
    """Verify the staged files (digests, then signature) and build the provenance record of the install;
    the result returned lists only what the signature covers."""
    from mr_storage_initializer import integrity, signature_step
    from mr_storage_initializer.provenance import build_record

    verified = integrity.verify(resolution, staging, result.tree, digests)
    signature, tree = signature_step.check(planned, resolution, staging, result.tree, digests)
    result = replace(result, tree=tree)  # less what the signature does not cover
    seconds = time.monotonic() - started
    built = build_record(
        resolution,
        result,
        seconds=seconds,
        verified_files=verified,
        inputs=inputs,
        signature=signature,
        digests=digests.computed(),
    )
    return result, built


def _log_installed(resolution: Resolution, dest: Destination, record: dict[str, Any], result: TransferResult) -> None:
    log.info(
        "%s version %s into %s" if resolution.registry_url else "%s%s into %s",
        resolution.model.name,
        resolution.version.name,
        dest.root,
        extra={"step": "installed", "files": len(record["files"]), "bytes": result.bytes, "seconds": record["seconds"]},
    )


def _process_state(needed: bool) -> Any:
    import contextlib

    return PROCESS_STATE if needed else contextlib.nullcontext()


def _scratch(dest: Any, needed: bool) -> Any:
    import contextlib

    return dest.scratch_tmpdir() if needed else contextlib.nullcontext()


def _replaced(previous: dict[str, Any] | None, resolution: Resolution, source_uri: str) -> str | None:
    """Log which install the new one replaces (a warning when the URI names no version); return its version."""
    if not previous:
        return None
    model = previous.get("registered_model") if isinstance(previous.get("registered_model"), dict) else {}
    version = previous.get("model_version") if isinstance(previous.get("model_version"), dict) else {}
    old = str(version.get("name") or "") if isinstance(version, dict) else ""
    old_model = str(model.get("name") or "") if isinstance(model, dict) else ""
    unversioned = is_registry_uri(source_uri) and old != resolution.version.name
    level = logging.WARNING if unversioned else logging.INFO
    log.log(
        level,
        "replacing %s version %s (installed %s) with version %s",
        old_model or "an earlier install",
        old or "?",
        previous.get("installed_at", "at an unknown time"),
        resolution.version.name or redact_url(resolution.artifact.uri),
        extra={"step": "replacing", "replaced_version": old or None},
    )
    return old or None
