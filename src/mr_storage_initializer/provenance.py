"""The provenance record: what was installed, from where, by whom, and how long it took.

It is written last into ``DEST_PATH/.model-registry.json``; its presence means the install is complete.
The artifact URI is stored without userinfo or query string; the fingerprint (a SHA-256 over the registry,
the artifact id, the full URI and, when set, its storageKey and storagePath) lets a restarted init
container recognise the same artifact without storing a signed URL.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from mr_storage_initializer import __version__
from mr_storage_initializer.resolve import Resolution
from mr_storage_initializer.transfer import TransferResult

FORMAT = "mr-storage-initializer/provenance/v1"


def fingerprint(resolution: Resolution) -> str:
    artifact = resolution.artifact
    parts: tuple[str, ...] = (resolution.registry_url, artifact.id, artifact.uri)
    if artifact.storage_key or artifact.storage_path:  # absent: the fingerprint of earlier installs holds
        parts += (artifact.storage_key or "", artifact.storage_path or "")
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def build_record(resolution: Resolution, transfer: TransferResult, *, seconds: float) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "initializer_version": __version__,
        **resolution.to_json(),
        "fingerprint": fingerprint(resolution),
        "transfer": {"engine": transfer.engine, "files": transfer.files, "bytes": transfer.bytes},
        "seconds": round(seconds, 3),
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
