"""What a model's signature must satisfy: the operator's policy, narrowed by the registry's properties.

The operator's :class:`SignaturePolicy` is read once from the environment (``MODEL_REGISTRY_SIGNATURE*``, by
:func:`.options.read_signature_policy`; docs/signing.md) into ``Settings.signature``. The registry's
customProperties can only narrow it:

- ``signature.required`` = ``true``: the model must carry a verified signature (``if-present`` becomes
  ``required``; with no verifier configured the install is refused);
- ``signature.identity``: who must have signed, on top of the operator's expectation (a certificate's
  SAN or subject, a Sigstore identity, or a key fingerprint ``sha256:HEX``); it also requires a signature;
- ``signature.uri``: where the signature of a single-file artifact is (a storage URI the engines serve).

Values only: the install's signature step is :mod:`.signature_step`, the verifier :mod:`.signature_verify`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mr_storage_initializer.env_values import TRUE
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.values import dataclass

if TYPE_CHECKING:
    from mr_storage_initializer.resolve import Resolution

MODES = ("off", "if-present", "required")

PROP_REQUIRED = "signature.required"
PROP_IDENTITY = "signature.identity"
PROP_URI = "signature.uri"


class SignatureError(StorageError):
    """The model's signature is missing where required, invalid, by the wrong signer, or the files differ."""

    kind = "signature"


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
        if flag is not None and flag.lower() in TRUE:
            flagged.append(f"the {where}'s {PROP_REQUIRED}")
        identity = _string(props, PROP_IDENTITY)
        if identity:
            identities.append((identity, where))
        uri = uri or _string(props, PROP_URI) or None
    # An expected signer also asks for a signature: deleting model.sig must not get around it.
    flagged += [f"the {where}'s {PROP_IDENTITY}" for _, where in identities]
    return RegistrySignatureProperties(flagged[0] if flagged else None, tuple(identities), uri)


def registry_signature_properties(resolution: Resolution) -> RegistrySignatureProperties:
    """What the artifact's and the version's customProperties ask (none for a plain, non-registry URI)."""
    props = resolution.version.raw.get("customProperties")
    return read_signature_properties(
        [
            ("model artifact", resolution.artifact.custom_properties),
            ("model version", props if isinstance(props, Mapping) else {}),
        ]
    )
