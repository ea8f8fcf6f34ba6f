"""Per-model storage credentials (``storageKey``) and the ``s3://…?endpoint=&defaultRegion=`` URIs.

**Entries.** A model artifact may name a ``storageKey``: a key of the namespace's ``storage-config``
secret (KServe's storage-spec JSON per key, e.g. ``{"type": "s3", "access_key_id": …, "endpoint_url": …,
"bucket": …}``; KServe's secret name is ``storageSpecSecretName`` in its config). The entries are read
once at start-up (:func:`.options.load_entries`) from two places:

- environment variables ``MODEL_REGISTRY_STORAGE_CONFIG_PREFIX`` + key (default prefix
  ``MR_STORAGE_CONFIG_``), which ``envFrom: [{secretRef: {name: storage-config, optional: true},
  prefix: MR_STORAGE_CONFIG_}]`` on the ``ClusterStorageContainer`` makes (the kubelet keeps the key
  unchanged, dashes included);
- files in ``MODEL_REGISTRY_STORAGE_CONFIG_DIR`` (one per key, the secret mounted as a volume).

A variable wins over a file of the same key. Every value of every entry is registered as a secret, so
none appears in any output, except the fields that say where, not how (``options.LOCATION_FIELDS``: type,
bucket, region, endpoint, TLS switches): masking those would also mask the bucket in every logged URI and
in the provenance record, and any ``/mnt/models`` for a bucket named ``models``. An entry that is not
JSON is masked whole. Only ``type: s3`` entries can be used (KServe's S3 mapping); anything else
ends the install with exit 5 when an artifact names it.

**One download's environment** (:func:`plan`), strongest first: the URI's ``endpoint=``/``defaultRegion=``
(what ``model_registry.utils.s3_uri_from`` writes) > the ``storageKey`` entry > ``STORAGE_CONFIG`` /
``STORAGE_OVERRIDE_CONFIG`` > ``AWS_*``. It is expressed as KServe's own variables (``STORAGE_CONFIG``
for the effective storage spec, ``AWS_ENDPOINT_URL``/``AWS_DEFAULT_REGION``), so both engines apply it
the same way. The query is never part of the key: the engines get the URI without it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.options import StorageEntry
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.urls import endpoint_problem
from mr_storage_initializer.values import dataclass, field

USABLE_TYPES = ("s3",)
S3_QUERY = {"endpoint": "endpoint_url", "defaultRegion": "region"}  # s3_uri_from's parameters -> spec keys
REQUIRE_ENTRY = "MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY"
log = logging.getLogger("mr_storage_initializer.storage_config")


@dataclass(frozen=True)
class DownloadPlan:
    """What one download fetches (``uri``, never with a query) and the variables it runs under."""

    uri: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # set for this download
    unset: tuple[str, ...] = ()  # removed for this download
    storage_key: str | None = None
    missing_entry: str = ""  # where the storageKey's entry was looked for in vain (the environment was used)


def where_looked(prefix: str, directory: Path | None) -> str:
    places = [f"variables {prefix}<key> (envFrom of the storage-config secret)"] if prefix else []
    if directory is not None:
        places.append(f"files in {directory} (MODEL_REGISTRY_STORAGE_CONFIG_DIR)")
    return " and ".join(places) or "nowhere (MODEL_REGISTRY_STORAGE_CONFIG_PREFIX and _DIR are unset)"


def plan(
    uri: str,
    *,
    storage_key: str | None,
    storage_path: str | None,
    entries: Mapping[str, StorageEntry],
    looked: str,
    env: Mapping[str, str],
    require_entry: bool = False,
) -> DownloadPlan:
    """The download of an artifact ``uri`` (may be empty) with its ``storageKey``/``storagePath``.

    ``env`` is KServe's storage variables (``Settings.storage_env``), where ``STORAGE_CONFIG`` is read.
    A ``storageKey`` without an entry falls back to the environment's credentials, as the Go CSI (which
    never reads ``storageKey``) does, with one warning; ``require_entry`` makes it exit 5 instead.
    """
    entry = _entry_for(storage_key, entries, looked, require_entry=require_entry) if storage_key else None
    if not uri.strip():
        uri = _uri_from_entry(entry, storage_key, storage_path)
    clean, overrides, unset = _download_env(uri, entry, env)
    missing = looked if storage_key and entry is None else ""
    return DownloadPlan(uri=clean, env=overrides, unset=unset, storage_key=storage_key, missing_entry=missing)


def _entry_for(
    storage_key: str, entries: Mapping[str, StorageEntry], looked: str, *, require_entry: bool
) -> StorageEntry | None:
    """The entry of ``storage_key``, checked usable; None when there is none (looked for in ``looked``) and the
    environment's credentials serve instead, with one warning (unless ``require_entry``: exit 5)."""
    entry = entries.get(storage_key)
    if entry is None:
        if require_entry:
            raise StorageError(
                f"the model artifact's storageKey {storage_key!r} has no entry: looked in {looked}; add the key to "
                "the namespace's storage-config secret (or the secret KServe's storageSpecSecretName names), "
                f"or unset {REQUIRE_ENTRY} to use the environment's credentials"
            )
        log.warning(
            "the model artifact's storageKey %r has no entry (looked in %s); using the environment's storage "
            "credentials (AWS_*, STORAGE_CONFIG), as the Go storage initializer does; set %s=true to refuse",
            storage_key,
            looked,
            REQUIRE_ENTRY,
            extra={"step": "resolved", "storage_key": storage_key},
        )
        return None
    if entry.problem:
        raise StorageError(f"storage-config entry {storage_key!r} ({entry.source}) cannot be used: {entry.problem}")
    if (kind := entry.spec.get("type", "")) not in USABLE_TYPES:
        raise StorageError(
            f"storage-config entry {storage_key!r} ({entry.source}) has type {kind!r}; only "
            f"{', '.join(USABLE_TYPES)} entries can be used for a model artifact's storageKey"
        )
    _check_entry_endpoint(entry)
    return entry


def _download_env(
    uri: str, entry: StorageEntry | None, env: Mapping[str, str]
) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(``uri`` without its query, the variables set for its download, those unset). The query's endpoint and
    region become ``AWS_ENDPOINT_URL``/``AWS_DEFAULT_REGION``; when an entry or the query changes the storage
    spec (the entry's, else ``env``'s s3 ``STORAGE_CONFIG`` with its override applied), the spec is
    ``STORAGE_CONFIG`` and ``STORAGE_OVERRIDE_CONFIG`` is unset."""
    spec: dict[str, Any] | None = None
    if entry is not None:
        spec = dict(entry.spec)
    elif uri.startswith("s3://"):
        spec = _global_spec(env)
    clean, query = split_s3_query(uri)
    overrides: dict[str, str] = {}
    for name, value in query.items():
        overrides["AWS_ENDPOINT_URL" if name == "endpoint" else "AWS_DEFAULT_REGION"] = value
        if spec is not None:
            spec[S3_QUERY[name]] = value
    if spec is None or (entry is None and not query):
        return clean, overrides, ()
    overrides["STORAGE_CONFIG"] = json.dumps(spec)
    return clean, overrides, ("STORAGE_OVERRIDE_CONFIG",)


_DENIED = re.compile(r"\b(?:401|403)\b|AccessDenied|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch|Unauthorized")


def explain_refusal(plan: DownloadPlan, message: str) -> str | None:
    """``message`` (a failed download's) with the missing entry named as the likely cause, when the storage
    refused the environment's credentials that a ``storageKey`` without entry fell back to; else None."""
    if not plan.missing_entry or not _DENIED.search(message):
        return None
    return (
        f"{message}; the artifact's storageKey {plan.storage_key!r} has no entry (looked in {plan.missing_entry}), "
        "so the environment's credentials were used and refused: the missing entry is the likely cause, add it "
        "to the namespace's storage-config secret"
    )


def _check_entry_endpoint(entry: StorageEntry) -> None:
    """The entry's ``endpoint_url`` must read one way (the user's own setting: exit 2 before any download)."""
    endpoint = entry.spec.get("endpoint_url")
    problem = endpoint_problem(endpoint.strip()) if isinstance(endpoint, str) and endpoint.strip() else None
    if problem is not None:
        raise UsageError(
            f"storage-config entry {entry.key!r} ({entry.source}) has an endpoint_url that cannot be used: "
            f"{problem}; write it as http(s)://HOST[:PORT]"
        )


def endpoints_of(plan: DownloadPlan) -> list[tuple[str, str]]:
    """The endpoints ``plan`` points its download at, each with where it came from (for the artifact policy)."""
    found: list[tuple[str, str]] = []
    endpoint = plan.env.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        found.append((endpoint, "the S3 endpoint in the artifact uri (endpoint=)"))
    try:
        spec = json.loads(plan.env.get("STORAGE_CONFIG") or "{}")
    except ValueError:
        spec = None
    if isinstance(spec, dict) and isinstance(spec.get("endpoint_url"), str) and spec["endpoint_url"].strip():
        where = f"storage-config entry {plan.storage_key!r}" if plan.storage_key else "the artifact uri"
        found.append((spec["endpoint_url"].strip(), f"the S3 endpoint of {where} (endpoint_url)"))
    return list(dict.fromkeys(found))


def _uri_from_entry(entry: StorageEntry | None, storage_key: str | None, storage_path: str | None) -> str:
    if entry is None and storage_key and storage_path:
        raise StorageError(
            f"the model artifact has no uri, and its storageKey {storage_key!r} has no entry whose bucket would "
            "locate its storagePath; add the entry to the storage-config secret, or set the artifact's uri"
        )
    if entry is None or not storage_path:
        raise StorageError(
            "the model artifact has no uri, and no storageKey with a storagePath to locate it; set its uri"
        )
    bucket = entry.spec.get("bucket")
    if not isinstance(bucket, str) or not bucket.strip():
        raise StorageError(
            f"the model artifact has no uri and storage-config entry {storage_key!r} ({entry.source}) has no "
            "'bucket' to put its storagePath in; set the artifact's uri or the entry's bucket"
        )
    return f"s3://{bucket.strip().strip('/')}/{storage_path.lstrip('/')}"


def _global_spec(env: Mapping[str, str]) -> dict[str, Any] | None:
    """KServe's STORAGE_CONFIG with STORAGE_OVERRIDE_CONFIG applied, when it is an s3 spec."""
    try:
        spec = json.loads(env.get("STORAGE_CONFIG") or "{}")
        override = json.loads(env.get("STORAGE_OVERRIDE_CONFIG") or "{}")
    except ValueError:
        return None  # the engine reports it
    if not isinstance(spec, dict) or not isinstance(override, dict):
        return None
    spec.update(override)
    return spec if spec.get("type") == "s3" else None


def split_s3_query(uri: str) -> tuple[str, dict[str, str]]:
    """``s3://B/K?endpoint=E&defaultRegion=R`` -> (``s3://B/K``, {endpoint: E, defaultRegion: R}).

    Other URIs come back unchanged. An unknown or repeated parameter, or an endpoint that is no
    http(s) URL, is a :class:`StorageError` (exit 5), never a key with a question mark in it.
    """
    if not uri.startswith("s3://") or "?" not in uri:
        return uri, {}
    clean, _, query = uri.partition("?")
    shown = redact_url(clean)
    pairs = parse_qsl(query, keep_blank_values=True)
    found: dict[str, str] = {}
    for name, value in pairs:
        if name not in S3_QUERY:  # shown with its query masked: it may be a signed URL
            raise StorageError(
                f"the artifact uri {redact_url(uri)} has the query parameter {name[:40]!r}; only "
                f"{' and '.join(S3_QUERY)} (as model_registry.utils.s3_uri_from writes them) are understood"
            )
        if name in found:
            raise StorageError(f"the artifact uri {shown} repeats the query parameter {name!r}")
        found[name] = value.strip()
    endpoint = found.get("endpoint")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise StorageError(f"the artifact uri {shown} has an endpoint that is not an http(s) URL")
    if "defaultRegion" in found and not found["defaultRegion"]:
        del found["defaultRegion"]
    if not found and not pairs:
        raise StorageError(f"the artifact uri {shown} ends in an empty query ('?')")
    return clean, found
