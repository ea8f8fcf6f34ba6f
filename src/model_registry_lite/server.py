"""HTTP front of the embedded registry: versions, auth, body limits, and the spec's error bodies.

Routes live under ``/api/model_registry/v1`` and ``/api/model_registry/v1alpha3``, each as its own spec
has it (see :mod:`model_registry_lite.versions`); a server may serve only one of them.
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from model_registry_lite import versions
from model_registry_lite.api import CODES, MAX_BODY, Api, HttpError, NoRoute
from model_registry_lite.schemas import BadRequest, parse_json
from model_registry_lite.store import Store

JSON_TYPE = "application/json; charset=UTF-8"
NOT_FOUND_TEXT = b"404 page not found\n"  # Go's http.NotFound, for a path no route has

# A refused (413) body is still read, up to this much and for this long, before the connection closes:
# closing with unread data makes the kernel send a reset, and a client still writing never sees the 413.
MAX_DRAIN = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mr-registry-lite"
    server: RegistryServer
    # Headers and body go out in two writes: with Nagle on, the body of every answer after a connection's
    # first waits for the client's delayed ACK (~40 ms on Linux). Go's net/http (the upstream server) sets
    # TCP_NODELAY on every connection; so do we.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    extra_headers: tuple[tuple[str, str], ...] = ()
    body_read = False
    unread = 0  # bytes of a refused body still to drain

    def _send(
        self, status: int, payload: Any, *, content_type: str | None = JSON_TYPE, raw: bytes | None = None
    ) -> None:
        """An answer as upstream's Go server writes it: JSON as ``application/json; charset=UTF-8``."""
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        self._send(status, {"code": code or CODES.get(status, str(status)), "message": message})

    def _drain(self) -> None:
        """Read (and drop) a refused body, bounded in size and time, so that closing does not reset."""
        todo, self.unread = min(self.unread, MAX_DRAIN), 0
        deadline = time.monotonic() + DRAIN_SECONDS
        with contextlib.suppress(OSError):
            self.wfile.flush()
            while todo > 0 and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(todo, 65536))
                if not chunk:
                    break
                todo -= len(chunk)

    def _skip_body(self) -> None:
        """An answer given before the body was read (401, 404, 410 …): drain the body, then close, so that
        it is never taken for the next request on a kept-alive connection."""
        length = self.headers.get("Content-Length", "0") or "0"
        if not self.body_read and length.isascii() and length.isdigit() and int(length) > 0:
            self.close_connection = True
            self.unread = int(length)

    def _read_body(self) -> Any:
        self.body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        length_header = self.headers.get("Content-Length", "0") or "0"
        if not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            raise HttpError(400, "invalid Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            self.close_connection = True
            self.unread = length
            raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length else b""
        try:
            return parse_json(raw)
        except BadRequest as exc:  # encoding/json's sentences (EOF, invalid character …, max depth)
            raise HttpError(400, str(exc)) from None

    def _handle(self, method: str) -> None:
        self.extra_headers, self.body_read = (), False
        try:
            split = urlsplit(self.path)
            found = versions.version_of(split.path, self.server.api_versions)
            if found is None:
                raise NoRoute(404)
            version, path = found
            if version.name == versions.ALPHA:
                self.extra_headers = self.server.alpha_headers
                if self.server.alpha_gone:
                    raise HttpError(410, f"API {version.name} is gone: use {versions.ROOT}/v1")
            token = self.server.token
            if token is not None:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    raise HttpError(401, "missing or invalid bearer token")
            try:
                query = {
                    k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True, strict_parsing=False).items()
                }
            except ValueError:
                raise HttpError(400, "invalid query string") from None
            read = self._read_body if method in ("POST", "PATCH") else (lambda: None)
            status, payload = self.server.api.dispatch(method, path, query, read, version)
            self._send(status, payload)
        except NoRoute as exc:  # Go's mux: 404 "404 page not found" as text, 405 with no body
            self._skip_body()
            if exc.status == 404:
                self._send(404, None, content_type="text/plain; charset=utf-8", raw=NOT_FOUND_TEXT)
            else:
                self._send(405, None, content_type=None, raw=b"")
        except HttpError as exc:
            self._skip_body()
            self._error(exc.status, exc.message, exc.code)
        except Exception as exc:  # a bug: answer 500 with the error body rather than dropping the connection
            self._skip_body()
            self._error(500, f"internal error: {type(exc).__name__}")
        if self.unread:
            self._drain()

    def __getattr__(self, name: str) -> Any:
        # Every method (GET, POST, PATCH, and HEAD, PUT, DELETE, OPTIONS, TRACE, …): the routes decide;
        # a method a path does not have is 405 there, 404 elsewhere, as JSON.
        if name.startswith("do_") and name[3:].isalpha():
            return lambda: self._handle(name[3:])
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, headers too long) also get the spec's error body."""
        del explain
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._error(code, message or CODES.get(code, "error"))


def address_family(host: str) -> socket.AddressFamily:
    """The family to listen with on ``host``: IPv6 for an IPv6 address (``::1``, ``::``) or a name that
    resolves only to one, else IPv4 (socketserver's default is IPv4 alone)."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host.split("%", 1)[0]).version == 6 else socket.AF_INET
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host or None, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return socket.AF_INET  # bind reports the name in its own words
    families = [info[0] for info in infos]
    return socket.AF_INET if socket.AF_INET in families or not families else families[0]


class RegistryServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog. socketserver's default of 5 drops the SYNs of a crowd of initializers starting at
    # once (a 200-replica rollout), and each dropped SYN costs its client a 1 s retransmit; the kernel caps it
    # at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        *,
        token: str | None = None,
        verbose: bool = False,
        api_versions: tuple[str, ...] = tuple(versions.VERSIONS),
        alpha_sunset: str | None = None,
        alpha_gone: bool = False,
    ) -> None:
        host = address[0].strip("[]")  # --host [::1] as well as ::1
        self.address_family = address_family(host)
        super().__init__((host, address[1]), Handler)
        self.api = Api(store)
        self.token = token
        self.verbose = verbose
        self.api_versions = api_versions
        self.alpha_headers = versions.sunset_headers(alpha_sunset) if alpha_sunset else ()
        self.alpha_gone = alpha_gone
