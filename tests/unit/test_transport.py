"""transport.classify, the one table of transport failures, fed what real sockets and servers on 127.0.0.1
make urllib3, http.client and ssl raise; and its readers agree: the registry client and the sources."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from fixtures.tls import TlsFiles
from mr_storage_initializer import retry
from mr_storage_initializer.api_version import Learned
from mr_storage_initializer.errors import RegistryUnreachableError
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.registry_exchange import Exchange
from mr_storage_initializer.transfer.objectstore import ObstoreSource
from mr_storage_initializer.transfer.source import transport_failure
from mr_storage_initializer.transport import Kind, classify, classify_text

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def _server(handle: Handler) -> Iterator[int]:
    """A listening socket on 127.0.0.1 whose accepted connections ``handle`` serves, one thread each."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    def _serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            handle(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def _refused_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, never listening: connections are refused)."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    _HELD.append(holder)
    return int(holder.getsockname()[1])


_HELD: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _release_ports() -> Iterator[None]:
    yield
    while _HELD:
        _HELD.pop().close()


def _request(url: str, *, read: float = 5.0, body: bool = False, **pool: Any) -> BaseException:
    """What one GET of ``url`` (and reading its body when ``body``) raised, as the registry's pool makes it."""
    manager = pool.pop("manager", None) or urllib3.PoolManager(retries=False, **pool)
    try:
        response = manager.request(
            "GET", url, timeout=urllib3.Timeout(connect=5.0, read=read), preload_content=False, redirect=False
        )
        if body:
            response.read()
    except urllib3.exceptions.HTTPError as exc:
        return exc
    finally:
        manager.clear()
    raise AssertionError(f"GET {url} did not fail")


def _silent(conn: socket.socket) -> None:
    conn.recv(65536)
    threading.Event().wait(10)  # holds the connection, says nothing; the client gives up first


def _cut_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)


def _reset_mid_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST


def _plain_http(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _tls(files: TlsFiles, then: Handler | None = None) -> Handler:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.chain, files.key)

    def handle(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            if then is not None:
                then(tls)

    return handle


def _hangs_up_in_the_handshake(conn: socket.socket) -> None:
    conn.recv(65536)  # the ClientHello
    conn.shutdown(socket.SHUT_RDWR)


def test_a_refused_connection_is_connect_and_says_so() -> None:
    failure = classify(_request(f"http://127.0.0.1:{_refused_port()}/"))
    assert (failure.kind, failure.transient) == (Kind.CONNECT, True)
    assert failure.unreachable == "refuses connections"


def test_a_refused_connection_behind_max_retry_error_reads_the_same() -> None:
    manager = urllib3.PoolManager(retries=urllib3.Retry(total=None, connect=0, read=0, redirect=0))
    exc = _request(f"http://127.0.0.1:{_refused_port()}/", manager=manager)
    assert isinstance(exc, urllib3.exceptions.MaxRetryError)
    assert classify(exc).kind is Kind.CONNECT


def test_a_name_that_does_not_resolve_is_connect() -> None:
    failure = classify(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))  # no DNS in tests
    assert (failure.kind, failure.unreachable) == (Kind.CONNECT, "does not resolve")


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with _server(_silent) as port:
        failure = classify(_request(f"http://127.0.0.1:{port}/", read=0.2))
    assert (failure.kind, failure.transient) == (Kind.TIMEOUT, True)


def test_a_socket_read_that_times_out_is_a_timeout() -> None:
    with _server(_silent) as port, socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        with pytest.raises(OSError) as caught:
            sock.recv(10)
    assert classify(caught.value).kind is Kind.TIMEOUT


@pytest.mark.parametrize("handle", [_cut_body, _reset_mid_body], ids=["cut", "reset"])
def test_an_answer_broken_off_is_broken(handle: Handler) -> None:
    with _server(handle) as port:
        failure = classify(_request(f"http://127.0.0.1:{port}/", body=True))
    assert (failure.kind, failure.transient) == (Kind.BROKEN, True)


def test_an_untrusted_certificate_is_tls_and_final(tls_files: TlsFiles) -> None:
    with _server(_tls(tls_files)) as port:
        exc = _request(f"https://127.0.0.1:{port}/", ssl_context=ssl.create_default_context())
    failure = classify(exc)
    assert (failure.kind, failure.transient) == (Kind.TLS, False)
    assert isinstance(failure.error, ssl.SSLCertVerificationError)


def test_tls_spoken_to_a_plain_http_server_is_tls(tls_files: TlsFiles) -> None:
    context = ssl.create_default_context(cafile=str(tls_files.ca))
    with _server(_plain_http) as port:
        failure = classify(_request(f"https://127.0.0.1:{port}/", ssl_context=context))
    assert (failure.kind, failure.transient) == (Kind.TLS, False)


def test_a_tls_stream_that_ends_is_a_cut_not_a_tls_fault(tls_files: TlsFiles) -> None:
    context = ssl.create_default_context(cafile=str(tls_files.ca))
    with _server(_hangs_up_in_the_handshake) as port:
        exc = _request(f"https://127.0.0.1:{port}/", ssl_context=context)
    assert isinstance(exc, urllib3.exceptions.SSLError)  # urllib3 calls it TLS; what it wraps says otherwise
    failure = classify(exc)
    assert isinstance(failure.error, ssl.SSLEOFError)
    assert (failure.kind, failure.transient) == (Kind.BROKEN, True)


def test_a_proxy_that_refuses_is_proxy() -> None:
    manager = urllib3.ProxyManager(f"http://127.0.0.1:{_refused_port()}", retries=False)
    failure = classify(_request("http://127.0.0.1:1/", manager=manager))
    assert (failure.kind, failure.transient) == (Kind.PROXY, True)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Generic S3 error: error sending request: invalid peer certificate: UnknownIssuer", Kind.TLS),
        ("Generic S3 error: tcp connect error: Connection refused (os error 111)", Kind.CONNECT),
        ("Generic S3 error: operation timed out", Kind.TIMEOUT),
        ("Generic S3 error: connection reset by peer", Kind.BROKEN),
        ("Generic S3 error: something else", Kind.OTHER),
    ],
)
def test_an_error_known_only_by_its_words_is_read_with_the_same_kinds(text: str, kind: Kind) -> None:
    assert classify_text(text).kind is kind
    assert ObstoreSource(None, "").error(RuntimeError(text), "k").transient is kind.transient


# -- the readers: the documented rules of the registry client and of the sources ----------------------


def _exchange(url: str, **kw: Any) -> Exchange:
    return Exchange(
        url,
        token=None,
        token_path=None,
        ca_bundle=kw.get("ca_bundle"),
        deadline=10,
        request_timeout=kw.get("request_timeout", 5.0),
        proxies=kw.get("proxies"),
        learned=Learned(),
    )


def test_the_registry_waits_quietly_for_a_refused_connection() -> None:
    url = f"http://127.0.0.1:{_refused_port()}"
    with pytest.raises(retry.TransientError) as caught:
        _exchange(url).request(f"{url}/api/model_registry/v1/registered_models")
    assert caught.value.quiet and "refuses connections" in str(caught.value)


def test_the_registry_gives_up_at_once_on_an_untrusted_certificate(tls_files: TlsFiles) -> None:
    with _server(_tls(tls_files)) as port:
        url = f"https://127.0.0.1:{port}"
        with pytest.raises(RegistryUnreachableError, match=r"TLS verification failed .*MODEL_REGISTRY_CA_BUNDLE"):
            _exchange(url).request(f"{url}/api/model_registry/v1/registered_models")


def test_the_registry_behind_a_proxy_that_refuses_names_the_proxy() -> None:
    proxies = ProxyConfig.from_env({"HTTP_PROXY": f"http://127.0.0.1:{_refused_port()}"})
    url = "http://registry.example:8080"  # never resolved here: the proxy would
    with pytest.raises(retry.TransientError) as caught:
        _exchange(url, proxies=proxies).request(f"{url}/api/model_registry/v1/registered_models")
    assert not caught.value.quiet  # not "the registry refuses connections": the proxy does
    assert "through the proxy" in str(caught.value.final) and "NO_PROXY" in str(caught.value.final)


def test_the_registry_tries_again_after_a_timeout() -> None:
    with _server(_silent) as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(retry.TransientError) as caught:
            _exchange(url, request_timeout=0.2).request(f"{url}/api/model_registry/v1/registered_models")
    assert not caught.value.quiet


@pytest.mark.parametrize(
    ("make", "transient", "sentence"),
    [
        (lambda: _request(f"http://127.0.0.1:{_refused_port()}/"), True, "the server refuses connections"),
        (lambda: classify_server(_silent, read=0.2), True, "the server did not answer within 7s"),
        (lambda: classify_server(_cut_body, body=True), True, "the connection broke mid-transfer"),
    ],
    ids=["refused", "silent", "cut"],
)
def test_a_source_says_each_kind_in_its_words(
    make: Callable[[], BaseException], transient: bool, sentence: str
) -> None:
    error = transport_failure(make(), 7, "check the CA")
    assert error.transient is transient
    assert sentence in error.message


def test_a_source_gives_up_on_an_untrusted_certificate(tls_files: TlsFiles) -> None:
    with _server(_tls(tls_files)) as port:
        exc = _request(f"https://127.0.0.1:{port}/", ssl_context=ssl.create_default_context())
    error = transport_failure(exc, 7, "check the CA")
    assert not error.transient
    assert error.message.startswith("TLS failed (") and error.message.endswith("; check the CA")


def classify_server(handle: Handler, **kw: Any) -> BaseException:
    with _server(handle) as port:
        return _request(f"http://127.0.0.1:{port}/", **kw)
