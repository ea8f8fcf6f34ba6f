"""Configuration from the environment, read once into a frozen value (KServe passes none on the command line).

This is the only module that reads ``os.environ`` (``tests/unit/test_settings_read_once.py`` checks it):
:func:`environment` takes one snapshot at start, :meth:`Settings.from_env` parses and validates every
setting from it (a bad value is a :class:`UsageError`, exit 2, before any network call), and the other
modules receive the values they need, KServe's storage variables included (``Settings.storage_env``).

Parsing lives in three modules, nothing else parses the environment: this one (the registry, the storage
variables, the whole :class:`Settings`), :mod:`.options` (the option values it holds: transfer knobs,
patterns, archive limits, ``oci://``, storage-config entries, the signature policy) and :mod:`.env_values`
(the value parsers both use, with one message style). This module imports nothing of the package that
uses :class:`Settings` (``tests/unit/test_import_graph.py`` checks that the package has no import cycle).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from mr_storage_initializer import env_values as values
from mr_storage_initializer.api_version import SETTINGS as API_VERSIONS
from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.options import (
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT,
    Limits,
    OciOptions,
    Patterns,
    StorageEntry,
    Tunables,
    load_entries,
    read_signature_policy,
)
from mr_storage_initializer.proxy import NAMES as PROXY_NAMES
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.schemes import ROWS as SCHEME_ROWS
from mr_storage_initializer.schemes import storage_variable
from mr_storage_initializer.signature_policy import SignaturePolicy
from mr_storage_initializer.urls import endpoint_problem
from mr_storage_initializer.values import dataclass, field


def environment() -> Mapping[str, str]:
    """One read-only snapshot of the process environment (taken once, at start)."""
    return MappingProxyType(dict(os.environ))


def child_environment(changes: Mapping[str, str], drop: frozenset[str] = frozenset()) -> dict[str, str]:
    """The environment of a child process (``hf://``'s kserve_storage path): this process's (PATH, proxies,
    PYTHONPATH…) without ``drop``, with ``changes``."""
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **changes}


def is_storage_variable(name: str) -> bool:
    """Whether ``name`` is one of KServe's storage variables (what :attr:`Settings.storage_env` holds): one a
    scheme reads (:mod:`~mr_storage_initializer.schemes`), or a proxy variable."""
    return storage_variable(name) or name in PROXY_NAMES


def _storage_env(env: Mapping[str, str], proxies: ProxyConfig) -> Mapping[str, str]:
    """KServe's storage variables, checked where a wrong value would otherwise surface only mid-download;
    the proxy variables as ``proxies`` reads them (both spellings alike, so every library agrees)."""
    picked = {k: v for k, v in env.items() if is_storage_variable(k) and k not in PROXY_NAMES}
    picked.update(proxies.environment())
    for name in ("STORAGE_CONFIG", "STORAGE_OVERRIDE_CONFIG"):
        values.json_object(picked, name, "a JSON object (KServe's storage spec)")
    for name in picked:
        if name.endswith("-headers"):
            values.json_object(picked, name, "a JSON object of header names to values")
    for name in ("S3_CONNECT_TIMEOUT", "S3_READ_TIMEOUT"):
        values.whole(picked, name, 0, 0, 86_400)
    values.whole(picked, "S3_MAX_ATTEMPTS", 0, 1, 100)
    # KServe's webhook injects HF_XET_NUM_CONCURRENT_RANGE_GETS=8 into every storage initializer: the user's
    # MODEL_REGISTRY_TRANSFER_CONCURRENCY, when set, wins (Xet's downloads in the kserve path)
    values.whole(picked, "HF_XET_NUM_CONCURRENT_RANGE_GETS", 0, 1, 1024)
    ours = values.whole(env, "MODEL_REGISTRY_TRANSFER_CONCURRENCY", 0, 1, 256)
    if ours and values.text(picked, "HF_XET_NUM_CONCURRENT_RANGE_GETS"):
        picked["HF_XET_NUM_CONCURRENT_RANGE_GETS"] = str(ours)
    hub = values.text(picked, "HF_ENDPOINT")
    if hub and (urlsplit(hub).scheme not in ("http", "https") or not urlsplit(hub).netloc or endpoint_problem(hub)):
        raise UsageError(
            f"HF_ENDPOINT={hub!r} must be an http(s):// URL such as https://huggingface.co"
            + (f" ({endpoint_problem(hub)})" if endpoint_problem(hub) else "")
        )
    emulator = values.text(picked, "STORAGE_EMULATOR_HOST")
    if emulator and endpoint_problem(emulator):
        raise UsageError(
            f"STORAGE_EMULATOR_HOST cannot be used: {endpoint_problem(emulator)}; write it as http(s)://HOST[:PORT]"
        )
    return MappingProxyType(picked)


_TERMINATION = "MODEL_REGISTRY_TERMINATION_LOG"


def _storage_endpoints(env: Mapping[str, str]) -> tuple[str, ...]:
    """Endpoints KServe's storage configuration points downloads at (checked by the artifact policy); one
    that URL parsers could read differently is a usage error here, before any network call."""
    found = [("AWS_ENDPOINT_URL", values.text(env, "AWS_ENDPOINT_URL"))]
    for name in ("STORAGE_CONFIG", "STORAGE_OVERRIDE_CONFIG"):
        try:
            spec = json.loads(env.get(name) or "{}")
        except ValueError:
            continue  # reported, as KServe does, by the S3 source that uses it
        if isinstance(spec, dict) and isinstance(spec.get("endpoint_url"), str):
            found.append((f"{name}'s endpoint_url", spec["endpoint_url"].strip()))
    for name, endpoint in found:
        problem = endpoint_problem(endpoint) if endpoint else None
        if problem is not None:
            shown = redact_url(endpoint)
            raise UsageError(f"{name} {shown!r} cannot be used: {problem}; write it as http(s)://HOST[:PORT]")
    return tuple(dict.fromkeys(e for _, e in found if e))


def _registry_address(env: Mapping[str, str], default_scheme: str, default_address: str) -> tuple[str, str]:
    """(scheme, HOST[:PORT]) of the registry: ``MODEL_REGISTRY_SCHEME`` and ``MODEL_REGISTRY_BASE_URL``, or the
    scheme of a full URL given as the base URL."""
    base_url = values.text(env, "MODEL_REGISTRY_BASE_URL", default_address)
    scheme = values.text(env, "MODEL_REGISTRY_SCHEME", default_scheme).lower()
    if "://" in base_url:  # tolerate a full URL: its scheme wins
        scheme, _, base_url = base_url.partition("://")
        scheme = scheme.lower()
    base_url = base_url.rstrip("/")
    if scheme not in ("http", "https"):
        raise values.invalid("MODEL_REGISTRY_SCHEME", scheme, "http or https")
    if not base_url or "/" in base_url:
        raise values.invalid("MODEL_REGISTRY_BASE_URL", redact_url(base_url), "HOST[:PORT]")
    hostport = base_url.rpartition("@")[2]  # user:password@ (redacted everywhere) is not the host
    if hostport.count(":") > 1 and not hostport.startswith("["):  # fd00::10:8080 has no one reading
        shape = "HOST[:PORT] with an IPv6 address in brackets, such as [fd00::10]:8080"
        raise values.invalid("MODEL_REGISTRY_BASE_URL", redact_url(base_url), shape)
    return scheme, base_url


def _entries_prefix(env: Mapping[str, str]) -> str:
    """The prefix of the storage-config entries' variables; set but empty turns the variables off (files only)."""
    prefix = env.get("MODEL_REGISTRY_STORAGE_CONFIG_PREFIX", DEFAULT_PREFIX).strip()
    if prefix and not (prefix[0].isalpha() and prefix.isascii()):
        raise values.invalid("MODEL_REGISTRY_STORAGE_CONFIG_PREFIX", prefix, "a name that starts with a letter")
    return prefix


def _scheme_tunables(env: Mapping[str, str], timeout: float) -> Mapping[str, Tunables]:
    """The own engine's knobs of each scheme whose row has KServe's own tries variable (``S3_MAX_ATTEMPTS``)."""
    return MappingProxyType(
        {
            row.name: Tunables.from_env(env, deadline=timeout, attempts_var=row.attempts_variable)
            for row in SCHEME_ROWS
            if row.attempts_variable
        }
    )


def termination_log_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``MODEL_REGISTRY_TERMINATION_LOG`` alone, for reporting a failure of :meth:`Settings.from_env` itself."""
    raw = (os.environ if environ is None else environ).get(_TERMINATION, "").strip()
    return Path(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    """Everything the initializer reads from its environment, with upstream's defaults."""

    base_url: str = "localhost:8080"
    base_url_set: bool = False  # MODEL_REGISTRY_BASE_URL was given (else the log says the default is used)
    scheme: str = "http"
    service_name: str = "model-registry-service"
    cluster_domain: str = "svc.cluster.local"
    token: str | None = None
    token_path: Path | None = None
    ca_bundle: Path | None = None
    allow_archived: bool = False
    timeout: float = DEFAULT_TIMEOUT
    probe_timeout: float = 3.0
    lock_timeout: float = 600.0
    transfer: str = "auto"
    # Transfer and storage: the own engine's knobs (per scheme where KServe has its own retry knob,
    # such as S3_MAX_ATTEMPTS), KServe's patterns, archive limits, KServe's storage variables as one snapshot.
    tunables: Tunables = field(default_factory=Tunables)
    scheme_tunables: Mapping[str, Tunables] = field(default_factory=dict)
    patterns: Patterns = field(default_factory=Patterns)
    limits: Limits = field(default_factory=Limits)
    storage_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Several pairs, node caches, kubectl status, artifact policy (docs/reliability.md "Artifact policy").
    require_version: bool = False
    termination_log: Path | None = None
    allowed_artifact_uri_prefixes: tuple[str, ...] = ()
    storage_endpoints: tuple[str, ...] = ()
    # API version, per-model storage credentials (storageKey entries of the storage-config secret)
    api_version: str = "auto"
    storage_config_prefix: str = DEFAULT_PREFIX
    storage_config_dir: Path | None = None
    storage_entries: Mapping[str, StorageEntry] = field(default_factory=dict, repr=False)
    signature: SignaturePolicy = field(default_factory=SignaturePolicy)  # MODEL_REGISTRY_SIGNATURE*: docs/signing.md
    require_storage_entry: bool = False  # MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY: a storageKey must have its entry
    proxy: ProxyConfig = field(
        default_factory=ProxyConfig
    )  # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, Go's rules (proxy.py)
    oci: OciOptions = field(default_factory=OciOptions)  # oci://: platform, mirrors, insecure

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every setting read from ``environ`` (default: a snapshot of this process's), each checked: a bad value
        is a UsageError (exit 2) before any network call."""
        env = environment() if environ is None else environ
        scheme, base_url = _registry_address(env, cls.scheme, cls.base_url)
        timeout = values.seconds(env, "MODEL_REGISTRY_TIMEOUT", cls.timeout)
        proxies = ProxyConfig.from_env(env)
        storage_env = _storage_env(env, proxies)
        entries_prefix = _entries_prefix(env)
        entries_dir = values.path(env, "MODEL_REGISTRY_STORAGE_CONFIG_DIR")
        patterns = Patterns.from_env(env)
        return cls(
            base_url=base_url,
            base_url_set=bool(values.text(env, "MODEL_REGISTRY_BASE_URL")),
            scheme=scheme,
            service_name=values.text(env, "MODEL_REGISTRY_SERVICE_NAME", cls.service_name),
            cluster_domain=values.text(env, "MODEL_REGISTRY_CLUSTER_DOMAIN").strip(".") or cls.cluster_domain,
            token=values.text(env, "MODEL_REGISTRY_TOKEN") or None,
            token_path=values.path(env, "MODEL_REGISTRY_TOKEN_PATH"),
            ca_bundle=values.path(env, "MODEL_REGISTRY_CA_BUNDLE"),
            allow_archived=values.flag(env, "MODEL_REGISTRY_ALLOW_ARCHIVED"),
            timeout=timeout,
            probe_timeout=values.seconds(env, "MODEL_REGISTRY_PROBE_TIMEOUT", cls.probe_timeout),
            lock_timeout=values.seconds(env, "MODEL_REGISTRY_LOCK_TIMEOUT", cls.lock_timeout),
            transfer=values.choice(env, "MODEL_REGISTRY_TRANSFER", ("auto", "fast", "kserve"), cls.transfer),
            tunables=Tunables.from_env(env, deadline=timeout),
            scheme_tunables=_scheme_tunables(env, timeout),
            patterns=patterns,
            limits=Limits.from_env(env),
            storage_env=storage_env,
            require_version=values.flag(env, "MODEL_REGISTRY_REQUIRE_VERSION"),
            termination_log=termination_log_path(env),
            # upstream's variable and parsing: comma-separated, blanks dropped, plain string prefixes
            allowed_artifact_uri_prefixes=values.words(env, "ALLOWED_ARTIFACT_URI_PREFIXES"),
            storage_endpoints=_storage_endpoints(env),
            api_version=values.choice(env, "MODEL_REGISTRY_API_VERSION", API_VERSIONS, cls.api_version),
            storage_config_prefix=entries_prefix,
            storage_config_dir=entries_dir,
            storage_entries=load_entries(env, entries_prefix, entries_dir),
            signature=read_signature_policy(env, patterns),
            require_storage_entry=values.flag(env, "MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY"),
            proxy=proxies,
            oci=OciOptions.from_env(env),
        )

    def tunables_for(self, scheme: str) -> Tunables:
        """The own engine's knobs for the scheme named ``scheme``: its row's ``attempts_variable`` (S3's
        ``S3_MAX_ATTEMPTS``) counts when ours is unset."""
        return self.scheme_tunables.get(scheme, self.tunables)

    def base_port(self) -> str:
        """The port of the base URL (upstream's rule for ``?namespace=``: default 8080)."""
        host, sep, port = self.base_url.rpartition(":")
        bracketed_or_plain = host.endswith("]") or ":" not in host
        if sep and port.isascii() and port.isdigit() and bracketed_or_plain:
            return port
        return "8080"
