"""Parse ``model-registry://`` URIs into typed references; no network here.

Forms (as the upstream Go initializer): ``model-registry://MODEL``, ``model-registry://MODEL/VERSION``,
``model-registry://HOST[:PORT]/MODEL``, ``model-registry://HOST[:PORT]/MODEL/VERSION``, each optionally
followed by ``?namespace=NS``. Two segments are ambiguous; the parser returns both readings and
:mod:`mr_storage_initializer.resolve` chooses between them with a bounded probe.

User information (``model-registry://user:password@HOST/…``, or ``user@HOST`` in the three-segment form) is
refused: the registry's credentials are ``MODEL_REGISTRY_TOKEN`` / ``MODEL_REGISTRY_TOKEN_PATH``, and a
password in a URI would end up in pod specs and logs. Every message quotes the URI through
:func:`~mr_storage_initializer.redact.redact_url`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.values import dataclass

SCHEME = "model-registry://"
_HOST_RE = re.compile(
    r"^(?:(?P<name>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)"
    r"|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?$"
)
_DNS_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_KNOWN_QUERY_KEYS = frozenset({"namespace"})
_MAX_NAME_LEN = 1024


@dataclass(frozen=True)
class ModelRef:
    """One reading of a URI: which model and version, and where the registry is if the URI says so."""

    model: str
    version: str | None = None
    host: str | None = None
    namespace: str | None = None

    def describe(self) -> str:
        version = self.version if self.version is not None else "latest"
        where = f" on {self.host}" if self.host else ""
        where += f" in namespace {self.namespace}" if self.namespace else ""
        return f"model {self.model!r} version {version!r}{where}"


@dataclass(frozen=True)
class ParsedUri:
    """A parsed URI: one reading, or two for ``A/B`` (``HOST/MODEL`` first, then ``MODEL/VERSION``)."""

    raw: str
    readings: tuple[ModelRef, ...]

    @property
    def ambiguous(self) -> bool:
        return len(self.readings) > 1


def is_host(segment: str) -> bool:
    """Whether ``segment`` is syntactically a ``host[:port]`` (DNS name, IPv4, or bracketed IPv6)."""
    match = _HOST_RE.match(segment)
    if match is None:
        return False
    port = match.group("port")
    return port is None or 0 < int(port) <= 65535


def _usage(raw: str, why: str) -> UsageError:
    return UsageError(
        f"malformed storage URI {redact_url(raw)!r}: {why}; expected model-registry://[HOST[:PORT]/]MODEL[/VERSION][?namespace=NS]"
    )


def _decode(raw: str, segment: str, what: str) -> str:
    if _PERCENT_RE.search(segment):
        raise _usage(raw, f"the {what} has a '%' that is not a percent-escape")
    try:
        value = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise _usage(raw, f"the {what} is not valid UTF-8 once percent-decoded") from None
    if not value.strip():
        raise _usage(raw, f"the {what} is empty")
    if len(value) > _MAX_NAME_LEN:
        raise _usage(raw, f"the {what} is longer than {_MAX_NAME_LEN} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise _usage(raw, f"the {what} contains control characters")
    return value


def _parse_query(raw: str, query: str) -> str | None:
    namespace: str | None = None
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if key not in _KNOWN_QUERY_KEYS or not sep:
            raise _usage(raw, f"unknown query parameter {key!r} (only namespace=NS is understood)")
        if namespace is not None:
            raise _usage(raw, "namespace is given more than once")
        namespace = unquote(value)
        if not _DNS_LABEL_RE.match(namespace):
            raise _usage(raw, f"namespace {namespace!r} is not a valid Kubernetes namespace name")
    return namespace


def _has_userinfo(segments: list[str]) -> bool:
    """``user:password@HOST`` as the first segment, or any ``…@HOST`` where only a host may stand (three
    segments); a model name such as ``bert@v2`` stays a model name."""
    first = segments[0]
    if "@" not in first:
        return False
    return len(segments) >= 3 or ":" in first.rpartition("@")[0]


def parse_uri(raw: str) -> ParsedUri:
    """Parse a ``model-registry://`` URI, strictly: anything that could be misread is a :class:`UsageError`."""
    if not raw.lower().startswith(SCHEME):
        raise _usage(raw, f"it does not start with {SCHEME}")
    rest = raw[len(SCHEME) :]
    if _has_userinfo(rest.split("/")):  # first: a password may hold '#', '?' or white space
        raise _usage(
            raw,
            "the registry host carries user information (user:password@), which is never sent; give the "
            "registry's credentials in MODEL_REGISTRY_TOKEN or MODEL_REGISTRY_TOKEN_PATH",
        )
    if "#" in rest:
        raise _usage(raw, "it has a '#' fragment")
    if any(ch.isspace() for ch in rest):
        raise _usage(raw, "it contains white space (percent-encode it as %20)")
    path, has_query, query = rest.partition("?")
    namespace = _parse_query(raw, query) if has_query else None
    if not path:
        raise _usage(raw, "it names no model")
    segments = path.split("/")
    if len(segments) > 3:
        raise _usage(raw, f"it has {len(segments)} path segments, at most 3 are allowed")
    if any(s == "" for s in segments):
        raise _usage(raw, "it has an empty path segment (a leading, trailing or doubled '/')")

    if len(segments) == 3:
        host = segments[0]
        if not is_host(host):
            raise _usage(raw, f"{host!r} is not a valid registry HOST[:PORT]")
        if namespace is not None:
            raise _usage(raw, "it names both a registry host and a namespace; give one of them")
        model = _decode(raw, segments[1], "model name")
        version = _decode(raw, segments[2], "version name")
        return ParsedUri(raw, (ModelRef(model, version, host=host),))

    if len(segments) == 1:
        return ParsedUri(raw, (ModelRef(_decode(raw, segments[0], "model name"), namespace=namespace),))

    first, second = segments
    as_model_version = ModelRef(
        _decode(raw, first, "model name"), _decode(raw, second, "version name"), namespace=namespace
    )
    if namespace is not None or not is_host(first):
        return ParsedUri(raw, (as_model_version,))
    as_host_model = ModelRef(_decode(raw, second, "model name"), host=first)
    return ParsedUri(raw, (as_host_model, as_model_version))
