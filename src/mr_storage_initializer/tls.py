"""TLS trust, built in one place for the registry client and every source, each with KServe's rules. A
scheme's row in :mod:`~mr_storage_initializer.schemes` names the rule its source uses (``trust``).

- registry: the system store plus ``MODEL_REGISTRY_CA_BUNDLE`` (:func:`registry_context`);
- plain HTTP(S) and GCS: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` when set, else the system store,
  certifi's and KServe's global bundle (:func:`http_context`);
- S3 (obstore): ``AWS_CA_BUNDLE``, else KServe's global bundle, which must then exist (:func:`s3_ca_bundle`);
- Azure Blob (obstore): extra roots from ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and the global bundle
  (:func:`extra_roots`).

KServe's global CA bundle is ``$CA_BUNDLE_VOLUME_MOUNT_POINT/cabundle.crt`` when ``CA_BUNDLE_CONFIGMAP_NAME``
is set. Every function takes values (a path, the storage-variable snapshot of ``Settings``), never the
process environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mr_storage_initializer.errors import StorageError, UsageError

if TYPE_CHECKING:
    import ssl

GLOBAL_BUNDLE = "cabundle.crt"
_LOCK = threading.Lock()
_HTTP_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}  # see http_context


def registry_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Trust for the model registry: the system store, plus ``MODEL_REGISTRY_CA_BUNDLE`` when set."""
    import ssl  # here, not above: a plain-HTTP run never loads it

    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load MODEL_REGISTRY_CA_BUNDLE={ca_bundle}: {exc}") from None
    return context


def global_ca_bundle(env: Mapping[str, str]) -> str | None:
    """KServe's global CA bundle (``CA_BUNDLE_CONFIGMAP_NAME``), when it is mounted."""
    if not env.get("CA_BUNDLE_CONFIGMAP_NAME"):
        return None
    bundle = os.path.join(env.get("CA_BUNDLE_VOLUME_MOUNT_POINT", "/etc/ssl/custom-certs"), GLOBAL_BUNDLE)
    return bundle if os.path.exists(bundle) else None


def http_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """Trust for plain HTTP(S) and GCS, as KServe's requests-based downloads have it: one context per set of
    CA files (their paths and versions on disk), shared by every source of the run that asks for it (loading
    the CA files costs ~20 ms; a context is never changed once built)."""
    explicit = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE")
    bundle = None if explicit else global_ca_bundle(env)
    key = (explicit, _version(explicit), bundle, _version(bundle))
    with _LOCK:
        context = _HTTP_CONTEXTS.get(key)
        if context is None:
            context = _HTTP_CONTEXTS[key] = _new_http_context(explicit, bundle)
        return context


def _version(path: str | None) -> tuple[int, int, int] | None:
    """What tells one version of a CA file from another (None when there is no such file)."""
    if not path:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _new_http_context(explicit: str | None, bundle: str | None) -> ssl.SSLContext:
    import ssl

    if explicit:
        return ssl.create_default_context(cafile=explicit)
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with kserve-storage
        pass
    if bundle is not None:
        context.load_verify_locations(cafile=bundle)
    return context


def s3_ca_bundle(env: Mapping[str, str]) -> Path | None:
    """The extra CA for S3, as boto3 gets it from KServe: ``AWS_CA_BUNDLE``, else the global bundle."""
    if env.get("AWS_CA_BUNDLE"):
        path = Path(env["AWS_CA_BUNDLE"])
    elif env.get("CA_BUNDLE_CONFIGMAP_NAME"):
        path = Path(env.get("CA_BUNDLE_VOLUME_MOUNT_POINT", "")) / GLOBAL_BUNDLE
    else:
        return None
    if not path.is_file():
        raise StorageError(f"the CA bundle {path} does not exist; check AWS_CA_BUNDLE or the CA bundle ConfigMap")
    return path


def extra_roots(env: Mapping[str, str]) -> bytes:
    """PEM roots to add for Azure Blob, which KServe's aiohttp-based client trusts."""
    paths = [env.get("SSL_CERT_FILE", ""), env.get("REQUESTS_CA_BUNDLE", ""), global_ca_bundle(env) or ""]
    return b"".join(Path(p).read_bytes() + b"\n" for p in dict.fromkeys(paths) if p and os.path.isfile(p))
