"""The provenance record: what was installed, from where, by whom, and how long it took.

It is written last into ``DEST_PATH/.model-registry.json``; its presence means the install is complete.
The artifact URI is stored without userinfo or query string; the fingerprint (a SHA-256 over the registry,
the artifact id, the full URI and, when set, its storageKey and storagePath, the allow/ignore patterns and
an hf:// commit) lets a restarted init container recognise the same artifact without storing a signed URL.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mr_storage_initializer import __version__
from mr_storage_initializer.resolve import Resolution
from mr_storage_initializer.staged import StagedFile
from mr_storage_initializer.transfer import TransferResult
from mr_storage_initializer.values import dataclass, field

FORMAT = "mr-storage-initializer/provenance/v1"


def fingerprint(resolution: Resolution, inputs: Mapping[str, str] | None = None) -> str:
    """``inputs`` (patterns when set, an hf:// commit) join the hash only when present, as storageKey and
    storagePath do, so an install made without them keeps the fingerprint it was recorded with."""
    artifact = resolution.artifact
    parts: tuple[str, ...] = (resolution.registry_url, artifact.id, artifact.uri)
    if artifact.storage_key or artifact.storage_path:  # absent: the fingerprint of earlier installs holds
        parts += (artifact.storage_key or "", artifact.storage_path or "")
    parts += tuple(f"{name}={value}" for name, value in sorted((inputs or {}).items()))
    return _sha256_hex("\0".join(parts).encode("utf-8"))


def _sha256_hex(data: bytes) -> str:
    """SHA-256 of a short string from CPython's own implementation when it has one (``_sha256`` on 3.11,
    ``_sha2`` later): the same digest as ``hashlib``'s, without loading OpenSSL (~2 ms) into a run that
    hashes nothing else."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    digest: str = sha256(data).hexdigest()
    return digest


@dataclass(frozen=True)
class Record:
    """The provenance record, built in one place (:func:`build_record`) and written as :meth:`to_json`."""

    resolution: Mapping[str, Any]  # Resolution.to_json(): registry, model, version, artifact (URI redacted)
    fingerprint: str
    engine: str
    transfer_files: int
    transfer_bytes: int
    seconds: float
    installed_at: str
    verified_files: int  # how many files matched a registry digest (sha256 / sha256sums); 0 when none given
    files: tuple[StagedFile, ...]
    revision: str | None = None  # the source's version installed (hf://: the commit sha), when it has one
    signature: Mapping[str, Any] | None = None  # signature_step.check's summary (docs/signing.md); None: not checked
    digests: Mapping[str, str] = field(default_factory=dict)  # path → SHA-256 of the files the install hashed

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "initializer_version": __version__,
            **self.resolution,
            "fingerprint": self.fingerprint,
            "transfer": {
                "engine": self.engine,
                "files": self.transfer_files,
                "bytes": self.transfer_bytes,
                **({"revision": self.revision} if self.revision else {}),
            },
            "seconds": self.seconds,
            "installed_at": self.installed_at,
            "verified_files": self.verified_files,
            "files": [
                {"path": f.path, "size": f.size, **({"sha256": self.digests[f.path]} if f.path in self.digests else {})}
                for f in self.files
            ],
            "signature": dict(self.signature) if self.signature is not None else None,
        }


def build_record(
    resolution: Resolution,
    transfer: TransferResult,
    *,
    seconds: float,
    verified_files: int = 0,
    inputs: Mapping[str, str] | None = None,
    signature: Mapping[str, Any] | None = None,
    digests: Mapping[str, str] | None = None,
) -> Record:
    """``digests``: the SHA-256 of files the install hashed (:meth:`.digests.Digests.computed`), recorded
    with each such file."""
    return Record(
        resolution=resolution.to_json(),
        fingerprint=fingerprint(resolution, inputs),
        engine=transfer.engine,
        transfer_files=transfer.files,
        transfer_bytes=transfer.bytes,
        seconds=round(seconds, 3),
        installed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        verified_files=verified_files,
        files=transfer.tree.files,
        revision=transfer.revision,
        signature=signature,
        digests=dict(digests or {}),
    )
