"""A registry that answers 503/429 with Retry-After: the initializer waits at least that long, spread with
jitter so that a crowd of pods does not come back in lock-step."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from fixtures import serving
from mr_storage_initializer import retry
from mr_storage_initializer.api_version import API_V1
from mr_storage_initializer.registry import RegistryClient


class _Busy(http.server.BaseHTTPRequestHandler):
    """The first `busy` requests get `status` (503 or 429) with Retry-After: 2; then a list answer."""

    server: _BusyServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.times.append(time.monotonic())
            busy = len(self.server.times) <= self.server.busy
        if busy:
            body = b'{"code": "busy", "message": "too many requests"}'
            self.send_response(self.server.status)
            self.send_header("Retry-After", "2")  # more than any first backoff (0.2 s + up to 1 s jitter)
        else:
            body = json.dumps({"items": [], "size": 0, "pageSize": 1, "nextPageToken": ""}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _BusyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int, busy: int) -> None:
        super().__init__(("127.0.0.1", 0), _Busy)
        self.status, self.busy = status, busy
        self.times: list[float] = []
        self.lock = threading.Lock()


@pytest.fixture(params=[503, 429])
def busy_registry(request: pytest.FixtureRequest) -> Iterator[_BusyServer]:
    server = _BusyServer(request.param, busy=1)
    serving.serve(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_retry_after_is_waited_for(busy_registry: _BusyServer) -> None:
    client = RegistryClient(f"http://127.0.0.1:{busy_registry.server_address[1]}", deadline=10)
    try:
        assert client.serves(API_V1)
    finally:
        client.close()
    first, second = busy_registry.times
    assert 2.0 <= second - first < 2.0 + 1.0 + 0.5  # Retry-After, its spread (at most half of it), slack


def test_a_crowd_told_the_same_retry_after_does_not_come_back_together() -> None:
    def busy_once() -> float:
        calls = 0

        def attempt() -> float:
            nonlocal calls
            calls += 1
            if calls == 1:
                error = retry.TransientError("503", RuntimeError("busy"))
                error.retry_after = 0.3
                raise error
            return time.monotonic()

        return retry.call(attempt, deadline=10)

    started = time.monotonic()
    back: list[float] = []
    threads = [threading.Thread(target=lambda: back.append(busy_once() - started)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(back) == 20
    assert min(back) >= 0.3  # nobody before the server said
    assert max(back) - min(back) > 0.1  # spread over up to 0.5 s, not all at once


@pytest.mark.parametrize(
    ("value", "seconds"), [("2", 2.0), ("", None), ("soon", None), ("999999", retry.RETRY_AFTER_MAX)]
)
def test_retry_after_values(value: str, seconds: float | None) -> None:
    assert retry.retry_after(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    from email.utils import formatdate

    got = retry.retry_after(formatdate(time.time() + 5, usegmt=True))
    assert got is not None and 3.5 <= got <= 5.0
