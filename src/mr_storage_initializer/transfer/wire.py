"""HTTP plumbing shared by the sources that speak HTTP themselves (plain HTTP, GCS): one urllib3 pool,
requests that fail as :class:`SourceError` (transient or not), byte-range checks, streamed bodies that
never return a half-read connection to the pool."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mr_storage_initializer import retry
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.transfer import splice
from mr_storage_initializer.transfer.source import (
    CHANGED,
    Sink,
    SourceError,
    broken,
    transport_failure,
)

if TYPE_CHECKING:
    import ssl

    import urllib3
else:  # read only when a request failed: a plain-HTTP download may run without it (plain_http)
    from mr_storage_initializer.plain_http import urllib3

TIMEOUT = 30.0  # seconds to connect and between bytes, as KServe's HTTP downloader
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


def origin(url: str) -> tuple[str, str]:
    """``(scheme, host[:port])`` of ``url``, lower-case: where a credential may go (never to another origin)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def new_pool(
    connections: int, context: ssl.SSLContext | None, private: Collection[str] = (), proxies: ProxyConfig | None = None
) -> Any:
    """A pool that follows redirects, dropping ``Authorization``, cookies and the ``private`` headers (the
    user's ``<host>-headers``) when a redirect leads to another host (scheme, name or port); each URL, each
    redirect's included, is fetched through the proxy :meth:`ProxyConfig.for_url` names, or directly."""
    import urllib3

    from mr_storage_initializer.policy import guard_pool
    from mr_storage_initializer.proxy_pool import pool_manager

    strip = {"authorization", "proxy-authorization", "cookie", *(name.lower() for name in private)}
    return pool_manager(  # the artifact policy, on the first host and after every redirect, proxied or not
        proxies or ProxyConfig(),
        wrap=guard_pool,
        num_pools=4,
        maxsize=connections,
        ssl_context=context,
        timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT),
        retries=urllib3.Retry(
            total=None, connect=0, read=0, status=0, other=0, redirect=5, remove_headers_on_redirect=strip
        ),
    )


def timeout(seconds: float) -> Any:
    """urllib3's timeout of ``seconds`` to connect and between bytes (built once per source, not per request)."""
    import urllib3

    return urllib3.Timeout(connect=seconds, read=seconds)


def get(
    pool: Any,
    url: str,
    headers: Mapping[str, str],
    byte_range: tuple[int, int] | None = None,
    *,
    denied_hint: str,
    tls_hint: str,
) -> Any:
    """A streaming GET of ``url`` (``byte_range`` = ``[start, end)``); a status >= 400 is a SourceError."""
    sent = dict(headers)
    if byte_range is not None:
        sent["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
    try:
        response = pool.request("GET", url, headers=sent, preload_content=False, decode_content=False)
    except urllib3.exceptions.HTTPError as exc:
        raise transport_failure(exc, TIMEOUT, tls_hint) from exc
    if response.status >= 400:
        discard(response)
        raise status_error(response.status, denied_hint)
    return response


def discard(response: Any) -> None:
    """Done with an answer whose body is not wanted (a redirect, an error): a short body is read so that the
    connection can be reused; anything longer (or broken) closes it. A connection given back with its answer
    unread fails its next request (http.client: ``ResponseNotReady``), even when that body is empty."""
    length = response.headers.get("Content-Length", "")
    try:
        if length.isdigit() and int(length) <= 65536:
            response.read()
            response.release_conn()
            return
    except Exception:  # noqa: S110 - the connection is closed below either way
        pass
    response.close()


def status_error(status: int, denied_hint: str) -> SourceError:
    if status == 404:
        return SourceError("it does not exist (HTTP 404)", transient=False)
    if status == 412:
        return SourceError(f"{CHANGED} (HTTP 412)", transient=False)
    if status in (401, 403):
        return SourceError(f"access was denied (HTTP {status}); {denied_hint}", transient=False)
    if status == 407:
        return SourceError("the proxy requires credentials (HTTP 407); put them in HTTP(S)_PROXY", transient=False)
    return SourceError(f"the server answered HTTP {status}", transient=retry.transient_status(status))


def content_range(response: Any) -> tuple[int, int | None] | None:
    """(first byte, total size or None) of a 206 answer, or None when it carries no valid Content-Range."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status != 206 or not match:
        return None
    return int(match.group(1)), None if match.group(3) == "*" else int(match.group(3))


def stream(
    response: Any,
    start: int | None,
    chunk: int,
    tls_hint: str,
    *,
    timeout: float = TIMEOUT,
    sink: Sink | None = None,
) -> Iterator[bytes | memoryview | int]:
    """The body in chunks; with ``start``, the answer must be the range beginning there.

    With a ``sink``, a plain-HTTP body goes from the socket into the file by ``os.splice`` (see
    :mod:`.splice`), and the chunks are counts of bytes written there. Otherwise the bytes are read with
    ``readinto`` into one buffer per response, reused for every chunk: each chunk is valid until the next
    one is asked for (the engine writes it before that). This saves a 1 MiB allocation per chunk, and its
    page faults, which urllib3's ``stream`` pays (see benchmarks/RESULTS.md).
    """
    complete = False
    try:
        if start is not None:
            got = content_range(response)
            if got is None or got[0] != start:
                raise SourceError(f"the server did not answer the range starting at {start}", transient=False)
        raw = getattr(response, "_fp", None)  # http.client's response: urllib3 adds nothing we use here
        sock = splice.usable(response, raw, sink) if raw is not None else None
        if raw is not None and sock is not None and sink is not None:
            yield from splice.body(raw, sock, sink, timeout)
            if raw.length:  # the destination refused splices: the rest the ordinary way
                yield from _readinto(raw, chunk, tls_hint, timeout)
        elif raw is None or not hasattr(raw, "readinto") or response.headers.get("Content-Encoding"):
            yield from response.stream(chunk, decode_content=False)
        else:
            yield from _readinto(raw, chunk, tls_hint, timeout)
        complete = True
    except urllib3.exceptions.HTTPError as exc:
        raise transport_failure(exc, timeout, tls_hint) from exc
    finally:
        if complete:
            response.release_conn()
        else:  # a connection with unread bytes must not go back to the pool
            response.close()


def _readinto(raw: Any, chunk: int, tls_hint: str, timeout: float = TIMEOUT) -> Iterator[memoryview]:
    import http.client

    length = getattr(raw, "length", None)  # a small body gets a buffer of its size, not a zeroed 1 MiB
    view = memoryview(bytearray(min(chunk, length) if isinstance(length, int) and length > 0 else chunk))
    while True:
        try:
            n = raw.readinto(view)
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError and TimeoutError are OSErrors
            raise transport_failure(exc, timeout, tls_hint) from exc
        if not n:
            break
        yield view[:n]
    if getattr(raw, "length", None):  # http.client counts down Content-Length; bytes still owed: a cut
        raise broken(f"{raw.length} bytes missing")
