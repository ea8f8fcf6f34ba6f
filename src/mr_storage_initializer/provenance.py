"""The provenance record: what was installed, from where, by whom, and how long it took.

It is written last into ``DEST_PATH/.model-registry.json``; its presence means the install is complete.
The artifact URI is stored without userinfo or query string; the fingerprint (a SHA-256 over the registry,
the artifact id and the full URI) lets a restarted init container recognise the same artifact without
storing a signed URL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from mr_storage_initializer import __version__
from mr_storage_initializer.resolve import Resolution
from mr_storage_initializer.transfer import TransferResult

FORMAT = "mr-storage-initializer/provenance/v1"


def fingerprint(resolution: Resolution, inputs: Mapping[str, str] | None = None) -> str:
    """``inputs`` (patterns when set, an hf:// commit) join the hash only when present, so an install made
    without them keeps the fingerprint it was recorded with."""
    parts = [resolution.registry_url, resolution.artifact.id, resolution.artifact.uri]
    parts += [f"{name}={value}" for name, value in sorted((inputs or {}).items())]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def build_record(
    resolution: Resolution, transfer: TransferResult, *, seconds: float, inputs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    moved = {"revision": transfer.revision} if transfer.revision else {}
    return {
        "format": FORMAT,
        "initializer_version": __version__,
        **resolution.to_json(),
        "fingerprint": fingerprint(resolution, inputs),
        "transfer": {"engine": transfer.engine, "files": transfer.files, "bytes": transfer.bytes, **moved},
        "seconds": round(seconds, 3),
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
