"""Configuration from the environment, read once into a frozen value (KServe passes none on the command line).

This is the only module that reads ``os.environ`` (``tests/unit/test_settings_read_once.py`` checks it):
:func:`environment` takes one snapshot at start, :meth:`Settings.from_env` parses and validates every
setting from it (a bad value is a :class:`UsageError`, exit 2, before any network call), and the other
modules receive the values they need, KServe's storage variables included (``Settings.storage_env``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from mr_storage_initializer.api_version import SETTINGS as API_VERSIONS
from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.proxy import NAMES as PROXY_NAMES
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.schemes import ROWS as SCHEME_ROWS
from mr_storage_initializer.schemes import storage_variable
from mr_storage_initializer.signing import SignaturePolicy
from mr_storage_initializer.storage_config import DEFAULT_PREFIX, StorageEntry, load_entries

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
DEFAULT_TIMEOUT = 60.0  # MODEL_REGISTRY_TIMEOUT: the registry conversation, and each range's retry budget


def test_fault() -> str:
    """The test-only fault hook ``MODEL_REGISTRY_TEST_FAULT`` (see ``journal.checkpoint``), read when a step is
    reached rather than kept in ``Settings``, so that a test can aim it at any step of any run."""
    return os.environ.get("MODEL_REGISTRY_TEST_FAULT", "")


def environment() -> Mapping[str, str]:
    """One read-only snapshot of the process environment (taken once, at start)."""
    return MappingProxyType(dict(os.environ))


def child_environment(changes: Mapping[str, str], drop: frozenset[str] = frozenset()) -> dict[str, str]:
    """The environment of a child process (``hf://``'s kserve_storage path): this process's (PATH, proxies,
    PYTHONPATH…) without ``drop``, with ``changes``."""
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **changes}


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


def parse_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise UsageError(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        raise UsageError(f"{name}={raw!r} must be a number from {low:g} to {high:g}")
    return value


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw)
    value = int(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()] if match else 0
    if not (64 << 10) <= value <= (4 << 30):
        raise UsageError(f"{name}={raw!r} must be a size from 64KiB to 4GiB, such as 32MiB")
    return value


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
        attempts = parse_int(env, "MODEL_REGISTRY_TRANSFER_ATTEMPTS", 0, 1, 100)
        if not attempts and attempts_var:  # KServe's per-store knob (S3_MAX_ATTEMPTS) when ours is unset
            attempts = parse_int(env, attempts_var, 0, 1, 100)
        return cls(
            concurrency=parse_int(env, "MODEL_REGISTRY_TRANSFER_CONCURRENCY", cls.concurrency, 1, 256),
            chunk_size=_size(env, "MODEL_REGISTRY_TRANSFER_CHUNK_SIZE", cls.chunk_size),
            attempts=attempts or cls.attempts,
            deadline=deadline,
            progress_interval=float(
                parse_int(env, "MODEL_REGISTRY_PROGRESS_INTERVAL", int(cls.progress_interval), 1, 3600)
            ),
            stall_timeout=_seconds(env, "MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT", cls.stall_timeout),
            ramp=not env.get("MODEL_REGISTRY_TRANSFER_CONCURRENCY", "").strip(),  # a number set is kept as is
        )


@dataclass(frozen=True)
class Patterns:
    """KServe's ``STORAGE_ALLOW_PATTERNS`` / ``STORAGE_IGNORE_PATTERNS`` (fnmatch on the relative path)."""

    allow: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Patterns:
        return cls(_patterns(env, "STORAGE_ALLOW_PATTERNS"), _patterns(env, "STORAGE_IGNORE_PATTERNS"))

    def wants(self, rel: str) -> bool:
        if self.allow and not any(fnmatch.fnmatch(rel, p) for p in self.allow):
            return False
        return not any(fnmatch.fnmatch(rel, p) for p in self.ignore)


def _patterns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """KServe's reading: a JSON list (or one JSON value), else comma-separated; blanks dropped."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    items = value if isinstance(value, list) else [value]
    return tuple(str(p).strip() for p in items if str(p).strip())


@dataclass(frozen=True)
class Limits:
    """Zip-bomb limits of the own archive extraction."""

    max_bytes: int = 1 << 40  # 1 TiB expanded
    max_ratio: float = 200.0  # expanded / compressed
    max_members: int = 1_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        return cls(
            max_bytes=parse_int(env, "MODEL_REGISTRY_ARCHIVE_MAX_BYTES", cls.max_bytes, 1, 1 << 60),
            max_ratio=_number(env, "MODEL_REGISTRY_ARCHIVE_MAX_RATIO", cls.max_ratio, 1, 1e9),
            max_members=parse_int(env, "MODEL_REGISTRY_ARCHIVE_MAX_MEMBERS", cls.max_members, 1, 1 << 40),
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
        platform = env.get("MODEL_REGISTRY_OCI_PLATFORM", "").strip().lower() or None
        if platform is not None and not _PLATFORM.match(platform):
            raise UsageError(f"MODEL_REGISTRY_OCI_PLATFORM={platform!r} must be OS/ARCH[/VARIANT], such as linux/arm64")
        raw = env.get("MODEL_REGISTRY_OCI_MIRRORS", "").strip()
        mirrors: dict[str, tuple[str, ...]] = {}
        if raw:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = None
            shape = 'a JSON object of registry host to mirror URLs, such as {"quay.io": ["https://mirror:5000"]}'
            if not isinstance(value, dict):
                raise UsageError(f"MODEL_REGISTRY_OCI_MIRRORS must be {shape}")
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
        insecure = env.get("KSERVE_OCI_INSECURE_REGISTRY", "").strip().lower() in ("1", "true", "yes")
        return cls(platform=platform, mirrors=MappingProxyType(mirrors), insecure=insecure)


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
        try:
            spec = json.loads(picked.get(name) or "{}")
        except json.JSONDecodeError:
            spec = None
        if not isinstance(spec, dict):
            raise UsageError(f"{name} must be a JSON object (KServe's storage spec)")
    for name, raw in picked.items():
        if name.endswith("-headers") and raw.strip():
            try:
                headers = json.loads(raw)
            except json.JSONDecodeError:
                headers = None
            if not isinstance(headers, dict):
                raise UsageError(f"{name} must be a JSON object of header names to values")
    for name in ("S3_CONNECT_TIMEOUT", "S3_READ_TIMEOUT"):
        parse_int(picked, name, 0, 0, 86_400)
    parse_int(picked, "S3_MAX_ATTEMPTS", 0, 1, 100)
    # KServe's webhook injects HF_XET_NUM_CONCURRENT_RANGE_GETS=8 into every storage initializer: the user's
    # MODEL_REGISTRY_TRANSFER_CONCURRENCY, when set, wins (Xet's downloads in the kserve path)
    parse_int(picked, "HF_XET_NUM_CONCURRENT_RANGE_GETS", 0, 1, 1024)
    ours = env.get("MODEL_REGISTRY_TRANSFER_CONCURRENCY", "").strip()
    if ours and picked.get("HF_XET_NUM_CONCURRENT_RANGE_GETS", "").strip():
        picked["HF_XET_NUM_CONCURRENT_RANGE_GETS"] = str(
            parse_int(env, "MODEL_REGISTRY_TRANSFER_CONCURRENCY", 0, 1, 256)
        )
    hub = picked.get("HF_ENDPOINT", "").strip()
    if hub and (urlsplit(hub).scheme not in ("http", "https") or not urlsplit(hub).netloc or _unclear(hub)):
        raise UsageError(
            f"HF_ENDPOINT={hub!r} must be an http(s):// URL such as https://huggingface.co"
            + (f" ({_unclear(hub)})" if _unclear(hub) else "")
        )
    emulator = picked.get("STORAGE_EMULATOR_HOST", "").strip()
    if emulator and _unclear(emulator):
        raise UsageError(
            f"STORAGE_EMULATOR_HOST cannot be used: {_unclear(emulator)}; write it as http(s)://HOST[:PORT]"
        )
    return MappingProxyType(picked)


def _unclear(url: str) -> str | None:
    """Why the endpoint ``url`` cannot be read one way (the strict reading of :mod:`.urls`), or None."""
    from mr_storage_initializer.policy import endpoint_problem

    return endpoint_problem(url)


_TERMINATION = "MODEL_REGISTRY_TERMINATION_LOG"


def _storage_endpoints(env: Mapping[str, str]) -> tuple[str, ...]:
    """Endpoints KServe's storage configuration points downloads at (checked by the artifact policy); one
    that URL parsers could read differently is a usage error here, before any network call."""
    found = [("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL", "").strip())]
    for name in ("STORAGE_CONFIG", "STORAGE_OVERRIDE_CONFIG"):
        try:
            spec = json.loads(env.get(name) or "{}")
        except ValueError:
            continue  # reported, as KServe does, by the S3 source that uses it
        if isinstance(spec, dict) and isinstance(spec.get("endpoint_url"), str):
            found.append((f"{name}'s endpoint_url", spec["endpoint_url"].strip()))
    for name, endpoint in found:
        problem = _unclear(endpoint) if endpoint else None
        if problem is not None:
            from mr_storage_initializer.redact import redact_url

            shown = redact_url(endpoint)
            raise UsageError(f"{name} {shown!r} cannot be used: {problem}; write it as http(s)://HOST[:PORT]")
    return tuple(dict.fromkeys(e for _, e in found if e))


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
    tunables: Tunables = Tunables()
    scheme_tunables: Mapping[str, Tunables] = field(default_factory=dict)
    patterns: Patterns = Patterns()
    limits: Limits = Limits()
    storage_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Several pairs, node caches, kubectl status, artifact policy (docs/reliability.md "Artifact policy").
    require_version: bool = False
    termination_log: Path | None = None
    allowed_artifact_uri_prefixes: tuple[str, ...] = ()
    storage_endpoints: tuple[str, ...] = ()
    # Registry API version, per-model storage credentials (storageKey entries of the storage-config secret)
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
        env = environment() if environ is None else environ
        base_url = env.get("MODEL_REGISTRY_BASE_URL", "").strip() or cls.base_url
        scheme = env.get("MODEL_REGISTRY_SCHEME", "").strip().lower() or cls.scheme
        if "://" in base_url:  # tolerate a full URL: its scheme wins
            scheme, _, base_url = base_url.partition("://")
            scheme = scheme.lower()
        base_url = base_url.rstrip("/")
        if scheme not in ("http", "https"):
            raise UsageError(f"MODEL_REGISTRY_SCHEME={scheme!r} is not supported; use http or https")
        if not base_url or "/" in base_url:
            raise UsageError(f"MODEL_REGISTRY_BASE_URL={redact_url(base_url)!r} must be HOST[:PORT]")
        hostport = base_url.rpartition("@")[2]  # user:password@ (redacted everywhere) is not the host
        if hostport.count(":") > 1 and not hostport.startswith("["):  # fd00::10:8080 has no one reading
            raise UsageError(
                f"MODEL_REGISTRY_BASE_URL={redact_url(base_url)!r}: write an IPv6 address in brackets, "
                "such as [fd00::10]:8080"
            )
        token_path = env.get("MODEL_REGISTRY_TOKEN_PATH", "").strip()
        ca_bundle = env.get("MODEL_REGISTRY_CA_BUNDLE", "").strip()
        transfer = env.get("MODEL_REGISTRY_TRANSFER", "").strip().lower() or cls.transfer
        if transfer not in ("auto", "kserve", "fast"):
            raise UsageError(f"MODEL_REGISTRY_TRANSFER={transfer!r} is not one of auto, fast, kserve")
        timeout = _seconds(env, "MODEL_REGISTRY_TIMEOUT", cls.timeout)
        proxies = ProxyConfig.from_env(env)
        storage_env = _storage_env(env, proxies)
        api_version = env.get("MODEL_REGISTRY_API_VERSION", "").strip().lower() or cls.api_version
        if api_version not in API_VERSIONS:
            raise UsageError(f"MODEL_REGISTRY_API_VERSION={api_version!r} is not one of {', '.join(API_VERSIONS)}")
        entries_prefix = env.get("MODEL_REGISTRY_STORAGE_CONFIG_PREFIX", DEFAULT_PREFIX).strip()
        if entries_prefix and not (entries_prefix[0].isalpha() and entries_prefix.isascii()):
            raise UsageError(f"MODEL_REGISTRY_STORAGE_CONFIG_PREFIX={entries_prefix!r} must start with a letter")
        entries_dir = Path(raw_dir) if (raw_dir := env.get("MODEL_REGISTRY_STORAGE_CONFIG_DIR", "").strip()) else None
        patterns = Patterns.from_env(env)
        return cls(
            base_url=base_url,
            base_url_set=bool(env.get("MODEL_REGISTRY_BASE_URL", "").strip()),
            scheme=scheme,
            service_name=env.get("MODEL_REGISTRY_SERVICE_NAME", "").strip() or cls.service_name,
            cluster_domain=env.get("MODEL_REGISTRY_CLUSTER_DOMAIN", "").strip().strip(".") or cls.cluster_domain,
            token=env.get("MODEL_REGISTRY_TOKEN", "").strip() or None,
            token_path=Path(token_path) if token_path else None,
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            allow_archived=_flag(env, "MODEL_REGISTRY_ALLOW_ARCHIVED"),
            timeout=timeout,
            probe_timeout=_seconds(env, "MODEL_REGISTRY_PROBE_TIMEOUT", cls.probe_timeout),
            lock_timeout=_seconds(env, "MODEL_REGISTRY_LOCK_TIMEOUT", cls.lock_timeout),
            transfer=transfer,
            tunables=Tunables.from_env(env, deadline=timeout),
            scheme_tunables=MappingProxyType(
                {
                    row.name: Tunables.from_env(env, deadline=timeout, attempts_var=row.attempts_variable)
                    for row in SCHEME_ROWS
                    if row.attempts_variable
                }
            ),
            patterns=patterns,
            limits=Limits.from_env(env),
            storage_env=storage_env,
            require_version=_flag(env, "MODEL_REGISTRY_REQUIRE_VERSION"),
            termination_log=termination_log_path(env),
            # upstream's variable and parsing: comma-separated, blanks dropped, plain string prefixes
            allowed_artifact_uri_prefixes=tuple(
                p.strip() for p in env.get("ALLOWED_ARTIFACT_URI_PREFIXES", "").split(",") if p.strip()
            ),
            storage_endpoints=_storage_endpoints(env),
            api_version=api_version,
            storage_config_prefix=entries_prefix,
            storage_config_dir=entries_dir,
            storage_entries=load_entries(env, entries_prefix, entries_dir),
            signature=SignaturePolicy.from_env(env, patterns),
            require_storage_entry=_flag(env, "MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY"),
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
