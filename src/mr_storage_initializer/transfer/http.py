"""Plain HTTP(S) source for the fast engine: one file per URL, fetched in byte ranges over urllib3.

It keeps ``kserve_storage``'s rules for a URL so results match: the file is named after the URL's last
path segment; ``<host>-headers`` (a JSON object in the environment) adds request headers for that host;
the ``Content-Type`` must be ``application/octet-stream`` (zip or tar types for archives by their name);
``.tar``/``.tar.gz``/``.tgz``/``.zip`` are unpacked; TLS trusts ``REQUESTS_CA_BUNDLE`` when set, else the
system store, certifi's and KServe's global bundle (``CA_BUNDLE_CONFIGMAP_NAME``); timeouts are 30 s.

The first request asks for one byte (``Range: bytes=0-0``): a ``206`` gives the size and proves ranges
work; a ``200`` means the server ignores ranges, and the file comes in one stream (its length, when
announced, is still checked). A compressed non-archive (``model.bin.gz``) goes to ``kserve_storage``.
"""

from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import re
import ssl
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.transfer.plan import RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import SourceError, Unsupported

_READ_CHUNK = 1 << 20
_TIMEOUT = 30.0
_ZIP_TYPES = ("application/x-zip-compressed", "application/zip", "application/zip-compressed")
_TAR_TYPES = ("application/x-tar", "application/x-gtar", "application/x-gzip", "application/gzip")
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


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


def ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    explicit = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE")
    if explicit:
        return ssl.create_default_context(cafile=explicit)
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with kserve-storage
        pass
    if env.get("CA_BUNDLE_CONFIGMAP_NAME"):
        bundle = os.path.join(env.get("CA_BUNDLE_VOLUME_MOUNT_POINT", "/etc/ssl/custom-certs"), "cabundle.crt")
        if os.path.exists(bundle):
            context.load_verify_locations(cafile=bundle)
    return context


class _Status(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class HttpSource:
    label = "http"

    def __init__(self, url: str, env: Mapping[str, str], *, connections: int = 8) -> None:
        import urllib3

        self.url = url
        parts = urlsplit(url)
        self.shown = redact_url(url)
        self.name = posixpath.basename(unquote(parts.path))
        if not self.name:
            raise StorageError(f"no file name in the URL {self.shown}; it must end in the file to download")
        self.mimetype, encoding = _guess(parts.path, parts.query)
        if encoding is not None and self.mimetype != "application/x-tar":
            raise Unsupported(f"{self.name} is {encoding}-compressed; KServe's downloader decompresses it")
        self.headers = host_headers(env, parts.hostname or "")
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=connections,
            ssl_context=ssl_context(env) if parts.scheme == "https" else None,
            timeout=urllib3.Timeout(connect=_TIMEOUT, read=_TIMEOUT),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
        )

    # -- requests -------------------------------------------------------------------------------------
    def _get(self, byte_range: tuple[int, int] | None) -> Any:
        import urllib3

        headers = dict(self.headers)
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
        try:
            response = self.pool.request("GET", self.url, headers=headers, preload_content=False, decode_content=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise self._error(exc.reason or exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self._error(exc) from exc
        if response.status >= 400:
            response.release_conn()
            raise self._status_error(response.status)
        return response

    def _status_error(self, status: int) -> SourceError:
        if status == 404:
            return SourceError("it does not exist (HTTP 404)", transient=False)
        if status in (401, 403):
            return SourceError(
                f"access was denied (HTTP {status}); check the headers set in <host>-headers",
                transient=False,
            )
        transient = status in (408, 429) or status >= 500
        return SourceError(f"the server answered HTTP {status}", transient=transient)

    def _error(self, exc: BaseException) -> SourceError:
        import urllib3

        if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
            return SourceError(f"TLS failed ({exc}); check REQUESTS_CA_BUNDLE", transient=False)
        text = " ".join(str(exc).split())[:200]
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return SourceError(f"the connection broke mid-transfer ({text})", transient=True)
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return SourceError(f"the server did not answer within {_TIMEOUT:g}s ({text})", transient=True)
        return SourceError(f"{type(exc).__name__} ({text})", transient=True)

    # -- Source ---------------------------------------------------------------------------------------
    def list(self) -> list[RemoteFile]:
        response = self._get((0, 1))
        try:
            self._check_type(response.headers.get("Content-Type", ""))
            if response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or match.group(3) == "*":
                    raise Unsupported("the server's Content-Range gives no total size")
                size = int(match.group(3))
                response.read()
                response.release_conn()
                return [RemoteFile(self.url, safe_relpath(self.name, "URL file name"), size, ranges=True)]
            length = response.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise Unsupported("the server announces no length and no ranges")
            return [RemoteFile(self.url, safe_relpath(self.name, "URL file name"), int(length), ranges=False)]
        finally:
            response.close()  # a 200's body is never read here: that connection is dropped, not reused

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
                f"not {' or '.join(wanted)}; "
                "is it an error page instead of the model?"
            )

    def read(self, remote: RemoteFile, start: int, end: int) -> Iterator[bytes | memoryview]:
        import urllib3

        response = self._get((start, end) if remote.ranges else None)
        complete = False
        try:
            if remote.ranges:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if response.status != 206 or not match or int(match.group(1)) != start:
                    raise SourceError(f"the server did not answer the range {start}-{end - 1}", transient=False)
            yield from response.stream(_READ_CHUNK, decode_content=False)
            complete = True
        except urllib3.exceptions.HTTPError as exc:
            raise self._error(exc) from exc
        finally:
            if complete:
                response.release_conn()
            else:  # a connection with unread bytes must not go back to the pool
                response.close()

    def close(self) -> None:
        self.pool.clear()
