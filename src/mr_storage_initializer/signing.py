"""The signature policy: verify the OpenSSF model signature (``model.sig``) of a download before it is installed.

The operator's policy is read once from the environment (``MODEL_REGISTRY_SIGNATURE*``, see docs/signing.md)
into a frozen :class:`~mr_storage_initializer.options.SignaturePolicy` (``Settings.signature``). Nothing
here imports ``model_signing`` or its dependencies: that happens in :mod:`mr_storage_initializer.signature_check`,
and only when the policy is on or the registry asks for a signature.
The registry's customProperties can only narrow the operator's policy:

- ``signature.required`` = ``true``: the model must carry a verified signature (``if-present`` becomes
  ``required``; with no verifier configured the install is refused);
- ``signature.identity``: who must have signed, on top of the operator's expectation (a certificate's
  SAN or subject, a Sigstore identity, or a key fingerprint ``sha256:HEX``); it also requires a signature;
- ``signature.uri``: where the signature of a single-file artifact is (a storage URI the engines serve).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer.errors import InitializerError, StorageError
from mr_storage_initializer.redact import redact_text

if TYPE_CHECKING:
    from mr_storage_initializer.digests import Digests
    from mr_storage_initializer.resolve import Resolution
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.staged import StagedTree

PROP_REQUIRED = "signature.required"
PROP_IDENTITY = "signature.identity"
PROP_URI = "signature.uri"
_TRUE = frozenset({"1", "true", "yes", "on"})


class SignatureError(StorageError):
    """The model's signature is missing where required, invalid, by the wrong signer, or the files differ."""

    kind = "signature"


@dataclass(frozen=True)
class RegistrySignatureProperties:
    """What the registry's customProperties add to the policy (only ever narrowing it)."""

    required: str | None = None  # which property asks for a signature, e.g. "the model version's signature.required"
    identities: tuple[tuple[str, str], ...] = ()  # (identity, where)
    signature_uri: str | None = None


def _string(props: Mapping[str, Any], key: str) -> str | None:
    value = props.get(key)
    if isinstance(value, Mapping):
        for field in ("string_value", "bool_value"):
            if field in value:
                return str(value[field]).strip()
    return None


def read_signature_properties(sources: list[tuple[str, Mapping[str, Any]]]) -> RegistrySignatureProperties:
    """Read the narrowing properties from ``[(where, customProperties), …]`` (artifact first, then version)."""
    flagged: list[str] = []
    identities: list[tuple[str, str]] = []
    uri: str | None = None
    for where, props in sources:
        flag = _string(props, PROP_REQUIRED)
        if flag is not None and flag.lower() in _TRUE:
            flagged.append(f"the {where}'s {PROP_REQUIRED}")
        identity = _string(props, PROP_IDENTITY)
        if identity:
            identities.append((identity, where))
        uri = uri or _string(props, PROP_URI) or None
    # An expected signer also asks for a signature: deleting model.sig must not get around it.
    flagged += [f"the {where}'s {PROP_IDENTITY}" for _, where in identities]
    return RegistrySignatureProperties(flagged[0] if flagged else None, tuple(identities), uri)


def _preload(sigstore: bool) -> None:
    with contextlib.suppress(Exception):  # a real failure shows when check() imports it
        from mr_storage_initializer.signature_check import load_verifiers

        load_verifiers(sigstore=sigstore)


def preload(settings: Settings) -> None:
    """When the policy is on, import the verifiers in a background thread while the download runs."""
    if settings.signature.mode == "off":
        return
    sigstore = "sigstore" in settings.signature.methods
    threading.Thread(target=_preload, args=(sigstore,), name="preload-model-signing", daemon=True).start()


def registry_signature_properties(resolution: Resolution) -> RegistrySignatureProperties:
    """What the artifact's and the version's customProperties ask (none for a plain, non-registry URI)."""
    props = resolution.version.raw.get("customProperties")
    return read_signature_properties(
        [
            ("model artifact", resolution.artifact.custom_properties),
            ("model version", props if isinstance(props, Mapping) else {}),
        ]
    )


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
        from mr_storage_initializer.signature_check import verify_tree

        return verify_tree(policy, wanted, staging, tree, fetch=fetch, digests=digests)
    except InitializerError:
        raise
    except Exception as exc:  # the library raises ValueError and friends for what it cannot verify
        text = redact_text(" ".join(str(exc).split())[:300]) or type(exc).__name__
        raise SignatureError(f"{policy.file_name} could not be verified: {text}") from exc
