"""plain_http.DirectPool against real servers on 127.0.0.1: what it frames itself, what it hands to urllib3,
and failures raised as urllib3 raises them."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from mr_storage_initializer.plain_http import DirectPool


class ScriptedServer:
    """Answers each request on a connection with the next scripted bytes; counts connections and requests."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = answers
        self.connections = 0
        self.requests: list[bytes] = []
        self.hang_up = False
        self.hung_up = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        finally:
            conn.close()
            self.hung_up.set()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while self.answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                self.requests.append(head)
                answer = self.answers.pop(0)
                if answer is None:  # say nothing until the client gives up
                    reader.read()
                    return
                conn.sendall(answer)
                if self.hang_up or b"Connection: close" in answer:
                    return
                if b"Content-Length" not in answer and b"chunked" not in answer:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Callable[[list[bytes | None]], ScriptedServer]]:
    made: list[ScriptedServer] = []

    def make(answers: list[bytes | None]) -> ScriptedServer:
        made.append(ScriptedServer(answers))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _urllib3_pool(retries: Any = False) -> Callable[[], Any]:
    built: list[Any] = []

    def make() -> Any:
        built.append(urllib3.PoolManager(retries=retries))
        return built[-1]

    make.built = built  # type: ignore[attr-defined]
    return make


def _pool(**kw: Any) -> DirectPool:
    return DirectPool(_urllib3_pool(), timeout=5.0, **kw)


def test_bodies_by_length_are_read_and_the_connection_is_kept(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: x\r\n\r\nhello"] * 2)
    pool = _pool(headers={"Accept": "application/json"})
    for _ in range(2):
        response = pool.request("GET", f"{srv.url}/a?b=c", headers={"Authorization": "Bearer t"})
        assert (response.status, response.read(), response.headers.get("etag")) == (200, b"hello", "x")
        response.release_conn()
    assert srv.connections == 1
    first = srv.requests[0].decode()
    assert first.startswith("GET /a?b=c HTTP/1.1\r\n")
    assert "\r\nAccept: application/json\r\n" in first and "\r\nAuthorization: Bearer t\r\n" in first


def test_a_chunked_body_is_joined(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"])
    response = _pool().request("GET", f"{srv.url}/")
    assert b"".join(response.stream(2)) == b"abcde"


def test_a_body_without_length_ends_with_the_connection(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"])
    assert _pool().request("GET", f"{srv.url}/").read() == b"all of it"


def test_a_100_continue_is_skipped(server: Any) -> None:
    srv = server([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"])
    response = _pool().request("GET", f"{srv.url}/")
    assert (response.status, response.read()) == (204, b"")


def test_a_body_cut_short_is_urllib3s_protocol_error(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"])
    response = _pool().request("GET", f"{srv.url}/")
    with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
        response.read()


def test_a_refused_connection_is_urllib3s_new_connection_error_or_the_oserror() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    with pytest.raises(urllib3.exceptions.NewConnectionError) as caught:
        _pool().request("GET", url)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    with pytest.raises(ConnectionRefusedError):
        _pool(raw_errors=True).request("GET", url)


def test_no_answer_is_a_read_timeout(server: Any) -> None:
    srv = server([None])  # the server reads the request and says nothing
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        DirectPool(_urllib3_pool(), timeout=(1.0, 0.3)).request("GET", f"{srv.url}/")


def test_a_garbled_status_line_is_a_protocol_error(server: Any) -> None:
    srv = server([b"SMTP ready\r\n\r\n"])
    with pytest.raises(urllib3.exceptions.ProtocolError, match="BadStatusLine"):
        _pool().request("GET", f"{srv.url}/")


def test_a_redirect_to_follow_is_handed_to_urllib3(server: Any) -> None:
    target = server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    srv = server([f"HTTP/1.1 302 Found\r\nLocation: {target.url}/x\r\nContent-Length: 0\r\n\r\n".encode()] * 3)
    fallback = _urllib3_pool(retries=urllib3.Retry(total=None, connect=0, read=0, redirect=5))
    pool = DirectPool(fallback, timeout=5.0)
    response = pool.request("GET", f"{srv.url}/", preload_content=False)
    assert (response.status, response.read()) == (200, b"ok")
    assert len(fallback.built) == 1  # type: ignore[attr-defined]
    unfollowed = _pool().request("GET", f"{srv.url}/", redirect=False)
    assert unfollowed.status == 302  # the registry follows none: it sees the redirect itself


def test_an_encoded_body_to_decode_is_handed_to_urllib3(server: Any) -> None:
    body = gzip.compress(b"{}")
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    srv = server([answer] * 3)  # the first answer is read by urllib3 again: handed over, the request is made again
    response = _pool().request("GET", f"{srv.url}/", preload_content=False)
    assert response.read(decode_content=True) == b"{}"
    raw = _pool().request("GET", f"{srv.url}/", decode_content=False)
    assert raw.read() == body  # a source reads the bytes as sent


def test_a_url_it_does_not_take_as_given_is_handed_to_urllib3(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    fallback = _urllib3_pool()
    response = DirectPool(fallback, timeout=5.0).request("GET", f"{srv.url}/a b", preload_content=False)
    assert response.read() == b"ok"
    assert len(fallback.built) == 1  # type: ignore[attr-defined]
    assert srv.requests[0].startswith(b"GET /a%20b ")


def test_the_check_sees_each_url_before_it_is_fetched(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])

    def refuse(url: str) -> None:
        raise PermissionError(url)

    with pytest.raises(PermissionError):
        _pool(check=refuse).request("GET", f"{srv.url}/")
    assert srv.requests == []


def test_a_kept_connection_the_server_closed_is_not_used_again(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"])
    srv.hang_up = True  # each connection ends after one answer, which does not say so
    pool = _pool()
    for expected in (b"a", b"b"):
        response = pool.request("GET", f"{srv.url}/")
        assert response.read() == expected
        response.release_conn()
        srv.hung_up.wait(5)
        srv.hung_up.clear()
    assert srv.connections == 2


def test_a_folded_header_continues_the_one_before(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nX-Long: one\r\n two\r\nContent-Length: 0\r\n\r\n"])
    assert _pool().request("GET", f"{srv.url}/").headers.get("x-long") == "one two"


def test_a_status_out_of_range_is_a_protocol_error(server: Any) -> None:
    srv = server([b"HTTP/1.1 2000 Odd\r\n\r\n"])
    with pytest.raises(urllib3.exceptions.ProtocolError, match="BadStatusLine"):
        _pool().request("GET", f"{srv.url}/")


@pytest.mark.parametrize("path", ["/a|b", "/a%2fb", "/a%zz", "/caf\u00e9"])
def test_a_target_urllib3_would_rewrite_is_handed_to_it(server: Any, path: str) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    fallback = _urllib3_pool()
    response = DirectPool(fallback, timeout=5.0).request("GET", f"{srv.url}{path}", preload_content=False)
    assert response.read() == b"ok"
    assert len(fallback.built) == 1  # type: ignore[attr-defined]


def test_an_upper_case_host_is_handed_to_urllib3(server: Any) -> None:
    srv = server([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    fallback = _urllib3_pool()
    url = srv.url.replace("http://127.0.0.1", "http://LOCALHOST")
    assert DirectPool(fallback, timeout=5.0).request("GET", f"{url}/", preload_content=False).read() == b"ok"
    assert len(fallback.built) == 1  # type: ignore[attr-defined]
