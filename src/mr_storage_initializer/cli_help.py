"""What ``mr-storage-initializer --help`` says after its options: the environment it reads, grouped, the exit
codes, and where the documentation is. Text only; ``settings`` is what parses these variables (a test checks
that every variable it reads is listed here)."""

from __future__ import annotations

from mr_storage_initializer import schemes
from mr_storage_initializer.errors import EXIT_CODES

Group = tuple[str, tuple[tuple[str, str], ...]]

ENVIRONMENT: tuple[Group, ...] = (
    (
        "registry",
        (
            ("MODEL_REGISTRY_BASE_URL", "HOST[:PORT] when the URI names no host (default localhost:8080)"),
            ("MODEL_REGISTRY_SCHEME", "http or https (default http)"),
            ("MODEL_REGISTRY_SERVICE_NAME", "service for ?namespace=NS (default model-registry-service)"),
            ("MODEL_REGISTRY_CLUSTER_DOMAIN", "cluster domain for ?namespace=NS (default svc.cluster.local)"),
            ("MODEL_REGISTRY_API_VERSION", "auto, v1 or v1alpha3 (default auto: v1 when served)"),
            ("MODEL_REGISTRY_TOKEN", "bearer token for the registry"),
            ("MODEL_REGISTRY_TOKEN_PATH", "file holding the bearer token (re-read on 401)"),
            ("MODEL_REGISTRY_CA_BUNDLE", "CA bundle that signs the registry's certificate"),
            ("MODEL_REGISTRY_TIMEOUT", "seconds for the registry conversation and each retry budget (default 60)"),
            ("MODEL_REGISTRY_PROBE_TIMEOUT", "seconds to probe A in model-registry://A/B (default 3)"),
            ("MODEL_REGISTRY_ALLOW_ARCHIVED", "true: install ARCHIVED versions too"),
            ("MODEL_REGISTRY_REQUIRE_VERSION", "true: refuse URIs without a version"),
        ),
    ),
    (
        "transfer",
        (
            ("MODEL_REGISTRY_TRANSFER", "auto, fast (own engine only) or kserve (kserve_storage only)"),
            ("MODEL_REGISTRY_TRANSFER_CONCURRENCY", "most connections of the own engine (default 8)"),
            ("MODEL_REGISTRY_TRANSFER_CHUNK_SIZE", "bytes per ranged request (default 64 MiB)"),
            ("MODEL_REGISTRY_TRANSFER_ATTEMPTS", "tries per range (default 5)"),
            ("MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT", "seconds without a byte before a range gives up (default 60)"),
            ("MODEL_REGISTRY_PROGRESS_INTERVAL", "seconds between progress lines (default 5)"),
            ("MODEL_REGISTRY_ARCHIVE_MAX_BYTES", "most bytes a tar/zip may expand to (default 1 TiB)"),
            ("MODEL_REGISTRY_ARCHIVE_MAX_MEMBERS", "most members of a tar/zip (default 1,000,000)"),
            ("MODEL_REGISTRY_ARCHIVE_MAX_RATIO", "most expanded/compressed ratio of a tar/zip (default 200)"),
        ),
    ),
    (
        "storage credentials (KServe's own variables)",
        (
            *(line for row in schemes.ROWS for line in row.help),  # each scheme's own
            ("STORAGE_CONFIG, STORAGE_OVERRIDE_CONFIG", "KServe's storage-config spec for the download"),
            ("MODEL_REGISTRY_STORAGE_CONFIG_PREFIX", "prefix of storageKey entries (default MR_STORAGE_CONFIG_)"),
            ("MODEL_REGISTRY_STORAGE_CONFIG_DIR", "directory of storageKey entries, one file each"),
            ("MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY", "true: a storageKey without an entry is an error"),
            ("STORAGE_ALLOW_PATTERNS, STORAGE_IGNORE_PATTERNS", "which files of the artifact to install"),
            ("CA_BUNDLE_*, SSL_CERT_FILE, REQUESTS_CA_BUNDLE", "CA bundles for storage endpoints"),
        ),
    ),
    (
        "network",
        (("HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "proxies for every request, Go's rules (loopback never proxied)"),),
    ),
    (
        "policy and verification",
        (
            ("ALLOWED_ARTIFACT_URI_PREFIXES", "comma-separated prefixes an artifact URI must start with"),
            ("MODEL_REGISTRY_SIGNATURE", "off, if-present or required (docs/signing.md)"),
            ("MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY", "PEM public key(s) a signature must verify with"),
            ("MODEL_REGISTRY_SIGNATURE_CERT_CHAIN", "PEM certificate chain for certificate signatures"),
            ("MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY", "identity the signing certificate must carry"),
            ("MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY", "Sigstore signer identity"),
            ("MODEL_REGISTRY_SIGNATURE_SIGSTORE_ISSUER", "Sigstore OIDC issuer"),
            ("MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG", "Sigstore trust config file (private instance)"),
            ("MODEL_REGISTRY_SIGNATURE_FILE", "signature file inside the model (default model.sig)"),
        ),
    ),
    (
        "destination",
        (
            ("MODEL_REGISTRY_LOCK_TIMEOUT", "seconds to wait for another run on the same DEST_PATH (default 600)"),
            ("MODEL_REGISTRY_TERMINATION_LOG", "file for kubectl's status line (default /dev/termination-log)"),
        ),
    ),
)


def names() -> frozenset[str]:
    """Every variable named in the help (a group such as ``AWS_*`` counts as its prefix)."""
    return frozenset(name.strip() for _, rows in ENVIRONMENT for names, _ in rows for name in names.split(","))


def epilog() -> str:
    lines = ["environment:"]
    for title, rows in ENVIRONMENT:
        width = max(len(name) for name, _ in rows)
        lines.append(f"  {title}:")
        lines += [f"    {name:<{width}}  {text}" for name, text in rows]
    lines += ["", "exit codes:"]
    lines += [f"  {code:>3}  {text}" for code, text in EXIT_CODES]
    lines += [
        "",
        "docs: README.md and docs/ of the source tree: get-started.md (deploying, troubleshooting),",
        "transfers.md (engines, tunables), reliability.md (atomic installs, policy), signing.md (signatures)",
    ]
    return "\n".join(lines)
