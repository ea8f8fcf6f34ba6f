"""Each decision is made once: every setting is checked at start, before any network call (exit 2), and
``MODEL_REGISTRY_TRANSFER=fast`` means the own engine or exit 2, never a quiet fallback."""

from __future__ import annotations

import http.server
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.serving import serve
from helpers import register, run_cli


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that accepts TCP connections into its backlog and is never served: it only counts callers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def _was_called(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_REGISTRY_PROGRESS_INTERVAL", "0.1"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_RATIO", "lots"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_BYTES", "-1"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_MEMBERS", "many"),
        ("MODEL_REGISTRY_TRANSFER_CHUNK_SIZE", "1KiB"),
        ("MODEL_REGISTRY_TRANSFER_CONCURRENCY", "0"),
        ("MODEL_REGISTRY_TRANSFER_ATTEMPTS", "x"),
        ("S3_MAX_ATTEMPTS", "x"),
        ("S3_CONNECT_TIMEOUT", "soon"),
        ("STORAGE_CONFIG", "{nope"),
        ("models.example.com-headers", "not json"),
        ("HF_ENDPOINT", "huggingface.co"),
    ],
)
def test_bad_setting_is_exit_2_before_any_network_call(
    listener: socket.socket, tmp_path: Path, name: str, value: str
) -> None:
    dest = tmp_path / "models"
    host_port = f"127.0.0.1:{listener.getsockname()[1]}"
    result = run_cli("model-registry://iris/v1", dest, env={"MODEL_REGISTRY_BASE_URL": host_port, name: value})
    assert result.code == 2, result.stderr
    assert name in result.last_line, result.last_line
    assert "Traceback" not in result.stderr
    assert not _was_called(listener), "the registry was called before the settings were checked"
    assert not dest.exists() or not any(dest.iterdir())


class _NoLengthNoRanges(http.server.BaseHTTPRequestHandler):
    """HTTP/1.0: ignores Range, announces no Content-Length, ends the body by closing the connection."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(b"weights" * 1000)


@pytest.fixture
def no_length_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoLengthNoRanges)
    server.daemon_threads = True
    serve(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/m/model.bin"
    finally:
        server.shutdown()
        server.server_close()


def test_fast_does_not_fall_back_when_the_server_gives_no_length_and_no_ranges(
    registry: Any, no_length_server: str, tmp_path: Path
) -> None:
    register(registry.url, "nolength", no_length_server, "v1")
    dest = tmp_path / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast"}
    result = run_cli("model-registry://nolength/v1", dest, env=env)
    assert result.code == 2, result.stderr
    assert "MODEL_REGISTRY_TRANSFER=fast cannot serve" in result.last_line, result.last_line
    assert "no length and no ranges" in result.last_line
    assert "handing" not in result.stderr  # no fallback was even announced
    assert list(dest.iterdir()) == []


def test_auto_hands_a_server_without_length_or_ranges_to_kserve(
    registry: Any, no_length_server: str, tmp_path: Path
) -> None:
    register(registry.url, "nolength", no_length_server, "v1")
    dest = tmp_path / "models"
    result = run_cli("model-registry://nolength/v1", dest, env={"MODEL_REGISTRY_BASE_URL": registry.host_port})
    assert result.code == 0, result.stderr
    assert "handing" in result.stderr and "no length and no ranges" in result.stderr
    assert (dest / "model.bin").read_bytes() == b"weights" * 1000
