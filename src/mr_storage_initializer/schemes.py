"""The URI schemes, one row each: the one place that knows what a scheme is and who serves it.

A row says how a URI of the scheme is recognised (its prefixes, or patterns for ``https://`` URLs that
kserve_storage treats apart), which engine serves it (the own engine, or only ``kserve_storage``), where its
code lives (``builder``: the function that makes its own engine; ``kserve``: the function that makes its
``kserve_storage`` engine; ``revision``: the function that pins the version a URI names now, for the
fingerprint), the own engine's tunables (``attempts_variable``: KServe's per-store retry knob), the
environment variables it reads (what reaches ``Settings.storage_env``), how its URLs are read strictly
(``urls``), what the artifact policy checks besides the URI (``storage_endpoints``), which trust rule of
:mod:`~mr_storage_initializer.tls` its source uses (``trust``), which of its variables are secrets
(:mod:`~mr_storage_initializer.redact`), and its lines in ``--help`` (``help``).

Code is named as ``"module:function"`` and imported only when that scheme is used, so a URI never imports
another scheme's SDK; this module imports nothing of the package. ``tests/unit/test_schemes.py`` checks the
names resolve, and that no other module tests for a scheme on its own.

:func:`row_for` reads a URI as ``kserve_storage`` does: an existing local path, then the prefixes, then the
patterns in the rows' order (Azure Blob before Azure file shares and git, the ``https://`` catch-all last).
The rows' order is also the order messages list them in.
"""

from __future__ import annotations

import importlib
import os
import re

from mr_storage_initializer.values import dataclass

OWN = "own engine and kserve_storage"
KSERVE = "kserve_storage"
KSERVE_ENGINE = "mr_storage_initializer.transfer.kserve_engine:engine"


@dataclass(frozen=True)
class Scheme:
    """One URI scheme (see the module's docstring for what each field decides)."""

    name: str  # the key the code and the logs use ("s3", "gcs", "azure", "hf", "oci", "http", …)
    shown: str  # how a message names it ("s3://", "Azure Blob", "http(s):// files")
    served_by: str = KSERVE  # OWN: the own engine, else kserve_storage; KSERVE: only kserve_storage
    prefixes: tuple[str, ...] = ()  # a URI that starts with one of them is this scheme's
    patterns: tuple[str, ...] = ()  # or one that matches one of these (re.search), after the prefixes
    written: tuple[str, ...] = ()  # the URL schemes this row introduces ("s3"; "http" and "https")
    empty_host: bool = False  # file:///path, hdfs:///path (the default name node)
    needs_path: bool = False  # kserve_storage's http(s) rule: https?://HOST/NAME
    host_called: str = "host"  # what a missing host is called in a message ("bucket")
    grammar: str | None = None  # "module:function" raising UsageError when a URI breaks the scheme's grammar
    builder: str | None = None  # "module:function" making the own engine (transfer.engine.Builder)
    kserve: str = KSERVE_ENGINE  # "module:function" making the kserve_storage engine (transfer.engine.KServeBuilder)
    revision: str | None = None  # "module:function" pinning what the URI names now (transfer.engine.Revision)
    modules: tuple[str, ...] = ()  # the modules that hold this scheme's own code (its source, engine, parsers)
    attempts_variable: str | None = None  # KServe's tries per request for this store, when ours is unset
    variable_prefixes: tuple[str, ...] = ()  # the environment variables it reads, by prefix
    variable_names: frozenset[str] = frozenset()  # and by name
    variable_suffixes: tuple[str, ...] = ()  # and by suffix (``<host>-headers``)
    secrets: tuple[str, ...] = ()  # the variables whose values are secrets wherever they appear
    trust: str | None = None  # the function of mr_storage_initializer.tls its source takes its trust from
    storage_endpoints: str | None = None  # the policy checks the configured endpoints too, named so in a message
    help: tuple[tuple[str, str], ...] = ()  # its lines in --help's storage group: (variables, what they say)


_T = "mr_storage_initializer.transfer"
_AZURE_VARIABLES = ("AZ_", "AZURE_")
_AZURE_SECRETS = (
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_CLIENT_SECRET",
    "AZ_CLIENT_SECRET",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
)

LOCAL = Scheme("file", "local paths", prefixes=("/mnt/models", "file://"), written=("file",), empty_host=True)
S3 = Scheme(
    "s3",
    "s3://",
    OWN,
    prefixes=("s3://",),
    written=("s3",),
    host_called="bucket",
    builder=f"{_T}.s3:engine",
    modules=(f"{_T}.s3", "mr_storage_initializer.storage_config"),
    attempts_variable="S3_MAX_ATTEMPTS",
    variable_prefixes=("AWS_", "S3_"),
    variable_names=frozenset({"awsAnonymousCredential"}),
    secrets=("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"),
    trust="s3_ca_bundle",
    storage_endpoints="the S3 endpoint (AWS_ENDPOINT_URL / STORAGE_CONFIG endpoint_url)",
    help=(("AWS_*, S3_*, awsAnonymousCredential", "S3 credentials, endpoint, region, TLS"),),
)
GCS = Scheme(
    "gcs",
    "gs://",
    OWN,
    prefixes=("gs://",),
    written=("gs",),
    host_called="bucket",
    builder=f"{_T}.gcs:engine",
    modules=(f"{_T}.gcs",),
    variable_prefixes=("GOOGLE_", "GCS_"),
    trust="http_context",
    help=(("GOOGLE_APPLICATION_CREDENTIALS", "GCS service account file (else ADC)"),),
)
HF = Scheme(
    "hf",
    "hf://",
    OWN,
    prefixes=("hf://",),
    written=("hf",),
    builder=f"{_T}.hf_engine:engine",
    kserve=f"{_T}.hf_kserve:engine",  # in a child process, pinned to the commit the listing resolved
    revision=f"{_T}.hf_engine:current_revision",
    modules=(f"{_T}.hf", f"{_T}.hf_engine", f"{_T}.hf_kserve"),
    variable_prefixes=("HF_",),
    variable_names=frozenset({"HUGGING_FACE_HUB_TOKEN", "XDG_CACHE_HOME"}),  # the token's old name, its folder
    secrets=("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
    trust="http_context",
    help=(("HF_TOKEN, HF_ENDPOINT", "Hugging Face token and Hub address"),),
)
OCI = Scheme(
    "oci",
    "oci://",
    OWN,
    prefixes=("oci://",),
    written=("oci",),
    grammar=f"{_T}.oci_ref:parse_oci_uri",  # HOST/REPO:TAG: the tag's colon is no port
    builder=f"{_T}.oci_engine:engine",
    revision=f"{_T}.oci_engine:current_revision",  # the image manifest: a moved tag is a new version
    modules=(f"{_T}.oci", f"{_T}.oci_ref", f"{_T}.oci_engine", f"{_T}.oci_auth", f"{_T}.oci_layers"),
    variable_prefixes=("KSERVE_OCI_",),  # KServe's docker config path and insecure-registry switch
    variable_names=frozenset({"DOCKER_CONFIG", "REGISTRY_AUTH_FILE", ".dockerconfigjson"}),
    trust="http_context",
    help=(
        ("KSERVE_OCI_DOCKER_CONFIG, .dockerconfigjson", "OCI registry credentials (docker config.json)"),
        ("KSERVE_OCI_INSECURE_REGISTRY", "true: the OCI registry speaks plain HTTP"),
        ("MODEL_REGISTRY_OCI_PLATFORM", "OCI index platform (default linux/<this machine>)"),
        ("MODEL_REGISTRY_OCI_MIRRORS", "JSON: registry host -> mirror URLs, asked first"),
    ),
)
HDFS = Scheme("hdfs", "hdfs://", prefixes=("hdfs://",), written=("hdfs",), empty_host=True)
WEBHDFS = Scheme("webhdfs", "webhdfs://", prefixes=("webhdfs://",), written=("webhdfs",), empty_host=True)
MODELSCOPE = Scheme(
    "modelscope",
    "modelscope://",
    prefixes=("modelscope://",),
    written=("modelscope",),
    variable_prefixes=("MODELSCOPE_",),
    secrets=("MODELSCOPE_API_TOKEN",),
)
AZURE = Scheme(
    "azure",
    "Azure Blob",
    OWN,
    patterns=(
        r"https://(.+?)\.blob\.core\.windows\.net/(.+)",
        r"https://(.+?)\.z[0-9]{1,2}\.blob\.storage\.azure\.net/(.+)",
    ),
    builder=f"{_T}.azure:engine",
    modules=(f"{_T}.azure",),
    variable_prefixes=_AZURE_VARIABLES,
    secrets=_AZURE_SECRETS,
    trust="extra_roots",
    help=(("AZURE_*", "Azure Blob credentials"),),
)
AZURE_FILE = Scheme(
    "azure-file",
    "Azure file shares",
    patterns=(
        r"https://(.+?)\.file\.core\.windows\.net/(.+)",
        r"https://(.+?)\.z[0-9]{1,2}\.file\.storage\.azure\.net/(.+)",
    ),
    variable_prefixes=_AZURE_VARIABLES,
    secrets=_AZURE_SECRETS,
)
GIT = Scheme("git", "git repositories", patterns=(r"https://.+\.git",), secrets=("GIT_PASSWORD",))
HTTP = Scheme(
    "http",
    "http(s):// files",
    OWN,
    patterns=(r"https?://(.+)/(.+)",),
    written=("http", "https"),
    needs_path=True,
    builder=f"{_T}.http:engine",
    modules=(f"{_T}.http",),
    variable_suffixes=("-headers",),  # KServe's per-host headers: <host>-headers
    trust="http_context",
)

ROWS = (LOCAL, S3, GCS, AZURE, HF, OCI, HDFS, WEBHDFS, MODELSCOPE, AZURE_FILE, GIT, HTTP)

# Variables every scheme may read: KServe's storage spec and CA bundle, the CA files of HTTP clients, $HOME.
SHARED_PREFIXES = ("STORAGE_", "CA_BUNDLE_")
SHARED_NAMES = frozenset({"HOME", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"})
_PREFIXES = tuple(dict.fromkeys([*SHARED_PREFIXES, *(p for row in ROWS for p in row.variable_prefixes)]))
_NAMES = SHARED_NAMES.union(*(row.variable_names for row in ROWS))
_SUFFIXES = tuple(dict.fromkeys(s for row in ROWS for s in row.variable_suffixes))


def row_for(uri: str) -> Scheme | None:
    """The row of ``uri``, or None when no row matches: an existing local path is :data:`LOCAL`; then the
    first row with a prefix ``uri`` starts with; then the first whose pattern it matches (kserve_storage's
    order of tests)."""
    if os.path.exists(uri):
        return LOCAL
    for row in ROWS:
        if row.prefixes and uri.startswith(row.prefixes):
            return row
    for row in ROWS:
        if any(re.search(pattern, uri) for pattern in row.patterns):
            return row
    return None


def own_row(uri: str) -> Scheme | None:
    """The row of ``uri`` when the own engine serves it, else None (kserve_storage's alone, or unknown)."""
    row = row_for(uri)
    return row if row is not None and row.served_by == OWN else None


def own_rows() -> tuple[Scheme, ...]:
    return tuple(row for row in ROWS if row.served_by == OWN)


def storage_variable(name: str) -> bool:
    """Whether some scheme reads the environment variable ``name`` (proxies aside: see ``proxy.NAMES``)."""
    return name.startswith(_PREFIXES) or name in _NAMES or name.endswith(_SUFFIXES)


def load(target: str) -> object:
    """The object a row names as ``"module:name"``, imported now (only the scheme in use is imported)."""
    module, _, name = target.partition(":")
    found: object = getattr(importlib.import_module(module), name)
    return found


def secret_variables() -> tuple[str, ...]:
    """The variables whose values are secrets, for every scheme."""
    return tuple(dict.fromkeys(name for row in ROWS for name in row.secrets))
