"""The option values :class:`~mr_storage_initializer.settings.Settings` holds, each read from the environment.

The own engine's knobs (:class:`Tunables`), KServe's patterns (:class:`Patterns`), the archive limits
(:class:`Limits`), ``oci://``'s options (:class:`OciOptions`), the storage-config secret's entries
(:func:`load_entries`) and the operator's signature policy (:func:`read_signature_policy`). Every value is parsed
with :mod:`.env_values`; this module imports nothing of the package above it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from mr_storage_initializer import env_values as values
from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.paths import safe_relpath
from mr_storage_initializer.redact import register_secret
from mr_storage_initializer.signature_policy import MODES, SignaturePolicy
from mr_storage_initializer.values import dataclass, field

DEFAULT_TIMEOUT = 60.0  # MODEL_REGISTRY_TIMEOUT: the registry conversation, and each range's retry budget
DEFAULT_PREFIX = "MR_STORAGE_CONFIG_"  # MODEL_REGISTRY_STORAGE_CONFIG_PREFIX
# The fields of a storage-config entry that say where, not how: not registered as secrets (storage_config.py)
LOCATION_FIELDS = frozenset({"type", "bucket", "region", "endpoint_url", "verify_ssl", "anonymous", "ca_bundle"})
_MAX_ENTRY_BYTES = 64 * 1024
_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class Tunables:
    """The own engine's knobs: ranges in flight, range size, tries per range, retry budget, progress.

    ``concurrency`` is the most connections; with ``ramp`` (the default, unless the user set
    ``MODEL_REGISTRY_TRANSFER_CONCURRENCY``) the engine starts with one connection per file, two at most,
    and adds more only while each connection is slow and waits on the network (see the fast engine's
    ``_Ramp``)."""

    concurrency: int = 8
    chunk_size: int = 64 << 20
    attempts: int = 5
    deadline: float = DEFAULT_TIMEOUT
    progress_interval: float = 5.0
    stall_timeout: float = 60.0  # seconds without a new byte before a range gives up
    ramp: bool = True

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, deadline: float = DEFAULT_TIMEOUT, attempts_var: str | None = None
    ) -> Tunables:
        attempts = values.whole(env, "MODEL_REGISTRY_TRANSFER_ATTEMPTS", 0, 1, 100)
        if not attempts and attempts_var:  # KServe's per-store knob (S3_MAX_ATTEMPTS) when ours is unset
            attempts = values.whole(env, attempts_var, 0, 1, 100)
        return cls(
            concurrency=values.whole(env, "MODEL_REGISTRY_TRANSFER_CONCURRENCY", cls.concurrency, 1, 256),
            chunk_size=values.size(env, "MODEL_REGISTRY_TRANSFER_CHUNK_SIZE", cls.chunk_size),
            attempts=attempts or cls.attempts,
            deadline=deadline,
            progress_interval=float(
                values.whole(env, "MODEL_REGISTRY_PROGRESS_INTERVAL", int(cls.progress_interval), 1, 3600)
            ),
            stall_timeout=values.seconds(env, "MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT", cls.stall_timeout),
            ramp=not env.get("MODEL_REGISTRY_TRANSFER_CONCURRENCY", "").strip(),  # a number set is kept as is
        )


@dataclass(frozen=True)
class Patterns:
    """KServe's ``STORAGE_ALLOW_PATTERNS`` / ``STORAGE_IGNORE_PATTERNS`` (fnmatch on the relative path)."""

    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Patterns:
        return cls(values.patterns(env, "STORAGE_ALLOW_PATTERNS"), values.patterns(env, "STORAGE_IGNORE_PATTERNS"))

    def wants(self, rel: str) -> bool:
        if self.allow and not any(fnmatch.fnmatch(rel, p) for p in self.allow):
            return False
        return not any(fnmatch.fnmatch(rel, p) for p in self.ignore)


@dataclass(frozen=True)
class Limits:
    """Zip-bomb limits of the own archive extraction."""

    max_bytes: int = 1 << 40  # 1 TiB expanded
    max_ratio: float = 200.0  # expanded / compressed
    max_members: int = 1_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_bytes=values.whole(env, "MODEL_REGISTRY_ARCHIVE_MAX_BYTES", cls.max_bytes, 1, 1 << 60),
            max_ratio=values.number(env, "MODEL_REGISTRY_ARCHIVE_MAX_RATIO", cls.max_ratio, 1, 1e9),
            max_members=values.whole(env, "MODEL_REGISTRY_ARCHIVE_MAX_MEMBERS", cls.max_members, 1, 1 << 40),
        )


_PLATFORM = re.compile(r"^[a-z0-9_.-]+/[a-z0-9_.-]+(/[a-z0-9_.-]+)?$")


@dataclass(frozen=True)
class OciOptions:
    """``oci://`` (docs/transfers.md): the platform picked from an image index (``None``: ``linux/`` and this
    machine's architecture, as kserve_storage picks it), registry mirrors tried before each upstream registry
    (upstream host, or ``*`` for every one → base URLs), and KServe's ``KSERVE_OCI_INSECURE_REGISTRY``."""

    platform: str | None = None
    mirrors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    insecure: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OciOptions:
        platform = values.text(env, "MODEL_REGISTRY_OCI_PLATFORM").lower() or None
        if platform is not None and not _PLATFORM.match(platform):
            raise values.invalid("MODEL_REGISTRY_OCI_PLATFORM", platform, "OS/ARCH[/VARIANT], such as linux/arm64")
        shape = 'a JSON object of registry host to mirror URLs, such as {"quay.io": ["https://mirror:5000"]}'
        value = values.json_object(env, "MODEL_REGISTRY_OCI_MIRRORS", shape)
        mirrors: dict[str, tuple[str, ...]] = {}
        if value is not None:
            for host, urls in value.items():
                listed = [urls] if isinstance(urls, str) else urls
                if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
                    raise UsageError(f"MODEL_REGISTRY_OCI_MIRRORS must be {shape}")
                for url in listed:
                    parts = urlsplit(url.strip())
                    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                        raise UsageError(
                            f"MODEL_REGISTRY_OCI_MIRRORS: mirror {url!r} of {host!r} must be http(s)://HOST[:PORT]"
                        )
                mirrors[str(host).strip().lower()] = tuple(u.strip().rstrip("/") for u in listed)
        # KServe's reading (kserve_storage): 1, true or yes switch it on; anything else leaves TLS on
        insecure = values.is_one_of(env, "KSERVE_OCI_INSECURE_REGISTRY", ("1", "true", "yes"))
        return cls(platform=platform, mirrors=MappingProxyType(mirrors), insecure=insecure)


@dataclass(frozen=True)
class StorageEntry:
    """One key of the storage-config secret: its storage spec (or why it is unusable) and where it came from."""

    key: str
    source: str
    spec: Mapping[str, Any] = field(default_factory=dict, repr=False)
    problem: str = ""


def load_entries(env: Mapping[str, str], prefix: str, directory: Path | None) -> dict[str, StorageEntry]:
    """Every entry of the storage-config secret this pod can see; values registered as secrets."""
    entries: dict[str, StorageEntry] = {}
    if directory is not None:
        if not directory.is_dir():
            raise values.invalid("MODEL_REGISTRY_STORAGE_CONFIG_DIR", str(directory), "a directory")
        for path in sorted(directory.iterdir()):
            if path.name.startswith(".") or not path.is_file():  # the kubelet's ..data links, dotfiles
                continue
            try:
                raw = path.read_bytes()[: _MAX_ENTRY_BYTES + 1].decode("utf-8", "replace")
            except OSError as exc:
                raise UsageError(f"cannot read storage-config entry {path}: {exc.strerror}") from None
            entries[path.name] = _entry(path.name, raw, f"file {path}")
    for name, raw in env.items():
        if prefix and name.startswith(prefix) and len(name) > len(prefix):
            key = name[len(prefix) :]
            entries[key] = _entry(key, raw, f"variable {name}")
    return entries


def _entry(key: str, raw: str, source: str) -> StorageEntry:
    if len(raw) > _MAX_ENTRY_BYTES:
        register_secret(raw)
        return StorageEntry(key, source, problem=f"it is larger than {_MAX_ENTRY_BYTES} bytes")
    try:
        spec = json.loads(raw)
    except ValueError:
        spec = None
    if not isinstance(spec, dict):
        register_secret(raw)
        return StorageEntry(key, source, problem="it is not a JSON object (KServe's storage-spec format)")
    for name, value in spec.items():
        if name not in LOCATION_FIELDS:
            register_secret(value if isinstance(value, str) else json.dumps(value))
    return StorageEntry(key, source, spec=spec)


def read_signature_policy(env: Mapping[str, str], patterns: Patterns | None = None) -> SignaturePolicy:
    """The operator's signature policy from ``env`` (``mode`` is ``off`` unless a verifier is configured);
    ``patterns`` (KServe's allow/ignore patterns) must keep the signature file."""

    def get(name: str) -> str | None:
        return values.text(env, f"MODEL_REGISTRY_SIGNATURE_{name}") or None

    policy = SignaturePolicy(
        mode="off",
        file_name=_signature_file_name(get("FILE") or SignaturePolicy.file_name),
        public_keys=values.pem_blocks(env, "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY"),
        cert_chain=values.pem_blocks(env, "MODEL_REGISTRY_SIGNATURE_CERT_CHAIN"),
        cert_identity=get("CERT_IDENTITY"),
        sigstore_identity=get("SIGSTORE_IDENTITY"),
        sigstore_issuer=get("SIGSTORE_ISSUER"),
        sigstore_trust_config=values.document(env, "MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG"),
    )
    _check_together(policy)
    named = values.text(env, "MODEL_REGISTRY_SIGNATURE")
    raw = values.choice(env, "MODEL_REGISTRY_SIGNATURE", MODES, "off") if named else None
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
        _check_material(policy.public_keys, policy.cert_chain, policy.sigstore_trust_config)
    return SignaturePolicy(**{**policy.__dict__, "mode": mode})


def _signature_file_name(name: str) -> str:
    """``MODEL_REGISTRY_SIGNATURE_FILE``'s value (or the default ``name``) as a path inside the model."""
    try:
        return safe_relpath(name, "MODEL_REGISTRY_SIGNATURE_FILE", error=UsageError)
    except UsageError:
        raise values.invalid("MODEL_REGISTRY_SIGNATURE_FILE", name, "a path inside the model") from None


def _check_together(policy: SignaturePolicy) -> None:
    """The settings that only make sense together are set together."""
    if bool(policy.cert_chain) != (policy.cert_identity is not None):
        raise UsageError(
            "MODEL_REGISTRY_SIGNATURE_CERT_CHAIN and MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY go together: "
            "a chain alone would accept any certificate its CA ever issued"
        )
    if (policy.sigstore_identity is None) != (policy.sigstore_issuer is None):
        raise UsageError("MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY and _SIGSTORE_ISSUER go together")
    if policy.sigstore_trust_config is not None and policy.sigstore_identity is None:
        raise UsageError("MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG needs _SIGSTORE_IDENTITY and _ISSUER")


def _check_material(keys: Iterable[bytes], chain: Iterable[bytes], trust_config: str | None) -> None:
    """EC public keys on a curve ``model-signing`` supports, certificates, trust config JSON (``cryptography``
    is imported only when a verifier is configured)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    for number, pem in enumerate(keys, 1):
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise UsageError(f"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY: key {number} is not a PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
            raise UsageError(
                f"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY: key {number} is not an EC P-256, P-384 or P-521 key"
            )
    for number, pem in enumerate(chain, 1):
        try:
            x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise UsageError(f"MODEL_REGISTRY_SIGNATURE_CERT_CHAIN: block {number} is not a certificate") from None
    if trust_config is not None:
        try:
            json.loads(trust_config)
        except ValueError:
            raise UsageError("MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG is not JSON") from None
