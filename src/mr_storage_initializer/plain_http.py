"""GETs of ``http://`` URLs reached directly, over a plain socket: a small model installs without urllib3.

urllib3 (with ``ssl``, ``http.client`` and ``email``) costs 40-70 ms to import, most of a small model's
install. :class:`DirectPool` answers the registry client and the plain-HTTP source with the part of
urllib3's pool they use (``request`` → a response with ``status``, ``headers``, ``read``, ``stream``,
``release_conn``, ``close``) for what it does exactly the same way: a GET of an ``http://`` URL that no
proxy is set for, with printable ASCII in its target, answered with a body framed by ``Content-Length``,
chunks or the end of the connection. Everything else is handed, before anything is sent or at the first
answer, to the urllib3 pool that ``fallback`` builds (imported then): another scheme, a proxy, a redirect to
follow, an encoded body to decode, and every request after a caller asks for :meth:`DirectPool.real` (the
HTTP source does for a file over ``transfer.http.PLAIN_MAX_BYTES``). A failure raises the exception
urllib3 raises for it (imported then), so every caller reads failures one way whichever pool it has;
``raw_errors`` keeps the ``OSError`` instead, for a caller that only asks "did it work" (the registry probe).
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from mr_storage_initializer import USER_AGENT
from mr_storage_initializer.proxy import ProxyConfig

MAX_LINE = 65536  # as http.client: a status or header line longer than this is no HTTP answer
MAX_HEADERS = 100
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_HEADERS = {"Accept-Encoding": "identity", "User-Agent": USER_AGENT}
Timeout = float | tuple[float, float] | None  # seconds; (connect, read)
# What urllib3 sends as given: RFC 3986's path and query characters, percent-escapes in upper case (it
# encodes anything else, and upper-cases an escape); a target with anything more is handed to it.
_AS_GIVEN = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})+")
_HOST = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]+)?")  # lower case, as urllib3 normalises it


class OnFirstUse:
    """A module imported when one of its attributes is first read: ``urllib3.exceptions.HTTPError`` in an
    ``except`` clause imports urllib3 only when an exception reaches that clause."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(__import__(self._name), attr)


urllib3 = OnFirstUse("urllib3")


class ProtocolError(OSError):
    """The answer is not HTTP/1.x as framed here, or the connection ended inside it."""


class _Handover(Exception):
    """What only urllib3 does: the request is made again through the fallback pool."""


class Headers:
    """Answer headers by case-insensitive name; a repeated header's values joined by ", " (as urllib3)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values


class Response:
    """One answer; its body is read from the connection as asked for."""

    def __init__(self, pool: DirectPool, key: tuple[str, int], sock: socket.socket, reader: Any, url: str) -> None:
        self._pool, self._key, self._reader, self._url = pool, key, reader, url
        self._sock: socket.socket | None = sock
        status, self.headers, keep = _read_head(reader)
        self.status = status
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length = _length(self.headers.get("Content-Length")) if not chunked else None
        if status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        self._length, self._chunked, self._chunk_left = length, chunked, 0
        self._reusable = keep and (chunked or length is not None)
        self._done = length == 0

    def read(self, amt: int | None = None, decode_content: bool = False) -> bytes:
        """Up to ``amt`` bytes of the body (all of it when None)."""
        parts: list[bytes] = []
        wanted = amt if amt is not None else -1
        while wanted and not self._done:
            piece = self._next(wanted if wanted > 0 else 1 << 20)
            parts.append(piece)
            wanted = wanted - len(piece) if wanted > 0 else wanted
        return b"".join(parts)

    def stream(self, amt: int, decode_content: bool = False) -> Iterator[bytes]:
        while not self._done:
            piece = self._next(amt)
            if piece:
                yield piece

    def _next(self, limit: int) -> bytes:
        try:
            if self._chunked:
                return self._next_chunk(limit)
            size = limit if self._length is None else min(limit, self._length)
            piece = self._reader.read1(size)
            if not piece:
                if self._length is None:  # the end of the connection ends this body
                    self._done = True
                    return b""
                raise ProtocolError(f"Connection broken: IncompleteRead ({self._length} bytes missing)")
            if self._length is not None:
                self._length -= len(piece)
                self._done = self._length == 0
            return bytes(piece)
        except OSError as exc:
            self.close()
            raise self._pool.error(exc, self._url, reading=True) from exc

    def _next_chunk(self, limit: int) -> bytes:
        if not self._chunk_left:
            line = self._reader.readline(MAX_LINE + 1)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"Connection broken: invalid chunk length {line[:40]!r}") from None
            if size == 0:
                while (trailer := self._reader.readline(MAX_LINE + 1)) not in (b"\r\n", b"\n", b""):
                    pass
                if not trailer:
                    raise ProtocolError("Connection broken: the chunked body ended early")
                self._done = True
                return b""
            self._chunk_left = size
        piece = self._reader.read1(min(limit, self._chunk_left))
        if not piece:
            raise ProtocolError("Connection broken: the chunked body ended early")
        self._chunk_left -= len(piece)
        if not self._chunk_left and self._reader.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
            raise ProtocolError("Connection broken: a chunk does not end in CRLF")
        return bytes(piece)

    def release_conn(self) -> None:
        """Back to the pool when the whole body was read from a connection that stays open; else closed."""
        if self._sock is None:
            return
        if self._done and self._reusable:
            self._pool.put(self._key, self._sock, self._reader)
            self._sock = None
        else:
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
            self._sock = None


class DirectPool:
    """Plain-socket GETs for direct ``http://`` URLs; every other request through ``fallback()``'s pool."""

    def __init__(
        self,
        fallback: Callable[[], Any],
        proxies: ProxyConfig | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout = None,
        check: Callable[[str], None] | None = None,
        raw_errors: bool = False,
    ) -> None:
        self._fallback, self._proxies = fallback, proxies or ProxyConfig()
        self._headers = dict(headers or {})
        self._timeout, self._check, self._raw_errors = timeout, check, raw_errors
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, int], list[tuple[socket.socket, Any]]] = {}
        self._real: Any = None

    def real(self) -> Any:
        """The urllib3 pool, built on first use; from then on it serves every request of this pool."""
        with self._lock:
            if self._real is None:
                self._real = self._fallback()
            return self._real

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None, **kw: Any) -> Any:
        timeout: Timeout = kw.pop("timeout", self._timeout)
        target = self._plain_target(method, url, headers or {})
        if target is not None:
            try:
                return self._get(url, target, {**self._headers, **(headers or {})}, timeout, kw)
            except _Handover:
                pass
        if timeout is not None:
            kw["timeout"] = _urllib3_timeout(timeout)
        return self.real().request(method, url, headers=headers, **kw)

    def _plain_target(self, method: str, url: str, headers: Mapping[str, str]) -> tuple[str, int, str] | None:
        if self._real is not None or method != "GET" or not url.startswith("http://"):
            return None
        if self._proxies.for_url(url) is not None:
            return None
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        values = [*headers.values(), *self._headers.values(), *headers, *self._headers]
        if not (_AS_GIVEN.fullmatch(target) and _HOST.fullmatch(parts.netloc) and all(map(_value, values))):
            return None
        try:
            port = parts.port or 80
        except ValueError:
            return None
        return parts.hostname or "", port, target

    def _get(
        self, url: str, where: tuple[str, int, str], headers: Mapping[str, str], timeout: Timeout, kw: Mapping[str, Any]
    ) -> Response:
        host, port, target = where
        if self._check is not None:
            self._check(url)
        netloc = urlsplit(url).netloc.removesuffix(":80")  # as http.client: no default port in Host
        named = {name.lower() for name in headers}
        lines = [f"GET {target} HTTP/1.1", f"Host: {netloc}"]
        lines += [f"{name}: {value}" for name, value in DEFAULT_HEADERS.items() if name.lower() not in named]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        sock, reader = self._connection((host, port), connect, url)
        try:
            sock.settimeout(read)
            sock.sendall(request)
            response = Response(self, (host, port), sock, reader, url)
        except OSError as exc:
            sock.close()
            raise self.error(exc, url, reading=False) from exc
        encoded = (response.headers.get("Content-Encoding") or "identity") != "identity"
        if (response.status in REDIRECTS and kw.get("redirect", True)) or (encoded and kw.get("decode_content", True)):
            response.close()
            self.real()
            raise _Handover
        return response

    def _connection(self, key: tuple[str, int], connect: float | None, url: str) -> tuple[Any, Any]:
        """A kept connection to ``key`` that the server has not closed (as urllib3 checks it), else a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                kept = idle.pop() if idle else None
            if kept is None:
                break
            if not select.select([kept[0]], [], [], 0)[0]:  # readable before a request: closed, or garbage
                return kept
            kept[1].close()
            kept[0].close()
        try:
            # the host as bytes (it is ASCII, _HOST): a str makes getaddrinfo load the idna codec, ~4 ms
            sock = socket.create_connection((key[0].encode("ascii"), key[1]), timeout=connect)  # type: ignore[arg-type]
        except OSError as exc:
            raise self.error(exc, url, reading=False, connecting=True) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, sock.makefile("rb")

    def put(self, key: tuple[str, int], sock: socket.socket, reader: Any) -> None:
        with self._lock:
            self._idle.setdefault(key, []).append((sock, reader))

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
            real = self._real
        for connections in idle.values():
            for sock, reader in connections:
                reader.close()
                sock.close()
        if real is not None:
            real.clear()

    def error(self, exc: OSError, url: str, *, reading: bool, connecting: bool = False) -> Exception:
        """The exception urllib3 raises for ``exc`` (or ``exc`` itself with ``raw_errors``)."""
        if self._raw_errors:
            return exc
        errors = urllib3.exceptions
        parts = urlsplit(url)
        host = parts.hostname or ""
        where = _Where(f"HTTPConnectionPool(host={host!r}, port={parts.port or 80})")
        made: Exception
        if connecting and isinstance(exc, socket.gaierror):
            made = errors.NameResolutionError(host, where, exc)
        elif isinstance(exc, TimeoutError) and connecting:
            made = errors.ConnectTimeoutError(where, f"Connection to {host} timed out. ({exc})")
        elif isinstance(exc, TimeoutError):
            made = errors.ReadTimeoutError(where, url, f"Read timed out. ({exc})")
        elif connecting:
            made = errors.NewConnectionError(where, f"Failed to establish a new connection: {exc}")
        elif reading:
            made = errors.ProtocolError(f"Connection broken: {exc!r}", exc)
        else:
            made = errors.ProtocolError("Connection aborted.", exc)
        return made


def _read_head(reader: Any) -> tuple[int, Headers, bool]:
    """Status, headers and whether the connection stays open; a ``100 Continue`` is skipped, as http.client."""
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            raise ProtocolError("Remote end closed connection without response")
        words = line.decode("latin-1").rstrip("\r\n").split(None, 2)
        status = int(words[1]) if len(words) >= 2 and words[1].isdigit() else 0
        if len(line) > MAX_LINE or not words[0].startswith("HTTP/1.") or not 100 <= status <= 999:
            raise ProtocolError(f"BadStatusLine({line[:80]!r})")
        pairs: list[tuple[str, str]] = []
        while (header := reader.readline(MAX_LINE + 1)) not in (b"\r\n", b"\n", b""):
            if len(header) > MAX_LINE or len(pairs) >= MAX_HEADERS:
                raise ProtocolError("the answer's header lines are too long or too many")
            text = header.decode("latin-1")
            if text[:1] in (" ", "\t") and pairs:  # a folded line continues the header before it
                pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if colon:
                pairs.append((name.strip(), value.strip()))
        if not header:
            raise ProtocolError("Connection broken inside the answer's headers")
        if status != 100:
            break
    headers = Headers(pairs)
    connection = (headers.get("Connection") or "").lower()
    keep = words[0] == "HTTP/1.1" and "close" not in connection
    return status, headers, keep


def _length(value: str | None) -> int | None:
    """Content-Length as http.client reads it: a valid count, else unknown (the body ends with the connection)."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


class _Where:
    """Stands for urllib3's connection or pool in its exceptions' text."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text


def _value(text: str) -> bool:
    """A header name or value that goes on the wire as given (no line breaks, nothing urllib3 would refuse)."""
    return text.isascii() and text.isprintable() and text == text.strip()


def _urllib3_timeout(timeout: float | tuple[float, float]) -> Any:
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)
