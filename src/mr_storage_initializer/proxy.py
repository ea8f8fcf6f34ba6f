"""Which proxy, if any, a URL is fetched through: Go's rules (``golang.org/x/net/http/httpproxy``), decided here.

The upstream Go CSI follows ``ProxyFromEnvironment``; this module applies the same rules to every path of
the initializer (the registry client, the own engine's urllib3 pools, obstore's S3 and Azure clients) and
hands the answer to each client explicitly, so that no library applies rules of its own:

- ``HTTPS_PROXY`` for ``https://`` URLs, ``HTTP_PROXY`` for ``http://``; each upper-case name before its
  lower-case form (the first that is set and not empty wins). A proxy without a scheme is ``http://``;
  ``http://`` and ``https://`` proxies are supported (``socks5://`` is refused at start, exit 2).
- ``NO_PROXY`` (then ``no_proxy``): comma-separated; ``*`` alone turns proxies off; a host name matches
  itself and its subdomains (``example.com``, ``.example.com`` and ``*.example.com`` all match
  ``a.example.com``; only the bare form matches ``example.com`` itself); an IP address matches that address;
  a CIDR range (``10.0.0.0/8``, ``fd00::/8``) the addresses in it; ``HOST:PORT`` or ``[V6]:PORT`` only that
  port.
- ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``) are never proxied, whatever the variables say.

A proxy's credentials (``http://user:password@proxy:3128``) are sent as ``Proxy-Authorization: Basic``
and never printed (:attr:`ProxyConfig.shown`).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.redact import register_secret
from mr_storage_initializer.values import dataclass, field

# The variables, in the order Go reads them.
HTTPS_NAMES = ("HTTPS_PROXY", "https_proxy")
HTTP_NAMES = ("HTTP_PROXY", "http_proxy")
NO_PROXY_NAMES = ("NO_PROXY", "no_proxy")
NAMES = frozenset({*HTTPS_NAMES, *HTTP_NAMES, *NO_PROXY_NAMES})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
Ip = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class _Domain:
    suffix: str  # always starts with '.'
    port: str
    match_host: bool  # the bare name matches too (the entry had no leading '.' or '*.')

    def matches(self, host: str, port: str) -> bool:
        if host.endswith(self.suffix) or (self.match_host and host == self.suffix[1:]):
            return not self.port or self.port == port
        return False


@dataclass(frozen=True)
class NoProxy:
    """``NO_PROXY`` parsed once, as Go's ``httpproxy.Config`` does."""

    everything: bool = False
    addresses: tuple[tuple[Ip, str], ...] = ()
    networks: tuple[IpNet, ...] = ()
    domains: tuple[_Domain, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> NoProxy:
        addresses: list[tuple[Ip, str]] = []
        networks: list[IpNet] = []
        domains: list[_Domain] = []
        for item in raw.split(","):
            entry = item.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(everything=True)
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    pass
            host, port = _split_host_port(entry)
            ip = _ip(host)
            if ip is not None:
                addresses.append((ip, port))
                continue
            if not host:
                continue
            if host.startswith("*."):
                host = host[1:]
            match_host = not host.startswith(".")
            suffix = host if not match_host else f".{host}"
            domains.append(_Domain(_ascii(suffix), port, match_host))
        return cls(False, tuple(addresses), tuple(networks), tuple(domains))

    def bypasses(self, host: str, port: str) -> bool:
        if self.everything:
            return True
        ip = _ip(host)
        if ip is not None:
            if any(ip == known and (not p or p == port) for known, p in self.addresses):
                return True
            if any(ip.version == net.version and ip in net for net in self.networks):
                return True
        return any(domain.matches(host, port) for domain in self.domains)


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy variables of the environment, read once (``Settings.proxy``); :meth:`for_url` decides."""

    https_proxy: str = ""  # normalised proxy URLs (scheme, host, port; userinfo kept), '' when unset
    http_proxy: str = ""
    no_proxy: str = ""  # NO_PROXY as given
    _rules: NoProxy = field(default_factory=NoProxy, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProxyConfig:
        """The variables of ``env``; an unusable proxy URL is a :class:`UsageError` (exit 2, at start)."""
        https = _first(env, HTTPS_NAMES)
        plain = _first(env, HTTP_NAMES)
        no_proxy = _first(env, NO_PROXY_NAMES)
        return cls(
            https_proxy=_normalise(https[1], https[0]) if https[1] else "",
            http_proxy=_normalise(plain[1], plain[0]) if plain[1] else "",
            no_proxy=no_proxy[1],
            _rules=NoProxy.parse(no_proxy[1]),
        )

    def __repr__(self) -> str:  # never the credentials
        shown = {k: self.shown(v) if v else "" for k, v in (("https", self.https_proxy), ("http", self.http_proxy))}
        return f"ProxyConfig(https_proxy={shown['https']!r}, http_proxy={shown['http']!r}, no_proxy={self.no_proxy!r})"

    @property
    def configured(self) -> bool:
        """Whether any proxy is set (when none is, every client connects directly)."""
        return bool(self.https_proxy or self.http_proxy)

    def for_url(self, url: str) -> str | None:
        """The proxy URL to fetch ``url`` through (userinfo included), or None to connect directly."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        proxy = self.https_proxy if scheme == "https" else self.http_proxy if scheme == "http" else ""
        if not proxy:
            return None
        host = _ascii((parts.hostname or "").lower())
        if not host or host == "localhost":
            return None
        ip = _ip(host)
        if ip is not None and _loopback(ip):
            return None
        if self._rules.bypasses(host, str(port) if port else _DEFAULT_PORTS.get(scheme, "")):
            return None
        return proxy

    def route(self, url: str) -> dict[str, str]:
        """For a log line's fields: ``{"proxy": "http://proxy:3128"}`` or ``{"proxy": "direct"}`` when any proxy is
        configured (credentials never shown); nothing when none is."""
        if not self.configured:
            return {}
        chosen = self.for_url(url)
        return {"proxy": self.shown(chosen) if chosen else "direct"}

    def environment(self) -> dict[str, str]:
        """The variables for libraries that read the environment themselves (``requests``, ``boto3``, the
        ``hf://`` child): both spellings of each set to the value Go's order chose, and ``NO_PROXY`` with
        loopback added, which Go never proxies and Python's libraries would."""
        out: dict[str, str] = {}
        for names, value in ((HTTPS_NAMES, self.https_proxy), (HTTP_NAMES, self.http_proxy)):
            if value:
                out.update(dict.fromkeys(names, value))
        if self.configured:
            loopback = "localhost,127.0.0.0/8,::1"
            out.update(dict.fromkeys(NO_PROXY_NAMES, f"{self.no_proxy},{loopback}" if self.no_proxy else loopback))
        return out

    def obstore_options(self, endpoint: str) -> dict[str, str]:
        """obstore ``client_options`` for a store whose requests go to ``endpoint``.

        obstore (reqwest) reads the proxy variables itself, with its own rules (it proxies loopback), unless
        a proxy is given: so when any is configured, one always is, with ``endpoint``'s host (and its
        subdomains, for virtual-hosted buckets) excluded when this module decides it goes direct. (reqwest
        ignores a ``*`` exclusion.)"""
        if not self.configured:
            return {}
        proxy = self.for_url(endpoint)
        if proxy is not None:
            return {"proxy_url": proxy}
        try:
            host = urlsplit(endpoint).hostname or ""
        except ValueError:
            host = ""
        return {"proxy_url": self.https_proxy or self.http_proxy, "proxy_excludes": host or "localhost"}

    @staticmethod
    def shown(proxy: str) -> str:
        """``proxy`` without its credentials, for log lines."""
        parts = urlsplit(proxy)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    @staticmethod
    def without_userinfo(proxy: str) -> tuple[str, dict[str, str]]:
        """(``proxy`` without userinfo, the ``Proxy-Authorization`` header its userinfo makes, or none).

        urllib3's ``ProxyManager`` ignores a proxy URL's userinfo: the credentials go in as a header."""
        parts = urlsplit(proxy)
        userinfo, at, _ = parts.netloc.rpartition("@")
        if not at:
            return proxy, {}
        import base64  # only for credentials in a proxy URL

        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
        return ProxyConfig.shown(proxy), {"Proxy-Authorization": f"Basic {token}"}


def _first(env: Mapping[str, str], names: tuple[str, str]) -> tuple[str, str]:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return names[0], ""


def _normalise(raw: str, name: str) -> str:
    """Go's ``parseProxy``: a value without a scheme is ``http://``; the port defaults by scheme."""
    candidate = raw if "://" in raw else f"http://{raw}"
    try:
        parts = urlsplit(candidate)
        port = parts.port
        host = parts.hostname
    except ValueError:
        host, port = None, None
        parts = None
    if parts is None or not host:
        raise UsageError(f"{name} is not a proxy URL such as http://proxy.example.com:3128")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UsageError(
            f"{name} uses the {scheme}:// scheme; only http:// and https:// proxies are supported "
            "(socks5 proxies are not)"
        )
    userinfo, at, _ = parts.netloc.rpartition("@")
    password = userinfo.partition(":")[2]
    for secret in {password, unquote(password)} - {""}:
        register_secret(secret)  # masked wherever it would appear, beyond the URL scanner's userinfo rule
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{userinfo}{at}{netloc}:{port or _DEFAULT_PORTS[scheme]}"


def _split_host_port(entry: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort`` as ``httpproxy`` uses it: ``HOST:PORT``, ``[V6]:PORT``; else all host."""
    if entry.startswith("["):
        end = entry.find("]")
        if end > 0 and entry[end + 1 : end + 2] == ":" and entry[end + 2 :].isdigit():
            return entry[1:end], entry[end + 2 :]
        return entry.strip("[]"), ""
    host, sep, port = entry.rpartition(":")
    if sep and ":" not in host and port.isdigit():
        return host, port
    return entry, ""


def _ip(host: str) -> Ip | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _loopback(ip: Ip) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _ascii(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def of_env(env: Mapping[str, str]) -> ProxyConfig:
    """The :class:`ProxyConfig` of a source's storage environment (``Settings.storage_env`` carries the
    proxy variables, as :meth:`ProxyConfig.environment` wrote them), parsed once per distinct value."""
    return _parsed(tuple((name, env.get(name, "")) for name in sorted(NAMES)))


@functools.lru_cache(maxsize=8)
def _parsed(items: tuple[tuple[str, str], ...]) -> ProxyConfig:
    try:
        return ProxyConfig.from_env(dict(items))
    except UsageError:  # checked at start by Settings; a source handed odd values goes direct
        return ProxyConfig()
