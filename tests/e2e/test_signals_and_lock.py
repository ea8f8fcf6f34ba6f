"""A second initializer on the same DEST_PATH waits for the lock; SIGTERM ends it at once, cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fixtures.serving import serve
from fixtures.storage import HttpFileServer
from helpers import cli_env, register
from mr_storage_initializer import lock


def _start(dest: Path, registry: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mr_storage_initializer", "model-registry://iris/v1", str(dest)],
        env=cli_env({"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_LOCK_TIMEOUT": "60"}),
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], fragment: str, timeout: float = 60) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if fragment in line:
            return lines
    raise AssertionError(f"{fragment!r} never appeared: {''.join(lines)}")


def test_waiter_installs_after_the_holder_releases(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x" * 100), "v1")
    with lock.locked(tmp_path / ".model-registry.lock", timeout=5):
        proc = _start(tmp_path, registry)
        _wait_for_line(proc, "another initializer is installing")
        assert list(tmp_path.iterdir()) == [tmp_path / ".model-registry.lock"]
    assert proc.wait(60) == 0
    assert (tmp_path / "m.bin").read_bytes() == b"x" * 100


def test_sigterm_while_waiting_exits_143_quickly_and_leaves_nothing(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    with lock.locked(tmp_path / ".model-registry.lock", timeout=5):
        proc = _start(tmp_path, registry)
        _wait_for_line(proc, "another initializer is installing")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        elapsed = time.monotonic() - started
        assert proc.stderr is not None
        rest = proc.stderr.read()
    assert code == 143
    assert elapsed < 2
    assert "stopped by SIGTERM" in rest.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []
    assert http_server.requests == []


class _Trickle:
    """An HTTP server that sends the headers and the first bytes of a large file, then holds the connection."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.release = threading.Event()
        self.started = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                self.wfile.write(b"x" * 65536)
                self.wfile.flush()
                owner.started.set()
                owner.release.wait(60)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        serve(self.server)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/big/model.bin"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_sigterm_during_a_transfer_stops_within_2s_and_removes_staging(registry: Any, tmp_path: Path) -> None:
    trickle = _Trickle()
    try:
        register(registry.url, "iris", trickle.url, "v1")
        proc = _start(tmp_path, registry)
        assert trickle.started.wait(60), "the download never started"
        assert any(p.name.startswith(".mr-staging-") for p in tmp_path.iterdir())
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        elapsed = time.monotonic() - started
        assert proc.stderr is not None
        last = proc.stderr.read().strip().splitlines()[-1]
    finally:
        trickle.close()
    assert code == 143
    assert elapsed < 2
    assert "stopped by SIGTERM" in last
    assert list(tmp_path.iterdir()) == []
