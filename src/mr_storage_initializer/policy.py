"""Which artifacts may be fetched at all: upstream's allow-list, and an always-on block of metadata endpoints.

Upstream's Go initializer (kubeflow/hub PR #2968, ``uri_validator.go``) has the same two rules, and the
same variable:

- ``ALLOWED_ARTIFACT_URI_PREFIXES``: comma-separated; blanks ignored; an artifact URI must start with one
  of the entries, as a plain string (so ``s3://my-bucket`` also admits ``s3://my-bucket-evil/…``, while
  ``s3://my-bucket/`` does not). Empty or unset: every URI is allowed.
- always refused, whatever the allow-list says: the cloud metadata endpoints (``169.254.169.254``,
  ``fd00:ec2::254``, ``metadata.google.internal``, ``metadata.goog``; case and a trailing dot ignored)
  and link-local addresses (``169.254.0.0/16``, ``fe80::/10``, and their IPv4-mapped forms).

Every URL is read once, strictly (:mod:`mr_storage_initializer.urls`): one that two URL parsers could read
differently (a backslash or white space in the authority, an ``@`` inside the user info, …), an artifact
path with a ``.`` or ``..`` segment, or a scheme no engine serves is refused before anything else: exit 3
when the registry gave it, exit 2 when it is the user's own (a SOURCE_URI, ``AWS_ENDPOINT_URL``, a
storage-config entry), exit 5 for a redirect. The hosts below are that reading's.

Upstream checks the URI's literal host only. Here the block also applies to the addresses an ``http(s)``
host resolves to, to endpoints the configuration supplies (``AWS_ENDPOINT_URL``, ``STORAGE_CONFIG``'s
``endpoint_url``; :func:`check_endpoint` is the entry point for any other), and to every host a download
connects to after a redirect: the own engine's HTTP pools (:func:`guard_pool`) and ``requests``' redirects
inside ``kserve_storage`` (:func:`requests_redirect_guard`). A refusal before the download is
:class:`ArtifactRefusedError` (exit 3); one during the download is :class:`RedirectRefusedError` (exit 5).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

from mr_storage_initializer import schemes, urls
from mr_storage_initializer.errors import ArtifactRefusedError, InitializerError, RedirectRefusedError, UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.urls import endpoint_problem

METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "metadata.google.internal", "metadata.goog"})
ALLOW_LIST_VARIABLE = "ALLOWED_ARTIFACT_URI_PREFIXES"


def blocked_host(host: str) -> str | None:
    """Why the literal ``host`` (``HOST``, ``HOST:PORT``, ``[V6]:PORT``) is blocked, or None."""
    bare = host.strip().lower()
    if bare.startswith("["):
        bare = bare[1 : bare.find("]")] if "]" in bare else bare[1:]
    elif bare.count(":") == 1:
        bare = bare.split(":", 1)[0]
    bare = bare.rstrip(".")
    if not bare:
        return None
    if bare in METADATA_HOSTS:
        return f"{bare} is a cloud metadata endpoint"
    return blocked_address(bare)


def blocked_address(address: str) -> str | None:
    """Why the IP ``address`` is blocked (metadata or link-local), or None (also for a non-address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_HOSTS:
        return f"{ip} is a cloud metadata endpoint"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    return None


def resolved_block(host: str, port: int | None = None) -> str | None:
    """Why one of the addresses ``host`` resolves to is blocked, or None (also when it does not resolve)."""
    if not host or _is_ip(host):
        return None  # a literal address was checked as such
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None  # the download reports an unresolvable host in its own words
    for info in infos:
        reason = blocked_address(str(info[4][0]))
        if reason is not None:
            return f"{host} resolves to {reason.split(' ', 1)[0]}, which {reason.split(' ', 1)[1]}"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _network_reason(url: str) -> str | None:
    """The block reason for ``url``'s literal host, else for the addresses it resolves to (``url`` has been
    read strictly; a local path has no host)."""
    try:
        parsed = urls.read(url)
    except urls.UrlProblem:
        return None
    reason = blocked_host(parsed.host)
    if reason is None and parsed.scheme in schemes.HTTP.written:
        reason = resolved_block(parsed.host, parsed.port)
    return reason


def _refuse_blocked(url: str, error: type[InitializerError], refused: str, advice: str) -> None:
    """Raise ``error`` when ``url``'s host is blocked: ``refused`` says what, then why, then ``advice``."""
    reason = _network_reason(url)
    if reason is not None:
        raise error(
            f"{refused}: {reason}, and those are never fetched (cloud metadata and link-local addresses are "
            f"blocked); {advice}"
        )


def check_artifact(
    uri: str, allowed_prefixes: tuple[str, ...], endpoints: tuple[str, ...] = (), *, from_registry: bool = True
) -> None:
    """Refuse an artifact URI the policy does not allow; nothing has been downloaded yet. Exit 3, except a
    malformed URI the user gave (``from_registry=False``: a SOURCE_URI that is no model-registry:// URI),
    which is exit 2."""
    shown = redact_url(uri)
    problem = urls.artifact_problem(uri)
    if problem is not None:
        if not from_registry:
            raise UsageError(
                f"SOURCE_URI {shown} cannot be downloaded: {problem}; give model-registry://MODEL/VERSION, "
                "a storage URI or an existing local path"
            )
        raise ArtifactRefusedError(f"refused artifact {shown}: {problem}; fix the model artifact's uri in the registry")
    _refuse_blocked(
        uri, ArtifactRefusedError, f"refused artifact {shown}", "fix the model artifact's uri in the registry"
    )
    allowed = tuple(p for p in allowed_prefixes if p)
    if allowed and not any(uri.startswith(prefix) for prefix in allowed):
        raise ArtifactRefusedError(
            f"refused artifact {shown}: it starts with none of {ALLOW_LIST_VARIABLE} "
            f"({', '.join(allowed)}); register the artifact under an allowed prefix or extend the list"
        )
    row = schemes.row_for(uri)
    if row is not None and row.storage_endpoints is not None:
        for endpoint in endpoints:
            check_endpoint(endpoint, row.storage_endpoints)


def check_endpoint(endpoint: str, what: str, *, from_registry: bool = True) -> None:
    """Refuse an endpoint that configuration supplies for a download (``what`` names its origin): exit 3,
    or exit 2 when it cannot be read one way and is the user's own setting (``from_registry=False``)."""
    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    problem = endpoint_problem(endpoint)
    if problem is not None:
        text = f"refused {what} {redact_url(endpoint)}: {problem}"
        if not from_registry:
            raise UsageError(f"{text}; fix the setting")
        raise ArtifactRefusedError(f"{text}; fix the model artifact's uri in the registry")
    _refuse_blocked(
        url, ArtifactRefusedError, f"refused {what} {redact_url(endpoint)}", "fix the storage configuration"
    )


def check_redirect(url: str) -> None:
    """Refuse (exit 5) a host a download reaches after a redirect: blocked, not http(s), or not one reading."""
    check_redirect_form(url)
    _refuse_blocked(
        url, RedirectRefusedError, f"refused to follow the download to {redact_url(url)}", "nothing was installed"
    )


def check_redirect_form(url: str) -> None:
    """Refuse (exit 5) a URL a download is sent to that is not http(s) or cannot be read one way."""
    try:
        scheme = urls.read(url).scheme
        reason = None if scheme in ("http", "https") else f"a download follows only http(s), not {scheme}://"
    except urls.UrlProblem as problem:
        reason = str(problem)
    if reason is not None:
        raise RedirectRefusedError(
            f"refused to follow the download to {redact_url(url)}: {reason}; nothing was installed"
        )


def guard_pool(pool: Any) -> Any:
    """Make a urllib3 ``PoolManager`` check every URL it opens and every host it connects to (the first
    and each redirect's)."""
    original: Callable[..., Any] = pool.connection_from_host
    original_urlopen: Callable[..., Any] = pool.urlopen
    checked: dict[tuple[str, int | None, str], bool] = {}
    lock = threading.Lock()

    def urlopen(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        check_redirect_form(url)  # the whole URL: a redirect to file:// or to a URL read two ways
        return original_urlopen(method, url, *args, **kwargs)

    def connection_from_host(
        host: str | None, port: int | None = None, scheme: str | None = "http", **kwargs: Any
    ) -> Any:
        if not host or scheme not in ("http", "https"):
            check_redirect(f"{scheme}://{host or ''}/")  # refused: no host, or not http(s)
        assert host is not None
        assert scheme is not None
        key = (host, port, scheme)
        with lock:
            known = key in checked
        if not known:
            bare = host.strip("[]")
            netloc = f"[{bare}]" if ":" in bare else bare
            check_redirect(f"{scheme}://{netloc}{f':{port}' if port else ''}/")
            with lock:
                checked[key] = True
        return original(host, port=port, scheme=scheme, **kwargs)

    pool.connection_from_host = connection_from_host
    pool.urlopen = urlopen  # PoolManager follows a redirect by calling self.urlopen again
    return pool


@contextlib.contextmanager
def requests_redirect_guard() -> Iterator[None]:
    """While ``kserve_storage`` runs: every redirect ``requests`` would follow is checked first."""
    import requests.sessions

    session_class: Any = requests.sessions.Session
    original = session_class.get_redirect_target

    def get_redirect_target(self: Any, resp: Any) -> Any:
        target = original(self, resp)
        if target:
            check_redirect(urljoin(resp.url, target))
        return target

    session_class.get_redirect_target = get_redirect_target
    try:
        yield
    finally:
        session_class.get_redirect_target = original
