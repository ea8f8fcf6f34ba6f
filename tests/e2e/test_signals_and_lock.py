"""A second initializer on the same DEST_PATH waits for the lock; SIGTERM ends it at once, cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
