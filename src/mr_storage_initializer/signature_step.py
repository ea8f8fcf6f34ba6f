"""The signature step of an install: verify the OpenSSF model signature (``model.sig``) before installing.

What must be verified is :mod:`.signature_policy` (the operator's policy narrowed by the registry's
properties). Nothing here imports ``model_signing`` or its dependencies: that happens in
:mod:`.signature_verify`, and only when the policy is on or the registry asks for a signature.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer.errors import InitializerError
from mr_storage_initializer.redact import redact_text
from mr_storage_initializer.signature_policy import PROP_URI, SignatureError, registry_signature_properties

if TYPE_CHECKING:
    from mr_storage_initializer.digests import Digests
    from mr_storage_initializer.resolve import Resolution
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.staged import StagedTree


def _preload(sigstore: bool) -> None:
    with contextlib.suppress(Exception):  # a real failure shows when check() imports it
        from mr_storage_initializer.signature_verify import load_verifiers

        load_verifiers(sigstore=sigstore)


def preload(settings: Settings) -> None:
    """When the policy is on, import the verifiers in a background thread while the download runs."""
    if settings.signature.mode == "off":
        return
    sigstore = "sigstore" in settings.signature.methods
    threading.Thread(target=_preload, args=(sigstore,), name="preload-model-signing", daemon=True).start()


def signature_uri(settings: Settings, resolution: Resolution) -> str | None:
    """The signature the check will fetch from elsewhere (``signature.uri``), when a check will run."""
    wanted = registry_signature_properties(resolution)
    if settings.signature.mode == "off" and wanted.required is None:
        return None
    return wanted.signature_uri


def check(
    settings: Settings,
    resolution: Resolution,
    staging: Path,
    tree: StagedTree,
    digests: Digests | None = None,
) -> tuple[dict[str, Any] | None, StagedTree]:
    """Verify ``staging`` (walked as ``tree``) under the operator's policy narrowed by the registry.

    Returns the provenance entry (None when no check ran) and the tree to install. Raises
    :class:`SignatureError` (exit 5) for anything that does not verify; unsigned files the signature's
    manifest ignores are removed from ``staging`` (and from the tree) so they are never installed.
    ``digests``: the download's digest service (:mod:`.digests`), so that no file is hashed twice.
    """
    policy = settings.signature
    wanted = registry_signature_properties(resolution)
    if policy.mode == "off" and wanted.required is None:
        return None, tree
    if policy.mode == "off":
        raise SignatureError(
            f"{wanted.required} asks for a signature, but this initializer has no signature verifier "
            "configured; refusing to install the model unverified"
        )

    def fetch(uri: str, into: Path) -> StagedTree:
        from mr_storage_initializer import policy as artifacts
        from mr_storage_initializer import transfer
        from mr_storage_initializer.errors import ArtifactRefusedError

        try:  # the same artifact policy as the model's own URI, before a byte is fetched
            artifacts.check_artifact(uri, settings.allowed_artifact_uri_prefixes, settings.storage_endpoints)
        except ArtifactRefusedError as exc:
            raise ArtifactRefusedError(f"{PROP_URI}: {exc.message}") from None
        return transfer.download(uri, into, settings).tree

    try:
        from mr_storage_initializer.signature_verify import verify_tree

        return verify_tree(policy, wanted, staging, tree, fetch=fetch, digests=digests)
    except InitializerError:
        raise
    except Exception as exc:  # the library raises ValueError and friends for what it cannot verify
        text = redact_text(" ".join(str(exc).split())[:300]) or type(exc).__name__
        raise SignatureError(f"{policy.file_name} could not be verified: {text}") from exc
