"""Plain HTTP(S) source for the fast engine: one file per URL, fetched in byte ranges over urllib3.

It keeps ``kserve_storage``'s rules for a URL so results match: the file is named after the URL's last
path segment; ``<host>-headers`` (a JSON object in the environment) adds request headers for that host;
the ``Content-Type`` must be ``application/octet-stream`` (zip or tar types for archives by their name);
``.tar``/``.tar.gz``/``.tgz``/``.zip`` are unpacked; TLS trusts ``REQUESTS_CA_BUNDLE`` when set, else the
system store, certifi's and KServe's global bundle (``CA_BUNDLE_CONFIGMAP_NAME``); timeouts are 30 s.

The first request asks for one byte (``Range: bytes=0-0``): a ``206`` gives the size and proves ranges
work; a ``200`` means the server ignores ranges, and the file comes in one stream (its length, when
announced, is still checked). A compressed non-archive (``model.bin.gz``) goes to ``kserve_storage``.

An ``http://`` URL fetched directly is asked on plain sockets (:mod:`~mr_storage_initializer.plain_http`),
a small model's whole download without importing urllib3; a redirect, and the ranges of a file larger
than :data:`PLAIN_MAX_BYTES` (where ``os.splice`` pays), go through the urllib3 pool, as everything else.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mr_storage_initializer import plain_http, proxy
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.tls import http_context
from mr_storage_initializer.transfer import own_engine, wire
from mr_storage_initializer.transfer.plan import RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import Sink, Unsupported, changed

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine, Hooks

_READ_CHUNK = 1 << 20
PLAIN_MAX_BYTES = 8 << 20  # a larger file's ranges go through urllib3 (splice); its import is paid back
_ZIP_TYPES = ("application/x-zip-compressed", "application/zip", "application/zip-compressed")
_TAR_TYPES = ("application/x-tar", "application/x-gtar", "application/x-gzip", "application/gzip")


def _guess(path: str, query: str) -> tuple[str | None, str | None]:
    """KServe's guess of (mimetype, encoding): by the path, else by the query string."""
    if mimetypes.guess_type(path)[0] is None and query:
        return mimetypes.guess_type(query)
    return mimetypes.guess_type(path)


def host_headers(env: Mapping[str, str], host: str) -> dict[str, str]:
    raw = env.get(f"{host}-headers", "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UsageError(f"{host}-headers must be a JSON object of header names to values")
    return {str(k): str(v) for k, v in value.items()}


def _validator(response: Any) -> str:
    """What identifies this version of the file: its ETag, else its Last-Modified date ("" if neither)."""
    headers = response.headers
    return str(headers.get("ETag") or headers.get("Last-Modified") or "")


_DENIED = "check the headers set in <host>-headers"
_TLS = "check REQUESTS_CA_BUNDLE"


def _guard() -> Callable[[str], None]:
    """The artifact policy on each URL the plain pool fetches and each host it connects to, as
    :func:`~mr_storage_initializer.policy.guard_pool` has it for a urllib3 pool."""
    from mr_storage_initializer import policy

    checked: set[tuple[str, str]] = set()

    def check(url: str) -> None:
        policy.check_redirect_form(url)
        where = wire.origin(url)
        if where not in checked:
            policy.check_redirect(f"{where[0]}://{where[1]}/")
            checked.add(where)

    return check


class HttpSource:
    label = "http"

    def __init__(self, url: str, env: Mapping[str, str], *, connections: int = 8) -> None:
        parts = urlsplit(url)
        userinfo = None
        if parts.username is not None or parts.password is not None:  # user:pw@host: Basic auth, that host only
            userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            netloc = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=netloc)
        self.url = urlunsplit(parts)
        self.shown = redact_url(url)
        self.name = posixpath.basename(unquote(parts.path))
        if not self.name:
            raise StorageError(f"no file name in the URL {self.shown}; it must end in the file to download")
        self.mimetype, encoding = _guess(parts.path, parts.query)
        if encoding is not None and self.mimetype != "application/x-tar":
            raise Unsupported(f"{self.name} is {encoding}-compressed; KServe's downloader decompresses it")
        self.headers = host_headers(env, parts.hostname or "")
        if userinfo is not None and not any(k.lower() == "authorization" for k in self.headers):
            import base64  # only for credentials in the URL

            self.headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode("ascii")
        context = http_context(env) if parts.scheme == "https" else None
        proxies = proxy.of_env(env)
        self.pool = plain_http.DirectPool(
            lambda: wire.new_pool(connections, context, private=self.headers, proxies=proxies),
            proxies,
            timeout=wire.TIMEOUT,
            check=_guard(),
        )

    def _get(self, byte_range: tuple[int, int] | None, pinned: str = "") -> Any:
        headers = self.headers
        if pinned and byte_range is not None and not pinned.startswith("W/"):
            headers = {**headers, "If-Range": pinned}  # another version answers 200 (whole), never its bytes
        return wire.get(self.pool, self.url, headers, byte_range, denied_hint=_DENIED, tls_hint=_TLS)

    # -- Source ---------------------------------------------------------------------------------------
    def list(self) -> list[RemoteFile]:
        response = self._get((0, 1))
        try:
            self._check_type(response.headers.get("Content-Type", ""))
            if response.status == 206:
                got = wire.content_range(response)
                if got is None or got[1] is None:
                    raise Unsupported("the server's Content-Range gives no total size")
                response.read()
                response.release_conn()
                rel = safe_relpath(self.name, "URL file name")
                return [self._planned(RemoteFile(self.url, rel, got[1], ranges=True, version=_validator(response)))]
            length = response.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Unsupported("the server announces no length and no ranges")
            rel = safe_relpath(self.name, "URL file name")
            return [self._planned(RemoteFile(self.url, rel, int(length), ranges=False, version=_validator(response)))]
        finally:
            response.close()  # a 200's body is never read here: that connection is dropped, not reused

    def _planned(self, remote: RemoteFile) -> RemoteFile:
        if remote.size > PLAIN_MAX_BYTES:
            self.pool.real()  # from now on every request of this source goes through urllib3
        return remote

    def _check_type(self, content_type: str) -> None:
        if self.mimetype == "application/zip":
            wanted: tuple[str, ...] = _ZIP_TYPES
        elif self.mimetype == "application/x-tar":
            wanted = _TAR_TYPES
        else:
            wanted = ("application/octet-stream",)
        if not content_type.startswith(wanted):
            raise StorageError(
                f"downloading {self.shown} failed: it answered Content-Type {content_type or 'none'!r}, "
                f"not {' or '.join(wanted)}; is it an error page instead of the model?"
            )

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        response = self._get((start, end) if remote.ranges else None, remote.version)
        now = _validator(response)
        # a compliant server answers If-Range with 200 when the file changed; a validator that differs is
        # a change whatever the status (one left out of a 206 is not: If-Range already vouched for it)
        if remote.version and ((now and now != remote.version) or (remote.ranges and response.status == 200)):
            response.close()
            raise changed(remote, now or "a whole answer to a range request")
        yield from wire.stream(response, start if remote.ranges else None, _READ_CHUNK, _TLS, sink=sink)

    def close(self) -> None:
        self.pool.clear()


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for a plain ``http(s)://`` file (the scheme row's builder)."""
    return own_engine.pooled(HttpSource, uri, settings, tunables, hooks)
