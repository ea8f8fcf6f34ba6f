"""MODEL_REGISTRY_TIMEOUT bounds the whole registry conversation by the wall clock, reads included: a registry
that trickles its headers or its body a byte a second is given up at the deadline, and no backoff sleeps past
it. The slow server is the test's own: it accepts, then paces its answer."""

from __future__ import annotations

import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from fixtures.serving import serve
from helpers import CliResult, run_cli

DEADLINE = 3.0
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z")


class _SlowLoris(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.stop = threading.Event()
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Pacer)


class _Pacer(socketserver.BaseRequestHandler):
    server: _SlowLoris

    def handle(self) -> None:
        self.server.connections += 1
        self.request.recv(65536)  # the request; its content does not matter
        if self.server.mode == "headers":
            prefix, trickle = b"", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10_000
        else:
            body = b'{"items": [], "size": 0, "pageSize": 0, "nextPageToken": ""}' + b" " * 10_000
            prefix = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
            trickle = body
        try:
            self.request.sendall(prefix)
            for offset in range(len(trickle)):
                self.request.sendall(trickle[offset : offset + 1])
                if self.server.stop.wait(1.0):  # the server's pace: one byte a second
                    return
        except OSError:
            return


@pytest.fixture
def slow_registry(request: pytest.FixtureRequest) -> Iterator[_SlowLoris]:
    server = _SlowLoris(request.param)
    serve(server)
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


def _at(line: str) -> float:
    match = _STAMP.match(line)
    assert match, line
    return datetime.fromisoformat(match.group(1)).timestamp()


def _conversation_start(result: CliResult) -> float:
    return _at(next(line for line in result.stderr.splitlines() if " registry: " in line))


@pytest.mark.parametrize("slow_registry", ["headers", "body"], indirect=True)
def test_a_registry_trickling_its_answer_is_given_up_at_the_deadline(slow_registry: _SlowLoris, tmp_path: Path) -> None:
    host, port = slow_registry.server_address[:2]
    env = {"MODEL_REGISTRY_BASE_URL": f"{host}:{port}", "MODEL_REGISTRY_TIMEOUT": str(DEADLINE)}
    started = time.monotonic()
    result = run_cli("model-registry://iris/v1", tmp_path / "models", env=env, timeout=45)
    assert result.code == 4, result.stderr
    assert f"did not answer within MODEL_REGISTRY_TIMEOUT={DEADLINE:g}s" in result.last_line
    assert _at(result.last_line) - _conversation_start(result) < DEADLINE + 0.5
    assert time.monotonic() - started < 30  # process start and imports included, on a busy machine
    assert not (tmp_path / "models").exists()


def test_backoff_never_sleeps_past_the_deadline(tmp_path: Path) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on: every attempt is refused at once
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    env = {"MODEL_REGISTRY_BASE_URL": f"127.0.0.1:{port}", "MODEL_REGISTRY_TIMEOUT": "4"}
    result = run_cli("model-registry://iris/v1", tmp_path / "models", "--debug", env=env, timeout=60)
    assert result.code == 4, result.stderr
    failed = next(line for line in result.stderr.splitlines() if " ERROR failed: " in line)  # --debug: a cause after
    assert "cannot reach the model registry" in failed
    start = _conversation_start(result)
    retries = [line for line in result.stderr.splitlines() if "retry: retrying in" in line]  # DEBUG lines
    assert len(retries) >= 3, result.stderr
    for line in retries:
        wait = float(re.search(r"wait_s=([\d.]+)", line).group(1))  # type: ignore[union-attr]
        assert _at(line) + wait <= start + 4 + 0.05, f"this backoff ends after the deadline: {line}"
    assert _at(failed) - start < 4 + 0.5


def test_a_registry_that_refuses_connections_is_said_once_then_one_line_says_what_was_tried(tmp_path: Path) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on: every attempt is refused at once
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    env = {"MODEL_REGISTRY_BASE_URL": f"127.0.0.1:{port}", "MODEL_REGISTRY_TIMEOUT": "4"}
    result = run_cli("model-registry://iris/v1", tmp_path / "models", env=env, timeout=60)

    assert result.code == 4, result.stderr
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 1, result.stderr  # not one per retry
    assert f"the model registry at http://127.0.0.1:{port} refuses connections; retrying until " in warnings[0]
    assert "(MODEL_REGISTRY_TIMEOUT=4s)" in warnings[0]
    assert re.search(
        rf"ERROR failed: cannot reach the model registry at http://127\.0\.0\.1:{port}: it refuses connections "
        r"\(\d+ tries in [34]s, until MODEL_REGISTRY_TIMEOUT=4s\); check MODEL_REGISTRY_BASE_URL",
        result.last_line,
    ), result.last_line
    assert "***" not in result.stderr  # no URL with its query masked: the base URL says where
    assert _at(result.last_line) - _conversation_start(result) < 4 + 0.5  # the documented wait, and no longer
    assert not (tmp_path / "models").exists()


class _Flood(socketserver.BaseRequestHandler):
    """Answers the probe with a 100 MB JSON-looking body, counting what the client accepted."""

    server: _FloodServer

    def handle(self) -> None:
        self.request.recv(65536)
        size = 100 * 1024 * 1024
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"[" * 65536
        try:
            for _ in range(size // len(chunk)):
                self.request.sendall(chunk)
                self.server.sent += len(chunk)
        except OSError:
            pass
        finally:
            self.server.done.set()


class _FloodServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.sent = 0
        self.done = threading.Event()
        super().__init__(("127.0.0.1", 0), _Flood)


def test_the_host_probe_reads_a_bounded_part_of_a_huge_answer() -> None:
    from mr_storage_initializer.registry_exchange import probe

    server = _FloodServer()
    serve(server)
    try:
        host, port = server.server_address[:2]
        assert probe(f"http://{host}:{port}", timeout=20) is None  # no API prefix answered as a registry
        assert server.done.wait(20)
        assert server.sent < 16 * 1024 * 1024  # what the probe read plus the socket buffers, not 100 MB
    finally:
        server.shutdown()
        server.server_close()
