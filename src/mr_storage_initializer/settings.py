"""Configuration from the environment, read once into a frozen value (KServe passes none on the command line)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.storage_config import DEFAULT_PREFIX, StorageEntry, load_entries

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={value!r} is not a boolean; use true or false")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise UsageError(f"{name}={raw!r} must be between 0 and 86400 seconds")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the initializer reads from its environment, with upstream's defaults."""

    base_url: str = "localhost:8080"
    scheme: str = "http"
    service_name: str = "model-registry-service"
    cluster_domain: str = "svc.cluster.local"
    token: str | None = None
    token_path: Path | None = None
    ca_bundle: Path | None = None
    allow_archived: bool = False
    timeout: float = 60.0
    probe_timeout: float = 3.0
    lock_timeout: float = 600.0
    transfer: str = "auto"
    # issue 10: API version, per-model storage credentials (storageKey entries of the storage-config secret)
    api_version: str = "auto"
    storage_config_prefix: str = DEFAULT_PREFIX
    storage_config_dir: Path | None = None
    storage_entries: Mapping[str, StorageEntry] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base_url = env.get("MODEL_REGISTRY_BASE_URL", "").strip() or cls.base_url
        scheme = env.get("MODEL_REGISTRY_SCHEME", "").strip().lower() or cls.scheme
        if "://" in base_url:  # tolerate a full URL: its scheme wins
            scheme, _, base_url = base_url.partition("://")
            scheme = scheme.lower()
        base_url = base_url.rstrip("/")
        if scheme not in ("http", "https"):
            raise UsageError(f"MODEL_REGISTRY_SCHEME={scheme!r} is not supported; use http or https")
        if not base_url or "/" in base_url:
            raise UsageError(f"MODEL_REGISTRY_BASE_URL={base_url!r} must be HOST[:PORT]")
        token_path = env.get("MODEL_REGISTRY_TOKEN_PATH", "").strip()
        ca_bundle = env.get("MODEL_REGISTRY_CA_BUNDLE", "").strip()
        transfer = env.get("MODEL_REGISTRY_TRANSFER", "").strip().lower() or cls.transfer
        if transfer not in ("auto", "kserve", "fast"):
            raise UsageError(f"MODEL_REGISTRY_TRANSFER={transfer!r} is not one of auto, fast, kserve")
        api_version = env.get("MODEL_REGISTRY_API_VERSION", "").strip().lower() or cls.api_version
        if api_version not in ("auto", "v1", "v1alpha3"):
            raise UsageError(f"MODEL_REGISTRY_API_VERSION={api_version!r} is not one of auto, v1, v1alpha3")
        entries_prefix = env.get("MODEL_REGISTRY_STORAGE_CONFIG_PREFIX", DEFAULT_PREFIX).strip()
        if entries_prefix and not (entries_prefix[0].isalpha() and entries_prefix.isascii()):
            raise UsageError(f"MODEL_REGISTRY_STORAGE_CONFIG_PREFIX={entries_prefix!r} must start with a letter")
        entries_dir = Path(raw_dir) if (raw_dir := env.get("MODEL_REGISTRY_STORAGE_CONFIG_DIR", "").strip()) else None
        return cls(
            base_url=base_url,
            scheme=scheme,
            service_name=env.get("MODEL_REGISTRY_SERVICE_NAME", "").strip() or cls.service_name,
            cluster_domain=env.get("MODEL_REGISTRY_CLUSTER_DOMAIN", "").strip().strip(".") or cls.cluster_domain,
            token=env.get("MODEL_REGISTRY_TOKEN", "").strip() or None,
            token_path=Path(token_path) if token_path else None,
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            allow_archived=_flag(env, "MODEL_REGISTRY_ALLOW_ARCHIVED"),
            timeout=_seconds(env, "MODEL_REGISTRY_TIMEOUT", cls.timeout),
            probe_timeout=_seconds(env, "MODEL_REGISTRY_PROBE_TIMEOUT", cls.probe_timeout),
            lock_timeout=_seconds(env, "MODEL_REGISTRY_LOCK_TIMEOUT", cls.lock_timeout),
            transfer=transfer,
            api_version=api_version,
            storage_config_prefix=entries_prefix,
            storage_config_dir=entries_dir,
            storage_entries=load_entries(env, entries_prefix, entries_dir),
        )

    def base_port(self) -> str:
        """The port of the base URL (upstream's rule for ``?namespace=``: default 8080)."""
        host, sep, port = self.base_url.rpartition(":")
        bracketed_or_plain = host.endswith("]") or ":" not in host
        if sep and port.isascii() and port.isdigit() and bracketed_or_plain:
            return port
        return "8080"
