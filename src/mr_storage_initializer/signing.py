"""The signature policy: verify the OpenSSF model signature (``model.sig``) of a download before it is installed.

Read once from the environment (``MODEL_REGISTRY_SIGNATURE*``, see docs/signing.md) into a frozen
:class:`SignaturePolicy`. Nothing here imports ``model_signing`` or its dependencies: that happens in
:mod:`mr_storage_initializer.signature_check`, and only when the policy is on or the registry asks for a
signature. The registry's customProperties can only narrow the operator's policy:

- ``signature.required`` = ``true``: the model must carry a verified signature (``if-present`` becomes
  ``required``; with no verifier configured the install is refused);
- ``signature.identity``: who must have signed, on top of the operator's expectation (a certificate's
  SAN or subject, a Sigstore identity, or a key fingerprint ``sha256:HEX``); it also requires a signature;
- ``signature.uri``: where the signature of a single-file artifact is (a storage URI the engines serve).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer.errors import InitializerError, StorageError, UsageError
from mr_storage_initializer.paths import safe_relpath
from mr_storage_initializer.redact import redact_text

if TYPE_CHECKING:
    from mr_storage_initializer.digests import Digests
    from mr_storage_initializer.resolve import Resolution
    from mr_storage_initializer.settings import Patterns, Settings
    from mr_storage_initializer.staged import StagedTree

MODES = ("off", "if-present", "required")
PROP_REQUIRED = "signature.required"
PROP_IDENTITY = "signature.identity"
PROP_URI = "signature.uri"
_TRUE = frozenset({"1", "true", "yes", "on"})


class SignatureError(StorageError):
    """The model's signature is missing where required, invalid, by the wrong signer, or the files differ."""

    kind = "signature"


_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def _pems(env: Mapping[str, str], name: str) -> tuple[bytes, ...]:
    """The PEM blocks of ``name``: given inline (a ClusterStorageContainer has no volumes of its own) or as
    comma-separated files, each holding one or more blocks."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    sources = [(raw.encode(), "the value")] if "-----BEGIN" in raw else []
    for path in () if sources else (p.strip() for p in raw.split(",") if p.strip()):
        try:
            sources.append((Path(path).read_bytes(), repr(path)))
        except OSError:
            raise UsageError(f"{name}: {path!r} is not a readable file") from None
    blocks: list[bytes] = []
    for data, where in sources:
        found = [m.group(0) + b"\n" for m in _PEM.finditer(data)]
        if not found:
            raise UsageError(f"{name}: {where} holds no PEM block")
        blocks.extend(found)
    return tuple(blocks)


def _text(env: Mapping[str, str], name: str) -> str | None:
    """A JSON document given inline or as a file name."""
    raw = env.get(name, "").strip()
    if not raw or raw.startswith("{"):
        return raw or None
    try:
        return Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise UsageError(f"{name}: {raw!r} is not a readable file") from None


@dataclass(frozen=True)
class SignaturePolicy:
    """What the operator configured. ``mode`` is ``off`` unless a verifier is configured."""

    mode: str = "off"
    file_name: str = "model.sig"
    public_keys: tuple[bytes, ...] = ()  # PEM, one key each
    cert_chain: tuple[bytes, ...] = ()  # PEM certificates
    cert_identity: str | None = None
    sigstore_identity: str | None = None
    sigstore_issuer: str | None = None
    sigstore_trust_config: str | None = None  # JSON (ClientTrustConfig); None: public-good Sigstore via TUF

    @property
    def methods(self) -> tuple[str, ...]:
        found = (
            ("key", bool(self.public_keys)),
            ("certificate", bool(self.cert_chain)),
            ("sigstore", self.sigstore_identity is not None),
        )
        return tuple(name for name, on in found if on)

    @classmethod
    def from_env(cls, env: Mapping[str, str], patterns: Patterns | None = None) -> SignaturePolicy:
        """The policy from ``env``; ``patterns`` (KServe's allow/ignore patterns) must keep the signature file."""

        def get(name: str) -> str | None:
            return env.get(f"MODEL_REGISTRY_SIGNATURE_{name}", "").strip() or None

        file_name = get("FILE") or cls.file_name
        try:
            file_name = safe_relpath(file_name, "MODEL_REGISTRY_SIGNATURE_FILE", error=UsageError)
        except UsageError:
            raise UsageError(f"MODEL_REGISTRY_SIGNATURE_FILE={file_name!r} must be a path inside the model") from None
        cert_identity, sig_identity, sig_issuer = get("CERT_IDENTITY"), get("SIGSTORE_IDENTITY"), get("SIGSTORE_ISSUER")
        policy = cls(
            mode="off",
            file_name=file_name,
            public_keys=_pems(env, "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY"),
            cert_chain=_pems(env, "MODEL_REGISTRY_SIGNATURE_CERT_CHAIN"),
            cert_identity=cert_identity,
            sigstore_identity=sig_identity,
            sigstore_issuer=sig_issuer,
            sigstore_trust_config=_text(env, "MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG"),
        )
        if bool(policy.cert_chain) != (cert_identity is not None):
            raise UsageError(
                "MODEL_REGISTRY_SIGNATURE_CERT_CHAIN and MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY go together: "
                "a chain alone would accept any certificate its CA ever issued"
            )
        if (sig_identity is None) != (sig_issuer is None):
            raise UsageError("MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY and _SIGSTORE_ISSUER go together")
        if policy.sigstore_trust_config is not None and sig_identity is None:
            raise UsageError("MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG needs _SIGSTORE_IDENTITY and _ISSUER")
        raw = (env.get("MODEL_REGISTRY_SIGNATURE", "").strip().lower()) or None
        if raw is not None and raw not in MODES:
            raise UsageError(f"MODEL_REGISTRY_SIGNATURE={raw!r} is not one of off, if-present, required")
        if not policy.methods:
            if raw not in (None, "off"):
                raise UsageError(
                    f"MODEL_REGISTRY_SIGNATURE={raw} needs a verifier: set MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY, "
                    "_CERT_CHAIN or _SIGSTORE_IDENTITY"
                )
            return policy
        mode = raw or "required"
        if mode != "off":
            if patterns is not None and not patterns.wants(policy.file_name):
                raise UsageError(
                    f"STORAGE_ALLOW_PATTERNS/STORAGE_IGNORE_PATTERNS would skip {policy.file_name}, so no download "
                    "could be verified; let the patterns keep it"
                )
            from mr_storage_initializer.signature_check import check_material

            check_material(policy.public_keys, policy.cert_chain, policy.sigstore_trust_config)
        return SignaturePolicy(**{**policy.__dict__, "mode": mode})


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
